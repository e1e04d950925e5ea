// Predicted MOS (DNSMOS P.835) on real engine audio: our pipeline (worker, resampling, windows,
// mapping, cap) against the raw model fed windows computed here independently, following Microsoft's
// reference dnsmos_local.py line by line; then ordering, bad input and the metric's lifetime.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAudio, encodeWav16 } from "../../src/audio/decode.ts";
import { defaultModelDir, type MosOutcome, MosScorer } from "../../src/audio/mos/index.ts";
import { MOS_WORKER_NICE } from "../../src/audio/mos/limits.ts";
import { addWhiteNoise, sine } from "../../src/audio/signals.ts";
import { AnalysisPipeline } from "../../src/ingest/analysis.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { registryAudioSink } from "../../src/state/lifetimes.ts";
import { synthesizeWav } from "../fixtures/audio/speech.ts";
import { REPO_ROOT, waitFor } from "../helpers/tools.ts";
import { requireBinary } from "../helpers/tts-servers/real-audio.ts";

const LONG_TEXT =
  "The quick brown fox jumps over the lazy dog. Then it rested in the warm afternoon sun, " +
  "far from the river, while the farmer counted his sheep twice and went home for supper. " +
  "In the evening the wind turned cold and the first snow fell on the hills beyond the town.";

/** sox conversion of a WAV (resampling, channels), 16-bit output. */
function sox(wav: Uint8Array, args: string[]): Uint8Array {
  requireBinary("sox", "sox");
  return new Uint8Array(
    execFileSync("sox", ["-t", "wav", "-", "-t", "wav", "-b", "16", "-", ...args], { input: wav }),
  );
}

/** The reference's procedure (dnsmos_local.py, ComputeScore.__call__), on 16 kHz mono samples. */
async function referenceP835(session: ort.InferenceSession, audio16k: Float32Array) {
  const fs = 16000;
  const INPUT_LENGTH = 9.01;
  let audio = Array.from(audio16k);
  const lenSamples = Math.trunc(INPUT_LENGTH * fs);
  while (audio.length < lenSamples) audio = audio.concat(audio); // np.append(audio, audio)
  const numHops = Math.trunc(Math.floor(audio.length / fs) - INPUT_LENGTH) + 1;
  const sig: number[] = [];
  const bak: number[] = [];
  const ovr: number[] = [];
  for (let idx = 0; idx < numHops; idx++) {
    const seg = audio.slice(Math.trunc(idx * fs), Math.trunc((idx + INPUT_LENGTH) * fs));
    if (seg.length < lenSamples) continue;
    const out = await session.run({
      input_1: new ort.Tensor("float32", Float32Array.from(seg), [1, seg.length]),
    });
    const raw = out[session.outputNames[0] ?? ""]?.data as Float32Array;
    const [s = Number.NaN, b = Number.NaN, o = Number.NaN] = raw;
    // np.poly1d, non-personalised branch
    sig.push(-0.08397278 * s ** 2 + 1.22083953 * s + 0.0052439);
    bak.push(-0.13166888 * b ** 2 + 1.60915514 * b - 0.39604546);
    ovr.push(-0.06766283 * o ** 2 + 1.11546468 * o + 0.04602535);
  }
  const mean = (v: number[]) => v.reduce((a, x) => a + x, 0) / v.length;
  return { sig: mean(sig), bak: mean(bak), ovrl: mean(ovr), hops: sig.length };
}

/** A process that has ended: gone from /proc, or a zombie its (dead or busy) parent has not reaped. */
function isZombieOrGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

function values(o: MosOutcome): { sig: number; bak: number; ovrl: number } {
  const r = o.results.find((x) => x.model === "dnsmos_p835");
  if (!r) throw new Error(`no dnsmos_p835 result: ${o.absent ?? "?"}`);
  return {
    sig: r.values.sig ?? Number.NaN,
    bak: r.values.bak ?? Number.NaN,
    ovrl: r.values.ovrl ?? Number.NaN,
  };
}

