import { RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import type { Thresholds } from "../../config/schema.ts";
import type { MonitoringProfile } from "../profile.ts";
import { recordNames } from "../rules.ts";
import { dashboard, fleetQuantile, query, RATE, sel, selRecorded, stat, timeseries } from "./common.ts";
import { DASHBOARDS } from "./refs.ts";

/** The four contract metrics at a glance, probe success and the exporter's own health. */
export function overviewDashboard(t: Thresholds, profile: MonitoringProfile) {
  const rec = recordNames(profile);
  const p95 = fleetQuantile("0.95", rec.latencyBucketRate, ["engine", "voice"]);
  const latency = { value: t.latency_max_ms / 1000, bad: "above" } as const;
  return dashboard(DASHBOARDS.overview, "TTS / Overview", true)
    .withRow(new RowBuilder("The four contract metrics"))
    .withPanel(
      stat({
        title: "Latency p95 (worst engine)",
        description: `p95 of tts_latency_seconds per engine and voice over the selected instances; alert threshold ${t.latency_max_ms} ms.`,
        unit: "s",
        queries: [query(`max(${p95})`, "p95")],
        threshold: latency,
      }),
    )
    .withPanel(
      stat({
        title: "GPU utilisation",
        unit: "percent",
        min: 0,
        max: 100,
        queries: [query(sel("tts_gpu_usage_percent"), "GPU {{gpu}} {{name}}")],
      }),
    )
    .withPanel(
      stat({
        title: "Quality score",
        description: `Composite 0-1 (docs/quality-score.md); alert below ${t.quality_score_min}.`,
        unit: "none",
        decimals: 2,
        min: 0,
        max: 1,
        queries: [query(sel("tts_quality_score"), "{{engine}} {{voice}}")],
        threshold: { value: t.quality_score_min, bad: "below" },
      }),
    )
    .withPanel(
      stat({
        title: "Cache hit rate",
        description: `Hits / lookups over the exporter's sliding window; alert below ${t.cache_hit_rate_min * 100} %.`,
        unit: "percentunit",
        min: 0,
        max: 1,
        queries: [query(sel("tts_cache_hit_rate"), "{{engine}}")],
        threshold: { value: t.cache_hit_rate_min, bad: "below" },
      }),
    )
    .withRow(new RowBuilder("Over time"))
    .withPanel(
      timeseries({
        title: "Latency p95 by engine",
        unit: "s",
        queries: [query(p95, "{{engine}} {{voice}}")],
        threshold: latency,
      }),
    )
    .withPanel(
      timeseries({
        title: "Requests per second by result",
        unit: "reqps",
        queries: [
          query(
            `sum by (engine, voice, result) (${selRecorded(rec.requestsRate, ["engine", "voice"])})`,
            "{{engine}} {{voice}} {{result}}",
          ),
        ],
      }),
    )
    .withPanel(
      stat({
        title: "Probe success",
        description: "1 when the engine's last synthesis probe succeeded.",
        unit: "bool_yes_no",
        queries: [query(sel("tts_probe_success"), "{{engine}}")],
        threshold: { value: 1, bad: "below" },
      }),
    )
    .withPanel(
      stat({
        title: "Exporter scrape (up)",
        unit: "bool_yes_no",
        queries: [query(`up{job="${profile.job}", instance=~"$instance"}`, "{{instance}}")],
        threshold: { value: 1, bad: "below" },
      }),
    )
    .withPanel(
      timeseries({
        title: "Cache lookups and hits per second",
        unit: "ops",
        queries: [
          query(`sum by (engine) (rate(${sel("tts_cache_lookups_total")}[${RATE}]))`, "{{engine}} lookups"),
          query(`sum by (engine) (rate(${sel("tts_cache_hits_total")}[${RATE}]))`, "{{engine}} hits", "B"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "GPU utilisation over time",
        unit: "percent",
        min: 0,
        max: 100,
        queries: [query(sel("tts_gpu_usage_percent"), "GPU {{gpu}} {{name}}")],
      }),
    );
}
