import type { Config } from "../config/schema.ts";
import type { TraceEntry } from "../gateway/contract.ts";
import type { GpuSnapshot } from "../state/snapshot.ts";
import type { EngineEvidence, GatewaySettings, StressReport } from "./evidence.ts";
import { type BatchingLever, batchingLever, type GpuLever, gpuLever } from "./levers/batching.ts";
import { type CacheLever, cacheLever } from "./levers/cache.ts";
import { type CoalescingLever, coalescingLever } from "./levers/coalescing.ts";
import { type ConcurrencyLever, concurrencyLever, stressLimit } from "./levers/concurrency.ts";
import { type EngineChoice, engineChoice } from "./levers/engines.ts";
import type { Skipped } from "./levers/types.ts";
import { round, windowSeconds } from "./stats.ts";
import type { TraceRead } from "./trace.ts";

export const REPORT_VERSION = 1;

/** Everything one report is computed from. */
export interface ReportInputs {
  /** Where the evidence came from, for the report's header ("file trace.jsonl", "monitor http://..."). */
  readonly source: string;
  readonly trace: TraceRead;
  readonly stress: readonly StressReport[];
  /** Stress reports that could not be read, each with what it lacks. */
  readonly stressProblems: readonly string[];
  readonly engines: Readonly<Record<string, EngineEvidence>>;
  readonly gpus: readonly GpuSnapshot[];
  readonly gateway?: GatewaySettings;
}

export interface OptimizationReport {
  readonly version: typeof REPORT_VERSION;
  readonly source: string;
  readonly trace: {
    readonly requests: number;
    readonly window_seconds: number;
    readonly lines: number;
    readonly corrupt_lines: number;
    readonly older_version: number;
    readonly newer_version: number;
    readonly truncated: boolean;
  };
  /** What the report could not use, in words: each lever that was skipped says why in its own section. */
  readonly lacks: readonly string[];
  readonly slo: EngineChoice["slo"];
  readonly cache: CacheLever | Skipped;
  readonly coalescing: CoalescingLever | Skipped;
  readonly concurrency: Readonly<Record<string, ConcurrencyLever | Skipped>>;
  readonly engines: EngineChoice["engines"];
  readonly route: EngineChoice["route"];
  readonly auto_route: string | null;
  readonly batching: BatchingLever | Skipped;
  readonly gpu: GpuLever | Skipped;
}

/** The report: a pure function of its inputs (no clock, no randomness), so equal traces give equal reports. */
export function buildReport(
  inputs: ReportInputs,
  config: Pick<Config, "optimizer" | "thresholds">,
): OptimizationReport {
  const o = config.optimizer;
  const entries: readonly TraceEntry[] = inputs.trace.entries;
  const sloP95Ms = o.slo.latency_p95_ms ?? config.thresholds.latency_max_ms;
  const lacks: string[] = [];
  const t = inputs.trace;
  if (entries.length === 0) lacks.push("a request trace (the gateway's, or --trace FILE): no entries");
  if (t.truncated) lacks.push("the trace's last line was cut (a file still being written?): it was skipped");
  if (t.corrupt > 0) lacks.push(`${t.corrupt} corrupt trace lines were skipped`);
  if (t.olderVersion > 0) lacks.push(`${t.olderVersion} trace entries of an older version were skipped`);
  if (t.newerVersion > 0)
    lacks.push(`${t.newerVersion} trace entries of a newer version than this reader's were skipped`);
  if (inputs.stress.length === 0)
    lacks.push("a stress report (tts-monitor stress ENGINE --json FILE): concurrency uses live data only");
  for (const p of inputs.stressProblems) lacks.push(`a usable stress report: ${p}`);

  const stressByEngine = new Map<string, StressReport>();
  for (const s of inputs.stress) stressByEngine.set(s.engine, s);
  const kneeRps: Record<string, number> = {};
  for (const [e, s] of stressByEngine) {
    const k = stressLimit(s)?.kneeRps;
    if (k !== undefined) kneeRps[e] = k;
  }

  const engineNames = [...new Set([...entries.map((e) => e.engine), ...stressByEngine.keys()])].sort();
  const concurrency: Record<string, ConcurrencyLever | Skipped> = {};
  for (const name of engineNames) {
    const stress = stressByEngine.get(name);
    concurrency[name] = concurrencyLever(entries, name, {
      sloP95Ms,
      minRequests: o.min_requests,
      ...(stress && { stress }),
    });
  }
  const choice = engineChoice(entries, {
    sloP95Ms,
    errorRateMax: o.slo.error_rate_max,
    qualityMin: config.thresholds.quality_score_min,
    minRequests: o.min_requests,
    evidence: inputs.engines,
    kneeRps,
  });
  return {
    version: REPORT_VERSION,
    source: inputs.source,
    trace: {
      requests: entries.length,
      window_seconds: round(windowSeconds(entries), 3),
      lines: t.lines,
      corrupt_lines: t.corrupt,
      older_version: t.olderVersion,
      newer_version: t.newerVersion,
      truncated: t.truncated,
    },
    lacks,
    slo: choice.slo,
    cache: cacheLever(entries, {
      budgetBytes: o.cache_budget_bytes,
      exactMaxRequests: o.exact_max_requests,
      sampleKeys: o.shards_sample_keys,
      minRequests: o.min_requests,
      tolerance: o.cache_hit_tolerance,
      ...(inputs.gateway && { currentCapacityBytes: inputs.gateway.cache_capacity_bytes }),
    }),
    coalescing: coalescingLever(entries, o.min_requests),
    concurrency,
    engines: choice.engines,
    route: choice.route,
    auto_route: choice.auto,
    batching: batchingLever(entries, {
      engines: o.batching.engines,
      maxBatch: o.batching.max_batch_size,
      delaysMs: o.batching.max_queue_delay_ms,
      minRequests: o.min_requests,
    }),
    gpu: gpuLever(inputs.gpus, entries, config.thresholds.gpu_temp_max),
  };
}
