import type { FailureReason } from "../engines/types.ts";
import { catalog, type MetricName } from "../metrics/catalog.ts";
import type { Family, FamilyValue } from "../metrics/exposition.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { countCharacters, countWords, type SynthesisEvent } from "./event.ts";
import { SeriesBudget } from "./series-budget.ts";

// The recording path shared by probes, HTTP ingestion and recordSynthesis(). It is the hot path of
// ingestion (tens of thousands of events per second), so it does not call prom-client per event:
// each (engine, voice, source) series is one object found by one Map lookup, its histogram is a
// bucket array, and the families are rendered from these objects at scrape time.

export type Source = "probe" | "ingest";

const LATENCY_BOUNDS: readonly number[] = catalog.tts_latency_seconds.buckets;

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
  success = 0;
  failure = 0;
  readonly failures = new Map<FailureReason, number>();
  rtf: number | undefined;
  cps: number | undefined;
  wpm: number | undefined;
  speakingRate: number | undefined;
  audioDuration: number | undefined;
  constructor(engine: string, voice: string, source: string) {
    this.labels = { engine, voice, source };
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
  lastLatency?: number;
  lastRtf?: number;
  lastAt?: number;
  successes: number;
  attempts: number;
  cold?: { voice: string; latency: number };
  warm?: { voice: string; latency: number };
  cache?: SlidingRatio;
  cacheHits: number;
  cacheLookups: number;
}

export interface RecorderOptions {
  /** Sliding window of the cache hit rate. */
  readonly cacheWindowSeconds: number;
  /** Distinct engine label values accepted from ingestion before folding into "other". */
  readonly maxEngines: number;
  /** Distinct voice label values accepted (across engines) before folding into "other". */
  readonly maxVoices: number;
  /** Series budget of ingested data (ingest.max_series, ingest.max_samples); default 50 and 5000. */
  readonly maxSeries?: number;
  readonly maxSamples?: number;
  /** Engines from the config: always accepted, never folded. */
  readonly knownEngines?: readonly string[];
  /** false: cache flags are ignored (config monitoring.cache_monitoring). */
  readonly cacheMonitoring?: boolean;
  readonly now?: () => number;
}

export interface EngineSummary {
  readonly latencyMs?: number;
  readonly latencyP50Ms?: number;
  readonly latencyP95Ms?: number;
  readonly realTimeFactor?: number;
  /** Successful share of the requests recorded so far, 0-1. */
  readonly successRatio?: number;
  readonly requests: number;
  readonly cacheHitRate?: number;
  readonly lastAt?: number;
}

export const DEFAULT_VOICE = "default";

export class SynthesisRecorder {
  readonly #series = new Map<string, Series>();
  readonly #engines = new Map<string, EngineState>();
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
      maxSamples: options.maxSamples ?? 5000,
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

  #engineState(engine: string): EngineState {
    let st = this.#engines.get(engine);
    if (!st) {
      st = { recent: new Recent(), successes: 0, attempts: 0, cacheHits: 0, cacheLookups: 0 };
      this.#engines.set(engine, st);
    }
    return st;
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
      if (source === "ingest") ({ engine, voice } = this.budget.admit(engine, voice));
      const key = `${engine}\u0000${voice}\u0000${source}`;
      s = this.#series.get(key) ?? new Series(engine, voice, source);
      this.#series.set(key, s);
    }
    const st = this.#engineState(engine);
    st.attempts++;
    st.lastAt = now;

    if (event.cacheHit !== undefined && this.options.cacheMonitoring !== false) {
      st.cacheLookups++;
      if (event.cacheHit) st.cacheHits++;
      if (!st.cache) st.cache = new SlidingRatio(this.options.cacheWindowSeconds, now);
      st.cache.add(now, event.cacheHit);
    }

    if (event.success === false) {
      s.failure++;
      const reason = event.errorReason ?? "other";
      s.failures.set(reason, (s.failures.get(reason) ?? 0) + 1);
      return s.labels;
    }

    s.success++;
    st.successes++;
    const latency = event.latencyMs / 1000;
    s.latency.observe(latency);
    st.recent.push(event.latencyMs);
    st.lastLatency = event.latencyMs;
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
      const p50 = st.recent.quantile(0.5);
      const p95 = st.recent.quantile(0.95);
      const rate = st.cache?.ratio();
      out.set(engine, {
        requests: st.attempts,
        ...(st.lastLatency !== undefined && { latencyMs: st.lastLatency }),
        ...(p50 !== undefined && { latencyP50Ms: p50 }),
        ...(p95 !== undefined && { latencyP95Ms: p95 }),
        ...(st.lastRtf !== undefined && { realTimeFactor: st.lastRtf }),
        ...(st.attempts > 0 && { successRatio: st.successes / st.attempts }),
        ...(rate !== undefined && { cacheHitRate: rate }),
        ...(st.lastAt !== undefined && { lastAt: st.lastAt }),
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
      cacheFamily("tts_cache_hits_total", (st) => st.cacheHits),
    );
    r.override(
      "tts_cache_lookups_total",
      cacheFamily("tts_cache_lookups_total", (st) => st.cacheLookups),
    );
    // No lookups in the window: no value, rather than a made-up 0 or 1.
    r.override(
      "tts_cache_hit_rate",
      cacheFamily("tts_cache_hit_rate", (st) => st.cache?.ratio()),
    );
  }
}
