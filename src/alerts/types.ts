import type { AlertMetric, Comparison } from "./expression.ts";
import type { Channel } from "./schema.ts";

export type { Channel } from "./schema.ts";
export type Severity = "warning" | "critical";

/** One transition of one alert instance (a rule on one engine, GPU or the host). */
export interface AlertEvent {
  /** Stable identity of the instance: rule name plus the series, e.g. "TTSLatencyHigh{engine=kokoro}". */
  readonly id: string;
  readonly status: "firing" | "resolved";
  /** The rule's name. */
  readonly alert: string;
  /** The condition as written, with the threshold in force when the event happened. */
  readonly condition: string;
  readonly severity: Severity;
  readonly metric: AlertMetric;
  readonly op: Comparison;
  readonly engine?: string;
  readonly gpu?: string;
  /** The value that crossed (firing) or the last value seen (resolved; absent when the series vanished). */
  readonly value?: number;
  readonly threshold: number;
  /** One human line: what, where, the value and the threshold. */
  readonly summary: string;
  /** When the instance started firing (ms since the epoch). */
  readonly startsAt: number;
  /** When this event happened. */
  readonly at: number;
}

/** A notification channel: one small interface, listed in the table of channels/index.ts. */
export interface Notifier {
  readonly channel: Channel;
  /** Delivers one event; throws (or rejects) on failure. The dispatcher retries. */
  send(event: AlertEvent, signal: AbortSignal): Promise<void>;
}

/**
 * A failed delivery that tells the dispatcher how to go on: retry later (after `retryAfterMs` when
 * the peer said so, e.g. Slack's 429 Retry-After), or not at all (a 4xx from Slack, a refused SMTP
 * login, no notify-send on PATH), where retrying only repeats the failure and the log lines.
 */
export class DeliveryError extends Error {
  override readonly name = "DeliveryError";
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  /** Log this failure once per key (a missing notify-send), not once per alert: it is counted all the same. */
  readonly logOnce: string | undefined;
  constructor(
    message: string,
    options: { retryable: boolean; retryAfterMs?: number; logOnce?: string; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.logOnce = options.logOnce;
  }
}
