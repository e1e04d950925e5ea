// Scrape benchmark: our /metrics against Debian's prometheus-node-exporter (the anchor) on the same
// machine, in one run, scrapes interleaved. Prints p50/p99 latency, CPU seconds per scrape and RSS of
// each server, and the ratios ours / node_exporter. Usage: npm run bench:scrape [-- --scrapes 1000]
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, get } from "node:http";
import { createServer } from "node:net";
import os, { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const NODE_EXPORTER = "/usr/bin/prometheus-node-exporter";
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
// What Prometheus 2.x sends. No Accept-Encoding: both servers answer uncompressed (see docs/benchmarks.md).
const ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} takes a positive number`);
  return v;
}

const SCRAPES = arg("scrapes", 500);
const WARMUP = arg("warmup", 50);
// For profiling only: --no-gpu switches the GPU collector off to see what its nvidia-smi spawn costs.
const NO_GPU = process.argv.includes("--no-gpu");

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => res(typeof a === "object" && a ? a.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly agent: Agent;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND; // utime + stime (fields 14, 15)
}

function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

function scrape(server: Server): Promise<{ ms: number; bytes: number }> {
  return new Promise((res, rej) => {
    const start = performance.now();
    const req = get(`${server.url}/metrics`, { agent: server.agent, headers: { Accept: ACCEPT } }, (r) => {
      let bytes = 0;
      r.on("data", (c: Buffer) => {
        bytes += c.length;
      });
      r.on("end", () => {
        if (r.statusCode !== 200) rej(new Error(`${server.name}: HTTP ${r.statusCode}`));
        else res({ ms: performance.now() - start, bytes });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${server.name}: no answer in 10 s`)));
    req.on("error", rej);
  });
}

async function waitUp(server: Server): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (server.child.exitCode !== null)
      throw new Error(`${server.name} exited with ${server.child.exitCode}`);
    try {
      await scrape(server);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

async function startOurs(dir: string): Promise<Server> {
  const port = await freePort();
  const config = join(dir, "config.json");
  // Every collector on (the defaults), at a 1 s interval.
  writeFileSync(
    config,
    JSON.stringify({
      monitoring: {
        interval_seconds: 1,
        gpu_monitoring: true,
        collectors: { cpu: true, memory: true, disk: true, filesystem: true, process: true, gpu: !NO_GPU },
      },
      server: { listen_address: `127.0.0.1:${port}`, dashboard_address: "127.0.0.1:0" },
    }),
  );
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/main.ts", "--prometheus-export", "--log-level", "error", "--config", config],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] },
  );
  return {
    name: "tts-monitor",
    child,
    url: `http://127.0.0.1:${port}`,
    agent: new Agent({ keepAlive: true, maxSockets: 1 }),
  };
}

async function startNodeExporter(): Promise<Server> {
  try {
    readFileSync(NODE_EXPORTER);
  } catch {
    throw new Error(`${NODE_EXPORTER} is missing: apt-get install prometheus-node-exporter`);
  }
  const port = await freePort();
  // Its default collectors; its logs are dropped (in a container its systemd collector fails on
  // every scrape, in about 50 µs, and says so).
  const child = spawn(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${port}`, "--log.level=error"], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  return {
    name: "node_exporter",
    child,
    url: `http://127.0.0.1:${port}`,
    agent: new Agent({ keepAlive: true, maxSockets: 1 }),
  };
}

interface Result {
  readonly times: number[];
  readonly bytes: number;
  readonly cpu: number;
  readonly rss: number;
  readonly hwm: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tts-bench-"));
  const servers: Server[] = [];
  try {
    servers.push(await startOurs(dir), await startNodeExporter());
    for (const s of servers) await waitUp(s);
    // Let our collectors run a few times so the scrape serves a full state.
    await sleep(2500);
    for (let i = 0; i < WARMUP; i++) for (const s of servers) await scrape(s);

    const times = new Map<Server, number[]>(servers.map((s) => [s, []]));
    const bytes = new Map<Server, number>();
    const cpuBefore = new Map(servers.map((s) => [s, cpuSeconds(s.child.pid ?? 0)]));
    const started = performance.now();
    for (let i = 0; i < SCRAPES; i++) {
      // Alternate which server goes first, so neither always follows the other.
      const order = i % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        const r = await scrape(s);
        times.get(s)?.push(r.ms);
        bytes.set(s, r.bytes);
      }
    }
    const wall = (performance.now() - started) / 1000;
    const results = new Map<Server, Result>(
      servers.map((s) => {
        const pid = s.child.pid ?? 0;
        const m = memory(pid);
        return [
          s,
          {
            times: times.get(s) ?? [],
            bytes: bytes.get(s) ?? 0,
            cpu: cpuSeconds(pid) - (cpuBefore.get(s) ?? 0),
            rss: m.rss,
            hwm: m.hwm,
          },
        ];
      }),
    );

    const [ours, anchor] = servers.map((s) => results.get(s)) as [Result, Result];
    const row = (name: string, r: Result) => ({
      server: name,
      "p50 ms": percentile(r.times, 50).toFixed(2),
      "p99 ms": percentile(r.times, 99).toFixed(2),
      "max ms": Math.max(...r.times).toFixed(2),
      "CPU ms/scrape": ((r.cpu / SCRAPES) * 1000).toFixed(3),
      "RSS MiB": (r.rss / 2 ** 20).toFixed(1),
      "peak RSS MiB": (r.hwm / 2 ** 20).toFixed(1),
      "body KiB": (r.bytes / 1024).toFixed(1),
    });
    const ratio = (a: number, b: number) => (a / b).toFixed(3);
    const p50 = percentile(ours.times, 50) / percentile(anchor.times, 50);
    const p99 = percentile(ours.times, 99);

    console.log(
      `scrape benchmark: ${SCRAPES} scrapes each, interleaved, ${wall.toFixed(1)} s; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}, ${new Date().toISOString()}`,
    );
    console.table([row("tts-monitor (ours)", ours), row("node_exporter 1.x (anchor)", anchor)]);
    console.log("ratios ours / node_exporter:");
    console.table({
      "p50 latency": ratio(percentile(ours.times, 50), percentile(anchor.times, 50)),
      "p99 latency": ratio(percentile(ours.times, 99), percentile(anchor.times, 99)),
      "CPU per scrape": ratio(ours.cpu, anchor.cpu),
      RSS: ratio(ours.rss, anchor.rss),
    });
    console.log(
      "CPU per scrape = the server's CPU time (utime+stime from /proc/<pid>/stat) over the run / scrapes; ours includes its background collectors (1 s interval).",
    );
    console.log(`goal p50 ≤ 0.5× node_exporter: ${p50 <= 0.5 ? "met" : "MISSED"} (${p50.toFixed(3)}×)`);
    console.log(`goal p99 ≤ 10 ms: ${p99 <= 10 ? "met" : "MISSED"} (${p99.toFixed(2)} ms)`);
  } finally {
    for (const s of servers) {
      s.agent.destroy();
      s.child.kill("SIGTERM");
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
