// `tts-monitor analyze` on the odd files real engines and tools write: every measure finite in the
// JSON, a clear one-line reason for what cannot be decoded.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeWav16, resample } from "../../src/audio/decode.ts";
import { addWhiteNoise } from "../../src/audio/signals.ts";
import { PROBE_TEXT, speech } from "../fixtures/audio/speech.ts";
import { runCliArgs, tempDir } from "../helpers/exporter.ts";

/** A float64 mono WAV (format tag 3) of the samples, as written by numpy/soundfile pipelines. */
function float64Wav(x: ArrayLike<number>, rate: number): Uint8Array {
  const out = new Uint8Array(44 + x.length * 8);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode("RIFF"), 0);
  v.setUint32(4, 36 + x.length * 8, true);
  out.set(new TextEncoder().encode("WAVEfmt "), 8);
  v.setUint32(16, 16, true);
  v.setUint16(20, 3, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * 8, true);
  v.setUint16(32, 8, true);
  v.setUint16(34, 64, true);
  out.set(new TextEncoder().encode("data"), 36);
  v.setUint32(40, x.length * 8, true);
  for (let i = 0; i < x.length; i++) v.setFloat64(44 + i * 8, x[i] ?? 0, true);
  return out;
}

// The predicted MOS runs in a nice-10 worker: with the suite's other files and a busy core beside it,
// an analysis that takes 2 s idle took over 30 s, so the CLI's deadlines here are minutes.
describe("tts-monitor analyze on real-world files", { timeout: 300_000 }, () => {
  it("float64 with out-of-range and non-finite samples: exit 0, no null in the JSON, overs reported", async () => {
    const clean = speech("festival");
    const x = Array.from(clean.samples);
    x[1000] = 1e300;
    x[2000] = Number.NaN;
    x[3000] = Number.NEGATIVE_INFINITY;
    const file = join(tempDir(), "f64.wav");
    writeFileSync(file, float64Wav(x, clean.sampleRate));
    const r = await runCliArgs(["analyze", file, "--json"], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/null|NaN|Infinity/);
    const report = JSON.parse(r.stdout) as {
      analysis: { oversRatio: number; qualityScore: { score: number } };
    };
    expect(report.analysis.oversRatio).toBeGreaterThan(0);
    expect(report.analysis.qualityScore.score).toBeGreaterThanOrEqual(0);
  });

  it("noisy speech padded with digital silence is not reported clean; the table shows every row", async () => {
    const clean = speech("espeak-ng");
    const noisy = addWhiteNoise(resample(clean.samples, clean.sampleRate, 48000), 0, 1);
    const padded = new Float32Array(noisy.length + 48000);
    padded.set(noisy, 24000);
    const file = join(tempDir(), "padded.wav");
    writeFileSync(
      file,
      encodeWav16(
        padded.map((v) => v * 0.3),
        48000,
      ),
    );
    const json = await runCliArgs(["analyze", file, "--json"], 120_000);
    expect(json.code, json.stderr).toBe(0);
    const a = (JSON.parse(json.stdout) as { analysis: { snrDb: number; qualityScore: { score: number } } })
      .analysis;
    expect(a.snrDb).toBeLessThan(5);
    expect(a.qualityScore.score).toBeLessThan(0.5);
    const table = await runCliArgs(["analyze", file, "--text", PROBE_TEXT], 120_000);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain("over full scale");
  });

  it("shows the predicted MOS (DNSMOS P.835) as a prediction, never as naturalness; --no-mos skips it", async () => {
    const clean = speech("flite");
    const file = join(tempDir(), "flite.wav");
    writeFileSync(file, encodeWav16(clean.samples, clean.sampleRate));
    const table = await runCliArgs(["analyze", file], 120_000);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(
      /predicted MOS \(dnsmos_p835\)\s+OVRL [1-5]\.\d\d {2}SIG [1-5]\.\d\d {2}BAK [1-5]\.\d\d/,
    );
    expect(table.stdout).toContain("not naturalness");
    const json = await runCliArgs(["analyze", file, "--json", "--no-mos"], 120_000);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).not.toHaveProperty("predictedMos");
    const silent = join(tempDir(), "silent.wav");
    writeFileSync(silent, encodeWav16(new Float32Array(32000), 16000));
    const none = await runCliArgs(["analyze", silent], 120_000);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toMatch(/predicted MOS\s+—\s+\(silence\)/);
  });

  it("--text folds the recogniser's words into the score (component words); reversed speech falls below 0.8", async () => {
    const clean = speech("espeak-ng");
    const dir = tempDir();
    const forward = join(dir, "forward.wav");
    const backward = join(dir, "backward.wav");
    writeFileSync(forward, encodeWav16(clean.samples, clean.sampleRate));
    writeFileSync(backward, encodeWav16(clean.samples.slice().reverse(), clean.sampleRate));
    type Report = {
      analysis: { qualityScore: { score: number; version: string; components: Record<string, number> } };
      intelligibility?: { ratio: number };
    };
    const run = async (file: string, ...args: string[]) => {
      const r = await runCliArgs(["analyze", file, "--json", "--no-mos", ...args], 120_000);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Report;
    };
    const blind = await run(backward);
    expect(blind.analysis.qualityScore.components).not.toHaveProperty("words");
    expect(blind.analysis.qualityScore.score).toBeGreaterThanOrEqual(0.8); // blind: not seen (docs/quality-score.md)
    const heard = await run(backward, "--text", PROBE_TEXT);
    expect(heard.intelligibility?.ratio).toBeLessThan(0.2);
    expect(heard.analysis.qualityScore.version).toBe("4");
    expect(heard.analysis.qualityScore.components.words).toBeLessThan(0.2);
    expect(heard.analysis.qualityScore.score).toBeLessThan(0.8);
    const good = await run(forward, "--text", PROBE_TEXT);
    expect(good.analysis.qualityScore.components.words).toBeGreaterThan(0.95);
    expect(good.analysis.qualityScore.score).toBeGreaterThanOrEqual(0.8);
    const table = await runCliArgs(["analyze", backward, "--no-mos", "--text", PROBE_TEXT], 120_000);
    expect(table.stdout).toMatch(/component words\s+0\.\d{3}/);
    // Too short for a test: no words component, the score as the measures give it.
    const short = await run(forward, "--text", "Hello world.");
    expect(short.analysis.qualityScore.components).not.toHaveProperty("words");
  }, 180_000);

  it("MP3 bytes named .wav: exit 1 and one line that says MP3", async () => {
    const file = join(tempDir(), "speech.wav");
    writeFileSync(file, Uint8Array.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0, 0xff, 0xfb, 0x90, 0x64]));
    const r = await runCliArgs(["analyze", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^tts-monitor: cannot analyse .*: cannot decode audio: MP3 .*not a RIFF\/WAV file\n$/,
    );
  });

  it("audio longer than --max-seconds (default 600): exit 1 with one line naming the limit", async () => {
    const rate = 1000;
    const file = join(tempDir(), "long.wav");
    writeFileSync(file, encodeWav16(new Float32Array(rate * 601).fill(0.1), rate));
    const r = await runCliArgs(["analyze", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^tts-monitor: cannot analyse .*: the audio is 601\.0 s long, over --max-seconds 600 .*\n$/,
    );
    // The limit is what is tested, not MOS: --no-mos keeps ten minutes of audio to the measures.
    const ok = await runCliArgs(["analyze", file, "--max-seconds", "700", "--no-mos", "--json"], 120_000);
    expect(ok.code).toBe(0);
  }, 180_000);
});
