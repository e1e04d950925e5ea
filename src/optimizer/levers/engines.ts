import type { TraceEntry } from "../../gateway/contract.ts";
import type { EngineEvidence } from "../evidence.ts";
import { engineServed, quantile, round, rttMs, windowSeconds } from "../stats.ts";

export interface EngineRow {
  readonly name: string;
  readonly requests: number;
  readonly latency: { readonly p50_ms: number | null; readonly p95_ms: number | null };
  readonly error_rate: number | null;
  readonly quality: number | null;
  readonly mos: number | null;
  /** Engine-seconds per 1,000 characters synthesised: the cost proxy. */
  readonly cost: number | null;
  readonly arrival_rps: number;
  readonly meets_slo: boolean;
  /** Why it does not meet the SLO, or what is unknown. */
  readonly notes: readonly string[];
  /** Its arrival rate is at 80 % or more of the stress test's knee. */
  readonly near_knee: boolean;
}

export interface EngineChoice {
  readonly engines: EngineRow[];
  /** The recommended engine per voice (null: none of the engines that served it meets the SLO). */
  readonly route: Record<string, string | null>;
  /** The cheapest engine meeting the SLO over all voices: the first choice of `model: "auto"`. */
  readonly auto: string | null;
  readonly slo: {
    readonly latency_p95_ms: number;
    readonly error_rate_max: number;
    readonly quality_min: number;
  };
}

export interface EngineChoiceOptions {
  readonly sloP95Ms: number;
  readonly errorRateMax: number;
  readonly qualityMin: number;
  readonly minRequests: number;
  readonly evidence: Readonly<Record<string, EngineEvidence>>;
  readonly kneeRps: Readonly<Record<string, number>>;
}

/** A failure the engine is answerable for (not a refusal by the gateway, not a client that left). */
const engineFailure = (e: TraceEntry) => e.result !== "success" && e.result !== "client_closed";

export function engineRow(entries: readonly TraceEntry[], name: string, o: EngineChoiceOptions): EngineRow {
  const served = entries.filter((e) => e.engine === name && engineServed(e));
  const ok = served.filter((e) => e.result === "success");
  const lat = ok.map((e) => e.end_ms - e.start_ms);
  const chars = ok.reduce((s, e) => s + e.chars, 0);
  const engineS = ok.reduce((s, e) => s + rttMs(e), 0) / 1000;
  const p50 = quantile(lat, 0.5);
  const p95 = quantile(lat, 0.95);
  const errorRate = served.length ? served.filter(engineFailure).length / served.length : undefined;
  const ev = o.evidence[name];
  const win = windowSeconds(served);
  const rps = win > 0 ? served.length / win : 0;
  const notes: string[] = [];
  if (served.length < o.minRequests)
    notes.push(`only ${served.length} requests (fewer than ${o.minRequests})`);
  if (p95 !== undefined && p95 > o.sloP95Ms) notes.push(`p95 ${round(p95, 1)} ms above ${o.sloP95Ms} ms`);
  if (errorRate !== undefined && errorRate > o.errorRateMax)
    notes.push(`error rate ${round(errorRate, 4)} above ${o.errorRateMax}`);
  if (ev?.quality_score !== undefined && ev.quality_score < o.qualityMin)
    notes.push(`quality ${round(ev.quality_score, 3)} below ${o.qualityMin}`);
  if (ev?.quality_score === undefined) notes.push("no quality score yet (audio analysis)");
  const knee = o.kneeRps[name];
  const nearKnee = knee !== undefined && knee > 0 && rps >= 0.8 * knee;
  if (nearKnee)
    notes.push(`arrival ${round(rps, 2)} req/s is at ${round((100 * rps) / (knee ?? 1), 0)} % of its knee`);
  const meets =
    served.length >= o.minRequests &&
    p95 !== undefined &&
    p95 <= o.sloP95Ms &&
    (errorRate ?? 1) <= o.errorRateMax &&
    (ev?.quality_score === undefined || ev.quality_score >= o.qualityMin);
  return {
    name,
    requests: served.length,
    latency: {
      p50_ms: p50 === undefined ? null : round(p50, 3),
      p95_ms: p95 === undefined ? null : round(p95, 3),
    },
    error_rate: errorRate === undefined ? null : round(errorRate, 6),
    quality: ev?.quality_score ?? null,
    mos: ev?.predicted_mos ?? null,
    cost: chars > 0 ? round((engineS / chars) * 1000, 6) : null,
    arrival_rps: round(rps, 4),
    meets_slo: meets,
    notes,
    near_knee: nearKnee,
  };
}

/** Cheapest first (cost, then p95, then name): the order the route takes among engines meeting the SLO. */
const cheaper = (a: EngineRow, b: EngineRow) =>
  (a.cost ?? Number.POSITIVE_INFINITY) - (b.cost ?? Number.POSITIVE_INFINITY) ||
  (a.latency.p95_ms ?? Number.POSITIVE_INFINITY) - (b.latency.p95_ms ?? Number.POSITIVE_INFINITY) ||
  (a.name < b.name ? -1 : 1);

export function engineChoice(entries: readonly TraceEntry[], o: EngineChoiceOptions): EngineChoice {
  const names = [...new Set(entries.map((e) => e.engine))].sort();
  const rows = names.map((n) => engineRow(entries, n, o));
  const byName = new Map(rows.map((r) => [r.name, r]));
  const voices = [...new Set(entries.map((e) => e.voice))].sort();
  const route: Record<string, string | null> = {};
  for (const v of voices) {
    const served = [
      ...new Set(entries.filter((e) => e.voice === v && e.result === "success").map((e) => e.engine)),
    ];
    const ok = served.flatMap((n) => {
      const r = byName.get(n);
      return r?.meets_slo ? [r] : [];
    });
    route[v] = ok.sort(cheaper)[0]?.name ?? null;
  }
  return {
    engines: rows,
    route,
    auto: rows.filter((r) => r.meets_slo).sort(cheaper)[0]?.name ?? null,
    slo: { latency_p95_ms: o.sloP95Ms, error_rate_max: o.errorRateMax, quality_min: o.qualityMin },
  };
}
