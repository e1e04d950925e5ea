// Every alert, defined once: name, threshold key, metric, statistic, comparison, severity tiers,
// texts and runbook. The Prometheus rules and their promtool tests (src/monitoring/rules.ts,
// rule-tests.ts), docs/alerts.md, the in-process evaluator (evaluator.ts) and the web dashboard's rule
// list (through the evaluator) all read this table, so one name means one statistic everywhere.
// Imports types only: it sits below alerts/, monitoring/ and server/.

import type { Thresholds } from "../config/schema.ts";
import type { MetricName } from "../metrics/catalog.ts";
import type { AlertMetric, Comparison } from "./expression.ts";

/** Window of the windowed statistics (the p95 latency), in Prometheus and in-process alike, seconds. */
export const ALERT_WINDOW_SECONDS = 300;
/** TTSProbeStale: no probe result for this many probe intervals (probes.interval_seconds). */
export const PROBE_STALE_INTERVALS = 3;

/**
 * How the compared value is computed from the metric:
 * - `p95_over_window`: histogram_quantile(0.95) of the histogram's increase over the window,
 *   interpolated within a bucket (in-process: the same over the recorder's bucketed observations);
 * - `last_value`: the gauge's current value;
 * - `exporter_window_ratio`: a ratio the exporter keeps over its own sliding window (a gauge);
 * - `age`: seconds since the Unix time a gauge holds;
 * - `scrape_up`, `absent`, `always`: Prometheus' own `up`, its absence, and the heartbeat.
 */
export type Statistic =
  | "p95_over_window"
  | "last_value"
  | "exporter_window_ratio"
  | "age"
  | "scrape_up"
  | "absent"
  | "always";

export type AlertSeverity = "warning" | "critical" | "none";

/**
 * Which `for` clocks (the monitoring profile's) an alert's tiers use: `escalating` is a warning then
 * a critical with the same name (the critical inhibits the warning); `slow` a warning after the slow
 * clock; `down` and `absent` one critical; `heartbeat` the always-firing Watchdog.
 */
export type Tiering = "escalating" | "slow" | "down" | "absent" | "heartbeat";

export const TIER_SEVERITIES: Readonly<Record<Tiering, readonly AlertSeverity[]>> = {
  escalating: ["warning", "critical"],
  slow: ["warning"],
  down: ["critical"],
  absent: ["critical"],
  heartbeat: ["none"],
};

export type ThresholdKey = keyof Thresholds;

/** How a description reads a label and the value: a Go template in a rule, a literal in a test. */
export interface TemplateVars {
  readonly value: string;
  label(name: string): string;
  /** A label's value escaped for a URL's query string (an engine named "a b&c" stays one variable). */
  query(name: string): string;
}

/** What the texts may mention besides the thresholds. */
export interface AlertContext {
  readonly thresholds: Thresholds;
  /** The window as Prometheus writes it ("5m"). */
  readonly window: string;
  readonly probeIntervalSeconds: number;
}

export interface AlertDefinition {
  readonly name: string;
  /** The key in config.thresholds compared against; absent: `value` (or no comparison at all). */
  readonly threshold?: ThresholdKey;
  /** The fixed value compared against when no threshold key applies (`tts_probe_success == 0`). */
  readonly value?: number;
  /** The catalog metric the statistic reads ("up" is Prometheus' own). */
  readonly metric: MetricName | "up";
  readonly statistic: Statistic;
  readonly op: Comparison;
  readonly tiering: Tiering;
  /** Unit of the compared value and of the threshold as shown ("ms", "°C", "%", "s", ""). */
  readonly unit: string;
  /** Metric value × scale = the compared value (seconds → ms: 1000, ratio → %: 100). */
  readonly scale: number;
  /** Threshold key value × thresholdScale = the compared threshold (cache_hit_rate_min 0-1 → %: 100). */
  readonly thresholdScale: number;
  /** Decimals of the value in the description. */
  readonly decimals: number;
  readonly summary: (c: AlertContext) => string;
  readonly description: (v: TemplateVars, c: AlertContext) => string;
  /** What else the rule requires, in words (docs/alerts.md). */
  readonly note?: string;
  /**
   * The alert-language metric (src/alerts/expression.ts) with the same statistic, when the alert is
   * also evaluated in-process against `threshold`; absent: Prometheus only.
   */
  readonly inProcess?: AlertMetric;
}

