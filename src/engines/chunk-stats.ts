import { chunkGapsSeconds, type SynthesisTimings } from "./types.ts";

/** What a streaming listener hears between audio chunks: every gap, and the longest one (the stall). */
export interface ChunkStats {
  /** Gaps between consecutive chunk arrivals, in ms (empty for fewer than two chunks). */
  readonly gapsMs: number[];
  /** The longest gap, in ms; undefined for fewer than two chunks (nothing streamed, nothing stalled). */
  readonly longestStallMs?: number;
}

/**
 * Inter-chunk timing of one synthesis, from `timings.chunks`. Pure: the probes and the gateway call
 * it and hand `gapsMs` to the recorder's recordChunkGaps().
 */
export function chunkStats(timings: SynthesisTimings): ChunkStats {
  const gapsMs = chunkGapsSeconds(timings).map((s) => s * 1000);
  if (gapsMs.length === 0) return { gapsMs };
  return { gapsMs, longestStallMs: Math.max(...gapsMs) };
}
