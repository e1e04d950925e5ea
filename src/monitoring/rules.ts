// Prometheus alerting and recording rules, from the config's thresholds and the metric catalog.
// Each threshold alert carries the data its promtool tests need (input series on both sides of the
// threshold, the labels and the value it must report), so the tests come from the same definition.

import { THRESHOLD_ALERT_NAMES } from "../alerts/names.ts";
import type { Thresholds } from "../config/schema.ts";
import { DASHBOARDS } from "./dashboards/refs.ts";
import { type DashboardRef, dashboardUrl, runbookUrl } from "./links.ts";
import { type MonitoringProfile, promDuration } from "./profile.ts";
import { bucket, bucketsOf, metric, up } from "./promql.ts";

export type Severity = "warning" | "critical" | "none";

/** How a description or URL reads a label and the value: a Go template in the rule, a literal in the tests. */
export interface TemplateVars {
  readonly value: string;
  label(name: string): string;
  /** A label's value escaped for a URL's query string (an engine named "a b&c" stays one variable). */
  query(name: string): string;
}

export const templateVars = (decimals: number): TemplateVars => ({
  value: `{{ printf "%.${decimals}f" $value }}`,
  label: (name) => `{{ $labels.${name} }}`,
  // Go's text/template built-in `urlquery` (url.QueryEscape).
  query: (name) => `{{ $labels.${name} | urlquery }}`,
});

/** Go's url.QueryEscape: what `urlquery` makes of a literal label value (for the promtool cases). */
export function goQueryEscape(value: string): string {
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export interface InputSeries {
  readonly series: string;
  /** promtool's expanding notation, e.g. "0+60x30". */
  readonly values: string;
}

/** One side of a threshold, as promtool input series and the value the alert then reports. */
export interface TestSide {
  readonly series: readonly InputSeries[];
  readonly value: number;
}

export interface AlertSpec {
  readonly alert: string;
  /** Each tier is one rule with the same alertname and expression; a critical inhibits the warning. */
  readonly tiers: ReadonlyArray<{ readonly severity: Severity; readonly forSeconds: number }>;
  readonly expr: string;
  readonly summary: string;
  readonly description: (v: TemplateVars) => string;
  /** Decimals of `$value` in the description. */
  readonly decimals: number;
  readonly dashboard: DashboardRef;
  /** Dashboard variables set from the alert's labels. */
  readonly dashboardVars: readonly string[];
  /** How the threshold reads in docs/alerts.md. */
  readonly condition: string;
  readonly test?: {
    /** The labels of the alert (besides alertname and severity). */
    readonly labels: Readonly<Record<string, string>>;
    /** At the threshold (or healthy): must stay quiet. */
    readonly boundary: TestSide;
    /** Past the threshold: must fire once the `for` has elapsed. */
    readonly breach: TestSide;
    /** Seconds from the first sample until the expression can be true (rate() needs two samples). */
    readonly firstTrueSeconds: number;
  };
}

export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: { readonly severity: Severity };
  readonly annotations: {
    readonly summary: string;
    readonly description: string;
    readonly runbook_url: string;
    readonly dashboard_url: string;
  };
}

export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: ReadonlyArray<AlertingRule | RecordingRule>;
}

/** Test input step of the generated promtool tests. */
export const TEST_INTERVAL_SECONDS = 60;
/** Labels every scraped test series carries. */
export const TEST_TARGET = { job: "tts-monitor", instance: "exporter:9090" } as const;

const QUANTILES = ["0.5", "0.9", "0.95", "0.99"] as const;

function seriesText(name: string, labels: Readonly<Record<string, string>>): string {
  const body = Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(", ");
  return `${name}{${body}}`;
}

const constant = (v: number, steps: number) => `${v}+0x${steps}`;
const rising = (perStep: number, steps: number) => `0+${perStep}x${steps}`;

