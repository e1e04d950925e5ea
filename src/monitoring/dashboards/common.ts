// Shared dashboard parts: the variables, one query factory, panel factories with the defaults, and
// selectors derived from the catalog's labels (so no selector is pasted into every query).
import {
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  SortOrder,
  TooltipDisplayMode,
  VizLegendOptionsBuilder,
  VizTooltipOptionsBuilder,
} from "@grafana/grafana-foundation-sdk/common";
import {
  DashboardBuilder,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as StatBuilder } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TimeseriesBuilder } from "@grafana/grafana-foundation-sdk/timeseries";
import { catalog, type MetricName } from "../../metrics/catalog.ts";
import type { DashboardRef } from "../links.ts";
import { bucket, type HistogramName, metric } from "../promql.ts";

export const DATASOURCE = { type: "prometheus", uid: "${datasource}" } as const;

/** Dashboard variables and the label each one filters. */
export const VARIABLES = { instance: "instance", engine: "engine", voice: "voice" } as const;
type FilterLabel = keyof typeof VARIABLES;

/** `{instance=~"$instance", engine=~"$engine", ...}` for the variables whose label the metric has. */
function filtersFor(labels: readonly string[], except: readonly FilterLabel[] = []): Record<string, string> {
  const out: Record<string, string> = { instance: "=~$instance" };
  for (const label of ["engine", "voice"] as const) {
    if (labels.includes(label) && !except.includes(label)) out[label] = `=~$${VARIABLES[label]}`;
  }
  return out;
}

/** A catalog metric filtered by the dashboard's variables (plus extra matchers). */
export function sel<N extends MetricName>(name: N, extra: Record<string, string> = {}): string {
  return metric(name, { ...filtersFor(catalog[name].labels), ...extra } as never);
}

/** A catalog histogram's buckets, filtered by the dashboard's variables. */
export function selBucket<N extends HistogramName>(name: N): string {
  return bucket(name, filtersFor(catalog[name].labels) as never);
}

/** A recorded series (recording rule) filtered by the variables its labels carry. */
export function selRecorded(
  name: string,
  labels: readonly FilterLabel[],
  extra: Record<string, string> = {},
): string {
  const matchers: Record<string, string> = { ...filtersFor(labels), ...extra };
  const body = Object.entries(matchers)
    .map(([k, raw]) => {
      const op = /^(=~|!=|!~)/.exec(raw)?.[1] ?? "=";
      return `${k}${op}${JSON.stringify(op === "=" ? raw : raw.slice(op.length))}`;
    })
    .join(", ");
  return `${name}{${body}}`;
}

export const RATE = "$__rate_interval";

/**
 * A quantile over the instances the instance variable selects (All: the fleet): the recorded
 * per-instance bucket rates summed first, then histogram_quantile (quantiles cannot be summed).
 */
export function fleetQuantile(q: string, bucketRate: string, by: readonly string[]): string {
  return `histogram_quantile(${q}, sum by (${[...by, "le"].join(", ")}) (${selRecorded(bucketRate, ["engine", "voice"])}))`;
}

export function query(expr: string, legend: string, refId = "A"): DataqueryBuilder {
  return new DataqueryBuilder().expr(expr).legendFormat(legend).refId(refId).datasource(DATASOURCE);
}

export interface Threshold {
  readonly value: number;
  /** "above": values at or above are bad (latency); "below": values below are bad (quality). */
  readonly bad: "above" | "below";
}

function thresholdSteps(t: Threshold | undefined): ThresholdsConfigBuilder {
  const steps =
    t === undefined
      ? [{ value: null, color: "green" }]
      : t.bad === "above"
        ? [
            { value: null, color: "green" },
            { value: t.value, color: "red" },
          ]
        : [
            { value: null, color: "red" },
            { value: t.value, color: "green" },
          ];
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps);
}

export interface PanelOptions {
  readonly title: string;
  readonly description?: string;
  readonly unit: string;
  readonly queries: readonly DataqueryBuilder[];
  readonly threshold?: Threshold;
  readonly min?: number;
  readonly max?: number;
  /** Decimals shown; Grafana picks them when absent. */
  readonly decimals?: number;
  readonly w?: number;
  readonly h?: number;
}

