/**
 * What the gateway (src/gateway/) and the optimiser (src/optimizer/) agree on: the request trace the
 * gateway keeps and the optimiser reads, and the small interface through which the settings the
 * optimiser decides are applied at run time. Types only; both sides depend on this file, not on
 * each other.
 */

/** Version of TraceEntry's shape; a reader skips (and counts) entries of a version it does not know. */
export const TRACE_VERSION = 1;

/** One request through the gateway. The text is never kept: `key` is a hash of it with the settings. */
export interface TraceEntry {
  readonly v: typeof TRACE_VERSION;
  /** Hex SHA-256 of (engine, model, voice, speed, format, normalised text): the cache key. */
  readonly key: string;
  /** The engine that served it (after routing), or the one asked for when none could. */
  readonly engine: string;
  readonly voice: string;
  /** Characters of the normalised input. */
  readonly chars: number;
  /** Audio bytes sent to the client (0 when it failed). */
  readonly bytes: number;
  /** Wall-clock milliseconds since the epoch when the request arrived. */
  readonly start_ms: number;
  /** When its first audio byte went to the client (absent when none did). */
  readonly first_byte_ms?: number;
  /** When the response ended. */
  readonly end_ms: number;
  /** Served from the audio cache (no engine call). */
  readonly cache_hit: boolean;
  /** Shared an identical synthesis already in flight. */
  readonly coalesced: boolean;
  /** "success", or the bounded failure reason (FAILURE_REASONS, "rejected", "client_closed"). */
  readonly result: string;
  /** HTTP status sent to the client. */
  readonly status: number;
  /** Milliseconds the engine took for this request's synthesis (absent on a hit or coalesced). */
  readonly engine_ms?: number;
}

/** Settings of one engine's adaptive concurrency limit. */
export interface LimitSettings {
  readonly limit: number;
  readonly min: number;
  readonly max: number;
}

/** The gateway's run-time knobs: what `--auto-optimize` turns, within bounds. */
export interface GatewayControls {
  /** The newest trace entries, oldest first (at most `max`, all when absent). */
  trace(max?: number): readonly TraceEntry[];
  cacheCapacityBytes(): number;
  /** Resizes the audio cache; shrinking evicts at once. */
  setCacheCapacityBytes(bytes: number): void;
  limits(): Readonly<Record<string, LimitSettings>>;
  /** Sets the limit's bounds (the adaptive limit keeps moving between them) or pins it with min = max. */
  setLimitBounds(engine: string, bounds: { readonly min: number; readonly max: number }): void;
  /** Relative weights of the engines `model: "auto"` may pick (absent engine = 1). */
  routeWeights(): Readonly<Record<string, number>>;
  setRouteWeight(engine: string, weight: number): void;
}
