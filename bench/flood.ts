// Flood benchmark (issue 18): what one hostile client on the network does to the exporter with the
// shipped defaults, against Debian's prometheus-node-exporter scraped in the same run (the anchor).
// The attacks, each on a fresh exporter process (the defaults, no GPU collector, no engine):
//   cardinality  50 POSTs × 200 voices (50 engines, TTFA, audio duration, one failure per voice)
//   engines      10,000 distinct engine names (folded into "other" by the label guard)
//   flood        200 connections posting batches of 100 events for 10 s while /metrics is scraped
//   audio        one 9.9 MB audio_wav_base64 at 1 kHz with a text, /-/healthy polled meanwhile
//   worst        the largest budget the config allows, the longest labels, every family filled
// Usage: npx tsx bench/flood.ts [cardinality|worst|engines|flood|audio ...]

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import os, { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeWav16 } from "../src/audio/decode.ts";
import { FAILURE_REASONS } from "../src/engines/types.ts";
import { memory } from "./proc.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const NODE_EXPORTER = "/usr/bin/prometheus-node-exporter";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

interface Server {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
}

interface Reply {
  readonly status: number;
  readonly ms: number;
  readonly body: string;
}

function http(
  port: number,
  path: string,
  options: { method?: string; body?: string; agent?: Agent; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((res, rej) => {
    const start = performance.now();
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? "GET",
        agent: options.agent ?? false,
        headers: options.body !== undefined ? { "content-type": "application/json" } : {},
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () =>
          res({
            status: r.statusCode ?? 0,
            ms: performance.now() - start,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    req.setTimeout(options.timeoutMs ?? 60_000, () => req.destroy(new Error(`${path}: no answer`)));
    req.on("error", rej);
    req.end(options.body);
  });
}

function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);

async function waitUp(s: Server, path: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (s.child.exitCode !== null) throw new Error(`${s.name} exited with ${s.child.exitCode}`);
    try {
      if ((await http(s.port, path, { timeoutMs: 2000 })).status === 200) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(100);
  }
}

async function startOurs(dir: string, extra: Record<string, unknown> = {}): Promise<Server> {
  const port = await freePort();
  const config = join(dir, `config-${port}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      engines: [],
      monitoring: { collectors: { gpu: false } },
      server: { listen_address: `127.0.0.1:${port}`, dashboard_address: "127.0.0.1:0" },
      ...extra,
    }),
  );
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/main.ts", "--prometheus-export", "--log-level", "error", "--config", config],
    { cwd: ROOT, stdio: ["ignore", "ignore", "ignore"], env: { ...process.env, TMPDIR: dir } },
  );
  const s = { name: "tts-monitor", child, port };
  await waitUp(s, "/-/ready");
  return s;
}

async function startNodeExporter(): Promise<Server> {
  readFileSync(NODE_EXPORTER); // throws ENOENT: apt-get install prometheus-node-exporter
  const port = await freePort();
  const child = spawn(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${port}`, "--log.level=error"], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  const s = { name: "node_exporter", child, port };
  await waitUp(s, "/metrics");
  return s;
}

/** Scrape p50 of a server over n sequential scrapes, and the last body. */
async function scrapes(s: Server, n: number): Promise<{ p50: number; max: number; body: string }> {
  const times: number[] = [];
  let body = "";
  for (let i = 0; i < n; i++) {
    const r = await http(s.port, "/metrics");
    times.push(r.ms);
    body = r.body;
  }
  return { p50: percentile(times, 50), max: Math.max(...times), body };
}

const samples = (body: string) => body.split("\n").filter((l) => l.length > 0 && !l.startsWith("#")).length;

async function post(port: number, events: unknown[], agent?: Agent): Promise<Reply> {
  const r = await http(port, "/api/v1/syntheses", {
    method: "POST",
    body: JSON.stringify(events),
    ...(agent && { agent }),
  });
  if (r.status !== 202) throw new Error(`POST: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return r;
}

async function cardinality(dir: string, anchor: Server): Promise<void> {
  const s = await startOurs(dir);
  try {
    const before = await scrapes(s, 5);
    for (let e = 0; e < 50; e++) {
      const events = Array.from({ length: 200 }, (_, v) => [
        { engine: `engine-${e}`, voice: `voice-${v}`, latency_ms: 120, ttfa_ms: 40, audio_duration_ms: 2000 },
        {
          engine: `engine-${e}`,
          voice: `voice-${v}`,
          latency_ms: 3000,
          success: false,
          error_reason: "timeout",
        },
      ]).flat();
      await post(s.port, events);
    }
    const after = await scrapes(s, 5);
    const healthy = await http(s.port, "/-/healthy");
    const a = await scrapes(anchor, 5);
    console.log("cardinality: 50 POSTs × 200 voices (TTFA, audio duration, a failure per voice)");
    console.table({
      "samples before": samples(before.body),
      "samples after": samples(after.body),
      "body after": mib(after.body.length),
      "scrape p50 after": ms(after.p50),
      "scrape max after": ms(after.max),
      "/-/healthy after": ms(healthy.ms),
      RSS: mib(memory(s.child.pid ?? 0).rss),
      "node_exporter scrape p50": ms(a.p50),
      "ratio ours / node_exporter (p50)": (after.p50 / a.p50).toFixed(2),
    });
  } finally {
    s.child.kill("SIGTERM");
  }
}

/**
 * The worst case the config allows: the schema's maxima of ingest.max_series and max_samples, label
 * values of 128 characters that all need escaping, every family filled (every failure reason,
 * TTFA, throughput, cache flags, and the audio measures from a short WAV per pair).
 */
async function worst(dir: string, anchor: Server): Promise<void> {
  const s = await startOurs(dir, {
    ingest: { max_series: 10_000, max_samples: 1_000_000, max_engines: 10_000, max_voices: 100_000 },
  });
  try {
    const rate = 16000;
    const tone = new Float32Array(rate / 4).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / rate));
    const wav = Buffer.from(encodeWav16(tone, rate)).toString("base64");
    const FAILURES = FAILURE_REASONS;
    for (let i = 0; i < 2000; i++) {
      const id = String(i).padStart(6, "0");
      const engine = `${id}${'"'.repeat(122)}`;
      const voice = `${id}${"\\".repeat(122)}`;
      const base = { engine, voice, latency_ms: 123.456789 };
      const events = [
        {
          ...base,
          ttfa_ms: 45.6789,
          audio_duration_ms: 2345.678,
          text: "The quick brown fox.",
          cache_hit: false,
        },
        ...FAILURES.map((r) => ({ ...base, success: false, error_reason: r })),
      ];
      await post(s.port, events);
      // Audio for the first pairs (the rest fold anyway); one at a time, the analysis queue is bounded.
      if (i < 40) {
        await post(s.port, [{ ...base, audio_wav_base64: wav }]);
        await sleep(150);
      }
    }
    await sleep(2000);
    const after = await scrapes(s, 20);
    const a = await scrapes(anchor, 20);
    console.log(
      "worst case the config allows: max_series 10000, max_samples 1e6, 128-character escaped labels",
    );
    console.table({
      samples: samples(after.body),
      "body (goal < 1 MiB)": `${(after.body.length / 1024).toFixed(1)} KiB`,
      "scrape p50": ms(after.p50),
      "scrape max": ms(after.max),
      "node_exporter scrape p50": ms(a.p50),
      "ratio ours / node_exporter (p50)": (after.p50 / a.p50).toFixed(2),
    });
  } finally {
    s.child.kill("SIGTERM");
  }
}

async function engines(dir: string): Promise<void> {
  const s = await startOurs(dir);
  try {
    const before = await scrapes(s, 3);
    for (let b = 0; b < 10; b++) {
      await post(
        s.port,
        Array.from({ length: 1000 }, (_, i) => ({
          engine: `e${b * 1000 + i}`,
          voice: `v${b * 1000 + i}`,
          latency_ms: 100,
          ttfa_ms: 40,
          audio_duration_ms: 1000,
        })),
      );
    }
    const after = await scrapes(s, 3);
    console.log("engines: 10,000 distinct engine and voice names");
    console.table({
      "samples before": samples(before.body),
      "samples after": samples(after.body),
      "body after": mib(after.body.length),
      "scrape p50 after": ms(after.p50),
    });
  } finally {
    s.child.kill("SIGTERM");
  }
}

async function flood(dir: string, anchor: Server): Promise<void> {
  const s = await startOurs(dir);
  try {
    const idle = await scrapes(s, 20);
    const batch = Array.from({ length: 100 }, (_, i) => ({
      engine: `engine-${i % 4}`,
      voice: `voice-${i % 3}`,
      latency_ms: 100 + i,
      ttfa_ms: 40,
      audio_duration_ms: 2000,
      characters: 42,
    }));
    // The posters run in their own process: in this one their 200 connections would delay the
    // scraper's own event loop and the figures would measure the client.
    const poster = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(import.meta.url), "--poster", String(s.port), JSON.stringify(batch)],
      { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    poster.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const posted = new Promise<number>((res) => poster.on("exit", () => res(Number(out.trim()) || 0)));
    await sleep(1000); // its connections are up
    const until = Date.now() + 9000;
    const times: number[] = [];
    const lags: number[] = [];
    const scraper = (async () => {
      while (Date.now() < until) {
        const r = await http(s.port, "/metrics");
        times.push(r.ms);
        const lag = /^tts_exporter_event_loop_lag_seconds (\S+)$/m.exec(r.body)?.[1];
        if (lag !== undefined) lags.push(Number(lag) * 1000);
        await sleep(100);
      }
    })();
    await scraper;
    const events = await posted;
    const a = await scrapes(anchor, 20);
    console.log("flood: 200 connections posting batches of 100 events for 10 s, /metrics every 100 ms");
    console.table({
      "events posted": events,
      "scrape p50 idle": ms(idle.p50),
      "scrape p50 in flood": ms(percentile(times, 50)),
      "scrape p99 in flood": ms(percentile(times, 99)),
      "scrape max in flood": ms(Math.max(...times)),
      "scrapes in flood": times.length,
      "event-loop lag p99 (exporter's gauge), max": ms(Math.max(...lags, 0)),
      "node_exporter scrape p50 (idle)": ms(a.p50),
      "ratio flood p50 / node_exporter p50": (percentile(times, 50) / a.p50).toFixed(2),
    });
  } finally {
    s.child.kill("SIGTERM");
  }
}

/** Largest total size of the files under dir seen so far (temporary WAVs of the recogniser). */
function treeBytes(path: string): number {
  let total = 0;
  for (const name of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, name.name);
    try {
      total += name.isDirectory() ? treeBytes(p) : statSync(p).size;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

async function audio(dir: string, extra: Record<string, unknown>, label: string): Promise<void> {
  const s = await startOurs(dir, extra);
  const tmp = mkdtempSync(join(dir, "tmp-"));
  try {
    // A 9.9 MB audio_wav_base64: 7.4 MB of 16-bit PCM at 1 kHz, 62 minutes of a 220 Hz tone with a
    // slow tremolo.
    const rate = 1000;
    const n = Math.floor(((9.9e6 / 4) * 3 - 44) / 2);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++)
      x[i] = 0.3 * Math.sin((2 * Math.PI * 220 * i) / rate) * (1 + Math.sin(i / 700)) * 0.5;
    const wav = Buffer.from(encodeWav16(x, rate)).toString("base64");
    const before = memory(s.child.pid ?? 0).rss;
    const healthy: number[] = [];
    let tempPeak = 0;
    let timeouts = 0;
    const t0 = performance.now();
    const posting = post(s.port, [
      { engine: "e", voice: "v", latency_ms: 100, text: "The quick brown fox.", audio_wav_base64: wav },
    ]);
    let done = false;
    void posting.finally(() => {
      done = true;
    });
    // Poll until the recogniser has scored it, the audio was refused by the size cap, or 60 s after
    // the POST's answer.
    let answeredAt = Number.POSITIVE_INFINITY;
    void posting.then(() => {
      answeredAt = Date.now();
    });
    for (;;) {
      const t = performance.now();
      const h = await http(s.port, "/-/healthy", { timeoutMs: 120_000 }).catch(() => undefined);
      healthy.push(h?.ms ?? performance.now() - t); // no answer in 120 s: counted as that long
      if (h === undefined) timeouts++;
      tempPeak = Math.max(tempPeak, treeBytes(dir));
      if (done) {
        const m = await http(s.port, "/metrics");
        const finished =
          /^tts_intelligibility_ratio\{/m.test(m.body) ||
          /^tts_ingest_audio_dropped_total\{.*\} [1-9]/m.test(m.body);
        if (finished || Date.now() > answeredAt + 60_000) break;
      }
      await sleep(100);
    }
    const post202 = await posting;
    const m = memory(s.child.pid ?? 0);
    console.log(`audio (${label}): one 9.9 MB audio_wav_base64 at 1 kHz with a text`);
    console.table({
      "POST answered in": ms(post202.ms),
      "/-/healthy p50": ms(percentile(healthy, 50)),
      "/-/healthy max": ms(Math.max(...healthy)),
      "/-/healthy unanswered in 120 s": timeouts,
      "polled for": ms(performance.now() - t0),
      "RSS before": mib(before),
      "peak RSS": mib(m.hwm),
      "largest temporary files": mib(tempPeak),
    });
  } finally {
    s.child.kill("SIGTERM");
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The poster process of the flood: 200 keep-alive connections for 10 s; prints the events accepted. */
async function posterMain(port: number, body: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 200 });
  const events = (JSON.parse(body) as unknown[]).length;
  const until = Date.now() + 10_000;
  let accepted = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (Date.now() < until) {
        const r = await http(port, "/api/v1/syntheses", { method: "POST", body, agent }).catch(
          () => undefined,
        );
        if (r?.status === 202) accepted += events;
      }
    }),
  );
  agent.destroy();
  console.log(accepted);
}

async function main(): Promise<void> {
  const which = new Set(process.argv.slice(2));
  const all = which.size === 0;
  const dir = mkdtempSync(join(tmpdir(), "tts-bench-flood-"));
  const anchor = await startNodeExporter();
  console.log(
    `flood benchmark: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), load ${os.loadavg()[0]?.toFixed(1)}, Node ${process.version}, ${new Date().toISOString()}`,
  );
  try {
    if (all || which.has("cardinality")) await cardinality(dir, anchor);
    if (all || which.has("worst")) await worst(dir, anchor);
    if (all || which.has("engines")) await engines(dir);
    if (all || which.has("flood")) await flood(dir, anchor);
    if (all || which.has("audio")) await audio(dir, {}, "the defaults");
  } finally {
    anchor.child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

const posterAt = process.argv.indexOf("--poster");
(posterAt >= 0
  ? posterMain(Number(process.argv[posterAt + 1]), process.argv[posterAt + 2] ?? "[]")
  : main()
).catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
