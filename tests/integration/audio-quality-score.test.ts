// Quality score v3 on held-out audio: real engine speech (espeak-ng, flite, festival, the embedded
// voice) speaking sentences the score's constants were not chosen on, degraded at test time
// (tests/fixtures/audio/degradations.ts). Requirements (issue 11, docs/quality-score.md): clean
// ≥ 0.8 for every engine, strictly falling with white noise 30 > 20 > 10 > 0 dB, every gross
// degradation < 0.8; the predicted MOS folded in by the pipeline; bad input gives a value.
import { afterAll, describe, expect, it } from "vitest";
import { analyzeAudio } from "../../src/audio/analyze.ts";
import { decodeAudio, encodeWav16, resample } from "../../src/audio/decode.ts";
import { QUALITY_SCORE_VERSION, withPredictedMos } from "../../src/audio/quality-score.ts";
import { sine } from "../../src/audio/signals.ts";
import { AnalysisPipeline } from "../../src/ingest/analysis.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { registryAudioSink } from "../../src/state/lifetimes.ts";
import {
  closeEngines,
  DEGRADATIONS,
  degrade,
  engineSpeech,
  HELD_OUT_TEXTS,
  SET_ENGINES,
} from "../fixtures/audio/degradations.ts";

afterAll(() => closeEngines());

const NOISE_LADDER = ["white noise 30 dB", "white noise 20 dB", "white noise 10 dB", "white noise 0 dB"];

describe.each(SET_ENGINES.map((engine, i) => [engine, HELD_OUT_TEXTS[i % HELD_OUT_TEXTS.length] ?? ""]))(
  "%s, held-out sentence %j",
  (engine, text) => {
    it("clean ≥ 0.8, white noise 30 > 20 > 10 > 0 dB, every gross degradation < 0.8", async () => {
      const clean = await engineSpeech(engine, text);
      const scores = new Map<string, number>();
      const components = new Map<string, Record<string, number>>();
      for (const d of DEGRADATIONS) {
        if (d.kind === "mild" || d.kind === "unseen") continue; // reported in docs/quality-score.md
        const q = analyzeAudio(degrade(clean, d), { text }).qualityScore;
        expect(q.version).toBe(QUALITY_SCORE_VERSION);
        scores.set(d.name, q.score);
        components.set(d.name, q.components);
      }
      const show = (name: string) =>
        `${name}: ${scores.get(name)?.toFixed(3)} ${JSON.stringify(components.get(name))}`;
      expect(scores.get("clean"), show("clean")).toBeGreaterThanOrEqual(0.8);
      const ladder = NOISE_LADDER.map((n) => scores.get(n) ?? Number.NaN);
      for (let i = 1; i < ladder.length; i++)
        expect(ladder[i], `${NOISE_LADDER[i]} < ${NOISE_LADDER[i - 1]}: ${ladder.join(" > ")}`).toBeLessThan(
          ladder[i - 1] ?? Number.NaN,
        );
      const gross = DEGRADATIONS.filter((d) => d.kind === "gross").map((d) => d.name);
      expect(gross.length).toBeGreaterThanOrEqual(9);
      for (const name of gross) expect(scores.get(name), show(name)).toBeLessThan(0.8);
    });
  },
);

// Single short sentences, as probe texts often are: the first v3 constants false-alarmed on these
// (espeak-ng's zero closures read as dropouts, one sentence's intonation as reversed speech), so
// they joined the calibration part; the test keeps them passing.
const SHORT_TEXTS = [
  "The quick brown fox jumps over the lazy dog.",
  "Hello world.",
  "The juice of lemons makes fine punch.",
  "Your order has been shipped and will arrive on Monday.",
];

describe.each(SET_ENGINES)("%s, single short sentences", (engine) => {
  it("clean ≥ 0.8", async () => {
    for (const text of SHORT_TEXTS) {
      const q = analyzeAudio(await engineSpeech(engine, text), { text }).qualityScore;
      expect(q.score, `${text} ${JSON.stringify(q.components)}`).toBeGreaterThanOrEqual(0.8);
    }
  });
});

