// Maps an AudioAnalysis to metric samples of the catalog (src/metrics/catalog-audio.ts plus the
// contract metric tts_quality_score). Absent measures produce no sample: no fake zeros.

import type { MetricName } from "../metrics/catalog.ts";
import type { AudioAnalysis } from "./analyze.ts";

export interface MetricSample {
  metric: MetricName;
  labels: Record<string, string>;
  value: number;
}

type NumericKey = {
  [K in keyof AudioAnalysis]-?: NonNullable<AudioAnalysis[K]> extends number ? K : never;
}[keyof AudioAnalysis];

const GAUGES: ReadonlyArray<readonly [MetricName, NumericKey]> = [
  ["tts_audio_snr_db", "snrDb"],
  ["tts_audio_hnr_db", "hnrDb"],
  ["tts_audio_thd_ratio", "thd"],
  ["tts_audio_sinad_db", "sinadDb"],
  ["tts_audio_clipping_ratio", "clippingRatio"],
  ["tts_audio_clicks", "clicks"],
  ["tts_audio_clicks_per_minute", "clicksPerMinute"],
  ["tts_audio_dc_offset_ratio", "dcOffset"],
  ["tts_audio_peak_dbfs", "peakDbfs"],
  ["tts_audio_rms_dbfs", "rmsDbfs"],
  ["tts_audio_silence_ratio", "silenceRatio"],
  ["tts_audio_leading_silence_seconds", "leadingSilenceSeconds"],
  ["tts_audio_spectral_centroid_hertz", "spectralCentroidHz"],
  ["tts_audio_spectral_rolloff_hertz", "spectralRolloffHz"],
  ["tts_audio_spectral_flatness_ratio", "spectralFlatness"],
  ["tts_audio_f0_mean_hertz", "f0MeanHz"],
  ["tts_audio_f0_spread_semitones", "f0SpreadSemitones"],
  ["tts_audio_jitter_ratio", "jitter"],
  ["tts_audio_shimmer_ratio", "shimmer"],
  ["tts_audio_truncation_ratio", "truncationRatio"],
];

export function analysisSamples(a: AudioAnalysis, labels: { engine: string; voice: string }): MetricSample[] {
  const base = { engine: labels.engine, voice: labels.voice };
  const out: MetricSample[] = [];
  for (const [metric, key] of GAUGES) {
    const value = a[key];
    if (typeof value === "number" && Number.isFinite(value)) out.push({ metric, labels: { ...base }, value });
  }
  if (a.truncated !== undefined) {
    out.push({ metric: "tts_audio_truncated", labels: { ...base }, value: a.truncated ? 1 : 0 });
  }
  out.push({ metric: "tts_quality_score", labels: { ...base }, value: a.qualityScore.score });
  return out;
}
