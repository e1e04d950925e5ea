// Prometheus alerting and recording rules, from the alert definitions (src/alerts/definitions.ts), the
// config's thresholds and the metric catalog. Each alert's Prometheus rendering carries the data its
// promtool tests need (input series on both sides of the threshold, the labels and the value it must
// report), so the tests come from the same definition.

import {
  ALERT_DEFINITIONS,
  type AlertContext,
  type AlertDefinition,
  type AlertName,
  conditionText,
  type TemplateVars,
  TIER_SEVERITIES,
  type Tiering,
  thresholdOf,
} from "../alerts/definitions.ts";
import type { Config, Thresholds } from "../config/schema.ts";
import { histogramQuantile } from "../ingest/sliding-histogram.ts";
import type { MetricName } from "../metrics/catalog.ts";
import { DASHBOARDS } from "./dashboards/refs.ts";
import { type DashboardRef, dashboardUrl, runbookUrl } from "./links.ts";
import { type MonitoringProfile, promDuration } from "./profile.ts";
import { bucket, bucketsOf, type HistogramName, metric, up } from "./promql.ts";

export type Severity = "warning" | "critical" | "none";

export type { TemplateVars } from "../alerts/definitions.ts";

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
    // Fleet: per-instance bucket rates a dashboard sums over the instances it shows before taking a
    // quantile (a quantile of each replica cannot be summed), and the fleet's own per-engine series.
    latencyBucketRate: `engine_voice_le:tts_latency_seconds_bucket:rate${w}`,
    ttfaBucketRate: `engine_voice_le:tts_time_to_first_audio_seconds_bucket:rate${w}`,
    fleetLatencyQuantiles: `job_engine_quantile:tts_latency_seconds:rate${w}`,
    fleetErrorRatio: `job_engine:tts_requests_error_ratio:rate${w}`,
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
    {
      record: names.latencyBucketRate,
      expr: `sum by (job, instance, engine, voice, le) (rate(${bucket("tts_latency_seconds")}[${w}]))`,
    },
    {
      record: names.ttfaBucketRate,
      expr: `sum by (job, instance, engine, voice, le) (rate(${bucket("tts_time_to_first_audio_seconds")}[${w}]))`,
    },
    // Across every instance of a job (the replicas behind one Service): summed, never averaged.
    ...quantiles(
      names.fleetLatencyQuantiles,
      `sum by (job, engine, le) (rate(${bucket("tts_latency_seconds")}[${w}]))`,
    ),
    {
      record: names.fleetErrorRatio,
      expr:
        `sum by (job, engine) (rate(${metric("tts_requests_total", { result: "failure" })}[${w}]))` +
        ` / sum by (job, engine) (rate(${metric("tts_requests_total")}[${w}]))`,
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

/** What the promtool cases of one alert are built from. */
interface TestContext {
  readonly steps: number;
  readonly engine: Readonly<Record<string, string>>;
  readonly gpu: Readonly<Record<string, string>>;
  /** The compared threshold in the shown unit (undefined without one). */
  readonly threshold: number;
  readonly t: Thresholds;
  readonly probeIntervalSeconds: number;
}

type RuleTest = NonNullable<AlertSpec["test"]>;

/** The Prometheus side of an alert besides its definition: its dashboard link and its promtool input. */
interface PrometheusRendering {
  readonly dashboard: DashboardRef;
  /** Dashboard variables set from the alert's labels. */
  readonly dashboardVars: readonly string[];
  /** A guard or special form around the definition's expression (`base`). */
  readonly expr?: (base: string, profile: MonitoringProfile) => string;
  readonly test?: (c: TestContext) => RuleTest;
}

/** One gauge series, constant at `value` on one side and `breach` on the other. */
function gaugeTest(
  name: MetricName,
  labels: Readonly<Record<string, string>>,
  c: TestContext,
  boundary: number,
  breach: number,
  scale = 1,
): RuleTest {
  return {
    labels,
    boundary: {
      series: [{ series: seriesText(name, labels), values: constant(boundary, c.steps) }],
      value: boundary * scale,
    },
    breach: {
      series: [{ series: seriesText(name, labels), values: constant(breach, c.steps) }],
      value: breach * scale,
    },
    firstTrueSeconds: 0,
  };
}

/** The p95 that histogram_quantile reports when every observation lies in the bucket ending at `into`. */
function p95Within(into: number): number {
  const bounds = bucketsOf("tts_latency_seconds");
  const counts = bounds.map((b) => (b === into ? 1 : 0));
  // Past the last finite bucket (+Inf), histogram_quantile answers that bucket's upper bound.
  const inf = Number.isFinite(into) ? 0 : 1;
  return (histogramQuantile(0.95, bounds, [...counts, inf]) ?? Number.NaN) * 1000;
}

const PROMETHEUS: Readonly<Record<AlertName, PrometheusRendering>> = {
  TTSLatencyHigh: {
    dashboard: DASHBOARDS.engine,
    dashboardVars: ["engine"],
    test: (c) => {
      const lat = latencyBuckets(c.t.latency_max_ms / 1000);
      const labels = { ...c.engine, voice: "af_heart", source: "probe" };
      // The expected values come from the in-process histogram_quantile: promtool checks both agree.
      return {
        labels: c.engine,
        // Every request takes exactly the threshold (the bucket ending at or below it): p95 stays below.
        // Below the first bucket no request can stay under the threshold: the quiet side has none.
        boundary: {
          series: latencyHistogram(lat.lower, lat.lower > 0 ? 60 : 0, c.steps, labels),
          value: lat.lower > 0 ? p95Within(lat.lower) : 0,
        },
        // Every request falls in the bucket just above the threshold.
        breach: { series: latencyHistogram(lat.next, 60, c.steps, labels), value: p95Within(lat.next) },
        firstTrueSeconds: TEST_INTERVAL_SECONDS,
      };
    },
  },
  TTSGpuTemperatureHigh: {
    dashboard: DASHBOARDS.hostGpu,
    dashboardVars: ["instance"],
    test: (c) => gaugeTest("tts_gpu_temperature_celsius", c.gpu, c, c.threshold, c.threshold + 1),
  },
  TTSHostMemoryHigh: {
    dashboard: DASHBOARDS.hostGpu,
    dashboardVars: ["instance"],
    test: (c) => {
      const ratio = c.threshold / 100;
      return gaugeTest("tts_host_memory_usage_ratio", TEST_TARGET, c, ratio, Math.min(1, ratio + 0.01), 100);
    },
  },
  TTSGpuMemoryHigh: {
    dashboard: DASHBOARDS.hostGpu,
    dashboardVars: ["instance"],
    test: (c) => {
      const ratio = c.threshold / 100;
      return gaugeTest("tts_gpu_memory_usage_ratio", c.gpu, c, ratio, Math.min(1, ratio + 0.01), 100);
    },
  },
  TTSQualityScoreLow: {
    dashboard: DASHBOARDS.audio,
    dashboardVars: ["engine", "voice"],
    test: (c) =>
      gaugeTest(
        "tts_quality_score",
        { ...c.engine, voice: "af_heart" },
        c,
        c.threshold,
        Math.max(0, c.threshold - 0.05),
      ),
  },
  TTSCacheHitRateLow: {
    dashboard: DASHBOARDS.overview,
    dashboardVars: ["engine"],
    // Only while the cache sees lookups: an idle engine's last ratio is no news.
    expr: (base, profile) =>
      `${base} and on (job, instance, engine) sum by (job, instance, engine) (rate(${metric("tts_cache_lookups_total")}[${promDuration(profile.rateWindowSeconds)}])) > 0`,
    test: (c) => {
      const min = c.t.cache_hit_rate_min;
      const lookups = {
        series: seriesText("tts_cache_lookups_total", c.engine),
        values: rising(10, c.steps),
      };
      const side = (ratio: number): TestSide => ({
        series: [
          { series: seriesText("tts_cache_hit_rate", c.engine), values: constant(ratio, c.steps) },
          lookups,
        ],
        value: ratio * 100,
      });
      return {
        labels: c.engine,
        boundary: side(min),
        breach: side(Math.max(0, min - 0.1)),
        firstTrueSeconds: TEST_INTERVAL_SECONDS,
      };
    },
  },
  TTSExporterDown: {
    dashboard: DASHBOARDS.overview,
    dashboardVars: ["instance"],
    test: (c) => ({
      labels: TEST_TARGET,
      boundary: {
        series: [{ series: seriesText("up", TEST_TARGET), values: constant(1, c.steps) }],
        value: 1,
      },
      breach: { series: [{ series: seriesText("up", TEST_TARGET), values: constant(0, c.steps) }], value: 0 },
      firstTrueSeconds: 0,
    }),
  },
  TTSExporterAbsent: {
    dashboard: DASHBOARDS.overview,
    dashboardVars: [],
    test: (c) => ({
      labels: { job: TEST_TARGET.job },
      boundary: {
        series: [{ series: seriesText("up", TEST_TARGET), values: constant(1, c.steps) }],
        value: 1,
      },
      breach: {
        series: [
          { series: seriesText("up", { ...TEST_TARGET, job: "other" }), values: constant(1, c.steps) },
        ],
        value: 1,
      },
      firstTrueSeconds: 0,
    }),
  },
  TTSProbeFailing: {
    dashboard: DASHBOARDS.engine,
    dashboardVars: ["engine"],
    test: (c) => gaugeTest("tts_probe_success", c.engine, c, 1, 0),
  },
  TTSProbeStale: {
    dashboard: DASHBOARDS.engine,
    dashboardVars: ["engine"],
    // The last run's timestamp keeps pace with the clock, `lag` seconds behind: the age is `lag`.
    test: (c) => {
      const side = (lag: number): TestSide => ({
        series: [
          {
            series: seriesText("tts_probe_last_run_timestamp_seconds", c.engine),
            values: `${-lag}+${TEST_INTERVAL_SECONDS}x${c.steps}`,
          },
        ],
        value: lag,
      });
      return {
        labels: c.engine,
        // Exactly 3 intervals old: not yet stale.
        boundary: side(c.threshold),
        breach: side(c.threshold + TEST_INTERVAL_SECONDS),
        firstTrueSeconds: 0,
      };
    },
  },
  TTSCollectorFailing: {
    dashboard: DASHBOARDS.hostGpu,
    dashboardVars: ["instance"],
    // The GPU collector fails on every host without a GPU: it only alerts once it has worked
    // within the history window, so a CPU-only host is not paged forever (docs/alerts.md).
    expr: (_base, profile) =>
      `${metric("tts_exporter_collector_success", { collector: "!=gpu" })} == 0` +
      ` or (${metric("tts_exporter_collector_success", { collector: "gpu" })} == 0` +
      ` and on (job, instance, collector) max_over_time(${metric("tts_exporter_collector_success", { collector: "gpu" })}[${promDuration(profile.collectorHistorySeconds)}]) == 1)`,
    test: (c) =>
      gaugeTest("tts_exporter_collector_success", { ...TEST_TARGET, collector: "memory" }, c, 1, 0),
  },
  Watchdog: { dashboard: DASHBOARDS.overview, dashboardVars: [] },
};

/** The settings the alerts read: the thresholds and the probe interval (TTSProbeStale). */
export type AlertInputs = Pick<Config, "thresholds" | "probes">;

export function alertContext(config: AlertInputs, profile: MonitoringProfile): AlertContext {
  return {
    thresholds: config.thresholds,
    window: promDuration(profile.rateWindowSeconds),
    probeIntervalSeconds: config.probes.interval_seconds,
  };
}

/** The PromQL of a definition: its statistic over its metric, compared with its threshold. */
function definitionExpr(def: AlertDefinition, c: AlertContext, profile: MonitoringProfile): string {
  const threshold = thresholdOf(def, c);
  const cmp = threshold === undefined ? "" : ` ${def.op} ${threshold}`;
  const scaled = (e: string) => (def.scale === 1 ? e : `${e} * ${def.scale}`);
  const m = def.metric as MetricName;
  switch (def.statistic) {
    case "p95_over_window":
      return `${scaled(`histogram_quantile(0.95, sum by (job, instance, engine, le) (rate(${bucket(m as HistogramName)}[${c.window}])))`)}${cmp}`;
    case "last_value":
    case "exporter_window_ratio":
      return `${scaled(metric(m))}${cmp}`;
    case "age":
      return `time() - ${metric(m)}${cmp}`;
    case "scrape_up":
      return `${up(profile.job)}${cmp}`;
    case "absent":
      return `absent(${up(profile.job)})`;
    case "always":
      return "vector(1)";
  }
}

function tiersOf(def: AlertDefinition, profile: MonitoringProfile): AlertSpec["tiers"] {
  const f = profile.for;
  const clocks: Record<Tiering, readonly number[]> = {
    escalating: [f.warning, f.critical],
    slow: [f.slow],
    down: [f.down],
    absent: [f.absent],
    heartbeat: [0],
  };
  return TIER_SEVERITIES[def.tiering].map((severity, i) => ({
    severity,
    forSeconds: clocks[def.tiering][i] ?? 0,
  }));
}

export function alertSpecs(config: AlertInputs, profile: MonitoringProfile): AlertSpec[] {
  const f = profile.for;
  const t = config.thresholds;
  const c = alertContext(config, profile);
  // Long enough input for every `for` of the test file's production clocks.
  const steps = Math.ceil((Math.max(f.critical, f.slow, f.absent) * 2) / TEST_INTERVAL_SECONDS) + 10;
  const engine = { ...TEST_TARGET, engine: "kokoro" };
  const gpu = { ...TEST_TARGET, gpu: "0", name: "NVIDIA GeForce RTX 3090", uuid: "GPU-5a3c9f1e" };
  return ALERT_DEFINITIONS.map((d): AlertSpec => {
    const def: AlertDefinition = d;
    const render = PROMETHEUS[d.name];
    const base = definitionExpr(def, c, profile);
    const threshold = thresholdOf(def, c) ?? 0;
    const test = render.test?.({
      steps,
      engine,
      gpu,
      threshold,
      t,
      probeIntervalSeconds: c.probeIntervalSeconds,
    });
    return {
      alert: def.name,
      tiers: tiersOf(def, profile),
      expr: render.expr ? render.expr(base, profile) : base,
      summary: def.summary(c),
      description: (v) => def.description(v, c),
      decimals: def.decimals,
      dashboard: render.dashboard,
      dashboardVars: render.dashboardVars,
      condition: conditionText(def, c, profile.job),
      ...(test && { test }),
    };
  });
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

export function ruleGroups(config: AlertInputs, profile: MonitoringProfile): RuleGroup[] {
  return [
    { name: "tts-monitor.recording", rules: recordingRules(profile) },
    {
      name: "tts-monitor.alerts",
      rules: alertSpecs(config, profile).flatMap((s) => alertingRules(s, profile)),
    },
  ];
}
