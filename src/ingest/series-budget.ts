// The series budget of data that arrives from outside (ingestion, stress-leased ingestion and the
// gateway): the label guard bounds each label, this bounds their combinations. A new (engine, voice)
// combination gets a series of its own only while the budget has room; once it is spent, new
// combinations are folded into (engine, "other") when that series exists or still fits, else into
// ("other", "other"), whose room is reserved up front in every source. Existing series keep their
// own labels and their counts: nothing is evicted, so no counter resets and no series flaps between
// scrapes; the owner of a series' lifetime (a TTL, a removed engine) frees its room with release().
//
// Each (engine, voice) is charged the most samples it can put on /metrics (every family filled:
// histograms, every failure reason, the audio measures, its engine's cache and temperature
// families) and the bytes those lines take with its label values escaped: the engine's and voice's
// families once, the per-series families once per source it has a series in (the recorder keys
// series by engine, voice and source), the gateway's with the inter-chunk families. The byte
// ceiling is what keeps /metrics under 1 MB (SPEC) whatever the label values are; it is not
// configurable.

import { MOS_MODELS } from "../audio/mos/models.ts";
import { FAILURE_REASONS } from "../engines/types.ts";
import { catalog, type MetricName, metricNames } from "../metrics/catalog.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { ANALYSIS_FAILURE_REASONS } from "./analysis-reasons.ts";

const MOS_DIMENSIONS = Object.values(MOS_MODELS).reduce((n, m) => n + m.dimensions.length, 0);

export const FOLDED = "other";

/** Bytes of /metrics left to ingested series: the rest of 1 MiB is the exporter's own families. */
export const INGEST_EXPOSITION_BYTES = 768 * 1024;

/** Families the recorder renders per (engine, voice, source) series, whatever the source. */
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
/** Gaps between audio chunks, every one and the longest per request (series of timed syntheses). */
const CHUNK_FAMILIES: readonly MetricName[] = ["tts_inter_chunk_gap_seconds", "tts_stall_seconds"];
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

/** A set of families and what one (engine, voice) can put on /metrics through them. */
interface Part {
  readonly samples: number;
  readonly fixedBytes: number;
  /** Sample lines that carry the engine label, and the voice label. */
  readonly engineLines: number;
  readonly voiceLines: number;
}

function part(families: readonly MetricName[]): Part {
  const linesWith = (label: string) =>
    families.reduce(
      (n, f) => n + ((catalog[f].labels as readonly string[]).includes(label) ? samplesOf(f) : 0),
      0,
    );
  return {
    samples: families.reduce((n, f) => n + samplesOf(f), 0),
    fixedBytes: families.reduce((n, f) => n + samplesOf(f) * lineBytes(f), 0),
    engineLines: linesWith("engine"),
    voiceLines: linesWith("voice"),
  };
}

/** The non-probe sources: each (engine, voice) may have a series of each (src/ingest/recorder.ts). */
export const BUDGETED_SOURCES = ["ingest", "stress", "gateway"] as const;
export type BudgetedSource = (typeof BUDGETED_SOURCES)[number];

/** Once per (engine, voice), whatever its sources: the engine's and the voice's families. */
const SHARED = part([...PER_ENGINE, ...PER_VOICE]);
/**
 * Per (engine, voice, source). The gateway's series also hold the inter-chunk families: the gateway
 * times its upstream answers itself (src/gateway/gateway.ts); ingested events carry no chunk times.
 */
const PER_SOURCE: Readonly<Record<BudgetedSource, Part>> = {
  ingest: part(PER_SERIES),
  stress: part(PER_SERIES),
  gateway: part([...PER_SERIES, ...CHUNK_FAMILIES]),
};