/** The compared threshold in the shown unit (undefined for alerts without one). */
export function thresholdOf(def: AlertDefinition, c: AlertContext): number | undefined {
  if (def.statistic === "age") return PROBE_STALE_INTERVALS * c.probeIntervalSeconds;
  if (def.threshold !== undefined) return round(c.thresholds[def.threshold] * def.thresholdScale);
  return def.value;
}

/** 0.7 × 100 is 70.00000000000001 in floating point: thresholds are shown as written. */
const round = (v: number) => Number.parseFloat(v.toPrecision(12));

/** The severity the in-process evaluator raises: the first tier's, the one Prometheus raises first. */
export function inProcessSeverity(def: AlertDefinition): "warning" | "critical" {
  const s = TIER_SEVERITIES[def.tiering][0];
  return s === "critical" ? "critical" : "warning";
}

export const RUNBOOK_DIR = "docs/runbooks";
/** The runbook of an alert, a file in the repository. */
export const runbookFile = (name: string) => `${RUNBOOK_DIR}/${name}.md`;

export const ALERT_DEFINITIONS = [
  {
    name: "TTSLatencyHigh",
    threshold: "latency_max_ms",
    metric: "tts_latency_seconds",
    statistic: "p95_over_window",
    op: ">",
    tiering: "escalating",
    unit: "ms",
    scale: 1000,
    thresholdScale: 1,
    decimals: 1,
    summary: (c) => `TTS p95 latency above ${c.thresholds.latency_max_ms} ms`,
    description: (v, c) =>
      `Engine ${v.label("engine")} on ${v.label("instance")}: p95 end-to-end synthesis latency over the last ${c.window} is ` +
      `${v.value} ms (threshold ${c.thresholds.latency_max_ms} ms). Statistic: histogram_quantile(0.95) of the ` +
      "tts_latency_seconds histogram (probes and ingested requests), interpolated within its buckets.",
    inProcess: "latency_p95_5m",
  },
  {
    name: "TTSStreamStalling",
    threshold: "stall_max_ms",
    metric: "tts_stall_seconds",
    statistic: "p95_over_window",
    op: ">",
    tiering: "slow",
    unit: "ms",
    scale: 1000,
    thresholdScale: 1,
    decimals: 0, // whole ms: bucket interpolations such as 24.25 would round apart in Go and JS
    summary: (c) => `TTS streams stalling for more than ${c.thresholds.stall_max_ms} ms`,
    description: (v, c) =>
      `Engine ${v.label("engine")} on ${v.label("instance")}: p95 of the longest gap between audio chunks per streamed ` +
      `answer over the last ${c.window} is ${v.value} ms (threshold ${c.thresholds.stall_max_ms} ms): listeners hear the ` +
      "audio stop mid-sentence. Statistic: histogram_quantile(0.95) of the tts_stall_seconds histogram, interpolated within its buckets.",
    note: "streaming answers only (two audio chunks or more)",
  },
  {
    name: "TTSGpuTemperatureHigh",
    threshold: "gpu_temp_max",
    metric: "tts_gpu_temperature_celsius",
    statistic: "last_value",
    op: ">",
    tiering: "escalating",
    unit: "°C",
    scale: 1,
    thresholdScale: 1,
    decimals: 0,
    summary: (c) => `GPU temperature above ${c.thresholds.gpu_temp_max} °C`,
    description: (v, c) =>
      `GPU ${v.label("gpu")} (${v.label("name")}) on ${v.label("instance")} is at ${v.value} °C ` +
      `(threshold ${c.thresholds.gpu_temp_max} °C); it will throttle its clocks and TTS latency will rise.`,
    inProcess: "gpu_temp",
  },
  {
    name: "TTSHostMemoryHigh",
    threshold: "memory_usage_max",
    metric: "tts_host_memory_usage_ratio",
    statistic: "last_value",
    op: ">",
    tiering: "escalating",
    unit: "%",
    scale: 100,
    thresholdScale: 1,
    decimals: 1,
    summary: (c) => `Host RAM usage above ${c.thresholds.memory_usage_max} %`,
    description: (v, c) =>
      `RAM usage on ${v.label("instance")} is ${v.value} % (threshold ${c.thresholds.memory_usage_max} %, ` +
      "MemTotal - MemAvailable); TTS models may be swapped out or killed by the OOM killer.",
    inProcess: "memory",
  },
  {
    name: "TTSGpuMemoryHigh",
    threshold: "memory_usage_max",
    metric: "tts_gpu_memory_usage_ratio",
    statistic: "last_value",
    op: ">",
    tiering: "escalating",
    unit: "%",
    scale: 100,
    thresholdScale: 1,
    decimals: 1,
    summary: (c) => `GPU memory (VRAM) usage above ${c.thresholds.memory_usage_max} %`,
    description: (v, c) =>
      `VRAM usage of GPU ${v.label("gpu")} (${v.label("name")}) on ${v.label("instance")} is ${v.value} % ` +
      `(threshold ${c.thresholds.memory_usage_max} %); loading another model or a longer batch may fail with out of memory.`,
    inProcess: "gpu_memory",
  },
  {
    name: "TTSQualityScoreLow",
    threshold: "quality_score_min",
    metric: "tts_quality_score",
    statistic: "last_value",
    op: "<",
    tiering: "slow",
    unit: "",
    scale: 1,
    thresholdScale: 1,
    decimals: 2,
    summary: (c) => `TTS audio quality score below ${c.thresholds.quality_score_min}`,
    description: (v, c) =>
      `Engine ${v.label("engine")} voice ${v.label("voice")} on ${v.label("instance")}: composite quality score ` +
      `${v.value} (minimum ${c.thresholds.quality_score_min}; 0-1, formula in docs/quality-score.md).`,
    inProcess: "quality",
  },
  {
    name: "TTSCacheHitRateLow",
    threshold: "cache_hit_rate_min",
    metric: "tts_cache_hit_rate",
    statistic: "exporter_window_ratio",
    op: "<",
    tiering: "slow",
    unit: "%",
    scale: 100,
    thresholdScale: 100,
    decimals: 1,
    summary: (c) => `TTS cache hit rate below ${round(c.thresholds.cache_hit_rate_min * 100)} %`,
    description: (v, c) =>
      `Engine ${v.label("engine")} on ${v.label("instance")}: cache hit rate ${v.value} % over the exporter's sliding ` +
      `window (minimum ${round(c.thresholds.cache_hit_rate_min * 100)} %), while lookups keep coming.`,
    note: "while lookups > 0",
    inProcess: "cache_hit_rate",
  },
  {
    name: "TTSExporterDown",
    metric: "up",
    statistic: "scrape_up",
    op: "==",
    value: 0,
    tiering: "down",
    unit: "",
    scale: 1,
    thresholdScale: 1,
    decimals: 0,
    summary: () => "Prometheus cannot scrape the TTS exporter",
    description: (v) =>
      `The TTS exporter at ${v.label("instance")} (job ${v.label("job")}) has failed its scrapes (up = ${v.value}): ` +
      "no TTS, GPU or host metric is being collected, so no other TTS alert can fire.",
  },
  {
    name: "TTSExporterAbsent",
    metric: "up",
    statistic: "absent",
    op: "==",
    value: 1,
    tiering: "absent",
    unit: "",
    scale: 1,
    thresholdScale: 1,
    decimals: 0,
    summary: () => "No TTS exporter target in Prometheus",
    description: (v) =>
      `Prometheus has no target for job ${v.label("job")} (absent(up) = ${v.value}): the scrape configuration ` +
      "or service discovery lost the exporter, so nothing about TTS is monitored.",
  },
  {
    name: "TTSProbeFailing",
    metric: "tts_probe_success",
    statistic: "last_value",
    op: "==",
    value: 0,
    tiering: "escalating",
    unit: "",
    scale: 1,
    thresholdScale: 1,
    decimals: 0,
    summary: () => "TTS synthesis probes failing",
    description: (v) =>
      `Every synthesis probe of engine ${v.label("engine")} from ${v.label("instance")} has failed ` +
      `(tts_probe_success = ${v.value}); see tts_failures_total{engine="${v.label("engine")}"} for the reason.`,
  },
  {
    name: "TTSProbeStale",
    metric: "tts_probe_last_run_timestamp_seconds",
    statistic: "age",
    op: ">",
    tiering: "escalating",
    unit: "s",
    scale: 1,
    thresholdScale: 1,
    decimals: 0,
    summary: () => `No TTS probe result for ${PROBE_STALE_INTERVALS} probe intervals`,
    description: (v, c) =>
      `Engine ${v.label("engine")} on ${v.label("instance")}: the last synthesis probe finished ${v.value} s ago ` +
      `(more than ${PROBE_STALE_INTERVALS} probe intervals of ${c.probeIntervalSeconds} s): the probe values ` +
      "shown for it are stale. The probe loop is stuck, or monitoring is switched off (tool_info.enabled).",
  },
  {
    name: "TTSCollectorFailing",
    metric: "tts_exporter_collector_success",
    statistic: "last_value",
    op: "==",
    value: 0,
    tiering: "slow",
    unit: "",
    scale: 1,
    thresholdScale: 1,
    decimals: 0,
    summary: () => "An exporter collector is failing",
    description: (v) =>
      `Collector ${v.label("collector")} of the exporter at ${v.label("instance")} fails ` +
      `(tts_exporter_collector_success = ${v.value}); its metrics are missing. The exporter's log says why.`,
    note: "GPU: only after a success in the last 24 h",
  },
  {
    name: "Watchdog",
    metric: "up",
    statistic: "always",
    op: "==",
    tiering: "heartbeat",
    unit: "",
    scale: 1,
    thresholdScale: 1,
    decimals: 0,
    summary: () => "Alerting pipeline heartbeat (always firing)",
    description: () =>
      "Always firing, so that the whole pipeline (Prometheus rule evaluation, Alertmanager, the dead-man's-switch " +
      "receiver) is proven alive; the dead-man's-switch service pages when this heartbeat stops.",
  },
] as const satisfies readonly AlertDefinition[];