/** Recording rule names, one place: dashboards read them, the alert tests need none of them. */
export function recordNames(profile: MonitoringProfile) {
  const w = promDuration(profile.rateWindowSeconds);
  return {
    latencyQuantiles: `engine_voice_quantile:tts_latency_seconds:rate${w}`,
    ttfaQuantiles: `engine_voice_quantile:tts_time_to_first_audio_seconds:rate${w}`,
    requestsRate: `engine_voice_result:tts_requests:rate${w}`,
    failuresRate: `engine_reason:tts_failures:rate${w}`,
    errorRatio: `engine:tts_requests_error_ratio:rate${w}`,
  } as const;
}

export function recordingRules(profile: MonitoringProfile): RecordingRule[] {
  const w = promDuration(profile.rateWindowSeconds);
  const names = recordNames(profile);
  const quantiles = (record: string, expr: string): RecordingRule[] =>
    // One rule per quantile, told apart by a `quantile` label as in summaries.
    QUANTILES.map((q) => ({ record, expr: `histogram_quantile(${q}, ${expr})`, labels: { quantile: q } }));
  return [
    ...quantiles(
      names.latencyQuantiles,
      `sum by (job, instance, engine, voice, le) (rate(${bucket("tts_latency_seconds")}[${w}]))`,
    ),
    ...quantiles(
      names.ttfaQuantiles,
      `sum by (job, instance, engine, voice, le) (rate(${bucket("tts_time_to_first_audio_seconds")}[${w}]))`,
    ),
    {
      record: names.requestsRate,
      expr: `sum by (job, instance, engine, voice, result) (rate(${metric("tts_requests_total")}[${w}]))`,
    },
    {
      record: names.failuresRate,
      expr: `sum by (job, instance, engine, reason) (rate(${metric("tts_failures_total")}[${w}]))`,
    },
    {
      record: names.errorRatio,
      expr:
        `sum by (job, instance, engine) (rate(${metric("tts_requests_total", { result: "failure" })}[${w}]))` +
        ` / sum by (job, instance, engine) (rate(${metric("tts_requests_total")}[${w}]))`,
    },
  ];
}

/** The histogram bucket bounds just below and above a latency, for test input on each side. */
function latencyBuckets(thresholdSeconds: number): {
  lower: number;
  lowerPrev: number;
  upper: number;
  next: number;
} {
  const bounds = bucketsOf("tts_latency_seconds");
  const lowerIndex = bounds.findLastIndex((b) => b <= thresholdSeconds);
  const upperIndex = bounds.findIndex((b) => b >= thresholdSeconds);
  const upper = bounds[upperIndex];
  if (upper === undefined || thresholdSeconds >= maxLatencyThresholdSeconds()) {
    throw new Error(
      `thresholds.latency_max_ms must be below ${maxLatencyThresholdSeconds() * 1000} ms (generationProblems() says so first)`,
    );
  }
  // Below the first bucket, every request puts p95 above the threshold: the quiet case has no
  // requests at all (lower 0). Above the last finite bucket, histogram_quantile answers that
  // bucket's bound for requests in +Inf: the breach puts every request there (next Infinity).
  return {
    lower: bounds[lowerIndex] ?? 0,
    lowerPrev: bounds[lowerIndex - 1] ?? 0,
    upper,
    next: bounds[upperIndex + 1] ?? Number.POSITIVE_INFINITY,
  };
}

/**
 * The latency threshold (seconds) that Prometheus can still see crossed: histogram_quantile never
 * answers more than the highest finite bucket of tts_latency_seconds, so p95 > that never holds.
 */
export function maxLatencyThresholdSeconds(): number {
  return bucketsOf("tts_latency_seconds").at(-1) ?? Number.POSITIVE_INFINITY;
}

/** Histogram input: `perStep` observations per step, all inside the bucket whose upper bound is `into`. */
function latencyHistogram(
  into: number,
  perStep: number,
  steps: number,
  labels: Record<string, string>,
): InputSeries[] {
  const les = [...bucketsOf("tts_latency_seconds").map(String), "+Inf"];
  return les.map((le) => ({
    series: seriesText("tts_latency_seconds_bucket", { ...labels, le }),
    values: rising(Number(le) >= into || le === "+Inf" ? perStep : 0, steps),
  }));
}

