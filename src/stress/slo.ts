/**
 * The service-level objective a stress step must meet, e.g. `p99_latency<1.5s,error_rate<1%`.
 * Latency and time to first audio are measured from each request's intended send time.
 */

export const PERCENTILES = ["p50", "p90", "p99", "p999"] as const;
export type Percentile = (typeof PERCENTILES)[number];

export type SloMetric =
  | { readonly kind: "latency"; readonly percentile: Percentile }
  | { readonly kind: "ttfa"; readonly percentile: Percentile }
  | { readonly kind: "error_rate" };

export interface SloThreshold {
  readonly metric: SloMetric;
  readonly op: "<" | "<=";
  /** Seconds for latency and ttfa, a ratio 0–1 for error_rate. */
  readonly value: number;
  /** The clause as written, trimmed: how reports name it. */
  readonly text: string;
}

export interface Slo {
  readonly thresholds: readonly SloThreshold[];
  readonly text: string;
}

export class SloError extends Error {
  override readonly name = "SloError";
}

const METRIC = /^(p50|p90|p99|p999)_(latency|ttfa)$/;
const CLAUSE = /^([a-z0-9_]+)\s*(<=|<)\s*([0-9]*\.?[0-9]+)\s*(ms|s|%)?$/;

/** Parses a comma-separated list of `metric<value` clauses; throws SloError naming the bad clause. */
export function parseSlo(text: string): Slo {
  const clauses = text
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  if (clauses.length === 0) throw new SloError('--slo is empty: give e.g. "p99_latency<1.5s,error_rate<1%"');
  const thresholds: SloThreshold[] = [];
  for (const clause of clauses) {
    const m = CLAUSE.exec(clause);
    if (!m) {
      throw new SloError(
        `--slo clause ${JSON.stringify(clause)} is not "<metric><op><value>" (e.g. p99_latency<1.5s, error_rate<1%)`,
      );
    }
    const [, name = "", op = "<", number = "", unit] = m;
    const n = Number(number);
    if (name === "error_rate") {
      if (unit === "ms" || unit === "s")
        throw new SloError(
          `--slo clause ${JSON.stringify(clause)}: error_rate is a ratio (1% or 0.01), not a duration`,
        );
      const value = unit === "%" ? n / 100 : n;
      if (!(value >= 0 && value <= 1))
        throw new SloError(`--slo clause ${JSON.stringify(clause)}: error_rate must be between 0 and 100%`);
      thresholds.push({ metric: { kind: "error_rate" }, op: op as "<" | "<=", value, text: clause });
      continue;
    }
    const metric = METRIC.exec(name);
    if (!metric) {
      throw new SloError(
        `--slo clause ${JSON.stringify(clause)}: unknown metric ${JSON.stringify(name)} (known: p50|p90|p99|p999 _latency or _ttfa, error_rate)`,
      );
    }
    if (unit !== "ms" && unit !== "s")
      throw new SloError(
        `--slo clause ${JSON.stringify(clause)}: ${name} needs a unit, ms or s (e.g. ${name}<1.5s)`,
      );
    const value = unit === "ms" ? n / 1000 : n;
    if (!(value > 0)) throw new SloError(`--slo clause ${JSON.stringify(clause)}: ${name} must be above 0`);
    thresholds.push({
      metric: { kind: metric[2] as "latency" | "ttfa", percentile: metric[1] as Percentile },
      op: op as "<" | "<=",
      value,
      text: clause,
    });
  }
  return { thresholds, text: clauses.join(",") };
}

/** What a step measured, in the units of the thresholds. */
export interface SloObservation {
  readonly latencySeconds: Readonly<Record<Percentile, number | null>>;
  readonly ttfaSeconds: Readonly<Record<Percentile, number | null>>;
  readonly errorRate: number;
}

export interface SloBreach {
  readonly threshold: string;
  /** The value observed; null when nothing was measured (no request succeeded). */
  readonly observed: number | null;
}

/** The thresholds the step breaks (empty: it meets the SLO). A missing measurement breaks its threshold. */
export function sloBreaches(slo: Slo, o: SloObservation): SloBreach[] {
  const out: SloBreach[] = [];
  for (const t of slo.thresholds) {
    const observed =
      t.metric.kind === "error_rate"
        ? o.errorRate
        : t.metric.kind === "latency"
          ? o.latencySeconds[t.metric.percentile]
          : o.ttfaSeconds[t.metric.percentile];
    const ok = observed !== null && (t.op === "<" ? observed < t.value : observed <= t.value);
    if (!ok) out.push({ threshold: t.text, observed });
  }
  return out;
}

/**
 * Per-request goodput test: a request counts when it succeeded and its own latency (and time to
 * first audio) is within every latency (ttfa) threshold of the SLO, whatever its percentile.
 */
export function requestMeetsSlo(slo: Slo, latencySeconds: number, ttfaSeconds: number | undefined): boolean {
  for (const t of slo.thresholds) {
    if (t.metric.kind === "latency" && !(t.op === "<" ? latencySeconds < t.value : latencySeconds <= t.value))
      return false;
    if (
      t.metric.kind === "ttfa" &&
      ttfaSeconds !== undefined &&
      !(t.op === "<" ? ttfaSeconds < t.value : ttfaSeconds <= t.value)
    )
      return false;
  }
  return true;
}