/** Bytes of a label value in the exposition: UTF-8, with \\, \" and \n escaped. */
const escapedLength = (s: string) => Buffer.byteLength(s) + (s.match(/["\\\n]/g)?.length ?? 0);

const bytesOf = (p: Part, engine: string, voice: string) =>
  p.fixedBytes + p.engineLines * escapedLength(engine) + p.voiceLines * escapedLength(voice);

/** Samples charged once per (engine, voice), whatever its sources. */
export const PAIR_SAMPLES: number = SHARED.samples;

/** The most samples one ingested (engine, voice) can put on /metrics (source="ingest" alone). */
export const SAMPLES_PER_SERIES: number = SHARED.samples + PER_SOURCE.ingest.samples;

/** The most samples of one (engine, voice) with a series of this source only. */
export function seriesSamples(source: BudgetedSource): number {
  return SHARED.samples + PER_SOURCE[source].samples;
}

/** Samples reserved up front for the last fold target, ("other", "other"), in every source. */
export const RESERVED_SAMPLES: number =
  SHARED.samples + BUDGETED_SOURCES.reduce((n, s) => n + PER_SOURCE[s].samples, 0);

/** The most bytes one (engine, voice) with a series of this source only can put on /metrics. */
export function seriesBytes(engine: string, voice: string, source: BudgetedSource = "ingest"): number {
  return bytesOf(SHARED, engine, voice) + bytesOf(PER_SOURCE[source], engine, voice);
}

export interface SeriesBudgetOptions {
  /** ingest.max_series: series of their own for ingested (engine, voice) combinations. */
  readonly maxSeries: number;
  /** ingest.max_samples: samples per scrape those series may add, at most. */
  readonly maxSamples: number;
}

export type Limit = "series" | "samples" | "bytes";

interface Admitted {
  /** Bytes and samples charged for this (engine, voice), its shared part and each source's. */
  bytes: number;
  samples: number;
  readonly sources: Set<BudgetedSource>;
}

export class SeriesBudget {
  readonly #admitted = new Map<string, Admitted>();
  #bytes = 0;
  #samples = 0;
  readonly #registry: MetricsRegistry;
  readonly #options: SeriesBudgetOptions;

  constructor(registry: MetricsRegistry, options: SeriesBudgetOptions) {
    this.#registry = registry;
    this.#options = options;
    // The room of the last fold target, reserved in every source: a fold always has somewhere to go.
    for (const source of BUDGETED_SOURCES) this.#charge(FOLDED, FOLDED, source);
  }

  /** (engine, voice) combinations admitted so far, ("other", "other") included. */
  get size(): number {
    return this.#admitted.size;
  }

  /** Samples the admitted series may put on /metrics at most. */
  get samples(): number {
    return this.#samples;
  }

  /** Bytes of /metrics the admitted series may take at most. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The labels an event from outside is recorded under in this source: its own while the budget has
   * room, else a fold target. Counted in tts_exporter_series_limit_reached_total (which limit) and
   * tts_ingest_labels_folded_total (which labels).
   */
  admit(
    engine: string,
    voice: string,
    source: BudgetedSource = "ingest",
  ): { readonly engine: string; readonly voice: string } {
    if (this.#admitted.get(key(engine, voice))?.sources.has(source)) return { engine, voice };
    const refused = this.#refusal(engine, voice, source);
    if (refused === undefined) {
      this.#charge(engine, voice, source);
      return { engine, voice };
    }
    this.#registry.counter("tts_exporter_series_limit_reached_total").inc({ limit: refused, data: "ingest" });
    const folded = this.#registry.counter("tts_ingest_labels_folded_total");
    if (voice !== FOLDED && engine !== FOLDED) {
      const target = this.#admitted.get(key(engine, FOLDED));
      if (target?.sources.has(source) || this.#refusal(engine, FOLDED, source) === undefined) {
        if (!target?.sources.has(source)) this.#charge(engine, FOLDED, source);
        folded.inc({ label: "voice" });
        return { engine, voice: FOLDED };
      }
    }
    if (engine !== FOLDED) folded.inc({ label: "engine" });
    if (voice !== FOLDED) folded.inc({ label: "voice" });
    return { engine: FOLDED, voice: FOLDED };
  }

  /** The series of this (engine, voice) are gone (their owner removed them): their room is free again. */
  release(engine: string, voice: string): void {
    if (engine === FOLDED && voice === FOLDED) return; // stays reserved
    const k = key(engine, voice);
    const a = this.#admitted.get(k);
    if (a === undefined) return;
    this.#admitted.delete(k);
    this.#bytes -= a.bytes;
    this.#samples -= a.samples;
  }

  /** What a series of this source adds: its source's part, and the shared part for a new pair. */
  #cost(engine: string, voice: string, source: BudgetedSource): { bytes: number; samples: number } {
    const known = this.#admitted.has(key(engine, voice));
    const p = PER_SOURCE[source];
    return {
      bytes: bytesOf(p, engine, voice) + (known ? 0 : bytesOf(SHARED, engine, voice)),
      samples: p.samples + (known ? 0 : SHARED.samples),
    };
  }

  #refusal(engine: string, voice: string, source: BudgetedSource): Limit | undefined {
    if (!this.#admitted.has(key(engine, voice)) && this.#admitted.size >= this.#options.maxSeries)
      return "series";
    const cost = this.#cost(engine, voice, source);
    if (this.#samples + cost.samples > this.#options.maxSamples) return "samples";
    if (this.#bytes + cost.bytes > INGEST_EXPOSITION_BYTES) return "bytes";
    return undefined;
  }

  #charge(engine: string, voice: string, source: BudgetedSource): void {
    const cost = this.#cost(engine, voice, source);
    const k = key(engine, voice);
    let a = this.#admitted.get(k);
    if (!a) {
      a = { bytes: 0, samples: 0, sources: new Set() };
      this.#admitted.set(k, a);
    }
    a.sources.add(source);
    a.bytes += cost.bytes;
    a.samples += cost.samples;
    this.#bytes += cost.bytes;
    this.#samples += cost.samples;
  }
}

const key = (engine: string, voice: string) => `${engine}\u0000${voice}`;
