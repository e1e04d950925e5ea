import { RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import type { Thresholds } from "../../config/schema.ts";
import { catalog, type MetricName, metricNames } from "../../metrics/catalog.ts";
import { dashboard, query, RATE, sel, timeseries, unitOf } from "./common.ts";
import { DASHBOARDS } from "./refs.ts";

/** Legend from the labels a metric has beyond instance: {{engine}} {{voice}} {{asr}} ... */
function legendOf(name: MetricName): string {
  return catalog[name].labels.map((l) => `{{${l}}}`).join(" ");
}

/** Panel titles of the audio measures (a measure without one falls back to its metric name). */
const TITLES: Partial<Record<MetricName, string>> = {
  tts_audio_snr_db: "SNR (WADA, blind estimate)",
  tts_audio_hnr_db: "Harmonics-to-noise ratio (HNR)",
  tts_audio_thd_ratio: "THD (periodic test tones only)",
  tts_audio_sinad_db: "SINAD (periodic test tones only)",
  tts_audio_clipping_ratio: "Clipping ratio",
  tts_audio_clicks: "Clicks in the last audio",
  tts_audio_clicks_per_minute: "Clicks per minute",
  tts_audio_dc_offset_ratio: "DC offset",
  tts_audio_peak_dbfs: "Peak level",
  tts_audio_rms_dbfs: "RMS level",
  tts_audio_silence_ratio: "Silence ratio",
  tts_audio_leading_silence_seconds: "Leading silence",
  tts_audio_spectral_centroid_hertz: "Spectral centroid",
  tts_audio_spectral_rolloff_hertz: "Spectral roll-off (85 %)",
  tts_audio_spectral_flatness_ratio: "Spectral flatness",
  tts_audio_f0_mean_hertz: "Mean F0 (pitch)",
  tts_audio_f0_spread_semitones: "F0 spread (intonation stability)",
  tts_audio_jitter_ratio: "Jitter (period perturbation)",
  tts_audio_shimmer_ratio: "Shimmer (amplitude perturbation)",
  tts_audio_truncation_ratio: "Duration / expected minimum",
  tts_audio_truncated: "Truncated audio",
  tts_intelligibility_ratio: "Intelligibility (closed-set recognition)",
  tts_audio_predicted_mos: "Predicted MOS (DNSMOS P.835: sig, bak, ovrl; 1-5)",
};

/**
 * Audio quality: the composite score with the config's minimum, then one panel per audio metric of
 * the catalog (SNR, HNR, clipping, clicks, F0 stability, intelligibility, ...). Reading the catalog's
 * audio area keeps this dashboard complete when an audio measure is added.
 */
export function audioDashboard(t: Thresholds) {
  const d = dashboard(DASHBOARDS.audio, "TTS / Audio quality", true)
    .withRow(new RowBuilder("Composite"))
    .withPanel(
      timeseries({
        title: "Quality score",
        description: `${catalog.tts_quality_score.help} Alert below ${t.quality_score_min}.`,
        unit: "none",
        decimals: 2,
        min: 0,
        max: 1,
        queries: [query(sel("tts_quality_score"), legendOf("tts_quality_score"))],
        threshold: { value: t.quality_score_min, bad: "below" },
        w: 24,
      }),
    )
    .withPanel(
      timeseries({
        title: "Age of the last analysed audio",
        description:
          "Seconds since the audio behind the measures below was received (tts_audio_analysis_timestamp_seconds). A failed analysis removes the measures; an engine switched off loses them.",
        unit: "s",
        min: 0,
        queries: [
          query(
            `time() - ${sel("tts_audio_analysis_timestamp_seconds")}`,
            legendOf("tts_audio_analysis_timestamp_seconds"),
          ),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Analysis failures per second by reason",
        description: catalog.tts_audio_analysis_failures_total.help,
        unit: "ops",
        queries: [
          query(
            `sum by (engine, reason) (rate(${sel("tts_audio_analysis_failures_total")}[${RATE}]))`,
            "{{engine}} {{reason}}",
          ),
        ],
      }),
    )
    .withRow(new RowBuilder("Measures"));
  // Timestamps and the failure counter have their own panels above.
  const measures = metricNames
    .filter(
      (n) =>
        catalog[n].area === "audio" &&
        n !== "tts_quality_score" &&
        catalog[n].type === "gauge" &&
        !n.endsWith("_timestamp_seconds"),
    )
    .sort();
  for (const name of measures) {
    const def = catalog[name];
    const expr = def.type === "histogram" ? `${name}_sum` : sel(name);
    d.withPanel(
      timeseries({
        title: TITLES[name] ?? name,
        description: def.help,
        unit: unitOf(name),
        queries: [query(expr, legendOf(name))],
      }),
    );
  }
  return d;
}
