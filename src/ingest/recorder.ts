import { ALERT_WINDOW_SECONDS } from "../alerts/definitions.ts";
import type { FailureReason } from "../engines/types.ts";
import { catalog, type MetricName } from "../metrics/catalog.ts";
import type { Family, FamilyValue } from "../metrics/exposition.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { countCharacters, countWords, type SynthesisEvent } from "./event.ts";
import { SeriesBudget } from "./series-budget.ts";
import { SlidingHistogram } from "./sliding-histogram.ts";

// The recording path shared by probes, HTTP ingestion and recordSynthesis(). It is the hot path of
// ingestion (tens of thousands of events per second), so it does not call prom-client per event:
// each (engine, voice, source) series is one object found by one Map lookup, its histogram is a
// bucket array, and the families are rendered from these objects at scrape time.

export type Source = "probe" | "ingest" | "stress" | "gateway";

const LATENCY_BOUNDS: readonly number[] = catalog.tts_latency_seconds.buckets;
const CHUNK_GAP_BOUNDS: readonly number[] = catalog.tts_inter_chunk_gap_seconds.buckets;

class HistogramState {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    // Buckets are cumulative when rendered; here each observation lands in its first bucket.
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > (b[i] as number)) i++;
    if (i < this.counts.length) this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += v;
    this.count++;
  }
  values(name: string, labels: Record<string, string>): FamilyValue[] {
    const out: FamilyValue[] = [];
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i] as number;
      out.push({
        metricName: `${name}_bucket`,
        labels: { ...labels, le: String(this.bounds[i]) },
        value: acc,
      });
    }
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: "+Inf" }, value: this.count });
    out.push({ metricName: `${name}_sum`, labels, value: this.sum });
    out.push({ metricName: `${name}_count`, labels, value: this.count });
    return out;
  }
}