export type AlertName = (typeof ALERT_DEFINITIONS)[number]["name"];

/** The definition of a named alert. */
export function alertDefinition(name: AlertName): AlertDefinition {
  return ALERT_DEFINITIONS.find((d) => d.name === name) as AlertDefinition;
}

/** "p95 of `tts_latency_seconds` over 5m > 500 ms": how the condition reads in docs/alerts.md. */
export function conditionText(def: AlertDefinition, c: AlertContext, job: string): string {
  const threshold = thresholdOf(def, c);
  const limit = threshold === undefined ? "" : ` ${def.op} ${threshold}${def.unit ? ` ${def.unit}` : ""}`;
  const note = def.note ? ` (${def.note})` : "";
  switch (def.statistic) {
    case "p95_over_window":
      return `p95 of \`${def.metric}\` over ${c.window}${limit}${note}`;
    case "age":
      return `time since \`${def.metric}\`${limit} (${PROBE_STALE_INTERVALS} × probes.interval_seconds)${note}`;
    case "scrape_up":
      return `\`up{job="${job}"} == 0\`${note}`;
    case "absent":
      return `\`absent(up{job="${job}"})\`${note}`;
    case "always":
      return "always";
    default:
      return `\`${def.metric}\`${limit}${note}`;
  }
}