export function timeseries(o: PanelOptions): TimeseriesBuilder {
  const p = new TimeseriesBuilder()
    .title(o.title)
    .description(o.description ?? "")
    .datasource(DATASOURCE)
    .unit(o.unit)
    .thresholds(thresholdSteps(o.threshold))
    .thresholdsStyle(
      new GraphThresholdsStyleConfigBuilder().mode(
        o.threshold ? GraphThresholdsStyleMode.Dashed : GraphThresholdsStyleMode.Off,
      ),
    )
    // The SDK's default hides the legend: with several engines, GPUs or measures on one panel the
    // lines could then only be told apart by hovering.
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(LegendDisplayMode.List)
        .placement(LegendPlacement.Bottom)
        .calcs([]),
    )
    .tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending))
    .height(o.h ?? 8)
    .span(o.w ?? 12);
  if (o.min !== undefined) p.min(o.min);
  if (o.max !== undefined) p.max(o.max);
  if (o.decimals !== undefined) p.decimals(o.decimals);
  for (const q of o.queries) p.withTarget(q);
  return p;
}

export function stat(o: PanelOptions): StatBuilder {
  const p = new StatBuilder()
    .title(o.title)
    .description(o.description ?? "")
    .datasource(DATASOURCE)
    .unit(o.unit)
    .thresholds(thresholdSteps(o.threshold))
    // The latest value of each series (the SDK leaves the calculation empty).
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .height(o.h ?? 5)
    .span(o.w ?? 6);
  if (o.min !== undefined) p.min(o.min);
  if (o.max !== undefined) p.max(o.max);
  if (o.decimals !== undefined) p.decimals(o.decimals);
  for (const q of o.queries) p.withTarget(q.instant());
  return p;
}

function labelVariable(name: FilterLabel, label: string, source: string): QueryVariableBuilder {
  return (
    new QueryVariableBuilder(name)
      .label(label)
      .datasource(DATASOURCE)
      .query(`label_values(${source}, ${name})`)
      .definition(`label_values(${source}, ${name})`)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      .allValue(".*")
      // Opens on every engine/instance, not on whichever value happens to come first.
      .current({ selected: true, text: ["All"], value: ["$__all"] })
  );
}

/** A dashboard with the datasource and instance variables, plus engine/voice where asked. */
export function dashboard(ref: DashboardRef, title: string, withTts: boolean): DashboardBuilder {
  const d = new DashboardBuilder(title)
    .uid(ref.uid)
    .tags(["tts", "tts-performance-monitor", "generated"])
    .editable()
    .refresh("30s")
    .time({ from: "now-1h", to: "now" })
    .timezone("browser")
    // The other TTS dashboards, one click away, with the same variables and time range.
    .link(
      new DashboardLinkBuilder("TTS dashboards")
        .type(DashboardLinkType.Dashboards)
        .tags(["tts-performance-monitor"])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    )
    .withVariable(new DatasourceVariableBuilder("datasource").label("Data source").type("prometheus"))
    .withVariable(labelVariable("instance", "Instance", metric("tts_exporter_build_info")));
  if (withTts) {
    // tts_requests_total counts probes and ingested requests alike, so an engine that is only
    // reported through the ingestion API (never probed) can be picked too.
    d.withVariable(
      labelVariable("engine", "Engine", metric("tts_requests_total", { instance: "=~$instance" })),
    );
    d.withVariable(
      labelVariable(
        "voice",
        "Voice",
        metric("tts_requests_total", { instance: "=~$instance", engine: "=~$engine" }),
      ),
    );
  }
  return d;
}

/** Grafana unit for a catalog metric, from its unit and name. */
export function unitOf(name: MetricName): string {
  const unit: string = catalog[name].unit;
  if (unit === "seconds") return "s";
  if (unit === "bytes") return "bytes";
  if (unit === "celsius") return "celsius";
  if (unit === "percent") return "percent";
  if (unit === "watts") return "watt";
  if (unit === "hertz") return "hertz";
  if (
    unit === "decibels" ||
    unit === "db" ||
    name.endsWith("_db") ||
    name.endsWith("_dbfs") ||
    name.endsWith("_decibels")
  )
    return "dB";
  if (name.endsWith("_ratio")) return "percentunit";
  return "short";
}
