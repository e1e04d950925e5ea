import type { TraceEntry } from "../../gateway/contract.ts";
import { byArrival, mean, round, rttMs, windowSeconds } from "../stats.ts";
import { type LeverEvidence, type Saving, type Skipped, skipped } from "./types.ts";

export interface CoalescingLever {
  readonly status: "ok";
  readonly evidence: LeverEvidence;
  /** Share of requests that arrived while a synthesis of the same key was in flight (singleflight saving). */
  readonly share: number;
  readonly requests_coalescable: number;
  /** Share the gateway did coalesce (its `coalesced` flag). */
  readonly observed_share: number;
  readonly saving: Saving;
  readonly confidence: number;
  readonly setting: { readonly gateway: string };
}

/**
 * Walks the requests in arrival order: a request that is not a cache hit and arrives before the end of
 * an earlier synthesis of its key (started by a request that was neither a hit nor itself coalescable)
 * would have shared it. Its saving is its own synthesis; its latency becomes the rest of the one in flight.
 */
export function coalescingLever(
  entries: readonly TraceEntry[],
  minRequests: number,
): CoalescingLever | Skipped {
  if (entries.length < minRequests)
    return skipped(`at least ${minRequests} requests in the trace (it has ${entries.length})`);
  const inFlightUntil = new Map<string, number>();
  let coalescable = 0;
  const own: number[] = [];
  const shared: number[] = [];
  const engineS: number[] = [];
  for (const e of byArrival(entries)) {
    if (e.cache_hit || e.result === "rejected") continue;
    const until = inFlightUntil.get(e.key);
    if (until !== undefined && until > e.start_ms) {
      coalescable++;
      shared.push(until - e.start_ms);
      own.push(e.end_ms - e.start_ms);
      continue;
    }
    if (!e.coalesced) engineS.push(rttMs(e) / 1000);
    inFlightUntil.set(e.key, e.end_ms);
  }
  const observed = entries.filter((e) => e.coalesced).length;
  const meanEngine = mean(engineS) ?? 0;
  // A request the gateway already coalesced saves nothing more: the saving still to take is the rest.
  const toTake = Math.max(0, coalescable - observed);
  return {
    status: "ok",
    evidence: { window_seconds: round(windowSeconds(entries), 3), requests: entries.length },
    share: round(coalescable / entries.length, 6),
    requests_coalescable: coalescable,
    observed_share: round(observed / entries.length, 6),
    saving: {
      requests_avoided: toTake,
      engine_seconds_avoided: round(toTake * meanEngine, 3),
      latency_change_ms: round(((mean(shared) ?? 0) - (mean(own) ?? 0)) * (coalescable / entries.length), 3),
    },
    // Counting is exact over the trace; the figure holds for the future as far as the window is typical.
    confidence: round(Math.min(1, entries.length / 1000), 3),
    setting: {
      gateway:
        toTake > 0
          ? "route these requests through tts-monitor gateway: it coalesces identical requests in flight (always on)"
          : "nothing to change",
    },
  };
}
