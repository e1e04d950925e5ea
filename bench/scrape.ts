// Scrape benchmark: our /metrics against Debian's prometheus-node-exporter (the anchor) on the same
// machine, in one run, scrapes interleaved. Both start together; the run measures each one's time
// from spawn to its first successful /metrics, then scrapes from that moment on (the first 30 s after
// start included: worker start, first probe, first analysis and recognition), paced, for at least
// --seconds and --scrapes. Prints p50/p99 latency (whole run, first 30 s, after), CPU per scrape,
// RSS and peak RSS of each server, the ratios ours / node_exporter and the goals of issue 10.
// Ours is the compiled package (node dist/main.js; built first when stale) with the embedded engine,
// audio analysis and the recogniser on. Usage: npm run bench:scrape [-- --scrapes 2000 --seconds 60]
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, get } from "node:http";
import { createServer } from "node:net";
import os, { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { memory, processTree } from "./proc.ts";

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

const SCRAPES = arg("scrapes", 1000);
const SECONDS = arg("seconds", 45);
const PACE_MS = arg("pace-ms", 20);
const START_WINDOW_S = 30;
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

/** CPU seconds of the process and its children: its own, its waited-for children's, its live ones'. */
function cpuSeconds(pid: number): number {
  const fields = (p: number) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      return stat
        .slice(stat.lastIndexOf(")") + 2)
        .split(" ")
        .map(Number);
    } catch {
      return []; // ended meanwhile
    }
  };
  const own = fields(pid);
  // utime + stime (fields 14, 15), cutime + cstime (16, 17: children that ended and were waited for)
  let ticks = (own[11] ?? 0) + (own[12] ?? 0) + (own[13] ?? 0) + (own[14] ?? 0);
  for (const c of processTree(pid).slice(1)) {
    const f = fields(c);
    ticks += (f[11] ?? 0) + (f[12] ?? 0);
  }
  return ticks / TICKS_PER_SECOND;
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

