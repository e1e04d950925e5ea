import type { LimitSettings, TraceEntry } from "../gateway/contract.ts";
import type { GpuSnapshot } from "../state/snapshot.ts";

// What the optimiser reads: the gateway's trace, what the monitor knows of each engine (quality, MOS),
// the GPUs, the latest stress reports and the gateway's current settings. The exporter serves it at
// GET /api/v1/optimizer/evidence (evidence-route.ts); files give the same for offline analysis.

export const EVIDENCE_VERSION = 1;

export interface EngineEvidence {
  /** Latest composite quality score (0-1) of the engine's analysed audio. */
  readonly quality_score?: number;
  /** Latest predicted DNSMOS P.835 OVRL (1-5). */
  readonly predicted_mos?: number;
}

/** One step of a stress report, the fields the optimiser reads (issue 12 item 4, docs/stress.md). */
export interface StressStep {
  readonly offered_rps: number;
  readonly achieved_rps: number;
  readonly valid: boolean;
  readonly latency_seconds: { readonly p50: number; readonly p90: number; readonly p99: number };
  readonly max_in_flight?: number;
  readonly mean_in_flight?: number;
}

export interface StressReport {
  readonly engine: string;
  readonly steps: readonly StressStep[];
  readonly max_sustainable_rps: number | null;
  readonly knee?: {
    readonly slo_rule_rps?: number | null;
    readonly kneedle_rps?: number | null;
    readonly usl?: { readonly max_rps?: number | null } | null;
  };
}

export interface GatewaySettings {
  readonly cache_capacity_bytes: number;
  readonly limits: Readonly<Record<string, LimitSettings>>;
  readonly route_weights: Readonly<Record<string, number>>;
}

export interface Evidence {
  readonly version: typeof EVIDENCE_VERSION;
  /** Entries as served (validated by the reader: an entry of another version is counted and skipped). */
  readonly trace: readonly (TraceEntry | unknown)[];
  /** Where the trace came from: "gateway", "file", or "none" when no gateway is attached. */
  readonly trace_source: string;
  readonly engines: Readonly<Record<string, EngineEvidence>>;
  readonly gpus: readonly GpuSnapshot[];
  readonly stress_reports: readonly unknown[];
  /** The gateway's settings now, when a gateway is attached. */
  readonly gateway?: GatewaySettings;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** A stress report's fields the optimiser uses, or a sentence saying what it lacks. */
export function parseStressReport(v: unknown): StressReport | string {
  if (typeof v !== "object" || v === null) return "not a JSON object";
  const o = v as Record<string, unknown>;
  if (typeof o.engine !== "string") return "no `engine`";
  if (!Array.isArray(o.steps)) return "no `steps` list";
  if (num(o.schema_version) !== undefined && (num(o.schema_version) ?? 0) > 1)
    return `schema_version ${String(o.schema_version)}, newer than this reader's 1`;
  const steps: StressStep[] = [];
  for (const s of o.steps as unknown[]) {
    const st = s as Record<string, unknown> | null;
    const lat = st?.latency_seconds as Record<string, unknown> | undefined;
    const achieved = num(st?.achieved_rps);
    const p50 = num(lat?.p50);
    const p90 = num(lat?.p90);
    const p99 = num(lat?.p99);
    // A step that recorded nothing has null percentiles (docs/stress.md): it says nothing of the knee.
    if (achieved === undefined || p50 === undefined || p90 === undefined || p99 === undefined) continue;
    const maxIn = num(st?.max_in_flight);
    const meanIn = num(st?.mean_in_flight);
    steps.push({
      // Closed-model steps have no offered rate.
      offered_rps: num(st?.offered_rps) ?? achieved,
      achieved_rps: achieved,
      valid: st?.valid !== false,
      latency_seconds: { p50, p90, p99 },
      ...(maxIn !== undefined && { max_in_flight: maxIn }),
      ...(meanIn !== undefined && { mean_in_flight: meanIn }),
    });
  }
  if (steps.length === 0 && (o.steps as unknown[]).length > 0)
    return "no step with achieved_rps and latency_seconds p50/p90/p99";
  const knee = o.knee as Record<string, unknown> | undefined;
  const usl = knee?.usl as Record<string, unknown> | undefined;
  return {
    engine: o.engine,
    steps,
    max_sustainable_rps: num(o.max_sustainable_rps) ?? null,
    ...(knee && {
      knee: {
        slo_rule_rps: num(knee.slo_rule_rps) ?? null,
        kneedle_rps: num(knee.kneedle_rps) ?? null,
        usl: usl ? { max_rps: num(usl.max_rps) ?? null } : null,
      },
    }),
  };
}