// Inference runs at nice 10: beside the suite's other files and a busy core a window takes seconds,
// so these tests get minutes, not the default minute.
describe("predicted MOS (DNSMOS P.835)", { timeout: 300_000 }, () => {
  let session: ort.InferenceSession;
  const warnings: Array<{ msg: string; fields: Record<string, unknown> | undefined }> = [];
  const scorer = new MosScorer({
    maxWindows: 30,
    logger: { warn: (msg, fields) => warnings.push({ msg, fields }) },
  });
  beforeAll(async () => {
    session = await ort.InferenceSession.create(join(defaultModelDir(), "dnsmos", "sig_bak_ovr.onnx"));
  });
  afterAll(() => scorer.close());

  it("matches the reference procedure exactly on 16 kHz engine audio, one window and several", async () => {
    const available: number[] = [];
    for (const [engine, text] of [
      ["espeak-ng", undefined],
      ["flite", undefined],
      ["espeak-ng", LONG_TEXT],
    ] as const) {
      const wav16 = sox(synthesizeWav(engine, text), ["rate", "16000"]);
      const ours = await scorer.score(wav16, undefined, engine);
      const ref = await referenceP835(session, decodeAudio(wav16).samples);
      const v = values(ours);
      available.push(ours.results[0]?.windowsAvailable ?? 0);
      expect(ours.results[0]?.windows).toBe(ref.hops);
      expect(v.sig).toBeCloseTo(ref.sig, 4);
      expect(v.bak).toBeCloseTo(ref.bak, 4);
      expect(v.ovrl).toBeCloseTo(ref.ovrl, 4);
      for (const x of [v.sig, v.bak, v.ovrl]) {
        expect(x).toBeGreaterThan(1);
        expect(x).toBeLessThan(5);
      }
    }
    // The short texts fit one window; the long text spans several: the multi-window path was exercised.
    expect(available[0]).toBe(1);
    expect(available[2]).toBeGreaterThan(1);
  });

  it("resamples native-rate audio (22.05 kHz espeak-ng, 16 kHz festival, flite) close to sox's resampling", async () => {
    for (const engine of ["espeak-ng", "flite", "festival"] as const) {
      const wav = synthesizeWav(engine);
      const ours = values(await scorer.score(wav, undefined, engine));
      const ref = await referenceP835(session, decodeAudio(sox(wav, ["rate", "16000"])).samples);
      expect(Math.abs(ours.ovrl - ref.ovrl)).toBeLessThan(0.1);
      expect(Math.abs(ours.sig - ref.sig)).toBeLessThan(0.1);
    }
  });

  it("caps the windows per clip, spread over the clip", async () => {
    const capped = new MosScorer({ maxWindows: 1 });
    try {
      const o = await capped.score(sox(synthesizeWav("espeak-ng", LONG_TEXT), ["rate", "16000"]), undefined);
      expect(o.results[0]?.windows).toBe(1);
      expect(o.results[0]?.windowsAvailable).toBeGreaterThan(1);
    } finally {
      await capped.close();
    }
  });

  it("orders clean speech above noisy, dropped-out and hummed speech", async () => {
    const d = decodeAudio(synthesizeWav("espeak-ng"));
    const wav = (x: Float32Array) => encodeWav16(x, d.sampleRate);
    const clean = values(await scorer.score(wav(d.samples), undefined)).ovrl;
    const noisy = [];
    for (const snr of [20, 10, 0])
      noisy.push(values(await scorer.score(wav(addWhiteNoise(d.samples, snr, 7)), undefined)).ovrl);
    expect(clean).toBeGreaterThan(noisy[0] ?? 99);
    expect(noisy[0]).toBeGreaterThan(noisy[1] ?? 99);
    expect(noisy[1]).toBeGreaterThan(noisy[2] ?? 99);
    const gaps = d.samples.slice();
    const period = Math.round(0.16 * d.sampleRate);
    for (let i = 0; i < gaps.length; i++) if (i % period >= period / 2) gaps[i] = 0;
    const hum = d.samples.slice();
    const h = sine(50, d.sampleRate, hum.length / d.sampleRate, 0.1);
    for (let i = 0; i < hum.length; i++) hum[i] = (hum[i] ?? 0) * 0.8 + (h[i] ?? 0);
    expect(values(await scorer.score(wav(gaps), undefined)).ovrl).toBeLessThan(clean - 0.5);
    expect(values(await scorer.score(wav(hum), undefined)).ovrl).toBeLessThan(clean - 0.3);
  });

  it("bad input: too short and silence are absent; a tone, 8 kHz and 48 kHz stereo get a value", async () => {
    const short = await scorer.score(encodeWav16(sine(200, 16000, 0.5), 16000), undefined);
    expect(short.results).toEqual([]);
    expect(short.absent).toMatch(/shorter than 1 s/);
    const silence = await scorer.score(encodeWav16(new Float32Array(16000 * 3), 16000), undefined);
    expect(silence.absent).toBe("silence");
    const undecodable = await scorer.score(new Uint8Array([1, 2, 3, 4]), undefined);
    expect(undecodable.absent).toMatch(/undecodable/);
    // Over the caller's limit (ingest.max_audio_seconds): refused after decoding, like the analyser.
    const tooLong = await scorer.score(encodeWav16(sine(440, 16000, 5), 16000), undefined, "", 4);
    expect(tooLong).toMatchObject({ results: [], absent: "audio longer than 4 s", audioSeconds: 5 });
    const tone = values(await scorer.score(encodeWav16(sine(440, 16000, 3), 16000), undefined));
    expect(tone.ovrl).toBeGreaterThanOrEqual(1);
    expect(tone.ovrl).toBeLessThanOrEqual(5);
    const wav = synthesizeWav("espeak-ng");
    const clean = values(await scorer.score(wav, undefined));
    const tel = values(await scorer.score(sox(wav, ["rate", "8000"]), undefined));
    const stereo48 = values(await scorer.score(sox(wav, ["rate", "48000", "channels", "2"]), undefined));
    // Band-limited to 4 kHz, upsampled: DNSMOS barely notices (docs/audio-analysis.md says so).
    expect(Math.abs(tel.ovrl - clean.ovrl)).toBeLessThan(0.5);
    expect(Math.abs(stereo48.ovrl - clean.ovrl)).toBeLessThan(0.15);
    expect(warnings).toEqual([]);
  });

  it("a missing or corrupt model file: absent, one log line however many clips", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tts-mos-model-"));
    try {
      for (const broken of ["missing", "corrupt"] as const) {
        const modelDir = join(dir, broken);
        if (broken === "corrupt") {
          mkdirSync(join(modelDir, "dnsmos"), { recursive: true });
          writeFileSync(
            join(modelDir, "dnsmos", "sig_bak_ovr.onnx"),
            readFileSync(join(defaultModelDir(), "dnsmos", "sig_bak_ovr.onnx")).subarray(0, 5000),
          );
        }
        const logged: string[] = [];
        const s = new MosScorer({
          modelDir,
          logger: { warn: (msg, f) => logged.push(`${msg} ${String(f?.reason)}`) },
        });
        try {
          for (let i = 0; i < 2; i++) {
            const o = await s.score(synthesizeWav("espeak-ng"), undefined);
            expect(o.results).toEqual([]);
            expect(o.absent).toBe("no model available");
          }
        } finally {
          await s.close();
        }
        expect(logged).toHaveLength(1);
        expect(logged[0]).toMatch(broken === "missing" ? /unreadable/ : /not a valid ONNX model/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs inference in a child process at a low priority (nice 10); the exporter keeps its own", async () => {
    await scorer.score(synthesizeWav("flite"), undefined);
    const niceOf = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    };
    const pid = scorer.workerPid;
    expect(pid).toBeGreaterThan(0);
    expect(pid).not.toBe(process.pid);
    // Its parent is this process, and every thread of it (onnxruntime's too) runs at nice 10.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    expect(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])).toBe(process.pid);
    const tasks = execFileSync("ls", [`/proc/${pid}/task`], { encoding: "utf8" })
      .trim()
      .split("\n");
    for (const t of tasks) {
      const ts = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      expect(Number(ts.slice(ts.lastIndexOf(")") + 2).split(" ")[16])).toBe(MOS_WORKER_NICE);
    }
    expect(niceOf(process.pid)).toBe(0);
  });

  it("close() while a clip is in inference resolves it absent, ends the worker process and does not abort this one", async () => {
    for (const delayMs of [0, 300, 1500]) {
      // nice 19: the window in progress would take long to finish; close() does not wait for it.
      const s = new MosScorer({ nice: 19 });
      const pending = s.score(synthesizeWav("espeak-ng", LONG_TEXT), undefined);
      await new Promise((r) => setTimeout(r, delayMs));
      const pid = s.workerPid;
      await s.close();
      expect(pid === undefined || isZombieOrGone(pid)).toBe(true);
      // Closed before its result (the usual case), or finished just before close() on a fast
      // machine: either way it resolves, and never with a made-up value.
      const o = await pending;
      if (o.absent !== undefined) expect(o.absent).toBe("closed");
      else expect(values(o).ovrl).toBeGreaterThan(1);
      expect(s.workerPid).toBeUndefined();
    }
    // Still alive (a terminate() of a worker thread inside onnxruntime used to abort the whole process).
    expect(values(await scorer.score(synthesizeWav("flite"), undefined)).ovrl).toBeGreaterThan(1);
  });

  it("a parent killed with SIGKILL leaves no MOS worker process behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tts-mos-orphan-"));
    try {
      const wav = join(dir, "clip.wav");
      writeFileSync(wav, synthesizeWav("espeak-ng", LONG_TEXT));
      const script = join(dir, "parent.mjs");
      // Through the package's own loader: the test runs the TypeScript sources.
      writeFileSync(
        script,
        [
          'import { readFileSync } from "node:fs";',
          `const { MosScorer } = await import(${JSON.stringify(join(REPO_ROOT, "src/audio/mos/index.ts"))});`,
          "const s = new MosScorer({ nice: 19 });",
          `void s.score(readFileSync(${JSON.stringify(wav)}), undefined);`,
          "process.stdout.write(`${s.workerPid}\\n`);",
          "setInterval(() => {}, 1000);",
        ].join("\n"),
      );
      const parent = spawn(process.execPath, ["--import", "tsx", script], {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "inherit"],
      });
      const pid = await new Promise<number>((resolve, reject) => {
        parent.stdout.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim())));
        parent.once("exit", (code) => reject(new Error(`parent exited (${code}) before printing`)));
      });
      expect(pid).toBeGreaterThan(0);
      expect(existsSync(`/proc/${pid}/stat`)).toBe(true);
      parent.kill("SIGKILL");
      // The IPC channel closes with the parent; the worker kills itself (a deadline, not a timing).
      const gone = await waitFor(
        "the orphaned MOS worker to end",
        () => (isZombieOrGone(pid) ? true : undefined),
        60_000,
        100,
      );
      expect(gone).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("one clip in flight; a clip waiting from the same source is superseded by a newer one", async () => {
    const wav = synthesizeWav("espeak-ng");
    const [a, b, c] = await Promise.all([
      scorer.score(wav, undefined, "x"),
      scorer.score(wav, undefined, "x"),
      scorer.score(wav, undefined, "x"),
    ]);
    expect(a?.results).toHaveLength(1); // in flight when the others came
    expect(b?.absent).toBe("superseded by a newer clip");
    expect(c?.results).toHaveLength(1);
  });
});

