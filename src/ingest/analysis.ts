import { AudioAnalyzer, AudioTooLongError } from "../audio/analyzer.ts";
import type { AudioFormat, DecodedAudio } from "../audio/format.ts";
import { Intelligibility } from "../audio/intelligibility.ts";
import { analysisSamples } from "../audio/metrics.ts";
import type { Logger } from "../log.ts";
import { catalog, type MetricName, metricNames } from "../metrics/catalog.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";

/** The audio families set per (engine, voice): replaced together so a measure absent this time does not linger. */
const AUDIO_FAMILIES: MetricName[] = metricNames.filter(
  (n) => catalog[n].area === "audio" && n !== "tts_intelligibility_ratio",
);

export interface AnalysisJob {
  readonly engine: string;
  readonly voice: string;
  readonly text?: string;
  readonly audio: Uint8Array;
  readonly format?: AudioFormat;
  /** Already decoded (probes), for the recogniser; without it the analysis worker's samples are used. */
  readonly decoded?: DecodedAudio;
  /** Ingested audio: capped at maxSeconds (ingest.max_audio_seconds), drops counted. */
  readonly ingested?: { readonly maxSeconds: number };
}

/**
 * Analyses probe and ingested audio off the event loop (a worker for the measures, a child process
 * for the recogniser) and exports the measures. Bounded: when jobs pile up (a flood of ingested
 * audio), new ones are dropped and logged once, so analysis can never become the load.
 */
export class AnalysisPipeline {
  readonly #analyzer = new AudioAnalyzer();
  readonly #asr: Intelligibility;
  #pending = 0;
  readonly #maxPending = 8;
  readonly #latest = new Map<string, { score: number; at: number }>();

  constructor(
    private readonly registry: MetricsRegistry,
    private readonly log: Logger,
  ) {
    this.#asr = new Intelligibility({ warn: (msg, fields) => log.warn(msg, fields) });
  }

  /** Latest quality score per engine (getCurrentMetrics). */
  get latestQuality(): ReadonlyMap<string, { score: number; at: number }> {
    return this.#latest;
  }

  /** Starts the analysis of one audio; resolves when its metrics are set (never rejects). */
  submit(job: AnalysisJob, registry: MetricsRegistry = this.registry): Promise<void> {
    if (this.#pending >= this.#maxPending) {
      if (job.ingested) this.registry.counter("tts_ingest_audio_dropped_total").inc({ reason: "backlog" });
      this.log.once(
        "analysis-backlog",
        "warn",
        "audio analysis backlog full; dropping audio until it drains",
        {
          pending: this.#pending,
        },
      );
      return Promise.resolve();
    }
    this.#pending++;
    return this.#run(job, registry).finally(() => {
      this.#pending--;
    });
  }

  async #run(job: AnalysisJob, registry: MetricsRegistry): Promise<void> {
    const labels = { engine: job.engine, voice: job.voice };
    let decoded = job.decoded;
    try {
      const result = await this.#analyzer.analyze(job.audio, job.format, {
        ...(job.text !== undefined && { text: job.text }),
        ...(job.ingested && { maxSeconds: job.ingested.maxSeconds }),
        keepSamples: job.text !== undefined && decoded === undefined,
      });
      const { analysis } = result;
      const { samples, sampleRate, channels, durationSeconds } = result.decoded;
      if (samples) decoded = { samples, sampleRate, channels, durationSeconds };
      for (const name of AUDIO_FAMILIES) registry.gauge(name).remove(labels);
      for (const s of analysisSamples(analysis, labels)) {
        if (s.metric === "tts_intelligibility_ratio") continue;
        registry.gauge(s.metric).set(s.labels, s.value);
      }
      if (registry === this.registry)
        this.#latest.set(job.engine, { score: analysis.qualityScore.score, at: Date.now() });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (job.ingested)
        this.registry
          .counter("tts_ingest_audio_dropped_total")
          .inc({ reason: err instanceof AudioTooLongError ? "too_long" : "undecodable" });
      this.log.warn("audio analysis failed", { engine: job.engine, voice: job.voice, error: message });
      return;
    }
    if (job.text !== undefined && decoded !== undefined) {
      // The worker's samples are ours alone: handed on to the recogniser's worker, not copied.
      const transfer = job.decoded === undefined;
      const r = await this.#asr.score(decoded, job.text, { transfer }).catch((err: unknown) => {
        this.log.warn("intelligibility test failed", {
          engine: job.engine,
          error: err instanceof Error ? err.message : String(err),
        });
        return undefined;
      });
      if (r) registry.gauge("tts_intelligibility_ratio").set({ ...labels, asr: r.asr }, r.ratio);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.#analyzer.close(), this.#asr.close()]);
  }
}
