import type { TraceEntry } from "../../gateway/contract.ts";
import {
  exactCurves,
  kneeCapacity,
  linearGrid,
  type MissRatioCurves,
  meanAbsoluteError,
  type Reference,
  shardsFixedSize,
  toleranceCapacity,
} from "../mrc.ts";
import { byArrival, engineServed, mean, round, rttMs, windowSeconds } from "../stats.ts";
import { type LeverEvidence, type Saving, type Skipped, skipped } from "./types.ts";

export interface MrcPoint {
  readonly capacity_entries: number;
  readonly capacity_bytes: number;
  readonly hit_ratio: number;
}

export interface CacheLever {
  readonly status: "ok";
  readonly method: "exact" | "shards_fixed_size";
  /** For SHARDS: the mean absolute difference between two independent samples (different hash salts). */
  readonly error_estimate?: number;
  readonly sample_keys?: number;
  readonly evidence: LeverEvidence;
  readonly unique_keys: number;
  readonly unique_bytes: number;
  readonly mean_object_bytes: number;
  /** 1 − unique/total: the hit ratio of a cache that never evicts. */
  readonly infinite_hit_ratio: number;
  /** Byte-capacity grid; capacity_entries is capacity_bytes over the mean object size. */
  readonly mrc: readonly MrcPoint[];
  /** The exact curve in entries (an entry-bounded LRU). */
  readonly mrc_entries: readonly { readonly capacity_entries: number; readonly hit_ratio: number }[];
  readonly budget_bytes: number;
  readonly recommended_bytes: number;
  /** Kneedle's knee within the budget: where returns start diminishing (null: no clear knee). */
  readonly knee_bytes: number | null;
  /** The hit ratio the recommended size may give up against the whole budget. */
  readonly tolerance: number;
  readonly hit_ratio_at_recommended: number;
  readonly current_capacity_bytes: number | null;
  readonly hit_ratio_at_current: number | null;
  readonly saving: Saving;
  readonly confidence: number;
  readonly setting: { readonly gateway: { readonly cache: { readonly max_bytes: number } } };
}

export interface CacheOptions {
  readonly budgetBytes: number;
  readonly exactMaxRequests: number;
  readonly sampleKeys: number;
  readonly minRequests: number;
  readonly tolerance: number;
  /** The gateway's cache capacity now (the saving is counted from it; from no cache when unknown). */
  readonly currentCapacityBytes?: number;
}

/** Cacheable references: successful requests, in arrival order, each key sized by its first success. */
export function cacheReferences(entries: readonly TraceEntry[]): Reference[] {
  const size = new Map<string, number>();
  const refs: Reference[] = [];
  for (const e of byArrival(entries)) {
    if (e.result !== "success") continue;
    let b = size.get(e.key);
    if (b === undefined) {
      b = e.bytes;
      size.set(e.key, b);
    }
    refs.push({ key: e.key, bytes: b });
  }
  return refs;
}

/** The curves of a trace: exact up to `exactMaxRequests`, SHARDS fixed-size above, with its error. */
export function traceCurves(
  refs: readonly Reference[],
  opts: Pick<CacheOptions, "exactMaxRequests" | "sampleKeys">,
): { curves: MissRatioCurves; method: CacheLever["method"]; error?: number } {
  if (refs.length <= opts.exactMaxRequests) return { curves: exactCurves(refs), method: "exact" };
  const a = shardsFixedSize(refs, opts.sampleKeys, 0);
  const b = shardsFixedSize(refs, opts.sampleKeys, 0x9e3779b9);
  const grid = linearGrid(Math.max(a.bytes.maxDistance(), b.bytes.maxDistance()), 100);
  return { curves: a, method: "shards_fixed_size", error: meanAbsoluteError(a.bytes, b.bytes, grid) };
}

/** The recommended size: from the knee on, the smallest within `tolerance` of what the budget gives. */
export function recommendedCapacity(curves: MissRatioCurves, domain: number, tolerance: number): number {
  const knee = kneeCapacity(curves.bytes, domain);
  return Math.max(knee.clear ? knee.capacity : 0, toleranceCapacity(curves.bytes, domain, tolerance));
}

export interface CacheTargetInput {
  readonly refs: readonly Reference[];
  readonly exactMaxRequests: number;
  readonly sampleKeys: number;
  readonly budgetBytes: number;
  readonly floorBytes: number;
  readonly tolerance: number;
}

export interface CacheTarget {
  /** The recommended size clamped to [floor, budget]. */
  readonly target: number;
  readonly hitRatio: number;
  readonly requests: number;
}

/** The auto-optimiser's cache target (run in a worker thread: O(N log N) over the window). */
export function cacheTarget(i: CacheTargetInput): CacheTarget {
  const { curves } = traceCurves(i.refs, i);
  const size = recommendedCapacity(curves, Math.min(i.budgetBytes, curves.bytes.maxDistance()), i.tolerance);
  const target = Math.min(i.budgetBytes, Math.max(i.floorBytes, Math.ceil(size)));
  return { target, hitRatio: curves.bytes.hitRatio(target), requests: i.refs.length };
}

