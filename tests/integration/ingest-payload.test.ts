import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { encodeWav16 } from "../../src/audio/decode.ts";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { sweepTempDirs } from "../../src/util/temp-dir.ts";
import { requireBinary, sleep, waitFor } from "../helpers/tools.ts";

// Issue 18 item 2: no request does work in proportion to its payload on the event loop. The 10 MB
// case of the issue (a 9.9 MB audio_wav_base64 at 1 kHz with a text: 62 minutes of audio) used to
// hold the event loop for 27 s; now decoding, the size cap, the analysis, the recogniser's
// resampling and its WAV file all happen in workers while /-/healthy and /metrics keep answering.

const LOOP_BOUND_MS = 1000; // what a scraper on a loaded machine would see fail
const monitors: TTSPerformanceMonitor[] = [];
let root: string;
let savedTmp: string | undefined;

beforeAll(() => {
  // The recogniser's temporary directory goes under TMPDIR: a private one, to look into.
  savedTmp = process.env.TMPDIR;
  root = mkdtempSync(join(tmpdir(), "tts-payload-test-"));
  process.env.TMPDIR = root;
});
afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(root, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});

/**
 * An event whose audio_wav_base64 holds `seconds` of 16-bit PCM at 1 kHz (a 220 Hz tone), as the
 * bytes of the request body: built before the endpoints are polled, so that the test's own
 * JSON.stringify of 10 MB does not hold the event loop it shares with the exporter.
 */
function eventBody(seconds: number): Uint8Array<ArrayBuffer> {
  const rate = 1000;
  const n = Math.floor(seconds * rate);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.3 * Math.sin((2 * Math.PI * 220 * i) / rate);
  const audio = Buffer.from(encodeWav16(x, rate)).toString("base64");
  const event = {
    engine: "e",
    voice: "v",
    latency_ms: 100,
    text: "The quick brown fox.",
    audio_wav_base64: audio,
  };
  return new TextEncoder().encode(JSON.stringify(event));
}
/** The issue's case: a 9.9 MB audio_wav_base64 (7.4 MB of WAV: 62 minutes at 1 kHz). */
const ISSUE_SECONDS = ((9.9e6 / 4) * 3 - 44) / 2 / 1000;

async function start(ingest: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const monitor = new TTSPerformanceMonitor({
    config: {
      engines: [],
      monitoring: { collectors: { gpu: false, disk: false, filesystem: false } },
      ingest: { max_body_bytes: 12 * 1024 * 1024, ...ingest },
    },
    listenAddress: "127.0.0.1:0",
    logger: new Logger({ json: true, sink: { write: (l) => lines.push(l) } }),
  });
  monitors.push(monitor);
  await monitor.startMonitoring();
  const base = `http://${monitor.address}`;
  return { monitor, base, lines };
}

/** Polls /-/healthy and /metrics back to back until stopped; returns the slowest answer of each. */
function poll(base: string) {
  let running = true;
  const worst = { healthy: 0, metrics: 0, rounds: 0, errors: [] as string[] };
  const done = (async () => {
    while (running) {
      for (const path of ["/-/healthy", "/metrics"] as const) {
        const t0 = performance.now();
        try {
          const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(30_000) });
          await res.text();
          if (res.status !== 200) worst.errors.push(`${path}: HTTP ${res.status}`);
        } catch (err) {
          worst.errors.push(`${path}: ${String(err)}`);
          running = false;
        }
        const ms = performance.now() - t0;
        if (path === "/-/healthy") worst.healthy = Math.max(worst.healthy, ms);
        else worst.metrics = Math.max(worst.metrics, ms);
      }
      worst.rounds++;
      await sleep(20);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return worst;
    },
  };
}

