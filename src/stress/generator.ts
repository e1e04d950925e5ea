import type { AudioFormat } from "../audio/format.ts";
import { chunkGapsSeconds, type Engine, EngineError, type SynthesisResult } from "../engines/types.ts";
import { probeWavHeader } from "../engines/wav-header.ts";
import { type Percentiles, round6, SecondsHistogram } from "./record.ts";
import { type Arrival, arrivals } from "./schedule.ts";
import { requestMeetsSlo, type Slo, type SloBreach, sloBreaches } from "./slo.ts";

/** A send later than this after its intended time is a late send (wrk2's self-check, issue 12). */
export const LATE_SEND_MS = 10;
/** A step with more late sends than this share is invalid: the generator, not the engine, was the limit. */
export const MAX_LATE_RATIO = 0.01;

export type StepPlan =
  | {
      readonly model: "open";
      readonly rate: number;
      readonly arrival: Arrival;
      readonly warmupMs: number;
      readonly durationMs: number;
    }
  | {
      readonly model: "closed";
      readonly concurrency: number;
      readonly warmupMs: number;
      readonly durationMs: number;
    };

/** What the progress view shows while a step runs. */
export interface LiveFigures {
  readonly elapsedMs: number;
  readonly totalMs: number;
  readonly sent: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly inFlight: number;
  readonly p99Seconds: number | null;
  readonly lateSends: number;
}

export interface GeneratorContext {
  readonly engine: Engine;
  readonly texts: readonly string[];
  readonly slo: Slo;
  /** Per-request deadline: the engine's own (timeout_seconds, else probes.timeout_seconds), which it enforces. */
  readonly timeoutMs: number;
  /** Ctrl-C, --max-duration: stops sending at once and aborts what is in flight. */
  readonly signal: AbortSignal;
  readonly random: () => number;
  /** Requests the whole run may still send (--max-requests); decremented here. */
  readonly budget: { left: number };
  readonly onLive?: (live: LiveFigures) => void;
  /** The self-check's limits (default LATE_SEND_MS, MAX_LATE_RATIO). */
  readonly lateSendMs?: number;
  readonly maxLateRatio?: number;
}

export interface StepResult {
  readonly model: "open" | "closed";
  /** Open model: the requests per second scheduled; closed: null. */
  readonly offered_rps: number | null;
  /** Closed model: the workers; open: null. */
  readonly concurrency: number | null;
  readonly arrival: Arrival | null;
  readonly warmup_seconds: number;
  readonly duration_seconds: number;
  /** Requests sent in the measured window (warm-up excluded). */
  readonly sent: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Successes completed inside the measured window, per second. */
  readonly achieved_rps: number;
  /** Of those, the ones within every latency and ttfa threshold of the SLO, per second. */
  readonly goodput_rps: number;
  readonly characters_per_second: number;
  readonly error_rate: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly valid: boolean;
  readonly invalid_reason: string | null;
  readonly late_sends: number;
  readonly late_send_ratio: number;
  readonly max_send_lag_seconds: number;
  readonly latency_seconds: Percentiles;
  readonly ttfa_seconds: Percentiles;
  /** Gaps between audio chunks of one answer (streaming engines); count 0 for others. */
  readonly chunk_gap_seconds: Percentiles;
  /** Latency from the intended send over the audio's duration. */
  readonly real_time_factor: Percentiles;
  readonly mean_in_flight: number;
  readonly max_in_flight: number;
  readonly text_characters_mean: number;
  readonly meets_slo: boolean;
  readonly slo_breaches: readonly SloBreach[];
  /** False when the run was stopped during this step (Ctrl-C, a cap): its figures cover less. */
  readonly complete: boolean;
  readonly stopped_by: string | null;
}

/** Seconds of audio in an answer, from its header (WAV) or its stated format (PCM); undefined if unknown. */
export function audioSeconds(audio: Uint8Array, format: AudioFormat): number | undefined {
  if (format.kind === "pcm") {
    const width = { s16le: 2, s24le: 3, s32le: 4, f32le: 4, u8: 1 }[format.encoding];
    return audio.length / (format.sampleRate * format.channels * width);
  }
  const probe = probeWavHeader(audio);
  if (probe.state !== "ok") return undefined;
  const { layout } = probe;
  const bytes = layout.dataSize ?? audio.length - layout.dataOffset;
  const rate = layout.sampleRate * layout.channels * (layout.bitsPerSample / 8);
  return rate > 0 ? Math.max(0, Math.min(bytes, audio.length - layout.dataOffset)) / rate : undefined;
}