export function alertSpecs(t: Thresholds, profile: MonitoringProfile): AlertSpec[] {
  const f = profile.for;
  const w = promDuration(profile.rateWindowSeconds);
  const tiered = [
    { severity: "warning", forSeconds: f.warning },
    { severity: "critical", forSeconds: f.critical },
  ] as const;
  // Long enough input for every `for` of the test file's production clocks.
  const steps = Math.ceil((Math.max(f.critical, f.slow, f.absent) * 2) / TEST_INTERVAL_SECONDS) + 10;
  const engine = { ...TEST_TARGET, engine: "kokoro" };
  const gpu = { ...TEST_TARGET, gpu: "0", name: "NVIDIA GeForce RTX 3090", uuid: "GPU-5a3c9f1e" };
  const memoryRatio = t.memory_usage_max / 100;
  const lat = latencyBuckets(t.latency_max_ms / 1000);

  return [
    {
      alert: THRESHOLD_ALERT_NAMES.latency,
      tiers: tiered,
      expr:
        `histogram_quantile(0.95, sum by (job, instance, engine, le) (rate(${bucket("tts_latency_seconds")}[${w}])))` +
        ` * 1000 > ${t.latency_max_ms}`,
      summary: `TTS p95 latency above ${t.latency_max_ms} ms`,
      description: (v) =>
        `Engine ${v.label("engine")} on ${v.label("instance")}: p95 end-to-end synthesis latency over the last ${w} is ` +
        `${v.value} ms (threshold ${t.latency_max_ms} ms). Statistic: histogram_quantile(0.95) of the ` +
        "tts_latency_seconds histogram (probes and ingested requests), interpolated within its buckets.",
      decimals: 1,
      dashboard: DASHBOARDS.engine,
      dashboardVars: ["engine"],
      condition: `p95 of \`tts_latency_seconds\` over ${w} > ${t.latency_max_ms} ms`,
      test: {
        labels: { ...TEST_TARGET, engine: "kokoro" },
        // Every request takes exactly the threshold (the bucket ending at or below it): p95 stays below.
        boundary: {
          series: latencyHistogram(lat.lower, lat.lower > 0 ? 60 : 0, steps, {
            ...engine,
            voice: "af_heart",
            source: "probe",
          }),
          value: (lat.lowerPrev + (lat.lower - lat.lowerPrev) * 0.95) * 1000,
        },
        // Every request falls in the bucket just above the threshold.
        breach: {
          series: latencyHistogram(lat.next, 60, steps, { ...engine, voice: "af_heart", source: "probe" }),
          value: (Number.isFinite(lat.next) ? lat.upper + (lat.next - lat.upper) * 0.95 : lat.upper) * 1000,
        },
        firstTrueSeconds: TEST_INTERVAL_SECONDS,
      },
    },
    {
      alert: THRESHOLD_ALERT_NAMES.gpu_temp,
      tiers: tiered,
      expr: `${metric("tts_gpu_temperature_celsius")} > ${t.gpu_temp_max}`,
      summary: `GPU temperature above ${t.gpu_temp_max} °C`,
      description: (v) =>
        `GPU ${v.label("gpu")} (${v.label("name")}) on ${v.label("instance")} is at ${v.value} °C ` +
        `(threshold ${t.gpu_temp_max} °C); it will throttle its clocks and TTS latency will rise.`,
      decimals: 0,
      dashboard: DASHBOARDS.hostGpu,
      dashboardVars: ["instance"],
      condition: `\`tts_gpu_temperature_celsius\` > ${t.gpu_temp_max} °C`,
      test: {
        labels: gpu,
        boundary: {
          series: [
            {
              series: seriesText("tts_gpu_temperature_celsius", gpu),
              values: constant(t.gpu_temp_max, steps),
            },
          ],
          value: t.gpu_temp_max,
        },
        breach: {
          series: [
            {
              series: seriesText("tts_gpu_temperature_celsius", gpu),
              values: constant(t.gpu_temp_max + 1, steps),
            },
          ],
          value: t.gpu_temp_max + 1,
        },
        firstTrueSeconds: 0,
      },
    },
    {
      alert: THRESHOLD_ALERT_NAMES.memory,
      tiers: tiered,
      expr: `${metric("tts_host_memory_usage_ratio")} * 100 > ${t.memory_usage_max}`,
      summary: `Host RAM usage above ${t.memory_usage_max} %`,
      description: (v) =>
        `RAM usage on ${v.label("instance")} is ${v.value} % (threshold ${t.memory_usage_max} %, ` +
        "MemTotal - MemAvailable); TTS models may be swapped out or killed by the OOM killer.",
      decimals: 1,
      dashboard: DASHBOARDS.hostGpu,
      dashboardVars: ["instance"],
      condition: `\`tts_host_memory_usage_ratio\` > ${t.memory_usage_max} %`,
      test: {
        labels: TEST_TARGET,
        boundary: {
          series: [
            {
              series: seriesText("tts_host_memory_usage_ratio", TEST_TARGET),
              values: constant(memoryRatio, steps),
            },
          ],
          value: t.memory_usage_max,
        },
        breach: {
          series: [
            {
              series: seriesText("tts_host_memory_usage_ratio", TEST_TARGET),
              values: constant(Math.min(1, memoryRatio + 0.01), steps),
            },
          ],
          value: Math.min(1, memoryRatio + 0.01) * 100,
        },
        firstTrueSeconds: 0,
      },
    },
    {
      alert: THRESHOLD_ALERT_NAMES.gpu_memory,
      tiers: tiered,
      expr: `${metric("tts_gpu_memory_usage_ratio")} * 100 > ${t.memory_usage_max}`,
      summary: `GPU memory (VRAM) usage above ${t.memory_usage_max} %`,
      description: (v) =>
        `VRAM usage of GPU ${v.label("gpu")} (${v.label("name")}) on ${v.label("instance")} is ${v.value} % ` +
        `(threshold ${t.memory_usage_max} %); loading another model or a longer batch may fail with out of memory.`,
      decimals: 1,
      dashboard: DASHBOARDS.hostGpu,
      dashboardVars: ["instance"],
      condition: `\`tts_gpu_memory_usage_ratio\` > ${t.memory_usage_max} %`,
      test: {
        labels: gpu,
        boundary: {
          series: [
            { series: seriesText("tts_gpu_memory_usage_ratio", gpu), values: constant(memoryRatio, steps) },
          ],
          value: t.memory_usage_max,
        },
        breach: {
          series: [
            {
              series: seriesText("tts_gpu_memory_usage_ratio", gpu),
              values: constant(Math.min(1, memoryRatio + 0.01), steps),
            },
          ],
          value: Math.min(1, memoryRatio + 0.01) * 100,
        },
        firstTrueSeconds: 0,
      },
    },
    {
      alert: THRESHOLD_ALERT_NAMES.quality,
      tiers: [{ severity: "warning", forSeconds: f.slow }],
      expr: `${metric("tts_quality_score")} < ${t.quality_score_min}`,
      summary: `TTS audio quality score below ${t.quality_score_min}`,
      description: (v) =>
        `Engine ${v.label("engine")} voice ${v.label("voice")} on ${v.label("instance")}: composite quality score ` +
        `${v.value} (minimum ${t.quality_score_min}; 0-1, formula in docs/quality-score.md).`,
      decimals: 2,
      dashboard: DASHBOARDS.audio,
      dashboardVars: ["engine", "voice"],
      condition: `\`tts_quality_score\` < ${t.quality_score_min}`,
      test: {
        labels: { ...engine, voice: "af_heart" },
        boundary: {
          series: [
            {
              series: seriesText("tts_quality_score", { ...engine, voice: "af_heart" }),
              values: constant(t.quality_score_min, steps),
            },
          ],
          value: t.quality_score_min,
        },
        breach: {
          series: [
            {
              series: seriesText("tts_quality_score", { ...engine, voice: "af_heart" }),
              values: constant(Math.max(0, t.quality_score_min - 0.05), steps),
            },
          ],
          value: Math.max(0, t.quality_score_min - 0.05),
        },
        firstTrueSeconds: 0,
      },
    },
    {
      alert: THRESHOLD_ALERT_NAMES.cache_hit_rate,
      tiers: [{ severity: "warning", forSeconds: f.slow }],
      // Only while the cache sees lookups: an idle engine's last ratio is no news.
      expr:
        `${metric("tts_cache_hit_rate")} * 100 < ${t.cache_hit_rate_min * 100}` +
        ` and on (job, instance, engine) sum by (job, instance, engine) (rate(${metric("tts_cache_lookups_total")}[${w}])) > 0`,
      summary: `TTS cache hit rate below ${t.cache_hit_rate_min * 100} %`,
      description: (v) =>
        `Engine ${v.label("engine")} on ${v.label("instance")}: cache hit rate ${v.value} % over the exporter's sliding ` +
        `window (minimum ${t.cache_hit_rate_min * 100} %), while lookups keep coming.`,
      decimals: 1,
      dashboard: DASHBOARDS.overview,
      dashboardVars: ["engine"],
      condition: `\`tts_cache_hit_rate\` < ${t.cache_hit_rate_min * 100} % (while lookups > 0)`,
      test: {
        labels: engine,
        boundary: {
          series: [
            {
              series: seriesText("tts_cache_hit_rate", engine),
              values: constant(t.cache_hit_rate_min, steps),
            },
            { series: seriesText("tts_cache_lookups_total", engine), values: rising(10, steps) },
          ],
          value: t.cache_hit_rate_min * 100,
        },
        breach: {
          series: [
            {
              series: seriesText("tts_cache_hit_rate", engine),
              values: constant(Math.max(0, t.cache_hit_rate_min - 0.1), steps),
            },
            { series: seriesText("tts_cache_lookups_total", engine), values: rising(10, steps) },
          ],
          value: Math.max(0, t.cache_hit_rate_min - 0.1) * 100,
        },
        firstTrueSeconds: TEST_INTERVAL_SECONDS,
      },
    },
    {
      alert: "TTSExporterDown",
      tiers: [{ severity: "critical", forSeconds: f.down }],
      expr: `${up(profile.job)} == 0`,
      summary: "Prometheus cannot scrape the TTS exporter",
      description: (v) =>
        `The TTS exporter at ${v.label("instance")} (job ${v.label("job")}) has failed its scrapes (up = ${v.value}): ` +
        "no TTS, GPU or host metric is being collected, so no other TTS alert can fire.",
      decimals: 0,
      dashboard: DASHBOARDS.overview,
      dashboardVars: ["instance"],
      condition: `\`up{job="${profile.job}"} == 0\``,
      test: {
        labels: TEST_TARGET,
        boundary: {
          series: [{ series: seriesText("up", TEST_TARGET), values: constant(1, steps) }],
          value: 1,
        },
        breach: { series: [{ series: seriesText("up", TEST_TARGET), values: constant(0, steps) }], value: 0 },
        firstTrueSeconds: 0,
      },
    },
    {
      alert: "TTSExporterAbsent",
      tiers: [{ severity: "critical", forSeconds: f.absent }],
      expr: `absent(${up(profile.job)})`,
      summary: "No TTS exporter target in Prometheus",
      description: (v) =>
        `Prometheus has no target for job ${v.label("job")} (absent(up) = ${v.value}): the scrape configuration ` +
        "or service discovery lost the exporter, so nothing about TTS is monitored.",
      decimals: 0,
      dashboard: DASHBOARDS.overview,
      dashboardVars: [],
      condition: `\`absent(up{job="${profile.job}"})\``,
      test: {
        labels: { job: profile.job },
        boundary: {
          series: [{ series: seriesText("up", TEST_TARGET), values: constant(1, steps) }],
          value: 1,
        },
        breach: {
          series: [
            { series: seriesText("up", { ...TEST_TARGET, job: "other" }), values: constant(1, steps) },
          ],
          value: 1,
        },
        firstTrueSeconds: 0,
      },
    },
    {
      alert: "TTSProbeFailing",
      tiers: tiered,
      expr: `${metric("tts_probe_success")} == 0`,
      summary: "TTS synthesis probes failing",
      description: (v) =>
        `Every synthesis probe of engine ${v.label("engine")} from ${v.label("instance")} has failed ` +
        `(tts_probe_success = ${v.value}); see tts_failures_total{engine="${v.label("engine")}"} for the reason.`,
      decimals: 0,
      dashboard: DASHBOARDS.engine,
      dashboardVars: ["engine"],
      condition: "`tts_probe_success == 0`",
      test: {
        labels: engine,
        boundary: {
          series: [{ series: seriesText("tts_probe_success", engine), values: constant(1, steps) }],
          value: 1,
        },
        breach: {
          series: [{ series: seriesText("tts_probe_success", engine), values: constant(0, steps) }],
          value: 0,
        },
        firstTrueSeconds: 0,
      },
    },
    {
      alert: "TTSCollectorFailing",
      tiers: [{ severity: "warning", forSeconds: f.slow }],
      // The GPU collector fails on every host without a GPU: it only alerts once it has worked
      // within the history window, so a CPU-only host is not paged forever (docs/alerts.md).
      expr:
        `${metric("tts_exporter_collector_success", { collector: "!=gpu" })} == 0` +
        ` or (${metric("tts_exporter_collector_success", { collector: "gpu" })} == 0` +
        ` and on (job, instance, collector) max_over_time(${metric("tts_exporter_collector_success", { collector: "gpu" })}[${promDuration(profile.collectorHistorySeconds)}]) == 1)`,
      summary: "An exporter collector is failing",
      description: (v) =>
        `Collector ${v.label("collector")} of the exporter at ${v.label("instance")} fails ` +
        `(tts_exporter_collector_success = ${v.value}); its metrics are missing. The exporter's log says why.`,
      decimals: 0,
      dashboard: DASHBOARDS.hostGpu,
      dashboardVars: ["instance"],
      condition: "`tts_exporter_collector_success == 0` (GPU: only after a success in the last 24 h)",
      test: {
        labels: { ...TEST_TARGET, collector: "memory" },
        boundary: {
          series: [
            {
              series: seriesText("tts_exporter_collector_success", { ...TEST_TARGET, collector: "memory" }),
              values: constant(1, steps),
            },
          ],
          value: 1,
        },
        breach: {
          series: [
            {
              series: seriesText("tts_exporter_collector_success", { ...TEST_TARGET, collector: "memory" }),
              values: constant(0, steps),
            },
          ],
          value: 0,
        },
        firstTrueSeconds: 0,
      },
    },
    {
      alert: "Watchdog",
      tiers: [{ severity: "none", forSeconds: 0 }],
      expr: "vector(1)",
      summary: "Alerting pipeline heartbeat (always firing)",
      description: () =>
        "Always firing, so that the whole pipeline (Prometheus rule evaluation, Alertmanager, the dead-man's-switch " +
        "receiver) is proven alive; the dead-man's-switch service pages when this heartbeat stops.",
      decimals: 0,
      dashboard: DASHBOARDS.overview,
      dashboardVars: [],
      condition: "always",
    },
  ];
}

export function alertingRules(spec: AlertSpec, profile: MonitoringProfile): AlertingRule[] {
  const v = templateVars(spec.decimals);
  const vars = Object.fromEntries(spec.dashboardVars.map((name) => [name, v.query(name)]));
  return spec.tiers.map((tier) => ({
    alert: spec.alert,
    expr: spec.expr,
    ...(tier.forSeconds > 0 ? { for: promDuration(tier.forSeconds) } : {}),
    labels: { severity: tier.severity },
    annotations: {
      summary: spec.summary,
      description: spec.description(v),
      runbook_url: runbookUrl(spec.alert, profile),
      dashboard_url: dashboardUrl(profile, spec.dashboard, vars),
    },
  }));
}

export function ruleGroups(t: Thresholds, profile: MonitoringProfile): RuleGroup[] {
  return [
    { name: "tts-monitor.recording", rules: recordingRules(profile) },
    { name: "tts-monitor.alerts", rules: alertSpecs(t, profile).flatMap((s) => alertingRules(s, profile)) },
  ];
}