export function cacheLever(entries: readonly TraceEntry[], opts: CacheOptions): CacheLever | Skipped {
  const refs = cacheReferences(entries);
  if (refs.length < opts.minRequests)
    return skipped(`at least ${opts.minRequests} successful requests in the trace (it has ${refs.length})`);
  const { curves, method, error } = traceCurves(refs, opts);
  const sizes = new Map<string, number>();
  for (const r of refs) sizes.set(r.key, r.bytes);
  const uniqueBytes = [...sizes.values()].reduce((a, b) => a + b, 0);
  const meanObject = uniqueBytes / sizes.size;
  const ceilingBytes = curves.bytes.maxDistance();
  const domain = Math.min(opts.budgetBytes, ceilingBytes);
  const knee = kneeCapacity(curves.bytes, domain);
  const recommended = Math.ceil(recommendedCapacity(curves, domain, opts.tolerance));
  const hitAt = (b: number) => round(curves.bytes.hitRatio(b), 6);

  const top = Math.max(ceilingBytes, Math.min(opts.budgetBytes, ceilingBytes * 1.1));
  const grid = [...new Set([...linearGrid(top, 100), recommended, Math.min(opts.budgetBytes, top)])]
    .map((b) => Math.round(b))
    .sort((a, b) => a - b);
  const mrc = [...new Set(grid)].map((b) => ({
    capacity_entries: meanObject > 0 ? Math.round(b / meanObject) : 0,
    capacity_bytes: b,
    hit_ratio: hitAt(b),
  }));
  const mrcEntries = linearGrid(curves.entries.maxDistance(), 100, true).map((c) => ({
    capacity_entries: c,
    hit_ratio: round(curves.entries.hitRatio(c), 6),
  }));

  // Saving against the cache there is now (none when unknown): syntheses avoided at the same workload.
  const current = opts.currentCapacityBytes;
  const hitRec = curves.bytes.hitRatio(recommended);
  const hitNow = current === undefined ? 0 : curves.bytes.hitRatio(current);
  const avoided = (hitRec - hitNow) * refs.length;
  const synthesis = entries.filter((e) => engineServed(e) && e.result === "success");
  const meanEngineS = (mean(synthesis.map(rttMs)) ?? 0) / 1000;
  const meanMissMs = mean(synthesis.map((e) => e.end_ms - e.start_ms)) ?? 0;
  const hits = entries.filter((e) => e.cache_hit && e.result === "success");
  const meanHitMs = mean(hits.map((e) => e.end_ms - e.start_ms)) ?? 0;

  return {
    status: "ok",
    method,
    ...(error !== undefined && { error_estimate: round(error, 4), sample_keys: opts.sampleKeys }),
    evidence: { window_seconds: round(windowSeconds(entries), 3), requests: refs.length },
    unique_keys: sizes.size,
    unique_bytes: uniqueBytes,
    mean_object_bytes: Math.round(meanObject),
    infinite_hit_ratio: round(1 - sizes.size / refs.length, 6),
    mrc,
    mrc_entries: mrcEntries,
    budget_bytes: opts.budgetBytes,
    recommended_bytes: recommended,
    knee_bytes: knee.clear ? Math.ceil(knee.capacity) : null,
    tolerance: opts.tolerance,
    hit_ratio_at_recommended: hitAt(recommended),
    current_capacity_bytes: current ?? null,
    hit_ratio_at_current: current === undefined ? null : hitAt(current),
    saving: {
      requests_avoided: Math.round(avoided),
      engine_seconds_avoided: round(avoided * meanEngineS, 3),
      latency_change_ms: round(-(hitRec - hitNow) * Math.max(0, meanMissMs - meanHitMs), 3),
    },
    confidence: round(splitHalfConfidence(refs, recommended, method === "exact" ? undefined : error), 3),
    setting: { gateway: { cache: { max_bytes: recommended } } },
  };
}

/**
 * How far the trace's two halves agree on the hit ratio at the recommended size (1: the same), times
 * a factor for the sample's size (full from 1,000 requests), times 1 − 10 × the SHARDS error when sampled.
 */
function splitHalfConfidence(refs: readonly Reference[], capacity: number, shardsError?: number): number {
  const half = Math.floor(refs.length / 2);
  const sample = Math.min(1, refs.length / 1000);
  const sampling = shardsError === undefined ? 1 : Math.max(0, 1 - 10 * shardsError);
  if (half < 2 || shardsError !== undefined) return sample * sampling;
  const a = exactCurves(refs.slice(0, half)).bytes.hitRatio(capacity);
  const b = exactCurves(refs.slice(half)).bytes.hitRatio(capacity);
  const agreement = Math.max(0, 1 - Math.abs(a - b) / Math.max(0.01, (a + b) / 2));
  return agreement * sample;
}
