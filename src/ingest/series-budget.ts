// The series budget of data that arrives from outside (ingestion; gateway-sourced data later): the
// label guard bounds each label, this bounds their combinations. A new (engine, voice) combination
// gets a series of its own only while the budget has room; once it is spent, new combinations are
// folded into (engine, "other") when that series exists or still fits, else into ("other", "other"),
// whose room is reserved up front. Existing series keep their own labels and their counts: nothing
// is evicted, so no counter resets and no series flaps between scrapes; the owner of a series'
// lifetime (a TTL, a removed engine) frees its room with release().
//
// Each series is charged the most samples one (engine, voice) can put on /metrics (every family
// filled: histograms, every failure reason, the audio measures, its engine's cache and temperature
// families) and the bytes those lines take with its label values escaped. The byte ceiling is what
// keeps /metrics under 1 MB (SPEC) whatever the label values are; it is not configurable.

import { MOS_MODELS } from "../audio/mos/models.ts";
import { FAILURE_REASONS } from "../engines/types.ts";
import { catalog, type MetricName, metricNames } from "../metrics/catalog.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { ANALYSIS_FAILURE_REASONS } from "./analysis-reasons.ts";

const MOS_DIMENSIONS = Object.values(MOS_MODELS).reduce((n, m) => n + m.dimensions.length, 0);

export const FOLDED = "other";

/** Bytes of /metrics left to ingested series: the rest of 1 MiB is the exporter's own families. */
export const INGEST_EXPOSITION_BYTES = 768 * 1024;

/** Families the recorder renders per (engine, voice, source) series. */
const PER_SERIES: readonly MetricName[] = [
  "tts_latency_seconds",
  "tts_time_to_first_audio_seconds",
  "tts_real_time_factor",
  "tts_throughput_characters_per_second",
  "tts_throughput_words_per_minute",
  "tts_speaking_rate_words_per_minute",
  "tts_audio_duration_seconds",
  "tts_requests_total",
  "tts_failures_total",
  "tts_request_duration_seconds",
  "tts_last_request_timestamp_seconds",
  "tts_last_success_timestamp_seconds",
];
/** Families per engine (one engine per series in the worst case). */
const PER_ENGINE: readonly MetricName[] = [
  "tts_request_temperature_latency_seconds",
  "tts_cache_hits_total",
  "tts_cache_lookups_total",
  "tts_cache_hit_rate",
  "tts_audio_analysis_failures_total",
];
/** Audio measures per (engine, voice), set by the analysis of ingested audio. */
const PER_VOICE: readonly MetricName[] = metricNames.filter(
  (n) => catalog[n].area === "audio" && (catalog[n].labels as readonly string[]).includes("voice"),
);

function samplesOf(name: MetricName): number {
  const def = catalog[name];
  if (name === "tts_request_duration_seconds" && "buckets" in def && def.buckets)
    return 2 * (def.buckets.length + 3); // result="success" | "failure"
  if ("buckets" in def && def.buckets) return def.buckets.length + 3; // buckets, +Inf, _sum, _count
  if (name === "tts_requests_total") return 2; // result="success" | "failure"
  if (name === "tts_failures_total") return FAILURE_REASONS.length;
  if (name === "tts_request_temperature_latency_seconds") return 2; // cold, warm
  if (name === "tts_audio_analysis_failures_total") return ANALYSIS_FAILURE_REASONS.length;
  if (name === "tts_audio_predicted_mos") return MOS_DIMENSIONS; // model × dimension
  return 1;
}

/** The most samples one ingested series can put on /metrics. */
export const SAMPLES_PER_SERIES: number = [...PER_SERIES, ...PER_ENGINE, ...PER_VOICE].reduce(
  (n, name) => n + samplesOf(name),
  0,
);

/**
 * Bytes of one sample line of the family without its engine and voice values:
 * `name_bucket{engine="",voice="",source="ingest",le="+Inf"} value\n`, other label values (bounded
 * sets: source, reason, result, le, asr) counted as 16 bytes and the value as 24.
 */
function lineBytes(name: MetricName): number {
  const def = catalog[name];
  const histogram = "buckets" in def && def.buckets !== undefined;
  const labels: readonly string[] = histogram ? [...def.labels, "le"] : def.labels;
  const labelBytes = labels.reduce(
    (n, l) => n + l.length + 4 + (l === "engine" || l === "voice" ? 0 : 16),
    0,
  );
  return name.length + (histogram ? "_bucket".length : 0) + 2 + labelBytes + 1 + 24 + 1;
}

