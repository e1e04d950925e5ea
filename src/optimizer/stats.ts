import type { TraceEntry } from "../gateway/contract.ts";

/** Nearest-rank quantile of unsorted values (q in 0-1); undefined when there are none. */
export function quantile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

export function mean(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Rounds to `digits` decimals (reports print figures, not float noise). */
export function round(v: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Seconds from the first arrival to the last end of a set of entries (0 when empty). */
export function windowSeconds(entries: readonly TraceEntry[]): number {
  if (entries.length === 0) return 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const e of entries) {
    if (e.start_ms < first) first = e.start_ms;
    if (e.end_ms > last) last = e.end_ms;
  }
  return Math.max(0, (last - first) / 1000);
}

/** Entries that reached an engine: not served from the cache, not sharing another's synthesis, not refused. */
export function engineServed(e: TraceEntry): boolean {
  return !e.cache_hit && !e.coalesced && e.result !== "rejected";
}

/** The engine's time for a request: its own measure when the trace has it, else the request's. */
export function rttMs(e: TraceEntry): number {
  return e.engine_ms ?? e.end_ms - e.start_ms;
}

/** Requests in arrival order (ties by end, then key): every figure is deterministic for a trace. */
export function byArrival(entries: readonly TraceEntry[]): TraceEntry[] {
  return [...entries].sort(
    (a, b) => a.start_ms - b.start_ms || a.end_ms - b.end_ms || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}
