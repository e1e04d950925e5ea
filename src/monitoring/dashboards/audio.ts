import { RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import type { Thresholds } from "../../config/schema.ts";
import { catalog, type MetricName, metricNames } from "../../metrics/catalog.ts";
import { dashboard, query, sel, timeseries, unitOf } from "./common.ts";
import { DASHBOARDS } from "./refs.ts";

/** Legend from the labels a metric has beyond instance: {{engine}} {{voice}} {{asr}} ... */
function legendOf(name: MetricName): string {
  return catalog[name].labels.map((l) => `{{${l}}}`).join(" ");
}

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
        unit: "percentunit",
        min: 0,
        max: 1,
        queries: [query(sel("tts_quality_score"), legendOf("tts_quality_score"))],
        threshold: { value: t.quality_score_min, bad: "below" },
        w: 24,
      }),
    )
    .withRow(new RowBuilder("Measures"));
  const measures = metricNames.filter((n) => catalog[n].area === "audio" && n !== "tts_quality_score").sort();
  for (const name of measures) {
    const def = catalog[name];
    const expr = def.type === "histogram" ? `${name}_sum` : sel(name);
    d.withPanel(
      timeseries({
        title: name.replace(/^tts_/, "").replaceAll("_", " "),
        description: def.help,
        unit: unitOf(name),
        queries: [query(expr, legendOf(name))],
      }),
    );
  }
  return d;
}