/** Milliseconds from spawn to the first 200 on /metrics (polled every 5 ms). */
async function waitUp(server: Server, spawnedAt: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (server.child.exitCode !== null)
      throw new Error(`${server.name} exited with ${server.child.exitCode}`);
    try {
      await scrape(server);
      return performance.now() - spawnedAt;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(5);
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
  // Every collector on (the defaults), at a 1 s interval; the embedded engine probed every 15 s,
  // each probe analysed and recognised (pocketsphinx, when installed).
  writeFileSync(
    config,
    JSON.stringify({
      monitoring: {
        interval_seconds: 1,
        gpu_monitoring: true,
        audio_analysis: true,
        collectors: { cpu: true, memory: true, disk: true, filesystem: true, process: true, gpu: !NO_GPU },
      },
      probes: {
        interval_seconds: 15,
        timeout_seconds: 10,
        texts: ["The quick brown fox jumps over the lazy dog."],
      },
      engines: [{ name: "embedded", type: "embedded", voice: "slt" }],
      server: { listen_address: `127.0.0.1:${port}`, dashboard_address: "127.0.0.1:0" },
    }),
  );
  const child = spawn(
    process.execPath,
    ["dist/main.js", "--prometheus-export", "--log-level", "error", "--config", config],
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

interface Scrape {
  readonly at: number; // seconds since the server's start
  readonly ms: number;
}

const p = (xs: readonly Scrape[], q: number) =>
  percentile(
    xs.map((x) => x.ms),
    q,
  );

async function main(): Promise<void> {
  execFileSync(process.execPath, ["scripts/build.mjs", "--if-stale"], { cwd: ROOT, stdio: "inherit" });
  const dir = mkdtempSync(join(tmpdir(), "tts-bench-"));
  const servers: Server[] = [];
  try {
    // Spawned together; each one's start is timed on its own.
    const spawnedAt = performance.now();
    servers.push(await startOurs(dir), await startNodeExporter());
    const upMs = await Promise.all(servers.map((s) => waitUp(s, spawnedAt)));
    const upAt = new Map(servers.map((s, i) => [s, spawnedAt + (upMs[i] ?? 0)]));
    // CPU time spent up to the first answer (about, read right after it): on a loaded machine the
    // wall-clock start mostly measures the wait for a core, this does not.
    const upCpu = servers.map((s) => cpuSeconds(s.child.pid ?? 0) * 1000);

    const times = new Map<Server, Scrape[]>(servers.map((s) => [s, []]));
    const bytes = new Map<Server, number>();
    const cpuBefore = new Map(servers.map((s) => [s, cpuSeconds(s.child.pid ?? 0)]));
    const started = performance.now();
    let peakRss = new Map<Server, number>(servers.map((s) => [s, 0]));
    for (let i = 0; i < SCRAPES || performance.now() - started < SECONDS * 1000; i++) {
      const tick = performance.now();
      // Alternate which server goes first, so neither always follows the other.
      const order = i % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        const r = await scrape(s);
        times.get(s)?.push({ at: (performance.now() - (upAt.get(s) ?? 0)) / 1000, ms: r.ms });
        bytes.set(s, r.bytes);
      }
      if (i % 50 === 0)
        peakRss = new Map(
          servers.map((s) => [s, Math.max(peakRss.get(s) ?? 0, memory(s.child.pid ?? 0).rss)]),
        );
      const wait = PACE_MS - (performance.now() - tick);
      if (wait > 0) await sleep(wait);
    }
    const wall = (performance.now() - started) / 1000;
    const results = servers.map((s) => {
      const pid = s.child.pid ?? 0;
      const end = memory(pid);
      const all = times.get(s) ?? [];
      return {
        all,
        early: all.filter((x) => x.at < START_WINDOW_S),
        late: all.filter((x) => x.at >= START_WINDOW_S),
        bytes: bytes.get(s) ?? 0,
        cpu: cpuSeconds(pid) - (cpuBefore.get(s) ?? 0),
        rss: end.rss,
        own: end.own,
        peak: Math.max(peakRss.get(s) ?? 0, end.hwm),
      };
    });
    const [ours, anchor] = results as [(typeof results)[0], (typeof results)[0]];
    const [oursUp, anchorUp] = upMs as [number, number];
    const n = ours.all.length;
    const row = (name: string, r: typeof ours, up: number, cpu: number) => ({
      server: name,
      "start ms": up.toFixed(0),
      "start CPU ms": cpu.toFixed(0),
      "p50 ms": p(r.all, 50).toFixed(2),
      "p99 ms": p(r.all, 99).toFixed(2),
      "p99 first 30 s": p(r.early, 99).toFixed(2),
      "p99 after": r.late.length > 0 ? p(r.late, 99).toFixed(2) : "-",
      "max ms": Math.max(...r.all.map((x) => x.ms)).toFixed(2),
      "CPU ms/scrape": ((r.cpu / n) * 1000).toFixed(3),
      "RSS MiB": (r.rss / 2 ** 20).toFixed(1),
      "own RSS MiB": (r.own / 2 ** 20).toFixed(1),
      "peak RSS MiB": (r.peak / 2 ** 20).toFixed(1),
      "body KiB": (r.bytes / 1024).toFixed(1),
    });
    const ratio = (a: number, b: number) => a / b;
    const p50 = ratio(p(ours.all, 50), p(anchor.all, 50));
    const p99 = ratio(p(ours.all, 99), p(anchor.all, 99));
    const rssMiB = ours.rss / 2 ** 20;
    const peakMiB = ours.peak / 2 ** 20;

    console.log(
      `scrape benchmark: ${n} scrapes each, interleaved, every ${PACE_MS} ms, from each server's first answer on, ${wall.toFixed(1)} s (first ${START_WINDOW_S} s: ${ours.early.length} scrapes); ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), load ${(os.loadavg()[0] ?? 0).toFixed(1)}, Node ${process.version}, ${new Date().toISOString()}`,
    );
    console.table([
      row("tts-monitor (ours)", ours, oursUp, upCpu[0] ?? 0),
      row("node_exporter 1.x (anchor)", anchor, anchorUp, upCpu[1] ?? 0),
    ]);
    console.log("ratios ours / node_exporter:");
    console.table({
      start: ratio(oursUp, anchorUp).toFixed(3),
      "start CPU": ratio(upCpu[0] ?? 0, upCpu[1] ?? 0).toFixed(3),
      "p50 latency": p50.toFixed(3),
      "p99 latency": p99.toFixed(3),
      "p99 first 30 s": ratio(p(ours.early, 99), p(anchor.early, 99)).toFixed(3),
      "CPU per scrape": ratio(ours.cpu, anchor.cpu).toFixed(3),
      RSS: ratio(ours.rss, anchor.rss).toFixed(3),
    });
    console.log(
      "CPU per scrape = the server's CPU time (utime+stime from /proc/<pid>/stat, with its child processes') over the run / scrapes; ours includes its background collectors (1 s interval), probes, analysis, the predicted-MOS worker and pocketsphinx. RSS: the server with its child processes at the end (ours: the MOS worker process, a pocketsphinx run if one is under way); own RSS: the server process alone.",
    );
    const goal = (name: string, met: boolean, value: string) =>
      console.log(`goal ${name}: ${met ? "met" : "MISSED"} (${value})`);
    goal("start to first /metrics ≤ 0.5 s", oursUp <= 500, `${oursUp.toFixed(0)} ms`);
    goal(
      "RSS ≤ 150 MiB",
      rssMiB <= 150,
      `${rssMiB.toFixed(1)} MiB at the end with its child processes (the exporter alone ${(ours.own / 2 ** 20).toFixed(1)} MiB), peak ${peakMiB.toFixed(1)} MiB`,
    );
    goal("p99 ≤ 0.5× node_exporter's, first 30 s included", p99 <= 0.5, `${p99.toFixed(3)}×`);
    goal("p50 ≤ 0.25× node_exporter's", p50 <= 0.25, `${p50.toFixed(3)}×`);
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