/** Recent latencies of one engine, for p50/p95 in the terminal view and getCurrentMetrics(). */
class Recent {
  readonly #buf = new Float64Array(256);
  #n = 0;
  push(v: number): void {
    this.#buf[this.#n % this.#buf.length] = v;
    this.#n++;
  }
  quantile(q: number): number | undefined {
    const n = Math.min(this.#n, this.#buf.length);
    if (n === 0) return undefined;
    const sorted = Array.from(this.#buf.subarray(0, n)).sort((a, b) => a - b);
    return sorted[Math.min(n - 1, Math.floor(q * n))];
  }
}

class Series {
  readonly labels: { engine: string; voice: string; source: string };
  readonly latency = new HistogramState(LATENCY_BOUNDS);
  readonly ttfa = new HistogramState(LATENCY_BOUNDS);
  /** Every attempt's duration, successes and failures apart (tts_request_duration_seconds). */
  readonly durationSuccess = new HistogramState(LATENCY_BOUNDS);
  readonly durationFailure = new HistogramState(LATENCY_BOUNDS);
  /** Gaps between audio chunks (every one) and the longest per request (streaming answers). */
  readonly chunkGaps = new HistogramState(CHUNK_GAP_BOUNDS);
  readonly stall = new HistogramState(CHUNK_GAP_BOUNDS);
  success = 0;
  failure = 0;
  readonly failures = new Map<FailureReason, number>();
  rtf: number | undefined;
  cps: number | undefined;
  wpm: number | undefined;
  speakingRate: number | undefined;
  audioDuration: number | undefined;
  /** Epoch ms of the latest attempt and of the latest success (the time of the gauges above). */
  lastAt: number | undefined;
  lastSuccessAt: number | undefined;
  constructor(engine: string, voice: string, source: string) {
    this.labels = { engine, voice, source };
  }
  /** Drops the last-observation gauges (the counters and histograms are cumulative and stay). */
  forgetGauges(): void {
    this.rtf = undefined;
    this.cps = undefined;
    this.wpm = undefined;
    this.speakingRate = undefined;
    this.audioDuration = undefined;
    this.lastAt = undefined;
    this.lastSuccessAt = undefined;
  }
}

/** Hits and lookups per one-second slot over the window: O(1) per event, exact at 1 s granularity. */
export class SlidingRatio {
  readonly #hits: Float64Array;
  readonly #lookups: Float64Array;
  #slot: number; // absolute second of the newest slot
  hits = 0;
  lookups = 0;
  constructor(
    readonly windowSeconds: number,
    now: number,
  ) {
    this.#hits = new Float64Array(windowSeconds);
    this.#lookups = new Float64Array(windowSeconds);
    this.#slot = Math.floor(now / 1000);
  }
  /** Drops the slots that left the window by `now` (ms). */
  advance(now: number): void {
    const second = Math.floor(now / 1000);
    const steps = Math.min(second - this.#slot, this.windowSeconds);
    for (let s = 1; s <= steps; s++) {
      const i = (this.#slot + s) % this.windowSeconds;
      this.hits -= this.#hits[i] as number;
      this.lookups -= this.#lookups[i] as number;
      this.#hits[i] = 0;
      this.#lookups[i] = 0;
    }
    if (second > this.#slot) this.#slot = second;
  }
  add(now: number, hit: boolean): void {
    this.advance(now);
    const i = this.#slot % this.windowSeconds;
    this.#lookups[i] = (this.#lookups[i] as number) + 1;
    this.lookups++;
    if (hit) {
      this.#hits[i] = (this.#hits[i] as number) + 1;
      this.hits++;
    }
  }
  ratio(): number | undefined {
    return this.lookups > 0 ? this.hits / this.lookups : undefined;
  }
}

interface EngineState {
  readonly recent: Recent;
  /** Successes ("hits") among attempts ("lookups") over the success window. */
  readonly outcomes: SlidingRatio;
  lastLatency?: number;
  lastRtf?: number;
  lastAt?: number;
  lastSuccessAt?: number;
  lastSuccess?: boolean;
  attempts: number;
  cold?: { voice: string; latency: number };
  warm?: { voice: string; latency: number };
  cache?: SlidingRatio;
  /** Successful latencies of the alert window, in the tts_latency_seconds buckets (TTSLatencyHigh). */
  latencyWindow?: SlidingHistogram;
  /** Longest gap of the latest streamed answer (ms) and when it was recorded (epoch ms). */
  lastStall?: { ms: number; at: number };
  /** Streamed answers' longest gaps over the alert window, in the tts_stall_seconds buckets (TTSStreamStalling). */
  stallWindow?: SlidingHistogram;
}

/** Cache counters of an engine: cumulative, so they outlive the engine's other state. */
interface CacheTotals {
  hits: number;
  lookups: number;
}

/** Default of RecorderOptions.successWindowSeconds (config ingest.success_window_seconds). */
export const DEFAULT_SUCCESS_WINDOW_SECONDS = 300;

export interface RecorderOptions {
  /** Sliding window of the cache hit rate. */
  readonly cacheWindowSeconds: number;
  /** Sliding window of EngineSummary.successRatio (default DEFAULT_SUCCESS_WINDOW_SECONDS). */
  readonly successWindowSeconds?: number;
  /** Distinct engine label values accepted from ingestion before folding into "other". */
  readonly maxEngines: number;
  /** Distinct voice label values accepted (across engines) before folding into "other". */
  readonly maxVoices: number;
  /** Series budget of ingested data (ingest.max_series, ingest.max_samples); default 50 and 10000. */
  readonly maxSeries?: number;
  readonly maxSamples?: number;
  /** Engines from the config: always accepted, never folded. */
  readonly knownEngines?: readonly string[];
  /** false: cache flags are ignored (config monitoring.cache_monitoring). */
  readonly cacheMonitoring?: boolean;
  /** Window of `latencyP95WindowMs` (the alert definitions' window); default ALERT_WINDOW_SECONDS. */
  readonly latencyWindowSeconds?: number;
  readonly now?: () => number;
}

export interface EngineSummary {
  /** Latency of the latest SUCCESSFUL request (recorded at lastSuccessAt). */
  readonly latencyMs?: number;
  readonly latencyP50Ms?: number;
  readonly latencyP95Ms?: number;
  /** p95 over the alert window, interpolated within the tts_latency_seconds buckets as histogram_quantile does. */
  readonly latencyP95WindowMs?: number;
  readonly realTimeFactor?: number;
  /** Successful share of the attempts in the last windowSeconds, 0-1; undefined when none. */
  readonly successRatio?: number;
  /** Attempts recorded since the engine's state was created (start, or its last removal). */
  readonly requests: number;
  readonly cacheHitRate?: number;
  /** Epoch ms of the latest attempt (same as lastAttemptAt; kept for existing readers). */
  readonly lastAt?: number;
  /** Epoch ms of the success whose latency is latencyMs. */
  readonly lastSuccessAt?: number;
  /** Epoch ms of the latest attempt, successful or not. */
  readonly lastAttemptAt?: number;
  /** Result of the latest attempt. */
  readonly lastSuccess?: boolean;
  /** Window of successRatio, seconds. */
  readonly windowSeconds: number;
  /** Longest gap between audio chunks of the latest streamed answer (probe or gateway), ms, and its time. */
  readonly stallMs?: number;
  readonly stallAt?: number;
  /** p95 of the answers' longest gaps over the alert window, interpolated within the tts_stall_seconds buckets. */
  readonly stallP95WindowMs?: number;
}

export const DEFAULT_VOICE = "default";

export class SynthesisRecorder {
  readonly #series = new Map<string, Series>();
  readonly #engines = new Map<string, EngineState>();
  readonly #cacheTotals = new Map<string, CacheTotals>();
  readonly #voices = new Set<string>();
  readonly #ingested = new Set<string>();
  readonly #known: Set<string>;
  readonly #now: () => number;
  readonly budget: SeriesBudget;

  constructor(
    private readonly registry: MetricsRegistry,
    private readonly options: RecorderOptions,
  ) {
    this.#known = new Set(options.knownEngines ?? []);
    this.#now = options.now ?? Date.now;
    this.budget = new SeriesBudget(registry, {
      maxSeries: options.maxSeries ?? 50,
      maxSamples: options.maxSamples ?? 10_000,
    });
    this.#install();
  }

  /** Engines added to the config (reload): always accepted from now on, never folded. */
  knowEngines(names: Iterable<string>): void {
    for (const name of names) this.#known.add(name);
  }

  #engineLabel(engine: string, source: Source): string {
    if (source === "probe" || this.#known.has(engine) || this.#ingested.has(engine)) return engine;
    if (this.#ingested.size >= this.options.maxEngines) {
      this.registry.counter("tts_ingest_labels_folded_total").inc({ label: "engine" });
      return "other";
    }
    this.#ingested.add(engine);
    return engine;
  }

  #voiceLabel(voice: string, source: Source): string {
    if (source === "probe" || this.#voices.has(voice)) return voice;
    if (this.#voices.size >= this.options.maxVoices) {
      this.registry.counter("tts_ingest_labels_folded_total").inc({ label: "voice" });
      return "other";
    }
    this.#voices.add(voice);
    return voice;
  }

  get successWindowSeconds(): number {
    return this.options.successWindowSeconds ?? DEFAULT_SUCCESS_WINDOW_SECONDS;
  }

  #engineState(engine: string, now: number): EngineState {
    let st = this.#engines.get(engine);
    if (!st) {
      st = { recent: new Recent(), outcomes: new SlidingRatio(this.successWindowSeconds, now), attempts: 0 };
      this.#engines.set(engine, st);
    }
    return st;
  }

  #cacheTotalsOf(engine: string): CacheTotals {
    let t = this.#cacheTotals.get(engine);
    if (!t) {
      t = { hits: 0, lookups: 0 };
      this.#cacheTotals.set(engine, t);
    }
    return t;
  }

  /**
   * The series that hold last-observation gauges, with the epoch ms of their latest attempt (for
   * src/state/lifetimes.ts, which decides when they go).
   */
  *reported(): IterableIterator<{ engine: string; voice: string; source: Source; at: number }> {
    for (const s of this.#series.values())
      if (s.lastAt !== undefined)
        yield {
          engine: s.labels.engine,
          voice: s.labels.voice,
          source: s.labels.source as Source,
          at: s.lastAt,
        };
  }

  /**
   * Removes the last-observation gauges of an engine (every voice), or of one voice of it, and the
   * engine's summary once none of its series holds a gauge. Counters and histograms stay: they are
   * cumulative. Only src/state/lifetimes.ts calls this.
   */
  forget(engine: string, voice?: string): void {
    let left = false;
    for (const s of this.#series.values()) {
      if (s.labels.engine !== engine) continue;
      if (voice === undefined || s.labels.voice === voice) s.forgetGauges();
      else if (s.lastAt !== undefined) left = true;
    }
    const st = this.#engines.get(engine);
    if (!st) return;
    if (!left) {
      this.#engines.delete(engine);
      return;
    }
    if (st.cold?.voice === voice) delete st.cold;
    if (st.warm?.voice === voice) delete st.warm;
  }

  /**
   * Records one synthesis. The event must already be valid (see event.ts). Returns the engine and
   * voice labels it was recorded under (after the cardinality guard), for the other series of the
   * same event (audio analysis).
   */
  record(event: SynthesisEvent, source: Source): { readonly engine: string; readonly voice: string } {
    const now = this.#now();
    let engine = this.#engineLabel(event.engine, source);
    let voice = this.#voiceLabel(event.voice ?? DEFAULT_VOICE, source);
    let s = this.#series.get(`${engine}\u0000${voice}\u0000${source}`);
    if (!s) {
      // A new combination from outside: its own series only while the budget has room.
      if (source !== "probe") ({ engine, voice } = this.budget.admit(engine, voice, source));
      const key = `${engine}\u0000${voice}\u0000${source}`;
      s = this.#series.get(key) ?? new Series(engine, voice, source);
      this.#series.set(key, s);
    }
    const st = this.#engineState(engine, now);
    const ok = event.success !== false;
    st.attempts++;
    st.lastAt = now;
    st.lastSuccess = ok;
    st.outcomes.add(now, ok);
    s.lastAt = now;
    const latency = event.latencyMs / 1000;
    (ok ? s.durationSuccess : s.durationFailure).observe(latency);

    if (event.cacheHit !== undefined && this.options.cacheMonitoring !== false) {
      const totals = this.#cacheTotalsOf(engine);
      totals.lookups++;
      if (event.cacheHit) totals.hits++;
      if (!st.cache) st.cache = new SlidingRatio(this.options.cacheWindowSeconds, now);
      st.cache.add(now, event.cacheHit);
    }

    if (!ok) {
      s.failure++;
      const reason = event.errorReason ?? "other";
      s.failures.set(reason, (s.failures.get(reason) ?? 0) + 1);
      return s.labels;
    }

    s.success++;
    s.lastSuccessAt = now;
    st.lastSuccessAt = now;
    s.latency.observe(latency);
    st.recent.push(event.latencyMs);
    st.latencyWindow ??= new SlidingHistogram(
      LATENCY_BOUNDS,
      this.options.latencyWindowSeconds ?? ALERT_WINDOW_SECONDS,
      now,
    );
    st.latencyWindow.observe(now, latency);
    st.lastLatency = event.latencyMs;
    st.lastSuccessAt = now;
    if (st.cold === undefined) st.cold = { voice, latency };
    else st.warm = { voice, latency };
    if (event.ttfaMs !== undefined) s.ttfa.observe(event.ttfaMs / 1000);

    const characters =
      event.characters ?? (event.text !== undefined ? countCharacters(event.text) : undefined);
    const words = event.words ?? (event.text !== undefined ? countWords(event.text) : undefined);
    if (latency > 0) {
      if (characters !== undefined) s.cps = characters / latency;
      if (words !== undefined) s.wpm = words / (latency / 60);
    }
    if (event.audioDurationMs !== undefined && event.audioDurationMs > 0) {
      const duration = event.audioDurationMs / 1000;
      s.audioDuration = duration;
      s.rtf = latency / duration;
      st.lastRtf = s.rtf;
      if (words !== undefined) s.speakingRate = words / (duration / 60);
    }
    return s.labels;
  }

  /**
   * Records the gaps between one answer's audio chunks (ms, in order: chunkStats(timings).gapsMs)
   * in the series that record() returned the labels of: every gap in tts_inter_chunk_gap_seconds,
   * the longest in tts_stall_seconds. Failed answers too: a stream that stalled and then broke was
   * heard stalling. Only for syntheses the exporter timed itself, probes and the gateway's upstream
   * answers: the series budget charges these two families to gateway series only (not to ingested
   * or stress series, whose events carry no chunk times).
   */
  recordChunkGaps(
    labels: { readonly engine: string; readonly voice: string },
    source: "probe" | "gateway",
    gapsMs: readonly number[],
  ): void {
    if (gapsMs.length === 0) return;
    const s = this.#series.get(`${labels.engine}\u0000${labels.voice}\u0000${source}`);
    if (!s) return;
    let longest = 0;
    for (const g of gapsMs) {
      if (!(g >= 0) || g === Number.POSITIVE_INFINITY) continue;
      s.chunkGaps.observe(g / 1000);
      if (g > longest) longest = g;
    }
    s.stall.observe(longest / 1000);
    const now = this.#now();
    const st = this.#engineState(labels.engine, now);
    st.lastStall = { ms: longest, at: now };
    st.stallWindow ??= new SlidingHistogram(
      CHUNK_GAP_BOUNDS,
      this.options.latencyWindowSeconds ?? ALERT_WINDOW_SECONDS,
      now,
    );
    st.stallWindow.observe(now, longest / 1000);
  }

  /**
   * Cache hit rate over the window across all engines: hits / lookups pooled (an engine with 1000
   * lookups weighs more than one with 2); undefined when no lookup is in the window.
   */
  cacheHitRate(): number | undefined {
    const now = this.#now();
    let hits = 0;
    let lookups = 0;
    for (const st of this.#engines.values()) {
      if (!st.cache) continue;
      st.cache.advance(now);
      hits += st.cache.hits;
      lookups += st.cache.lookups;
    }
    return lookups > 0 ? hits / lookups : undefined;
  }

  /** Per-engine summary for getCurrentMetrics() and the terminal view. */
  summary(): Map<string, EngineSummary> {
    const now = this.#now();
    const out = new Map<string, EngineSummary>();
    for (const [engine, st] of this.#engines) {
      st.cache?.advance(now);
      st.outcomes.advance(now);
      const p50 = st.recent.quantile(0.5);
      const p95 = st.recent.quantile(0.95);
      const windowP95 = st.latencyWindow?.quantile(now, 0.95);
      const stallP95 = st.stallWindow?.quantile(now, 0.95);
      const rate = st.cache?.ratio();
      const ratio = st.outcomes.ratio();
      out.set(engine, {
        requests: st.attempts,
        windowSeconds: st.outcomes.windowSeconds,
        ...(st.lastLatency !== undefined && { latencyMs: st.lastLatency }),
        ...(p50 !== undefined && { latencyP50Ms: p50 }),
        ...(p95 !== undefined && { latencyP95Ms: p95 }),
        ...(windowP95 !== undefined && { latencyP95WindowMs: windowP95 * 1000 }),
        ...(st.lastRtf !== undefined && { realTimeFactor: st.lastRtf }),
        ...(ratio !== undefined && { successRatio: ratio }),
        ...(rate !== undefined && { cacheHitRate: rate }),
        ...(st.lastAt !== undefined && { lastAt: st.lastAt, lastAttemptAt: st.lastAt }),
        ...(st.lastSuccessAt !== undefined && { lastSuccessAt: st.lastSuccessAt }),
        ...(st.lastSuccess !== undefined && { lastSuccess: st.lastSuccess }),
        ...(st.lastStall !== undefined && { stallMs: st.lastStall.ms, stallAt: st.lastStall.at }),
        ...(stallP95 !== undefined && { stallP95WindowMs: stallP95 * 1000 }),
      });
    }
    return out;
  }

  /** Serves the TTS families from the recorder's state instead of prom-client objects. */
  #install(): void {
    const r = this.registry;
    const fam = (name: MetricName, values: FamilyValue[]): Family => ({
      name,
      help: catalog[name].help,
      type: catalog[name].type,
      values,
    });
    const perSeries = (name: MetricName, pick: (s: Series) => number | undefined) => ({
      get: () =>
        fam(
          name,
          [...this.#series.values()].flatMap((s) => {
            const v = pick(s);
            return v === undefined ? [] : [{ labels: s.labels, value: v }];
          }),
        ),
    });
    r.override("tts_latency_seconds", {
      get: () =>
        fam(
          "tts_latency_seconds",
          [...this.#series.values()]
            .filter((s) => s.latency.count > 0)
            .flatMap((s) => s.latency.values("tts_latency_seconds", s.labels)),
        ),
    });
    r.override("tts_time_to_first_audio_seconds", {
      get: () =>
        fam(
          "tts_time_to_first_audio_seconds",
          [...this.#series.values()]
            .filter((s) => s.ttfa.count > 0)
            .flatMap((s) => s.ttfa.values("tts_time_to_first_audio_seconds", s.labels)),
        ),
    });
    for (const [name, pick] of [
      ["tts_inter_chunk_gap_seconds", (s: Series) => s.chunkGaps],
      ["tts_stall_seconds", (s: Series) => s.stall],
    ] as const) {
      r.override(name, {
        get: () =>
          fam(
            name,
            [...this.#series.values()]
              .filter((s) => pick(s).count > 0)
              .flatMap((s) => pick(s).values(name, s.labels)),
          ),
      });
    }
    r.override("tts_request_duration_seconds", {
      get: () =>
        fam(
          "tts_request_duration_seconds",
          [...this.#series.values()].flatMap((s) => [
            ...(s.durationSuccess.count > 0
              ? s.durationSuccess.values("tts_request_duration_seconds", { ...s.labels, result: "success" })
              : []),
            ...(s.durationFailure.count > 0
              ? s.durationFailure.values("tts_request_duration_seconds", { ...s.labels, result: "failure" })
              : []),
          ]),
        ),
    });
    r.override(
      "tts_last_request_timestamp_seconds",
      perSeries("tts_last_request_timestamp_seconds", (s) =>
        s.lastAt === undefined ? undefined : s.lastAt / 1000,
      ),
    );
    r.override(
      "tts_last_success_timestamp_seconds",
      perSeries("tts_last_success_timestamp_seconds", (s) =>
        s.lastSuccessAt === undefined ? undefined : s.lastSuccessAt / 1000,
      ),
    );
    r.override(
      "tts_real_time_factor",
      perSeries("tts_real_time_factor", (s) => s.rtf),
    );
    r.override(
      "tts_throughput_characters_per_second",
      perSeries("tts_throughput_characters_per_second", (s) => s.cps),
    );
    r.override(
      "tts_throughput_words_per_minute",
      perSeries("tts_throughput_words_per_minute", (s) => s.wpm),
    );
    r.override(
      "tts_speaking_rate_words_per_minute",
      perSeries("tts_speaking_rate_words_per_minute", (s) => s.speakingRate),
    );
    r.override(
      "tts_audio_duration_seconds",
      perSeries("tts_audio_duration_seconds", (s) => s.audioDuration),
    );
    r.override("tts_requests_total", {
      get: () =>
        fam(
          "tts_requests_total",
          [...this.#series.values()].flatMap((s) => [
            { labels: { ...s.labels, result: "success" }, value: s.success },
            { labels: { ...s.labels, result: "failure" }, value: s.failure },
          ]),
        ),
    });
    r.override("tts_failures_total", {
      get: () =>
        fam(
          "tts_failures_total",
          [...this.#series.values()].flatMap((s) =>
            [...s.failures].map(([reason, value]) => ({ labels: { ...s.labels, reason }, value })),
          ),
        ),
    });
    r.override("tts_request_temperature_latency_seconds", {
      get: () =>
        fam(
          "tts_request_temperature_latency_seconds",
          [...this.#engines].flatMap(([engine, st]) => [
            ...(st.cold
              ? [{ labels: { engine, voice: st.cold.voice, temperature: "cold" }, value: st.cold.latency }]
              : []),
            ...(st.warm
              ? [{ labels: { engine, voice: st.warm.voice, temperature: "warm" }, value: st.warm.latency }]
              : []),
          ]),
        ),
    });
    const cacheTotals = (name: MetricName, pick: (t: CacheTotals) => number) => ({
      get: () =>
        fam(
          name,
          [...this.#cacheTotals].map(([engine, t]) => ({ labels: { engine }, value: pick(t) })),
        ),
    });
    const cacheFamily = (name: MetricName, pick: (st: EngineState) => number | undefined) => ({
      get: () => {
        const now = this.#now();
        return fam(
          name,
          [...this.#engines].flatMap(([engine, st]) => {
            st.cache?.advance(now);
            const v = st.cache ? pick(st) : undefined;
            return v === undefined ? [] : [{ labels: { engine }, value: v }];
          }),
        );
      },
    });
    r.override(
      "tts_cache_hits_total",
      cacheTotals("tts_cache_hits_total", (t) => t.hits),
    );
    r.override(
      "tts_cache_lookups_total",
      cacheTotals("tts_cache_lookups_total", (t) => t.lookups),
    );
    // No lookups in the window: no value, rather than a made-up 0 or 1.
    r.override(
      "tts_cache_hit_rate",
      cacheFamily("tts_cache_hit_rate", (st) => st.cache?.ratio()),
    );
  }
}
