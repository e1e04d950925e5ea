import type { AudioFormat } from "../audio/format.ts";

/** Bounded failure reasons (SPEC §3): the only values of the `reason` label. */
export const FAILURE_REASONS = [
  "timeout",
  "connection",
  "http_status",
  "auth",
  "protocol",
  "empty_audio",
  "bad_audio",
  "other",
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** What failed, where, and why; the original error stays in `cause`. */
export class EngineError extends Error {
  override readonly name = "EngineError";
  constructor(
    message: string,
    readonly reason: FailureReason,
    options?: ErrorOptions & { readonly status?: number },
  ) {
    super(message, options);
    this.status = options?.status;
  }
  readonly status: number | undefined;
}

/** A piece of an engine's audio as it arrives (for streaming it on, and for inter-chunk timing). */
export interface AudioChunk {
  /**
   * Bytes as the engine sent them, in `format`: for "wav" the chunks in order form one WAV file
   * (the first ones carry its header); for "pcm" they are raw samples.
   */
  readonly bytes: Uint8Array;
  /** performance.now() when the chunk arrived (the clock of SynthesisTimings). */
  readonly at: number;
  readonly format: AudioFormat;
}

export interface SynthesisRequest {
  readonly text: string;
  /** Overrides the engine's configured voice. */
  readonly voice?: string;
  /** Aborted on timeout (reason: a DOMException named "TimeoutError") or shutdown. */
  readonly signal: AbortSignal;
  /**
   * Called for every piece of a successful answer's audio as it arrives, before the synthesis
   * settles. An engine that only has the audio at the end calls it once. The result may still
   * fail afterwards (a truncated or corrupt body): a caller that streams must then give up.
   * Must not throw; it runs on the engine's read path, so it must be quick.
   */
  readonly onChunk?: (chunk: AudioChunk) => void;
}

/** Milliseconds from performance.now(), all on the same clock. */
export interface SynthesisTimings {
  /** The request was handed to the transport (before connect). */
  readonly start: number;
  /** The whole request was written. */
  readonly requestSent: number;
  /** First byte of the response (any byte: headers, container, event). */
  readonly firstByte?: number;
  /** First audio sample: first byte past any container header, or the first audio-chunk event. */
  readonly firstAudio?: number;
  /** Last audio byte received. */
  readonly end: number;
  /**
   * Arrival time of each audio chunk (a transport read or an audio event), in order; at most
   * MAX_CHUNK_TIMES are kept. Gaps between them are the stalls a streaming listener hears.
   */
  readonly chunks?: readonly number[];
}

/** Enough for a minute of 20 ms chunks; a longer stream keeps its first ones. */
export const MAX_CHUNK_TIMES = 4096;

/** Collects chunk arrival times for SynthesisTimings.chunks, bounded. */
export class ChunkClock {
  readonly times: number[] = [];
  mark(at: number): void {
    if (this.times.length < MAX_CHUNK_TIMES) this.times.push(at);
  }
}

/** Gaps between consecutive chunk arrivals, in seconds (empty for fewer than two chunks). */
export function chunkGapsSeconds(timings: SynthesisTimings): number[] {
  const times = timings.chunks ?? [];
  const gaps: number[] = [];
  for (let i = 1; i < times.length; i++) gaps.push(((times[i] as number) - (times[i - 1] as number)) / 1000);
  return gaps;
}

export interface SynthesisResult {
  readonly audio: Uint8Array;
  readonly format: AudioFormat;
  readonly timings: SynthesisTimings;
  /** The voice actually used (label value). */
  readonly voice: string;
}

/** One TTS protocol. Adding one is one file, one entry in the table in index.ts, one test file. */
export interface Engine {
  readonly name: string;
  readonly type: string;
  readonly voice: string;
  synthesize(request: SynthesisRequest): Promise<SynthesisResult>;
  close?(): Promise<void>;
}
