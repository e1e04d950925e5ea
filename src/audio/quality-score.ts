// The composite quality score exported as tts_quality_score: a product of components, each 0-1,
// so that any one defect pulls the whole score down. Version 3 adds what a listener hears and
// version 2 could not see: muffled (band-limited) speech, dropouts, replayed packets (stutter),
// mains hum, a robotic monotone, and the predicted MOS when there is one. Version 4 folds in the
// recogniser's chance-corrected intelligibility when the text is known and the recogniser gave a
// value (`words`): reversed, scrambled or garbled speech, which the blind measures hear as sound.
// Formula, calibration, held-out scores and what it is blind to: docs/quality-score.md. Change the
// version whenever a formula or a constant changes: stored series are only comparable within one.

export const QUALITY_SCORE_VERSION = "4";

export interface QualityInputs {
  /** Blind SNR (WADA), dB; undefined when there is no signal. */
  snrDb?: number;
  clippingRatio: number;
  /** Share of samples beyond full scale (float sources); 0 when absent. */
  oversRatio?: number;
  clicksPerMinute: number;
  /** speech span / shortest plausible span for the text, 0-1 (1 when no text). */
  truncationRatio?: number;
  peakDbfs: number;
  dcOffset: number;
  /** 85 % spectral roll-off of the speech frames, Hz. */
  spectralRolloffHz?: number;
  dropoutsPerSecond?: number;
  repeatShare?: number;
  humDb?: number;
  monotoneShare?: number;
  /** Predicted OVRL (DNSMOS P.835, 1-5), when the model ran on this clip. */
  predictedMos?: number;
}

export interface QualityScore {
  score: number;
  version: string;
  components: Record<string, number>;
}

const logistic = (x: number): number => 1 / (1 + Math.exp(-x));
const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

/** Noise: logistic in the blind SNR, 0.5 at 12 dB, ≈0.93 at 20 dB, ≈0.34 at 10 dB. */
export const SNR_MIDPOINT_DB = 12;
export const SNR_SLOPE_DB = 3;
/** Clipping: e-folding at 0.5 % of samples in clipped runs. */
export const CLIPPING_SCALE = 0.005;
/** Clicks: free up to 30 per minute (the detector's false-alarm rate on diphone joins), then e-folding per 120. */
export const CLICKS_FREE_PER_MINUTE = 30;
export const CLICKS_SCALE_PER_MINUTE = 120;
/** Bandwidth: logistic in the roll-off, 0.5 at 1 kHz (clean 8 kHz flite ≥ 1.7 kHz; low-passed at 800 Hz ≤ 0.6 kHz). */
export const ROLLOFF_MIDPOINT_HZ = 1000;
export const ROLLOFF_SLOPE_HZ = 100;
/** Dropouts: free up to 1.2 holes per second (espeak-ng's zero closures in short sentences), then e-folding per 0.5. */
export const DROPOUTS_FREE_PER_SECOND = 1.2;
export const DROPOUTS_SCALE_PER_SECOND = 0.5;
/** Repeats: free up to 6 % of the audio (clean espeak-ng reaches 4.4 %), then e-folding per 4 %. */
export const REPEATS_FREE = 0.06;
export const REPEATS_SCALE = 0.04;
/** Hum: logistic in the hum's level, 0.5 at -23 dB re the clip's power, 1 dB per e-fold. */
export const HUM_MIDPOINT_DB = -23;
export const HUM_SLOPE_DB = 1;
/** Robotic: logistic in the monotone share, 0.5 at 0.85 (festival's "Hello world." reads 0.75). */
export const MONOTONE_MIDPOINT = 0.85;
export const MONOTONE_SLOPE = 0.03;
/**
 * Predicted MOS: logistic in the OVRL, 0.5 at 1.8, 0.15 per e-fold, so clean engine speech
 * (OVRL 2.3-3.3) keeps ≥ 0.95 of its score and speech the model rates broken (≤ 1.6) loses most.
 */
export const MOS_MIDPOINT = 1.8;
export const MOS_SLOPE = 0.15;