/** Runs one step of load and measures it. Never throws for an engine's failure: it is counted by reason. */
export async function runStep(plan: StepPlan, ctx: GeneratorContext): Promise<StepResult> {
  const latency = new SecondsHistogram();
  const ttfa = new SecondsHistogram();
  const gaps = new SecondsHistogram();
  const rtf = new SecondsHistogram();
  const errors = new Map<string, number>();
  const inflight = new AbortController();
  const abortAll = () => inflight.abort(ctx.signal.reason);
  ctx.signal.addEventListener("abort", abortAll, { once: true });

  const lateMs = ctx.lateSendMs ?? LATE_SEND_MS;
  const lateLimit = ctx.maxLateRatio ?? MAX_LATE_RATIO;
  const t0 = performance.now();
  const windowStart = t0 + plan.warmupMs;
  const windowEnd = windowStart + plan.durationMs;
  let sent = 0;
  let succeeded = 0;
  let failed = 0;
  let completedInWindow = 0;
  let goodInWindow = 0;
  let charsInWindow = 0;
  let charsSent = 0;
  let lateSends = 0;
  let maxLag = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let inFlightArea = 0;
  let lastChange = t0;
  let textIndex = 0;
  let stoppedBy: string | null = null;
  const pending = new Set<Promise<void>>();

  const clampWindow = (t: number) => Math.min(windowEnd, Math.max(windowStart, t));
  const changeInFlight = (delta: number) => {
    const now = performance.now();
    inFlightArea += inFlight * (clampWindow(now) - clampWindow(lastChange));
    lastChange = now;
    inFlight += delta;
    if (now >= windowStart && now < windowEnd) maxInFlight = Math.max(maxInFlight, inFlight);
  };

  /** Sends one request meant to leave at `intended` (performance.now() clock). */
  const send = (intended: number): Promise<void> => {
    const measured = intended >= windowStart;
    const text = ctx.texts[textIndex++ % ctx.texts.length] as string;
    if (measured) {
      sent++;
      charsSent += text.length;
      const lag = performance.now() - intended;
      if (lag > lateMs) lateSends++;
      maxLag = Math.max(maxLag, lag);
    }
    ctx.budget.left--;
    changeInFlight(1);
    // The engine applies its own deadline (ctx.timeoutMs is the same one); the signal only stops the run.
    const p = ctx.engine
      .synthesize({ text, signal: inflight.signal })
      .then(
        (r: SynthesisResult) => {
          if (inflight.signal.aborted) return;
          const end = r.timings.end;
          const lat = (end - intended) / 1000;
          const first =
            r.timings.firstAudio === undefined ? undefined : (r.timings.firstAudio - intended) / 1000;
          // Throughput counts every answer that ends in the window, warm-up requests included: past the
          // capacity the window opens with a queue of them, and leaving them out would undercount it.
          if (end >= windowStart && end < windowEnd) {
            completedInWindow++;
            charsInWindow += text.length;
            if (requestMeetsSlo(ctx.slo, lat, first)) goodInWindow++;
          }
          if (!measured) return;
          succeeded++;
          latency.record(lat);
          if (first !== undefined) ttfa.record(first);
          for (const g of chunkGapsSeconds(r.timings)) gaps.record(g);
          const secs = audioSeconds(r.audio, r.format);
          if (secs !== undefined && secs > 0) rtf.record(lat / secs);
        },
        (err: unknown) => {
          if (!measured || inflight.signal.aborted) return;
          failed++;
          const reason = err instanceof EngineError ? err.reason : isTimeout(err) ? "timeout" : "other";
          errors.set(reason, (errors.get(reason) ?? 0) + 1);
        },
      )
      .finally(() => {
        changeInFlight(-1);
        pending.delete(p);
      });
    pending.add(p);
    return p;
  };

  const live = () =>
    ctx.onLive?.({
      elapsedMs: performance.now() - t0,
      totalMs: plan.warmupMs + plan.durationMs,
      sent,
      succeeded,
      failed,
      inFlight,
      p99Seconds: latency.percentile(99),
      lateSends,
    });
  const liveTimer = setInterval(live, 250);

  const canSend = () => {
    if (ctx.signal.aborted) {
      stoppedBy ??= String(
        ctx.signal.reason instanceof Error ? ctx.signal.reason.message : ctx.signal.reason,
      );
      return false;
    }
    if (ctx.budget.left <= 0) {
      stoppedBy ??= "max_requests";
      return false;
    }
    return true;
  };

  try {
    if (plan.model === "open") {
      const times = arrivals(plan.rate, plan.arrival, ctx.random);
      let next = t0 + (times.next().value as number);
      await new Promise<void>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const stop = () => {
          clearTimeout(timer);
          ctx.signal.removeEventListener("abort", stop);
          resolve();
        };
        ctx.signal.addEventListener("abort", stop, { once: true });
        const tick = () => {
          // Up to 1 ms early: Node's timers may fire that much before performance.now() says.
          while (next <= performance.now() + 1 && next < windowEnd) {
            if (!canSend()) return stop();
            void send(next);
            next = t0 + (times.next().value as number);
          }
          if (next >= windowEnd || !canSend()) return stop();
          timer = setTimeout(tick, Math.max(0, Math.floor(next - performance.now())));
        };
        tick();
      });
    } else {
      const worker = async () => {
        while (performance.now() < windowEnd && canSend()) await send(performance.now());
      };
      await Promise.all(Array.from({ length: plan.concurrency }, worker));
    }
    // Drain: what was sent still counts (its latency is what a user would have seen).
    await Promise.all([...pending]);
  } finally {
    clearInterval(liveTimer);
    ctx.signal.removeEventListener("abort", abortAll);
  }
  live();

  if (ctx.signal.aborted) stoppedBy ??= abortReason(ctx.signal);
  const stoppedEarly = stoppedBy !== null;
  const windowMs = stoppedEarly
    ? Math.max(1, Math.min(performance.now(), windowEnd) - windowStart)
    : plan.durationMs;
  const seconds = Math.max(windowMs, 1) / 1000;
  const lateRatio = sent === 0 ? 0 : lateSends / sent;
  // One late send is tolerated whatever the step's size: at 1 req/s for 30 s a single hiccup of the
  // host would otherwise be 3 % and void the step; a generator that cannot keep up is late again and again.
  const allowed = lateLimit > 0 ? Math.max(1, lateLimit * sent) : 0;
  const valid = plan.model === "closed" || (sent > 0 && lateSends <= allowed);
  const done = succeeded + failed;
  const latencySeconds = latency.summary();
  const ttfaSeconds = ttfa.summary();
  const errorRate = done === 0 ? 0 : failed / done;
  const breaches =
    done === 0
      ? [{ threshold: "requests", observed: null }]
      : sloBreaches(ctx.slo, { latencySeconds, ttfaSeconds, errorRate });
  return {
    model: plan.model,
    offered_rps: plan.model === "open" ? plan.rate : null,
    concurrency: plan.model === "closed" ? plan.concurrency : null,
    arrival: plan.model === "open" ? plan.arrival : null,
    warmup_seconds: plan.warmupMs / 1000,
    duration_seconds: round6(seconds),
    sent,
    succeeded,
    failed,
    achieved_rps: round6(completedInWindow / seconds),
    goodput_rps: round6(goodInWindow / seconds),
    characters_per_second: round6(charsInWindow / seconds),
    error_rate: round6(errorRate),
    errors: Object.fromEntries([...errors].sort()),
    valid,
    invalid_reason: valid
      ? null
      : sent === 0
        ? "no request was sent in the measured window"
        : `${lateSends} of ${sent} sends (${(lateRatio * 100).toFixed(1)} %) were more than ${lateMs} ms late (limit ${round6(lateLimit * 100)} %, at least one tolerated): the load generator or its host, not the engine, was the bottleneck`,
    late_sends: lateSends,
    late_send_ratio: round6(lateRatio),
    max_send_lag_seconds: round6(Math.max(0, maxLag) / 1000),
    latency_seconds: latencySeconds,
    ttfa_seconds: ttfaSeconds,
    chunk_gap_seconds: gaps.summary(),
    real_time_factor: rtf.summary(),
    mean_in_flight: round6(inFlightArea / windowMs),
    max_in_flight: maxInFlight,
    text_characters_mean: sent === 0 ? 0 : round6(charsSent / sent),
    meets_slo: valid && breaches.length === 0,
    slo_breaches: breaches,
    complete: !stoppedEarly,
    stopped_by: stoppedBy,
  };
}

function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? (r.name === "TimeoutError" ? "max_duration" : r.message) : String(r);
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}
