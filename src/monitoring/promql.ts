// The only way rules and dashboards name a metric: through MetricName, so a metric renamed or removed
// in the catalog fails the type check here instead of leaving an empty panel or a silent alert.
import { catalog, type LabelsOf, type MetricName } from "../metrics/catalog.ts";

/** Labels every series gets from Prometheus' scrape, on top of the catalog's. */
export type TargetLabel = "job" | "instance";

export type HistogramName = {
  [N in MetricName]: (typeof catalog)[N]["type"] extends "histogram" ? N : never;
}[MetricName];

export type CounterName = {
  [N in MetricName]: (typeof catalog)[N]["type"] extends "counter" ? N : never;
}[MetricName];

/** A matcher value: "=" by default; start it with "=~", "!=" or "!~" to pick another operator. */
export type Matchers<N extends MetricName> = Partial<Record<LabelsOf<N> | TargetLabel, string>>;

function renderMatchers(matchers: Readonly<Record<string, string | undefined>>): string {
  const parts: string[] = [];
  for (const [label, raw] of Object.entries(matchers)) {
    if (raw === undefined) continue;
    const op = /^(=~|!=|!~)/.exec(raw)?.[1] ?? "=";
    const value = op === "=" ? raw : raw.slice(op.length);
    parts.push(`${label}${op}${JSON.stringify(value)}`);
  }
  return parts.length === 0 ? "" : `{${parts.join(", ")}}`;
}

/** `name{label="value", ...}` for a catalog metric. */
export function metric<N extends MetricName>(name: N, matchers: Matchers<N> = {}): string {
  return `${name}${renderMatchers(matchers)}`;
}

/** The `_bucket` series of a catalog histogram (label `le` is implicit). */
export function bucket<N extends HistogramName>(name: N, matchers: Matchers<N> = {}): string {
  return `${name}_bucket${renderMatchers(matchers)}`;
}

/** The buckets' upper bounds of a catalog histogram. */
export function bucketsOf(name: HistogramName): readonly number[] {
  const def = catalog[name] as { buckets?: readonly number[] };
  if (!def.buckets) throw new Error(`${name} has no buckets in the catalog`);
  return def.buckets;
}

/** `up` is Prometheus' own series, the one name outside the catalog that rules may use. */
export function up(job: string): string {
  return `up${renderMatchers({ job })}`;
}

/** Matchers built from dashboard variables, passed through as regex matchers. */
export function variableMatchers(vars: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [label, variable] of Object.entries(vars)) out[label] = `=~$${variable}`;
  return out;
}

/** Every metric-looking identifier in a PromQL expression (for the catalog check in the tests). */
export function namesIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const names = new Set<string>();
  for (const m of withoutStrings.matchAll(
    /(?<![\w:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*(?:\{|\[|\)|$|\s|,|\*|\/|\+|-|>|<|=|!))/g,
  )) {
    const name = m[1];
    if (name !== undefined && (name.startsWith("tts_") || name.includes(":") || name === "up"))
      names.add(name);
  }
  return [...names];
}
