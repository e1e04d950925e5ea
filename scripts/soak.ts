// npm run soak [-- --duration S --sample S --compare-from S --window S --rss-window S --targets N
//                  --max-growth-mb MB --csv FILE --node-flags="FLAGS"]
//
// Runs the exporter (scripts/soak-child.mjs: the compiled build in a plain Node process, as
// `npm start` runs it, so only its memory is measured) with the web dashboard, and
// drives it as production does: a probe of a local OpenAI-compatible TTS server every second,
// ingestion at 200 events/s (batches of 20 every 100 ms; every 50th event carries a WAV), three
// dashboard SSE clients, and a /metrics scrape every second. Every `--sample` seconds the child
// reports its RSS and heap (after a GC). The run fails when either grows by more than --max-growth-mb
// between the window starting at --compare-from (default: the 10th minute) and the last window,
// or when anything is lost: an ingestion answer other than 202, events accepted != events sent,
// a scrape that is not 200, an SSE client dropped. The heap compares the medians of 1-minute
// windows (--window); RSS compares the lowest sample of each 5-minute window (--rss-window): RSS
// moves in a sawtooth of about 30 MB with a 3-4 minute period (allocator arenas and worker heaps
// that the main thread's gc() does not reach), so a 1-minute median reads the phase of the
// sawtooth, not a trend, while the trough of a window longer than one period is the memory kept.
// --targets N probes N engines (voices of the same local server) every second: a probe cycle is
// one probe of one target. Default: one target for 10,000 s (10,000 probe cycles, 2 h 47 min).
// --history S is the web dashboard's history (dashboard.history_seconds, default here 300): the
// shipped hour of history is a ring that fills for its first hour (about 0.35 MB of heap a minute
// at this load), which is bounded, not a leak, but would read as growth between the 10th minute
// and the last in any run shorter than an hour plus; 5 minutes fills before the reference window.
// --node-flags="FLAGS" passes Node/V8 flags to the exporter (the `=` form: the value starts with
// "--"), to try heap settings; the shipped commands use none. --csv FILE writes every sample, with
// V8's committed and used size per heap space. docs/benchmarks.md has a recorded curve.
import { execFileSync, fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, get, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { encodeWav16 } from "../src/audio/decode.ts";

export interface SoakOptions {
  readonly durationSeconds: number;
  readonly sampleSeconds: number;
  /** Start of the reference window (seconds into the run); the last window is compared with it. */
  readonly compareFromSeconds: number;
  /** Length of both heap windows (their medians are compared). */
  readonly windowSeconds: number;
  /** Length of both RSS windows (their lowest samples are compared); default windowSeconds. */
  readonly rssWindowSeconds?: number;
  /** Engines probed every second (default 1). */
  readonly targets?: number;
  /** The web dashboard's history (dashboard.history_seconds); default 300. */
  readonly historySeconds?: number;
  readonly maxGrowthMb: number;
  /** RSS bound when it differs from the heap's (a short run still sees workers and arenas start). */
  readonly maxRssGrowthMb?: number;
  readonly eventsPerSecond: number;
  readonly sseClients: number;
  /** Node/V8 flags for the exporter (besides --expose-gc), e.g. ["--max-semi-space-size=4"]. */
  readonly nodeFlags?: readonly string[];
  readonly log?: (line: string) => void;
}

export interface SoakSample {
  readonly t: number;
  readonly rssMb: number;
  readonly heapMb: number;
  readonly probes: number;
  /** V8's committed (physical) and used size of each heap space, MB, after the GC. */
  readonly spaces: Readonly<Record<string, { committedMb: number; usedMb: number }>>;
  /** C++ objects held by JS objects (Buffers among them), MB. */
  readonly externalMb: number;
  /** Full GCs the exporter ran by itself so far (the samples' own gc() left out), and their time. */
  readonly gcMajor: { readonly count: number; readonly ms: number; readonly maxMs: number };
}

export interface SoakResult {
  readonly samples: SoakSample[];
  readonly eventsSent: number;
  readonly eventsAccepted: number;
  readonly scrapes: number;
  readonly probes: number;
  readonly rssGrowthMb: number;
  readonly heapGrowthMb: number;
  readonly problems: string[];
}

const tone = (() => {
  const rate = 16000;
  const samples = new Float32Array(rate / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = 0.3 * Math.sin((2 * Math.PI * 220 * i) / rate);
  return Buffer.from(encodeWav16(samples, rate));
})();

/** An OpenAI-compatible speech endpoint answering every request with the same half-second tone. */
function fakeTts(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "audio/wav", "content-length": tone.length }).end(tone);
    });
  });
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server)));
}

