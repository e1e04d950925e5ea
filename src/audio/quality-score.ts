// The composite quality score exported as tts_quality_score: a product of components, each 0-1,
// so that any one defect (noise, clipping, overs, clicks, truncation, near-silence, DC) pulls the whole
// score down. Formula, calibration and version history: docs/quality-score.md. Change the
// version whenever a formula or a constant changes: stored series are only comparable within one.

export const QUALITY_SCORE_VERSION = "2";

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
  let score = 1;
  for (const v of Object.values(components)) score *= v;
  return { score: clamp01(score), version: QUALITY_SCORE_VERSION, components };
}