describe("predicted MOS in the score", () => {
  it("the pipeline folds the clip's predicted OVRL into tts_quality_score", async () => {
    const registry = new MetricsRegistry();
    const log = new Logger({ json: true, level: "error" });
    const pipeline = new AnalysisPipeline(registryAudioSink(registry), {
      warn: (m, f) => log.warn(m, f),
      mos: { enabled: true, maxWindows: 1 },
    });
    const clean = await engineSpeech("espeak-ng", HELD_OUT_TEXTS[0]);
    const wav = encodeWav16(clean.samples, clean.sampleRate);
    try {
      await pipeline.submit({ engine: "e", voice: "v", audio: wav });
      const ovrl = (await registry.gauge("tts_audio_predicted_mos").get()).values.find(
        (v) => v.labels.dimension === "ovrl",
      )?.value;
      expect(ovrl).toBeGreaterThan(1);
      const recorded = (await registry.gauge("tts_quality_score").get()).values[0]?.value;
      const measures = analyzeAudio(decodeAudio(wav)).qualityScore;
      const folded = withPredictedMos(measures, ovrl);
      expect(folded.components.mos).toBeLessThan(1);
      expect(recorded).toBeCloseTo(folded.score, 6);
      expect(recorded).toBeGreaterThanOrEqual(0.8);
    } finally {
      await pipeline.close();
    }
  });

  it("a low predicted OVRL pulls a clean-sounding score down; no MOS leaves it as it is", () => {
    const q = analyzeAudio({
      samples: sine(200, 16000, 1),
      sampleRate: 16000,
      channels: 1,
      durationSeconds: 1,
    }).qualityScore;
    expect(withPredictedMos(q, undefined)).toEqual(q);
    expect(withPredictedMos(q, Number.NaN)).toEqual(q);
    const clean = { score: 0.99, version: QUALITY_SCORE_VERSION, components: { noise: 0.99 } };
    expect(withPredictedMos(clean, 3).score).toBeGreaterThan(0.97);
    expect(withPredictedMos(clean, 1.3).score).toBeLessThan(0.1);
    // Folded once: a second OVRL does not multiply again.
    expect(withPredictedMos(withPredictedMos(clean, 1.3), 1.3).score).toBe(
      withPredictedMos(clean, 1.3).score,
    );
  });
});

describe("bad input: a value, never a crash or NaN", () => {
  const finiteScore = (samples: Float32Array, rate: number, channels = 1) => {
    const a = analyzeAudio({ samples, sampleRate: rate, channels, durationSeconds: samples.length / rate });
    expect(Number.isFinite(a.qualityScore.score)).toBe(true);
    for (const v of Object.values(a.qualityScore.components)) expect(Number.isFinite(v)).toBe(true);
    return a;
  };

  it("shorter than any window, silence, a tone: finite scores, measures that do not apply absent", () => {
    const tiny = finiteScore(new Float32Array([0.1, -0.2, 0.3]), 16000);
    expect(tiny.dropoutsPerSecond).toBeUndefined();
    expect(tiny.repeatShare).toBeUndefined();
    expect(tiny.humDb).toBeUndefined();
    const silence = finiteScore(new Float32Array(16000), 16000);
    expect(silence.qualityScore.score).toBe(0);
    const tone = finiteScore(sine(440, 16000, 2, 0.5), 16000);
    // A tone where speech should be is broken audio (WADA reads no speech in it, and it is a monotone).
    expect(tone.qualityScore.score).toBeLessThan(0.8);
  });

  it("8 kHz telephone audio and 48 kHz stereo of clean speech stay ≥ 0.8", async () => {
    const clean = await engineSpeech("espeak-ng", HELD_OUT_TEXTS[1]);
    const tel = resample(clean.samples, clean.sampleRate, 8000);
    expect(finiteScore(tel, 8000).qualityScore.score).toBeGreaterThanOrEqual(0.8);
    const wide = resample(clean.samples, clean.sampleRate, 48000);
    const stereo = new Float32Array(wide.length * 2);
    for (let i = 0; i < wide.length; i++) {
      stereo[2 * i] = wide[i] ?? 0;
      stereo[2 * i + 1] = wide[i] ?? 0;
    }
    // Through the decoder, as a file would come: a 16-bit stereo WAV.
    const decoded = decodeAudio(stereoWav(stereo, 48000));
    expect(decoded.channels).toBe(2);
    const a = analyzeAudio(decoded);
    expect(a.qualityScore.score).toBeGreaterThanOrEqual(0.8);
  });
});

/** A 16-bit stereo WAV of interleaved samples. */
function stereoWav(interleaved: Float32Array, rate: number): Uint8Array {
  const data = interleaved.length * 2;
  const b = new DataView(new ArrayBuffer(44 + data));
  const str = (o: number, s: string) => {
    for (let i = 0; i < s.length; i++) b.setUint8(o + i, s.charCodeAt(i));
  };
  str(0, "RIFF");
  b.setUint32(4, 36 + data, true);
  str(8, "WAVE");
  str(12, "fmt ");
  b.setUint32(16, 16, true);
  b.setUint16(20, 1, true);
  b.setUint16(22, 2, true);
  b.setUint32(24, rate, true);
  b.setUint32(28, rate * 4, true);
  b.setUint16(32, 4, true);
  b.setUint16(34, 16, true);
  str(36, "data");
  b.setUint32(40, data, true);
  for (let i = 0; i < interleaved.length; i++)
    b.setInt16(
      44 + 2 * i,
      Math.max(-32768, Math.min(32767, Math.round((interleaved[i] ?? 0) * 32767))),
      true,
    );
  return new Uint8Array(b.buffer);
}
