// Quality score v4 on held-out audio: real engine speech (espeak-ng, flite, festival, the embedded
// voice) speaking sentences the score's constants were not chosen on, degraded at test time
// (tests/fixtures/audio/degradations.ts). Requirements (issue 11, docs/quality-score.md): clean
// ≥ 0.8 for every engine, strictly falling with white noise 30 > 20 > 10 > 0 dB, every gross
// degradation < 0.8 (played backwards with the recogniser's words folded in, as the exporter does
// for audio whose text it knows); the predicted MOS and the words folded in by the pipeline in
// either order; bad input gives a value.
import { afterAll, describe, expect, it } from "vitest";
import { analyzeAudio } from "../../src/audio/analyze.ts";
import { decodeAudio, encodeWav16, resample } from "../../src/audio/decode.ts";
import type { DecodedAudio } from "../../src/audio/format.ts";
import { Intelligibility, type IntelligibilityResult } from "../../src/audio/intelligibility.ts";
import { type MosOutcome, MosScorer } from "../../src/audio/mos/index.ts";
import {
  QUALITY_SCORE_VERSION,
  type QualityScore,
  WORDS_MIDPOINT,
  WORDS_SLOPE,
  withIntelligibility,
  withPredictedMos,
} from "../../src/audio/quality-score.ts";
import { sine } from "../../src/audio/signals.ts";
import { AnalysisPipeline, type AudioSink } from "../../src/ingest/analysis.ts";
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
import { waitFor } from "../helpers/tools.ts";

// The recogniser the exporter uses, on each clip with its text (one at a time: its own queue).
const asr = new Intelligibility({ timeoutMs: 60_000 });
afterAll(() => Promise.all([closeEngines(), asr.close()]));

const RECOGNISER_MISSING =
  "install the Debian packages pocketsphinx and pocketsphinx-en-us (apt-get install pocketsphinx pocketsphinx-en-us)";

/** The clip's score with the recogniser's words folded in (unchanged when the text gives no test). */
async function withWords(clip: DecodedAudio, text: string): Promise<QualityScore> {
  const q = analyzeAudio(clip, { text }).qualityScore;
  const r = await asr.score(clip, text);
  return withIntelligibility(q, r?.ratio);
}

/** Degradations the recogniser runs on in this test: the ones whose requirement the words can change. */
const WITH_WORDS = new Set(["clean", "played backwards"]);

const NOISE_LADDER = ["white noise 30 dB", "white noise 20 dB", "white noise 10 dB", "white noise 0 dB"];

describe.each(SET_ENGINES.map((engine, i) => [engine, HELD_OUT_TEXTS[i % HELD_OUT_TEXTS.length] ?? ""]))(
  "%s, held-out sentence %j",
  (engine, text) => {
    it("clean ≥ 0.8, white noise 30 > 20 > 10 > 0 dB, every gross degradation < 0.8 (words folded in)", async () => {
      expect(Intelligibility.available(), RECOGNISER_MISSING).toBe(true);
      const clean = await engineSpeech(engine, text);
      const scores = new Map<string, number>();
      const components = new Map<string, Record<string, number>>();
      for (const d of DEGRADATIONS) {
        if (d.kind === "mild") continue; // reported in docs/quality-score.md
        const y = degrade(clean, d);
        // The other gross degradations are checked on the measures alone: folding words in can
        // only lower a score (a product of components ≤ 1), so < 0.8 without them is < 0.8 with.
        const q =
          WITH_WORDS.has(d.name) || d.kind === "noise"
            ? await withWords(y, text)
            : analyzeAudio(y, { text }).qualityScore;
        expect(q.version).toBe(QUALITY_SCORE_VERSION);
        scores.set(d.name, q.score);
        components.set(d.name, q.components);
      }
      const show = (name: string) =>
        `${name}: ${scores.get(name)?.toFixed(3)} ${JSON.stringify(components.get(name))}`;
      expect(scores.get("clean"), show("clean")).toBeGreaterThanOrEqual(0.8);
      // Every held-out pair has enough testable words: the words component is there.
      expect(components.get("clean")?.words, show("clean")).toBeDefined();
      expect(components.get("played backwards")?.words, show("played backwards")).toBeDefined();
      const ladder = NOISE_LADDER.map((n) => scores.get(n) ?? Number.NaN);
      for (let i = 1; i < ladder.length; i++)
        expect(ladder[i], `${NOISE_LADDER[i]} < ${NOISE_LADDER[i - 1]}: ${ladder.join(" > ")}`).toBeLessThan(
          ladder[i - 1] ?? Number.NaN,
        );
      const gross = DEGRADATIONS.filter((d) => d.kind === "gross").map((d) => d.name);
      expect(gross).toContain("played backwards");
      expect(gross.length).toBeGreaterThanOrEqual(10);
      for (const name of gross) expect(scores.get(name), show(name)).toBeLessThan(0.8);
    }, 120_000);
  },
);

