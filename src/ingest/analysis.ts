import { AudioAnalyzer } from "../audio/analyzer.ts";
import type { AudioFormat, DecodedAudio } from "../audio/format.ts";
import { Intelligibility } from "../audio/intelligibility.ts";
import { analysisSamples } from "../audio/metrics.ts";
import { MosScorer } from "../audio/mos/index.ts";
import { recordMos } from "../audio/mos/metrics.ts";
import type { Logger } from "../log.ts";
import { catalog, type MetricName, metricNames } from "../metrics/catalog.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";

/** The audio families set per (engine, voice): replaced together so a measure absent this time does not linger. */
const AUDIO_FAMILIES: MetricName[] = metricNames.filter(
  (n) => catalog[n].area === "audio" && n !== "tts_intelligibility_ratio" && n !== "tts_audio_predicted_mos",
);

export interface AnalysisJob {
  readonly engine: string;
  readonly voice: string;
  readonly text?: string;
  readonly audio: Uint8Array;
  readonly format?: AudioFormat;
  /** Already decoded on the main thread (probes), for the recogniser. */
  readonly decoded?: DecodedAudio;
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
  /** Predicted MOS (monitoring.mos); its series are set and removed by recordMos alone. */
  readonly #mos: MosScorer | undefined;
  readonly #latestMos = new Map<string, { ovrl: number; at: number }>();

  constructor(
    private readonly registry: MetricsRegistry,
    private readonly log: Logger,
    mos: { enabled: boolean; maxWindows: number; nice?: number } = { enabled: true, maxWindows: 3 },
  ) {
    this.#asr = new Intelligibility({ warn: (msg, fields) => log.warn(msg, fields) });
    if (mos.enabled)
      this.#mos = new MosScorer({
        maxWindows: mos.maxWindows,
        ...(mos.nice !== undefined && { nice: mos.nice }),
        logger: { warn: (m, f) => log.warn(m, f) },
      });
  }

  /** Latest predicted overall MOS (DNSMOS P.835 OVRL) per engine (getCurrentMetrics); absent once a clip had none. */
  get latestMos(): ReadonlyMap<string, { ovrl: number; at: number }> {
    return this.#latestMos;
  }

  /** Latest quality score per engine (getCurrentMetrics). */
  get latestQuality(): ReadonlyMap<string, { score: number; at: number }> {
    return this.#latest;
  }

  /** Starts the analysis of one audio; resolves when its metrics are set (never rejects). */
  submit(job: AnalysisJob, registry: MetricsRegistry = this.registry): Promise<void> {
    if (this.#pending >= this.#maxPending) {
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
    const run = this.#run(job, registry).finally(() => {
      this.#pending--;
    });
    // Not counted in #pending: the scorer has its own bound (one in flight, one waiting per source).
    const mos = this.#mos?.score(job.audio, job.format, `${job.engine}\0${job.voice}`).then((o) => {
      recordMos(registry, { engine: job.engine, voice: job.voice }, o);
      if (registry !== this.registry || o.absent === "superseded by a newer clip" || o.absent === "closed")
        return;
      const ovrl = o.results.find((r) => r.model === "dnsmos_p835")?.values.ovrl;
      if (ovrl === undefined) this.#latestMos.delete(job.engine);
      else this.#latestMos.set(job.engine, { ovrl, at: Date.now() });
    });
    return mos ? Promise.all([run, mos]).then(() => undefined) : run;
  }

  async #run(job: AnalysisJob, registry: MetricsRegistry): Promise<void> {
    const labels = { engine: job.engine, voice: job.voice };
    try {
      const { analysis } = await this.#analyzer.analyze(
        job.audio,
        job.format,
        job.text === undefined ? {} : { text: job.text },
      );
      for (const name of AUDIO_FAMILIES) registry.gauge(name).remove(labels);
      for (const s of analysisSamples(analysis, labels)) {
        if (s.metric === "tts_intelligibility_ratio") continue;
        registry.gauge(s.metric).set(s.labels, s.value);
      }
      if (registry === this.registry)
        this.#latest.set(job.engine, { score: analysis.qualityScore.score, at: Date.now() });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn("audio analysis failed", { engine: job.engine, voice: job.voice, error: message });
      return;
    }
    if (job.text !== undefined && job.decoded !== undefined) {
      const r = await this.#asr.score(job.decoded, job.text).catch((err: unknown) => {
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
    await this.#mos?.close();
    await this.#analyzer.close();
  }
}