const post = (base: string, body: Uint8Array<ArrayBuffer>) =>
  fetch(`${base}/api/v1/syntheses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });

const ourDirs = () => readdirSync(root).filter((n) => n.startsWith(`tts-monitor-${process.pid}-`));

describe("ingested audio off the event loop", () => {
  it("the 10 MB case with the defaults: refused by ingest.max_audio_seconds in the worker, the endpoints answer throughout", async () => {
    const { base } = await start();
    const body = eventBody(ISSUE_SECONDS);
    expect(body.length).toBeGreaterThan(9.9e6);
    const polling = poll(base);
    await sleep(200);
    const res = await post(base, body);
    expect(res.status).toBe(202);
    await waitFor(
      "the audio refused as too long",
      async () => {
        const m = await (await fetch(`${base}/metrics`)).text();
        return m.includes('tts_ingest_audio_dropped_total{reason="too_long"} 1') ? m : undefined;
      },
      60_000,
      100,
    );
    const worst = await polling.stop();
    expect(worst.errors).toEqual([]);
    expect(worst.rounds).toBeGreaterThan(2);
    expect(worst.healthy).toBeLessThan(LOOP_BOUND_MS);
    expect(worst.metrics).toBeLessThan(LOOP_BOUND_MS);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).not.toMatch(/^tts_audio_rms_dbfs\{/m); // nothing analysed
  }, 120_000);

  it("audio within the cap: resampled for the recogniser in a worker; stopping during recognition removes the temporary directory", async () => {
    requireBinary("/usr/bin/pocketsphinx_continuous", "pocketsphinx");
    const { monitor, base } = await start({ max_audio_seconds: 600 });
    // 5 minutes at 1 kHz: a 9.6 MB WAV at 16 kHz for the recogniser, which takes a while on it.
    const body = eventBody(300);
    const polling = poll(base);
    await sleep(200);
    expect((await post(base, body)).status).toBe(202);
    const wav = await waitFor(
      "the recogniser's input written",
      () => {
        for (const dir of ourDirs()) {
          const f = readdirSync(join(root, dir)).find((n) => n.endsWith(".wav"));
          if (f) return join(root, dir, f);
        }
        return undefined;
      },
      120_000,
      50,
    );
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/^tts_audio_rms_dbfs\{engine="e",voice="v"\}/m); // analysed first
    const worst = await polling.stop();
    expect(worst.errors).toEqual([]);
    expect(worst.rounds).toBeGreaterThan(2);
    expect(worst.healthy).toBeLessThan(LOOP_BOUND_MS);
    expect(worst.metrics).toBeLessThan(LOOP_BOUND_MS);
    await monitor.stop();
    expect(existsSync(wav)).toBe(false);
    expect(ourDirs()).toEqual([]);
  }, 300_000);

  it("ingested speech with its text is scored by the recogniser from the worker's samples", async () => {
    requireBinary("/usr/bin/pocketsphinx_continuous", "pocketsphinx");
    requireBinary("/usr/bin/flite", "flite");
    const text = "The quick brown fox jumps over the lazy dog.";
    const file = join(root, "fox.wav");
    execFileSync("flite", ["-t", text, "-o", file]);
    const { base } = await start();
    const audio = readFileSync(file).toString("base64");
    const res = await fetch(`${base}/api/v1/syntheses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ engine: "flite", voice: "kal", latency_ms: 80, text, audio_wav_base64: audio }),
    });
    expect(res.status).toBe(202);
    const ratio = await waitFor(
      "the intelligibility ratio",
      async () => {
        const m = await (await fetch(`${base}/metrics`)).text();
        const line = m
          .split("\n")
          .find((l) => l.startsWith('tts_intelligibility_ratio{engine="flite",voice="kal"'));
        return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
      },
      90_000,
      200,
    );
    expect(ratio).toBeGreaterThanOrEqual(0.9);
  }, 120_000);

  it("a start removes the temporary directories of processes that no longer run", async () => {
    const stale = join(root, "tts-monitor-999999999-AbC123"); // no such pid
    mkdirSync(join(stale, "x"), { recursive: true });
    const other = join(root, "tts-monitor-not-ours"); // not our pattern: left alone
    mkdirSync(other);
    await start();
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(other)).toBe(true);
    expect(sweepTempDirs(root)).toEqual([]);
  });
});