// Single short sentences, as probe texts often are: the first v3 constants false-alarmed on these
// (espeak-ng's zero closures read as dropouts, one sentence's intonation as reversed speech), so
// they joined the calibration part; the test keeps them passing, with the words folded in where
// the text gives a test ("Hello world." and the "order" sentence have too few testable words).
const SHORT_TEXTS = [
  "The quick brown fox jumps over the lazy dog.",
  "Hello world.",
  "The juice of lemons makes fine punch.",
  "Your order has been shipped and will arrive on Monday.",
];

describe.each(SET_ENGINES)("%s, single short sentences", (engine) => {
  it("clean ≥ 0.8 (words folded in)", async () => {
    expect(Intelligibility.available(), RECOGNISER_MISSING).toBe(true);
    for (const text of SHORT_TEXTS) {
      const q = await withWords(await engineSpeech(engine, text), text);
      expect(q.score, `${text} ${JSON.stringify(q.components)}`).toBeGreaterThanOrEqual(0.8);
    }
  }, 60_000);
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

/** A promise settled from outside. */
function deferred<T>() {
  let resolve: (v: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A predicted-MOS scorer whose outcomes the test hands out, clip by clip. */
class HeldMos extends MosScorer {
  readonly calls: ReturnType<typeof deferred<MosOutcome>>[] = [];
  override score(): Promise<MosOutcome> {
    const d = deferred<MosOutcome>();
    this.calls.push(d);
    return d.promise;
  }
  override async close(): Promise<void> {}
}

/** A recogniser whose results the test hands out, clip by clip. */
class HeldRecogniser extends Intelligibility {
  readonly calls: ReturnType<typeof deferred<IntelligibilityResult | undefined>>[] = [];
  override score(): Promise<IntelligibilityResult | undefined> {
    const d = deferred<IntelligibilityResult | undefined>();
    this.calls.push(d);
    return d.promise;
  }
  override async close(): Promise<void> {}
}

const ovrlOutcome = (ovrl: number): MosOutcome => ({
  results: [
    {
      model: "dnsmos_p835",
      values: { ovrl, sig: ovrl, bak: ovrl },
      windows: 1,
      windowsAvailable: 1,
      inferenceSeconds: 0.1,
    },
  ],
});
const heard = (ratio: number): IntelligibilityResult => ({
  ratio,
  testedWords: 10,
  hits: 5,
  outOfDictionary: [],
  asr: "pocketsphinx",
  recognised: "",
  phraseFit: [],
  phraseChosen: [],
});

/** A sink that records every write of the measures (the score each time) and every failure. */
function recordingSink() {
  const scores: number[] = [];
  const failed: string[] = [];
  const sink: AudioSink = {
    measured: (_l, _s, score) => {
      scores.push(score);
    },
    recognised: () => {},
    mos: () => {},
    failed: (_l, reason) => {
      failed.push(reason);
    },
  };
  return { sink, scores, failed };
}

describe("late folds: the predicted MOS and the words, in either order, never over a newer clip", () => {
  const text = HELD_OUT_TEXTS[0];
  const setup = async () => {
    const mos = new HeldMos();
    const recogniser = new HeldRecogniser();
    const rec = recordingSink();
    const pipeline = new AnalysisPipeline(rec.sink, { mosScorer: mos, recogniser });
    const clean = await engineSpeech("espeak-ng", text);
    const wav = encodeWav16(clean.samples, clean.sampleRate);
    const measures = analyzeAudio(decodeAudio(wav), { text }).qualityScore;
    return { mos, recogniser, ...rec, pipeline, wav, measures };
  };
  const count = (xs: unknown[], n: number) => () => (xs.length >= n ? true : undefined);

  it.each(["mos first", "words first"])(
    "%s: each fold writes again; the last write has both",
    async (order) => {
      const t = await setup();
      try {
        const done = t.pipeline.submit({ engine: "e", voice: "v", audio: t.wav, text });
        await waitFor("the measures and the recognition", () =>
          t.scores.length >= 1 && t.recogniser.calls.length >= 1 ? true : undefined,
        );
        expect(t.scores[0]).toBeCloseTo(t.measures.score, 9);
        if (order === "mos first") {
          t.mos.calls[0]?.resolve(ovrlOutcome(2.0));
          await waitFor("the MOS fold", count(t.scores, 2));
          t.recogniser.calls[0]?.resolve(heard(0.2));
        } else {
          t.recogniser.calls[0]?.resolve(heard(0.2));
          await waitFor("the words fold", count(t.scores, 2));
          t.mos.calls[0]?.resolve(ovrlOutcome(2.0));
        }
        await done;
        const both = withIntelligibility(withPredictedMos(t.measures, 2.0), 0.2);
        expect(t.scores).toHaveLength(3);
        expect(t.scores[2]).toBeCloseTo(both.score, 9);
        expect(t.scores[1]).toBeGreaterThan(t.scores[2] ?? 1);
        expect(t.scores[2]).toBeLessThan(0.8);
      } finally {
        await t.pipeline.close();
      }
    },
    60_000,
  );

  it("an older clip's folds never write over a newer clip's measures", async () => {
    const t = await setup();
    try {
      const older = t.pipeline.submit({ engine: "e", voice: "v", audio: t.wav, text });
      await waitFor("the older clip's measures", () => (t.recogniser.calls.length >= 1 ? true : undefined));
      const newer = t.pipeline.submit({ engine: "e", voice: "v", audio: t.wav, text });
      await waitFor("the newer clip's measures", count(t.scores, 2));
      // The older clip's MOS and words arrive late: nothing is written.
      t.mos.calls[0]?.resolve(ovrlOutcome(1.2));
      t.recogniser.calls[0]?.resolve(heard(0));
      await older;
      expect(t.scores).toHaveLength(2);
      await waitFor("the newer clip's recognition", () =>
        t.recogniser.calls.length >= 2 ? true : undefined,
      );
      t.mos.calls[1]?.resolve(ovrlOutcome(3));
      t.recogniser.calls[1]?.resolve(heard(1));
      await newer;
      expect(t.scores).toHaveLength(4);
      expect(t.scores[3]).toBeCloseTo(withIntelligibility(withPredictedMos(t.measures, 3), 1).score, 9);
    } finally {
      await t.pipeline.close();
    }
  }, 60_000);

  it("a failed analysis's removed series are not written back by an older clip's folds", async () => {
    const t = await setup();
    try {
      const older = t.pipeline.submit({ engine: "e", voice: "v", audio: t.wav, text });
      await waitFor("the older clip's recognition", () =>
        t.recogniser.calls.length >= 1 ? true : undefined,
      );
      const broken = t.pipeline.submit({ engine: "e", voice: "v", audio: new Uint8Array([1, 2, 3]), text });
      await waitFor("the failure", count(t.failed, 1));
      t.mos.calls[1]?.resolve({ results: [], absent: "undecodable" });
      await broken;
      t.recogniser.calls[0]?.resolve(heard(0.5));
      t.mos.calls[0]?.resolve(ovrlOutcome(2.5));
      await older;
      expect(t.failed).toEqual(["decode"]);
      expect(t.scores).toHaveLength(1);
    } finally {
      await t.pipeline.close();
    }
  }, 60_000);

  it("a recogniser with no value (text too short, not installed) leaves the score as it is", async () => {
    const t = await setup();
    try {
      const done = t.pipeline.submit({ engine: "e", voice: "v", audio: t.wav, text });
      await waitFor("the recognition", () => (t.recogniser.calls.length >= 1 ? true : undefined));
      t.recogniser.calls[0]?.resolve(undefined);
      t.mos.calls[0]?.resolve({ results: [], absent: "model missing" });
      await done;
      expect(t.scores).toEqual([t.scores[0]]);
      expect(t.scores[0]).toBeCloseTo(t.measures.score, 9);
    } finally {
      await t.pipeline.close();
    }
  }, 60_000);
});

describe("the words component", () => {
  it("folds the chance-corrected ratio in once; no value leaves the score as it is", () => {
    const clean = { score: 0.99, version: QUALITY_SCORE_VERSION, components: { noise: 0.99 } };
    expect(withIntelligibility(clean, undefined)).toEqual(clean);
    expect(withIntelligibility(clean, Number.NaN)).toEqual(clean);
    const at = (ratio: number) => withIntelligibility(clean, ratio);
    expect(at(WORDS_MIDPOINT).components.words).toBeCloseTo(0.5, 9);
    expect(at(WORDS_MIDPOINT + WORDS_SLOPE).components.words).toBeCloseTo(1 / (1 + Math.exp(-1)), 9);
    expect(at(1).score).toBeGreaterThan(0.98);
    expect(at(0).score).toBeLessThan(0.8);
    expect(withIntelligibility(at(0), 1).score).toBe(at(0).score);
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
