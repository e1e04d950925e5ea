import { errorMessage, type Logger } from "../log.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { type AlertEvent, type Channel, DeliveryError, type Notifier } from "./types.ts";

/** Longest wait a peer's Retry-After can impose on one delivery. */
const RETRY_AFTER_CAP_MS = 15 * 60_000;

export interface RetryPolicy {
  readonly attempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Deadline of one attempt. */
  readonly timeoutMs: number;
}

/**
 * Delivers events to the notifiers in the background. A failed attempt is logged and retried with
 * exponential backoff (or after the peer's Retry-After); a failure that retrying cannot fix (a
 * DeliveryError with retryable: false) is not retried; a delivery given up on is logged and counted. Nothing here ever throws into
 * the evaluator: a dead Slack or SMTP server must not stop the monitor.
 */
export class Dispatcher {
  readonly #notifiers = new Map<Channel, Notifier>();
  readonly #stopping = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  /** The last delivery queued per channel and alert instance. */
  readonly #queues = new Map<string, Promise<void>>();

  constructor(
    notifiers: readonly Notifier[],
    private readonly policy: RetryPolicy,
    private readonly registry: MetricsRegistry,
    private readonly log: Logger,
  ) {
    for (const n of notifiers) {
      this.#notifiers.set(n.channel, n);
      // Zero-valued series from the start, so rate() and absent() work before the first alert.
      registry.counter("tts_exporter_notifications_sent_total").inc({ channel: n.channel }, 0);
      registry.counter("tts_exporter_notifications_failed_total").inc({ channel: n.channel }, 0);
      registry.counter("tts_exporter_notification_attempts_failed_total").inc({ channel: n.channel }, 0);
    }
  }

  get channels(): Channel[] {
    return [...this.#notifiers.keys()];
  }

  has(channel: Channel): boolean {
    return this.#notifiers.has(channel);
  }

  /** Starts delivering; returns at once. `settled()` waits for every delivery in flight (tests, stop). */
  notify(channel: Channel, event: AlertEvent): void {
    const notifier = this.#notifiers.get(channel);
    if (!notifier) {
      this.log.once(`no-channel-${channel}`, "warn", "alert notification channel not configured; skipped", {
        channel,
        hint: channelHint(channel),
      });
      return;
    }
    // One instance's notifications on one channel go out in order: a "resolved" must not overtake
    // the "firing" still waiting for its retry (Slack would show them the wrong way round). The
    // dashboard's is an in-process event that cannot fail: it is emitted at once, in order anyway.
    const key = `${channel}\u0000${event.id}`;
    const before = channel === "dashboard" ? undefined : this.#queues.get(key);
    const p: Promise<void> = (
      before ? before.then(() => this.#deliver(notifier, event)) : this.#deliver(notifier, event)
    ).finally(() => {
      this.#inFlight.delete(p);
      if (this.#queues.get(key) === p) this.#queues.delete(key);
    });
    if (channel !== "dashboard") this.#queues.set(key, p);
    this.#inFlight.add(p);
  }

  async #deliver(notifier: Notifier, event: AlertEvent): Promise<void> {
    const { attempts, initialBackoffMs, maxBackoffMs, timeoutMs } = this.policy;
    const channel = notifier.channel;
    let tried = 0;
    let quiet = false;
    let reason: string | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.#stopping.signal.aborted) return;
      tried = attempt;
      try {
        const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(timeoutMs)]);
        await notifier.send(event, signal);
        this.registry.counter("tts_exporter_notifications_sent_total").inc({ channel });
        this.log.info("alert notification sent", { channel, alert: event.id, status: event.status });
        return;
      } catch (err) {
        if (this.#stopping.signal.aborted) return;
        this.registry.counter("tts_exporter_notification_attempts_failed_total").inc({ channel });
        const d = err instanceof DeliveryError ? err : undefined;
        const retryable = d?.retryable ?? true;
        const last = attempt === attempts || !retryable;
        let backoff = Math.min(maxBackoffMs, initialBackoffMs * 2 ** (attempt - 1));
        // The peer's Retry-After wins over our backoff: retrying sooner only earns another 429.
        if (d?.retryAfterMs !== undefined)
          backoff = Math.max(backoff, Math.min(d.retryAfterMs, RETRY_AFTER_CAP_MS));
        reason = errorMessage(err);
        const fields = {
          channel,
          alert: event.id,
          status: event.status,
          attempt,
          of: attempts,
          error: reason,
          ...(last
            ? retryable
              ? {}
              : { retry: "no (this failure does not go away by retrying)" }
            : { retry_in_ms: backoff }),
        };
        if (d?.logOnce) {
          quiet = true;
          this.log.once(d.logOnce, "error", "alert notification channel unavailable (logged once)", fields);
        } else {
          this.log.warn("alert notification failed", fields);
        }
        if (last) break;
        await sleep(backoff, this.#stopping.signal);
      }
    }
    if (this.#stopping.signal.aborted) return;
    this.registry.counter("tts_exporter_notifications_failed_total").inc({ channel });
    if (!quiet)
      this.log.error("alert notification given up", {
        channel,
        alert: event.id,
        attempts: tried,
        error: reason,
      });
  }

  /** Resolves when every delivery started so far has succeeded or been given up on. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Cancels retries and deliveries in flight. */
  async stop(): Promise<void> {
    this.#stopping.abort(new Error("monitor stopping"));
    await this.settled();
    for (const n of this.#notifiers.values()) (n as { close?: () => void }).close?.();
  }
}

function channelHint(channel: Channel): string {
  switch (channel) {
    case "slack":
      return "set TTS_MONITOR_SLACK_WEBHOOK or alerts.slack_webhook";
    case "email":
      return "set alerts.smtp.host and TTS_MONITOR_EMAIL (or alerts.email_to), and alerts.email_notifications: true";
    case "desktop":
      return "start with --desktop-notifications";
    case "dashboard":
      return "start with --web-dashboard and keep alerts.dashboard_alerts: true";
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
