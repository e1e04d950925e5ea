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

export interface SynthesisRequest {
  readonly text: string;
  /** Overrides the engine's configured voice. */
  readonly voice?: string;
  /** Aborted on timeout (reason: a DOMException named "TimeoutError") or shutdown. */
  readonly signal: AbortSignal;
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
