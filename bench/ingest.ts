// Ingestion throughput: events/s through POST /api/v1/syntheses (batches of 100) and through
// recordSynthesis(), beside the anchor measured in the same run: prom-client's raw
// Histogram.observe with the same three labels. Run: npx tsx bench/ingest.ts
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Histogram } from "prom-client";
import { Logger } from "../src/log.ts";
import { TTSPerformanceMonitor } from "../src/monitor.ts";

const quiet = new Logger({ json: true, sink: { write: () => {} } });
const ENGINES = ["kokoro", "piper", "coqui", "xtts"];
const VOICES = ["af_heart", "am_adam", "bf_emma"];

function rate(label: string, n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 50_000); i++) fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const r = n / s;
  console.log(`${label.padEnd(44)} ${Math.round(r).toLocaleString("en-US").padStart(12)} /s`);
  return r;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function inProcess(): Promise<{ observe: number; record: number }> {
  const N = 2_000_000;
  const h = new Histogram({
    name: "anchor_seconds",
    help: "anchor",
    labelNames: ["engine", "voice", "source"],
    registers: [],
  });
  const observe = rate("anchor: prom-client Histogram.observe", N, (i) =>
    h.observe(
      { engine: ENGINES[i & 3] as string, voice: VOICES[i % 3] as string, source: "ingest" },
      (i % 1000) / 1000,
    ),
  );
  const monitor = new TTSPerformanceMonitor({ config: { engines: [] }, serve: false, logger: quiet });
  const record = rate("recordSynthesis (latency, cache flag, text)", N, (i) =>
    monitor.recordSynthesis({
      engine: ENGINES[i & 3] as string,
      voice: VOICES[i % 3] as string,
      latencyMs: i % 1000,
      cacheHit: (i & 1) === 0,
      characters: 42,
    }),
  );
  await monitor.stop();
  return { observe, record };
}

async function overHttp(): Promise<{ wall: number; perCpu: number }> {
  const dir = join(tmpdir(), `tts-bench-ingest-${process.pid}`);
  const cfg = join(`${dir}.json`);
  writeFileSync(
    cfg,
    JSON.stringify({
      engines: [],
      monitoring: { collectors: { gpu: false } },
      ingest: { max_body_bytes: 1_048_576 },
      server: { listen_address: "127.0.0.1:0" },
    }),
  );
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/main.ts", "--prometheus-export", "--config", cfg],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let buf = "";
    child.stderr.on("data", (d: Buffer) => {
      buf += d.toString();
      const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(buf);
      if (m?.[1]) resolve(Number(m[1]));
    });
    child.on("exit", (code) => reject(new Error(`exporter exited ${code}: ${buf}`)));
  });
  const batch = JSON.stringify(
    Array.from({ length: 100 }, (_, i) => ({
      engine: ENGINES[i & 3],
      voice: VOICES[i % 3],
      latency_ms: 100 + i,
      ttfa_ms: 40,
      audio_duration_ms: 2000,
      characters: 42,
      cache_hit: i % 3 === 0,
    })),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path: "/api/v1/syntheses",
          method: "POST",
          agent,
          headers: { "content-type": "application/json" },
        },
        (res) => {
          res.resume();
          res.on("end", () =>
            res.statusCode === 202 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
          );
        },
      );
      req.on("error", reject);
      req.end(batch);
    });
  const requests = 3000;
  for (let i = 0; i < 200; i++) await post(); // warm-up
  const cpu0 = cpuSeconds(child.pid as number);
  const t0 = performance.now();
  let sent = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < requests) {
        sent++;
        await post();
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(child.pid as number) - cpu0;
  child.kill("SIGTERM");
  agent.destroy();
  const events = requests * 100;
  const r = { wall: events / wall, perCpu: events / cpu };
  console.log(
    `${"HTTP, batches of 100, 8 connections (wall)".padEnd(44)} ${Math.round(r.wall).toLocaleString("en-US").padStart(12)} /s`,
  );
  console.log(
    `${"HTTP, per CPU-second of the exporter".padEnd(44)} ${Math.round(r.perCpu).toLocaleString("en-US").padStart(12)} /s`,
  );
  return r;
}

const inp = await inProcess();
const http = await overHttp();
console.log("");
console.log(`recordSynthesis / raw observe: ${(inp.record / inp.observe).toFixed(2)}× (goal ≥ 0.5×)`);
console.log(
  `HTTP events per exporter CPU-second: ${Math.round(http.perCpu).toLocaleString("en-US")} (goal ≥ 50,000 on one core)`,
);
console.log(`HTTP / raw observe: ${(http.perCpu / inp.observe).toFixed(3)}×`);
