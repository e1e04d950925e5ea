import type { TraceEntry } from "../../gateway/contract.ts";
import type { StressReport } from "../evidence.ts";
import { byArrival, engineServed, mean, quantile, round, rttMs, windowSeconds } from "../stats.ts";
import { type LeverEvidence, type Skipped, skipped } from "./types.ts";

export interface ConcurrencyPoint {
  readonly concurrency: number;
  readonly requests: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
}

export interface ConcurrencyLever {
  readonly status: "ok";
  readonly evidence: LeverEvidence;
  readonly suggested_limit: number;
  /** Which figure the suggestion is: the smaller of the live and the stress-test limits when both exist. */
  readonly basis: "live" | "stress" | "live_and_stress";
  readonly expected_latency_ms: { readonly p50: number; readonly p90: number } | null;
  readonly arrival_rps: number;
  /** Little's law L = λ·W: the mean number in service at the observed rate. */
  readonly little_mean_concurrency: number;
  readonly min_rtt_ms: number;
  readonly p90_rtt_ms: number;
  /** min RTT / p90 RTT: 1 = no queueing; the gradient concurrency limiters steer by. */
  readonly gradient: number;
  readonly live_limit: number | null;
  /** Whether the live curve ever broke the rule (false: the engine was never pushed; the limit is a floor). */
  readonly saturation_seen: boolean;
  readonly stress_limit: number | null;
  readonly stress_knee_rps: number | null;
  readonly curve: readonly ConcurrencyPoint[];
  readonly confidence: number;
  readonly setting: {
    /** gateway.limits bounds every engine; --auto-optimize sets each engine's through GatewayControls. */
    readonly gateway: { readonly limits: { readonly max: number } };
    readonly envoy: string;
  };
}

const MIN_PER_LEVEL = 5;

/** Per engine-served request, the number of that engine's syntheses in progress when it arrived (itself included). */
export function concurrencyAtArrival(served: readonly TraceEntry[]): number[] {
  const ends: number[] = [];
  const out: number[] = [];
  for (const e of served) {
    // `served` is in arrival order; ends stays sorted by insertion with a binary search.
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ends[mid] ?? 0) <= e.start_ms) lo = mid + 1;
      else hi = mid;
    }
    ends.splice(0, lo);
    let at = 0;
    let top = ends.length;
    const end = e.end_ms;
    while (at < top) {
      const mid = (at + top) >>> 1;
      if ((ends[mid] ?? 0) <= end) at = mid + 1;
      else top = mid;
    }
    ends.splice(at, 0, end);
    out.push(ends.length);
  }
  return out;
}

/** The stress report's knee as a concurrency: the knee step's in-flight maximum, else Little's law at it. */
export function stressLimit(
  report: StressReport,
): { limit: number; kneeRps: number; p50: number; p90: number } | undefined {
  const knee = report.max_sustainable_rps ?? report.knee?.slo_rule_rps ?? null;
  if (knee === null || knee <= 0) return undefined;
  const at = report.steps
    .filter((s) => s.valid && s.achieved_rps <= knee * 1.0001)
    .sort((a, b) => b.achieved_rps - a.achieved_rps)[0];
  if (!at) return undefined;
  const little = Math.ceil(knee * at.latency_seconds.p50);
  return {
    limit: Math.max(1, Math.round(at.max_in_flight ?? little)),
    kneeRps: knee,
    p50: at.latency_seconds.p50 * 1000,
    p90: at.latency_seconds.p90 * 1000,
  };
}

/**
 * The live rule: the largest concurrency level (with at least 5 requests) whose p90 stays within the
 * SLO and whose p50 stays within twice the no-load p50 (beyond, requests queue more than they are served).
 */