const FAMILIES = [...PER_SERIES, ...PER_ENGINE, ...PER_VOICE];
const FIXED_BYTES = FAMILIES.reduce((n, f) => n + samplesOf(f) * lineBytes(f), 0);
const linesWith = (label: string) =>
  FAMILIES.reduce(
    (n, f) => n + ((catalog[f].labels as readonly string[]).includes(label) ? samplesOf(f) : 0),
    0,
  );
const ENGINE_LINES = linesWith("engine");
const VOICE_LINES = linesWith("voice");

/** Bytes of a label value in the exposition: UTF-8, with \\, \" and \n escaped. */
const escapedLength = (s: string) => Buffer.byteLength(s) + (s.match(/["\\\n]/g)?.length ?? 0);

/** The most bytes one series with these labels can put on /metrics. */
export function seriesBytes(engine: string, voice: string): number {
  return FIXED_BYTES + ENGINE_LINES * escapedLength(engine) + VOICE_LINES * escapedLength(voice);
}

export interface SeriesBudgetOptions {
  /** ingest.max_series: series of their own for ingested (engine, voice) combinations. */
  readonly maxSeries: number;
  /** ingest.max_samples: samples per scrape those series may add, at most. */
  readonly maxSamples: number;
}

export type Limit = "series" | "samples" | "bytes";

export class SeriesBudget {
  readonly #admitted = new Map<string, number>(); // key → bytes charged
  #bytes = 0;
  readonly #registry: MetricsRegistry;
  readonly #options: SeriesBudgetOptions;

  constructor(registry: MetricsRegistry, options: SeriesBudgetOptions) {
    this.#registry = registry;
    this.#options = options;
    this.#charge(FOLDED, FOLDED); // the room of the last fold target, reserved
  }

  /** Series admitted so far, ("other", "other") included. */
  get size(): number {
    return this.#admitted.size;
  }

  /** Samples the admitted series may put on /metrics at most. */
  get samples(): number {
    return this.#admitted.size * SAMPLES_PER_SERIES;
  }

  /**
   * The labels an ingested event is recorded under: its own while the budget has room, else a fold
   * target. Counted in tts_exporter_series_limit_reached_total (which limit) and
   * tts_ingest_labels_folded_total (which labels).
   */
  admit(engine: string, voice: string): { readonly engine: string; readonly voice: string } {
    if (this.#admitted.has(key(engine, voice))) return { engine, voice };
    const refused = this.#refusal(engine, voice);
    if (refused === undefined) {
      this.#charge(engine, voice);
      return { engine, voice };
    }
    this.#registry.counter("tts_exporter_series_limit_reached_total").inc({ limit: refused, data: "ingest" });
    const folded = this.#registry.counter("tts_ingest_labels_folded_total");
    if (voice !== FOLDED && engine !== FOLDED) {
      if (this.#admitted.has(key(engine, FOLDED)) || this.#refusal(engine, FOLDED) === undefined) {
        this.#charge(engine, FOLDED);
        folded.inc({ label: "voice" });
        return { engine, voice: FOLDED };
      }
    }
    if (engine !== FOLDED) folded.inc({ label: "engine" });
    if (voice !== FOLDED) folded.inc({ label: "voice" });
    return { engine: FOLDED, voice: FOLDED };
  }

  /** The series is gone (its owner removed it): its room is free again. */
  release(engine: string, voice: string): void {
    if (engine === FOLDED && voice === FOLDED) return; // stays reserved
    const k = key(engine, voice);
    const bytes = this.#admitted.get(k);
    if (bytes === undefined) return;
    this.#admitted.delete(k);
    this.#bytes -= bytes;
  }

  #refusal(engine: string, voice: string): Limit | undefined {
    if (this.#admitted.size >= this.#options.maxSeries) return "series";
    if ((this.#admitted.size + 1) * SAMPLES_PER_SERIES > this.#options.maxSamples) return "samples";
    if (this.#bytes + seriesBytes(engine, voice) > INGEST_EXPOSITION_BYTES) return "bytes";
    return undefined;
  }

  #charge(engine: string, voice: string): void {
    const bytes = seriesBytes(engine, voice);
    this.#admitted.set(key(engine, voice), bytes);
    this.#bytes += bytes;
  }
}

const key = (engine: string, voice: string) => `${engine}\u0000${voice}`;