/** What scripts/soak-child.mjs answers to "sample". */
interface ChildSample {
  readonly rss: number;
  readonly heap: number;
  readonly external: number;
  readonly probes: number;
  readonly spaces: Record<string, { committed: number; used: number }>;
  readonly gcMajor: { count: number; ms: number; maxMs: number };
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  execFileSync(process.execPath, [fileURLToPath(new URL("build.mjs", import.meta.url)), "--if-stale"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const tts = await fakeTts();
  const ttsUrl = `http://127.0.0.1:${(tts.address() as AddressInfo).port}/v1/audio/speech`;
  const child = fork(
    fileURLToPath(new URL("soak-child.mjs", import.meta.url)),
    [ttsUrl, String(o.targets ?? 1), String(o.historySeconds ?? 300)],
    {
      execArgv: ["--expose-gc", ...(o.nodeFlags ?? [])],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    },
  );
  const problems: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  const sse: IncomingMessage[] = [];
  try {
    const ready = await new Promise<{ exporter: string; dashboard: string }>((resolve, reject) => {
      child.once("message", (m) => resolve(m as { exporter: string; dashboard: string }));
      child.once("exit", (code) => reject(new Error(`the exporter exited with ${code} before it was ready`)));
    });
    log(`exporter ${ready.exporter}, dashboard ${ready.dashboard}`);
    let eventsSent = 0;
    let eventsAccepted = 0;
    let scrapes = 0;
    let sseDropped = 0;
    const audio = tone.toString("base64");
    let seq = 0;
    const batch = Math.max(1, Math.round(o.eventsPerSecond / 10));
    timers.push(
      setInterval(() => {
        const events = Array.from({ length: batch }, () => {
          seq++;
          return {
            engine: `svc${seq % 3}`,
            voice: "v1",
            latency_ms: 50 + (seq % 400),
            cache_hit: seq % 4 === 0,
            ...(seq % 50 === 0 && { audio_wav_base64: audio }),
          };
        });
        eventsSent += events.length;
        fetch(`${ready.exporter}/api/v1/syntheses`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(events),
        }).then(
          async (res) => {
            await res.text();
            if (res.status === 202) eventsAccepted += events.length;
            else problems.push(`ingestion answered ${res.status}`);
          },
          (err: unknown) => problems.push(`ingestion failed: ${String(err)}`),
        );
      }, 100),
      setInterval(() => {
        fetch(`${ready.exporter}/metrics`).then(
          async (res) => {
            await res.text();
            if (res.status === 200) scrapes++;
            else problems.push(`/metrics answered ${res.status}`);
          },
          (err: unknown) => problems.push(`/metrics failed: ${String(err)}`),
        );
      }, 1000),
    );
    for (let i = 0; i < o.sseClients; i++) {
      get(`${ready.dashboard}api/stream`, (res) => {
        sse.push(res);
        res.resume();
        res.on("close", () => sseDropped++);
      }).on("error", () => sseDropped++);
    }

    const samples: SoakSample[] = [];
    const start = Date.now();
    let probes = 0;
    while (Date.now() - start < o.durationSeconds * 1000) {
      await new Promise((r) => setTimeout(r, o.sampleSeconds * 1000));
      const m = await new Promise<ChildSample>((resolve) => {
        child.once("message", (msg) => resolve(msg as ChildSample));
        child.send("sample");
      });
      probes = m.probes;
      const spaces: Record<string, { committedMb: number; usedMb: number }> = {};
      for (const [name, v] of Object.entries(m.spaces))
        spaces[name] = { committedMb: v.committed / 1e6, usedMb: v.used / 1e6 };
      const s: SoakSample = {
        t: (Date.now() - start) / 1000,
        rssMb: m.rss / 1e6,
        heapMb: m.heap / 1e6,
        probes,
        spaces,
        externalMb: m.external / 1e6,
        gcMajor: m.gcMajor,
      };
      samples.push(s);
      log(
        `t=${s.t.toFixed(0)}s rss=${s.rssMb.toFixed(1)} MB heap=${s.heapMb.toFixed(1)} MB probes=${probes}`,
      );
    }
    for (const t of timers) clearInterval(t);
    await new Promise((r) => setTimeout(r, 2000)); // the last ingestion answers
    const end = samples.at(-1)?.t ?? 0;
    const inWindow = (from: number, length: number) =>
      samples.filter((s) => s.t >= from && s.t < from + length);
    const lastWindow = (length: number) => samples.filter((s) => s.t > end - length);
    const first = inWindow(o.compareFromSeconds, o.windowSeconds);
    const last = lastWindow(o.windowSeconds);
    const rssWindow = o.rssWindowSeconds ?? o.windowSeconds;
    const lowest = (xs: readonly SoakSample[]) => Math.min(...xs.map((s) => s.rssMb));
    const rssFirst = inWindow(o.compareFromSeconds, rssWindow);
    const rssLast = lastWindow(rssWindow);
    const rssGrowthMb =
      rssFirst.length > 0 && rssLast.length > 0 ? lowest(rssLast) - lowest(rssFirst) : Number.NaN;
    const heapGrowthMb = median(last.map((s) => s.heapMb)) - median(first.map((s) => s.heapMb));
    if (o.compareFromSeconds + rssWindow > end - rssWindow)
      problems.push(`the run is too short for RSS windows of ${rssWindow} s from ${o.compareFromSeconds} s`);
    if (first.length === 0) problems.push(`no sample in the reference window at ${o.compareFromSeconds} s`);
    if (!(rssGrowthMb <= (o.maxRssGrowthMb ?? o.maxGrowthMb)))
      problems.push(`RSS grew by ${rssGrowthMb.toFixed(1)} MB`);
    if (!(heapGrowthMb <= o.maxGrowthMb)) problems.push(`heap grew by ${heapGrowthMb.toFixed(1)} MB`);
    if (eventsAccepted !== eventsSent)
      problems.push(`${eventsSent - eventsAccepted} of ${eventsSent} events lost`);
    if (sseDropped > 0) problems.push(`${sseDropped} SSE clients dropped`);
    // A guard that probes ran at all: one a second is planned, a loaded (or niced) host runs fewer.
    if (probes < o.durationSeconds * 0.25 * (o.targets ?? 1))
      problems.push(`only ${probes} probes in ${o.durationSeconds} s`);
    return {
      samples,
      eventsSent,
      eventsAccepted,
      scrapes,
      probes,
      rssGrowthMb,
      heapGrowthMb,
      problems: [...new Set(problems)],
    };
  } finally {
    for (const t of timers) clearInterval(t);
    for (const r of sse) r.destroy();
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(null)));
    tts.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "10000" },
      sample: { type: "string", default: "10" },
      "compare-from": { type: "string", default: "540" },
      window: { type: "string", default: "60" },
      "rss-window": { type: "string", default: "300" },
      targets: { type: "string", default: "1" },
      history: { type: "string", default: "300" },
      "max-growth-mb": { type: "string", default: "5" },
      csv: { type: "string" },
      "node-flags": { type: "string", default: "" },
    },
  });
  const result = await runSoak({
    durationSeconds: Number(values.duration),
    sampleSeconds: Number(values.sample),
    compareFromSeconds: Number(values["compare-from"]),
    windowSeconds: Number(values.window),
    rssWindowSeconds: Number(values["rss-window"]),
    targets: Number(values.targets),
    historySeconds: Number(values.history),
    maxGrowthMb: Number(values["max-growth-mb"]),
    eventsPerSecond: 200,
    sseClients: 3,
    nodeFlags: values["node-flags"].split(/\s+/).filter((f) => f !== ""),
    log: (line) => console.log(line),
  });
  if (values.csv) {
    const spaces = [...new Set(result.samples.flatMap((s) => Object.keys(s.spaces)))];
    const header = [
      "t_seconds,rss_mb,heap_mb,probes,external_mb,gc_major_count,gc_major_ms",
      ...spaces.map((n) => `${n}_committed_mb,${n}_used_mb`),
    ].join(",");
    const row = (s: SoakSample) =>
      [
        s.t.toFixed(0),
        s.rssMb.toFixed(2),
        s.heapMb.toFixed(2),
        s.probes,
        s.externalMb.toFixed(2),
        s.gcMajor.count,
        s.gcMajor.ms.toFixed(1),
        ...spaces.map(
          (n) => `${s.spaces[n]?.committedMb.toFixed(2) ?? ""},${s.spaces[n]?.usedMb.toFixed(2) ?? ""}`,
        ),
      ].join(",");
    writeFileSync(values.csv, `${header}\n${result.samples.map(row).join("\n")}\n`);
  }
  console.log(
    `events sent ${result.eventsSent}, accepted ${result.eventsAccepted}; scrapes ${result.scrapes}; probes ${result.probes}; ` +
      `RSS growth (lowest of each window) ${result.rssGrowthMb.toFixed(1)} MB, heap growth ${result.heapGrowthMb.toFixed(1)} MB`,
  );
  const gc = result.samples.at(-1)?.gcMajor;
  if (gc && gc.count > 0)
    console.log(
      `full GCs of the exporter's own: ${gc.count}, mean ${(gc.ms / gc.count).toFixed(1)} ms, longest ${gc.maxMs.toFixed(1)} ms, ${(gc.ms / 1000).toFixed(1)} s in all`,
    );
  for (const p of result.problems) console.log(`FAIL ${p}`);
  process.exit(result.problems.length > 0 ? 1 : 0);
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) void main();
