// Adaptive concurrency limit per engine, gradient style (Envoy's adaptive concurrency filter,
// Netflix concurrency-limits' Gradient2): the minimum round-trip time is measured at low
// concurrency, re-measured periodically; between measurements every `sampleSize` completions give
// a sample RTT (their median) and
//
//   gradient = clamp(minRTT × (1 + tolerance) / sampleRTT, 0.5, 2)
//   limit    = smooth(limit × gradient + headroom),  headroom = √limit while the gradient is ≥ 1
//
// within [min, max]. Envoy adds the headroom always, which settles near capacity + √capacity; here
// it is added only while latency is within the tolerance, so the limit settles nearer the capacity.
// Growth needs demand: a window whose peak in-flight stayed under half the limit does not grow it.

export interface LimiterSettings {
  readonly initial: number;
  readonly min: number;
  readonly max: number;
  /** Requests that may wait for a slot; more are rejected at once. */
  readonly queue: number;
  readonly queueTimeoutMs: number;
  readonly minRttIntervalMs: number;
  readonly sampleSize: number;
  readonly tolerance: number;
}

export type RejectReason = "queue_full" | "queue_timeout";

export class LimitRejected extends Error {
  override readonly name = "LimitRejected";
  constructor(
    readonly reason: RejectReason,
    /** Seconds after which a retry may find room (the Retry-After header). */
    readonly retryAfterSeconds: number,
  ) {
    super(
      reason === "queue_full" ? "too many requests waiting for this engine" : "waited too long for a slot",
    );
  }
}

/** A slot taken under the limit; `release` it exactly once, with the RTT of a successful synthesis. */
export interface Permit {
  release(rttMs?: number): void;
}

interface Waiter {
  readonly resolve: (permit: Permit) => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  done: boolean;
}

const SMOOTHING = 0.3;

export class AdaptiveLimiter {
  #limit: number;
  #min: number;
  #max: number;
  #inFlight = 0;
  #peakInFlight = 0;
  readonly #queue: Waiter[] = [];
  #minRtt: number | undefined;
  /** Measuring the minimum RTT: the limit is held at `min` until sampleSize samples came back. */
  #measuring = true;
  #nextMeasureAt = 0;
  #samples: number[] = [];

  constructor(
    private readonly settings: LimiterSettings,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.#limit = settings.initial;
    this.#min = settings.min;
    this.#max = settings.max;
  }

  /** The limit in force now (held at `min` while the minimum RTT is being measured). */
  get limit(): number {
    return this.#measuring ? this.#min : Math.max(this.#min, Math.floor(this.#limit));
  }
  /** The adaptive estimate (what the limit returns to after a measurement). */
  get estimate(): number {
    return this.#limit;
  }
  get min(): number {
    return this.#min;
  }
  get max(): number {
    return this.#max;
  }
  get inFlight(): number {
    return this.#inFlight;
  }
  get queueLength(): number {
    return this.#queue.length;
  }
  get minRttMs(): number | undefined {
    return this.#minRtt;
  }

  setBounds(min: number, max: number): void {
    if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 1 && min <= max))
      throw new RangeError(`limit bounds need integers 1 <= min <= max, got min ${min}, max ${max}`);
    this.#min = min;
    this.#max = max;
    this.#limit = Math.min(max, Math.max(min, this.#limit));
    this.#drain();
  }

  /** A slot now, or after waiting in the bounded queue; rejects with LimitRejected or the signal's reason. */
  acquire(signal?: AbortSignal): Promise<Permit> {
    if (this.#queue.length === 0 && this.#inFlight < this.limit) return Promise.resolve(this.#take());
    if (this.#queue.length >= this.settings.queue)
      return Promise.reject(new LimitRejected("queue_full", this.#retryAfter()));
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        done: false,
        timer: setTimeout(() => {
          this.#leave(waiter);
          reject(new LimitRejected("queue_timeout", this.#retryAfter()));
        }, this.settings.queueTimeoutMs),
      };
      signal?.addEventListener(
        "abort",
        () => {
          if (waiter.done) return;
          this.#leave(waiter);
          clearTimeout(waiter.timer);
          reject(signal.reason);
        },
        { once: true },
      );
      this.#queue.push(waiter);
    });
  }

  #leave(waiter: Waiter): void {
    waiter.done = true;
    const i = this.#queue.indexOf(waiter);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  #retryAfter(): number {
    // About the time the queue ahead takes to clear at the current limit, at least a second.
    const rtt = (this.#minRtt ?? 1000) / 1000;
    return Math.max(1, Math.ceil((rtt * (this.#queue.length + 1)) / Math.max(1, this.limit)));
  }

  #take(): Permit {
    this.#inFlight++;
    if (this.#inFlight > this.#peakInFlight) this.#peakInFlight = this.#inFlight;
    let released = false;
    // A request admitted before a measurement began ran at high concurrency: not a minimum-RTT sample.
    const measured = this.#measuring;
    return {
      release: (rttMs?: number) => {
        if (released) return;
        released = true;
        this.#inFlight--;
        if (rttMs !== undefined && Number.isFinite(rttMs) && rttMs >= 0 && (measured || !this.#measuring))
          this.#sample(rttMs);
        this.#drain();
      },
    };
  }

  #drain(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.limit) {
      const waiter = this.#queue.shift() as Waiter;
      waiter.done = true;
      clearTimeout(waiter.timer);
      waiter.resolve(this.#take());
    }
  }

  #sample(rtt: number): void {
    this.#samples.push(rtt);
    if (this.#samples.length < this.settings.sampleSize) return;
    const sampleRtt = median(this.#samples);
    this.#samples = [];
    const peak = this.#peakInFlight;
    this.#peakInFlight = this.#inFlight;
    const now = this.now();
    if (this.#measuring) {
      this.#minRtt = sampleRtt;
      this.#measuring = false;
      this.#nextMeasureAt = now + this.settings.minRttIntervalMs;
      return;
    }
    const minRtt = this.#minRtt ?? sampleRtt;
    // A faster sample than the minimum: the minimum was measured under load; take the new one.
    if (sampleRtt < minRtt) this.#minRtt = sampleRtt;
    const gradient = Math.min(
      2,
      Math.max(0.5, ((this.#minRtt ?? minRtt) * (1 + this.settings.tolerance)) / sampleRtt),
    );
    const limit = this.#limit;
    let next = limit * gradient;
    if (gradient >= 1) next = peak * 2 < limit ? limit : next + Math.sqrt(limit);
    next = limit * (1 - SMOOTHING) + next * SMOOTHING;
    this.#limit = Math.min(this.#max, Math.max(this.#min, next));
    if (now >= this.#nextMeasureAt) this.#measuring = true;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