export function concurrencyLever(
  entries: readonly TraceEntry[],
  engine: string,
  opts: { readonly sloP95Ms: number; readonly minRequests: number; readonly stress?: StressReport },
): ConcurrencyLever | Skipped {
  const served = byArrival(entries).filter((e) => e.engine === engine && engineServed(e));
  const stress = opts.stress ? stressLimit(opts.stress) : undefined;
  if (served.length < opts.minRequests && !stress)
    return skipped(
      `at least ${opts.minRequests} requests of ${engine} that reached the engine (the trace has ${served.length})`,
      `a stress report of ${engine} (tts-monitor stress ${engine} --json FILE, then --stress-report FILE)`,
    );
  const conc = concurrencyAtArrival(served);
  const byLevel = new Map<number, number[]>();
  served.forEach((e, i) => {
    if (e.result !== "success") return;
    const c = conc[i] ?? 1;
    const list = byLevel.get(c) ?? [];
    list.push(e.end_ms - e.start_ms);
    byLevel.set(c, list);
  });
  const curve: ConcurrencyPoint[] = [...byLevel]
    .sort((a, b) => a[0] - b[0])
    .map(([c, l]) => ({
      concurrency: c,
      requests: l.length,
      p50_ms: round(quantile(l, 0.5) ?? 0, 3),
      p90_ms: round(quantile(l, 0.9) ?? 0, 3),
    }));
  const rtts = served.filter((e) => e.result === "success").map(rttMs);
  const win = windowSeconds(served);
  const lambda = win > 0 ? served.length / win : 0;
  const minRtt = rtts.length ? Math.min(...rtts) : 0;
  const p90Rtt = quantile(rtts, 0.9) ?? 0;

  let live: number | null = null;
  let saturated = false;
  const enough = curve.filter((p) => p.requests >= MIN_PER_LEVEL);
  const base = enough[0]?.p50_ms;
  if (served.length >= opts.minRequests && base !== undefined) {
    for (const p of enough) {
      if (p.p90_ms <= opts.sloP95Ms && p.p50_ms <= 2 * base) live = p.concurrency;
      else {
        saturated = true;
        break;
      }
    }
  }
  const candidates = [live, stress?.limit].filter((v): v is number => v !== null && v !== undefined);
  if (candidates.length === 0)
    return skipped(
      `a concurrency level of ${engine} with at least ${MIN_PER_LEVEL} requests within the SLO (${opts.sloP95Ms} ms)`,
    );
  const suggested = Math.min(...candidates);
  const at = curve.find((p) => p.concurrency === suggested && p.requests >= MIN_PER_LEVEL);
  const expected = at
    ? { p50: at.p50_ms, p90: at.p90_ms }
    : stress && suggested === stress.limit
      ? { p50: round(stress.p50, 3), p90: round(stress.p90, 3) }
      : null;
  const basis = live !== null && stress ? "live_and_stress" : live !== null ? "live" : "stress";
  return {
    status: "ok",
    evidence: { window_seconds: round(win, 3), requests: served.length },
    suggested_limit: suggested,
    basis,
    expected_latency_ms: expected,
    arrival_rps: round(lambda, 4),
    little_mean_concurrency: round(lambda * ((mean(rtts) ?? 0) / 1000), 4),
    min_rtt_ms: round(minRtt, 3),
    p90_rtt_ms: round(p90Rtt, 3),
    gradient: p90Rtt > 0 ? round(minRtt / p90Rtt, 4) : 1,
    live_limit: live,
    saturation_seen: saturated,
    stress_limit: stress?.limit ?? null,
    stress_knee_rps: stress?.kneeRps ?? null,
    curve,
    // Two independent sources agreeing within 25 % earn full confidence; one source alone at most 0.6.
    confidence: round(
      live !== null && stress
        ? Math.abs(live - stress.limit) / Math.max(live, stress.limit) <= 0.25
          ? 1
          : 0.7
        : live !== null
          ? (saturated ? 0.6 : 0.4) * Math.min(1, served.length / 1000)
          : 0.6,
      3,
    ),
    setting: {
      gateway: { limits: { max: suggested } },
      envoy: `adaptive_concurrency: gradient_controller_config: concurrency_limit_params: max_concurrency_limit: ${suggested}`,
    },
  };
}