export function qualityScore(q: QualityInputs): QualityScore {
  const components: Record<string, number> = {
    noise: q.snrDb === undefined ? 0 : logistic((q.snrDb - SNR_MIDPOINT_DB) / SNR_SLOPE_DB),
    clipping: Math.exp(-q.clippingRatio / CLIPPING_SCALE),
    // Samples beyond full scale clip on any fixed-point output: the same scale as clipping.
    overs: Math.exp(-(q.oversRatio ?? 0) / CLIPPING_SCALE),
    clicks: Math.exp(-Math.max(0, q.clicksPerMinute - CLICKS_FREE_PER_MINUTE) / CLICKS_SCALE_PER_MINUTE),
    truncation: clamp01(q.truncationRatio ?? 1),
    // Peak below -50 dBFS is as good as silence; from -30 dBFS up the level does not matter.
    level: clamp01((q.peakDbfs + 50) / 20),
    // A DC offset above 1 % of full scale wastes headroom and thumps at start and stop.
    dc: Math.exp(-Math.max(0, Math.abs(q.dcOffset) - 0.01) / 0.05),
  };
  // Measures that do not apply to a clip (no speech frames, no voicing, too short) are left out:
  // their component is absent, not 1 by decree and not 0.
  if (q.spectralRolloffHz !== undefined)
    components.bandwidth = logistic((q.spectralRolloffHz - ROLLOFF_MIDPOINT_HZ) / ROLLOFF_SLOPE_HZ);
  if (q.dropoutsPerSecond !== undefined)
    components.dropouts = Math.exp(
      -Math.max(0, q.dropoutsPerSecond - DROPOUTS_FREE_PER_SECOND) / DROPOUTS_SCALE_PER_SECOND,
    );
  if (q.repeatShare !== undefined)
    components.repeats = Math.exp(-Math.max(0, q.repeatShare - REPEATS_FREE) / REPEATS_SCALE);
  if (q.humDb !== undefined) components.hum = logistic(-(q.humDb - HUM_MIDPOINT_DB) / HUM_SLOPE_DB);
  if (q.monotoneShare !== undefined)
    components.monotone = logistic(-(q.monotoneShare - MONOTONE_MIDPOINT) / MONOTONE_SLOPE);
  if (q.predictedMos !== undefined && Number.isFinite(q.predictedMos))
    components.mos = logistic((q.predictedMos - MOS_MIDPOINT) / MOS_SLOPE);
  let score = 1;
  for (const v of Object.values(components)) score *= v;
  return { score: clamp01(score), version: QUALITY_SCORE_VERSION, components };
}

/**
 * A score with the predicted OVRL folded in: the predicted MOS arrives later than the measures,
 * from its own worker, and the score is a product, so folding it in multiplies by one component.
 */
export function withPredictedMos(q: QualityScore, predictedMos: number | undefined): QualityScore {
  if (predictedMos === undefined || !Number.isFinite(predictedMos) || "mos" in q.components) return q;
  const mos = logistic((predictedMos - MOS_MIDPOINT) / MOS_SLOPE);
  return { score: clamp01(q.score * mos), version: q.version, components: { ...q.components, mos } };
}

/**
 * Words: logistic in the recogniser's chance-corrected intelligibility ratio (0-1), 0.5 at 0.3,
 * 0.05 per e-fold. The ratio moves in phrase-sized steps (closed-set.ts): one phrase of three
 * heard reads 0.2 (→ 0.12), one of two 0.4 (→ 0.88), two of three 0.6 (→ 0.998). Clean speech of
 * the calibration part reads 1.0 on every engine, reversed speech 0 (docs/quality-score.md).
 */
export const WORDS_MIDPOINT = 0.3;
export const WORDS_SLOPE = 0.05;

/**
 * A score with the recogniser's chance-corrected intelligibility folded in (component `words`):
 * the recogniser runs after the measures, only when the clip's text is known, and gives no value
 * for a text too short for a test; without a value the score is left as it is. Folded once.
 */
export function withIntelligibility(q: QualityScore, ratio: number | undefined): QualityScore {
  if (ratio === undefined || !Number.isFinite(ratio) || "words" in q.components) return q;
  const words = logistic((clamp01(ratio) - WORDS_MIDPOINT) / WORDS_SLOPE);
  return { score: clamp01(q.score * words), version: q.version, components: { ...q.components, words } };
}
