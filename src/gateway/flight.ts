import type { AudioFormat } from "../audio/format.ts";
import type { FailureReason } from "../engines/types.ts";
import type { ApiError } from "./openai-api.ts";

/** How a shared synthesis ended. */
export type FlightOutcome =
  | { readonly ok: true; readonly audioDurationMs: number | undefined; readonly engineMs: number }
  | {
      readonly ok: false;
      readonly error: ApiError;
      readonly cancelled: boolean;
      /** Nothing was sent and the engine failed: another engine may serve the request. */
      readonly retriable: boolean;
      readonly reason?: FailureReason;
    };

export interface FlightSubscriber {
  chunk(bytes: Uint8Array): void;
  end(outcome: FlightOutcome): void;
}

/**
 * One synthesis that every identical request in flight shares (singleflight). It keeps the bytes
 * sent so far, so a request that joins late gets them replayed and then the rest as they come.
 * When the last subscriber leaves before the end, the synthesis is cancelled.
 */
export class Flight {
  readonly chunks: Uint8Array[] = [];
  bytes = 0;
  outcome: FlightOutcome | undefined;
  readonly controller = new AbortController();
  readonly #subs = new Set<FlightSubscriber>();
  /** Subscribers ever attached (the first one is the request that started it). */
  joined = 0;
  /** The engine's audio, when this synthesis was drawn for the audio analysis. */
  sampled: { readonly audio: Uint8Array; readonly format: AudioFormat } | undefined;
  /**
   * Gaps (ms) between the upstream answer's audio chunks as they reached the gateway, set when the
   * synthesis ends; taken once (takeChunkGaps), so that an upstream answer is recorded once.
   */
  chunkGapsMs: readonly number[] = [];

  constructor(
    readonly key: string,
    readonly engine: string,
    readonly contentType: string,
  ) {}

  get cancelled(): boolean {
    return this.controller.signal.aborted;
  }

  subscribe(sub: FlightSubscriber): void {
    this.joined++;
    for (const c of this.chunks) sub.chunk(c);
    if (this.outcome) {
      sub.end(this.outcome);
      return;
    }
    this.#subs.add(sub);
  }

  unsubscribe(sub: FlightSubscriber): void {
    if (!this.#subs.delete(sub)) return;
    if (this.#subs.size === 0 && !this.outcome)
      this.controller.abort(new DOMException("every client of this synthesis went away", "AbortError"));
  }

  push(bytes: Uint8Array): void {
    if (this.outcome || bytes.length === 0) return;
    this.chunks.push(bytes);
    this.bytes += bytes.length;
    for (const s of this.#subs) s.chunk(bytes);
  }

  finish(outcome: FlightOutcome): void {
    if (this.outcome) return;
    this.outcome = outcome;
    const subs = [...this.#subs];
    this.#subs.clear();
    for (const s of subs) s.end(outcome);
  }

  /** The upstream answer's chunk gaps for the first request recorded for it; empty afterwards. */
  takeChunkGaps(): readonly number[] {
    const gaps = this.chunkGapsMs;
    this.chunkGapsMs = [];
    return gaps;
  }

  audio(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