describe("tts_audio_predicted_mos from the analysis pipeline", () => {
  const log = new Logger({ json: true, level: "error" });
  it("exports sig/bak/ovrl per engine and voice, removes them for a silent clip, none when switched off", async () => {
    const registry = new MetricsRegistry();
    const pipeline = new AnalysisPipeline(registryAudioSink(registry), {
      warn: (m, f) => log.warn(m, f),
      mos: { enabled: true, maxWindows: 2 },
    });
    try {
      await pipeline.submit({ engine: "e", voice: "v", audio: synthesizeWav("espeak-ng") });
      const got = await registry.gauge("tts_audio_predicted_mos").get();
      expect(got.values.map((v) => v.labels.dimension).sort()).toEqual(["bak", "ovrl", "sig"]);
      for (const v of got.values) {
        expect(v.labels).toMatchObject({ engine: "e", voice: "v", model: "dnsmos_p835" });
        expect(v.value).toBeGreaterThan(1);
      }
      await pipeline.submit({ engine: "e", voice: "v", audio: encodeWav16(new Float32Array(48000), 16000) });
      expect((await registry.gauge("tts_audio_predicted_mos").get()).values).toEqual([]);
    } finally {
      await pipeline.close();
    }
    const off = new AnalysisPipeline(registryAudioSink(registry), {
      warn: (m, f) => log.warn(m, f),
      mos: { enabled: false, maxWindows: 2 },
    });
    try {
      await off.submit({ engine: "e", voice: "v", audio: synthesizeWav("espeak-ng") });
      expect((await registry.gauge("tts_audio_predicted_mos").get()).values).toEqual([]);
      expect((await registry.gauge("tts_audio_snr_db").get()).values).toHaveLength(1);
    } finally {
      await off.close();
    }
  });
});
