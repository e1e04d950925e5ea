import { AnalysisWorkerError, AudioAnalyzer, AudioTooLongError } from "../audio/analyzer.ts";
import { AudioDecodeError } from "../audio/decode.ts";
import type { AudioFormat, DecodedAudio } from "../audio/format.ts";
import { Intelligibility, RecogniserError } from "../audio/intelligibility.ts";
import { analysisSamples, type MetricSample } from "../audio/metrics.ts";
import { type MosOutcome, MosScorer } from "../audio/mos/index.ts";
import { type QualityScore, withIntelligibility, withPredictedMos } from "../audio/quality-score.ts";

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

import type { AnalysisFailureReason } from "./analysis-reasons.ts";

export { ANALYSIS_FAILURE_REASONS, type AnalysisFailureReason } from "./analysis-reasons.ts";

export interface AudioLabels {
  readonly engine: string;
  readonly voice: string;
}

/**
 * Where analysis results go. The exporter's sink is src/state/lifetimes.ts (it owns the audio
 * series: creates, replaces and removes them); GET /probe writes into its fresh registry.
 * `receivedAt` (epoch ms) is when the audio was submitted: the time of the measures.
 */
export interface AudioSink {
  /** One analysis's measures: they replace every audio gauge of the engine/voice. */
  measured(
    labels: AudioLabels,
    samples: readonly MetricSample[],
    qualityScore: number,
    receivedAt: number,
  ): void;
  /** The recogniser's score; undefined when there was nothing to score (no known word, no recogniser). */
  recognised(
    labels: AudioLabels,
    result: { asr: string; ratio: number } | undefined,
    receivedAt: number,
  ): void;
  /** One clip's predicted MOS (or why it has none): it replaces the engine/voice's MOS series. */
  mos(labels: AudioLabels, outcome: MosOutcome, receivedAt: number): void;
  /** An analysis or recognition that produced nothing. */
  failed(labels: AudioLabels, reason: AnalysisFailureReason, error: string): void;
  /** Latest quality score per engine and the time its audio was received, when the sink keeps it. */
  readonly latestQuality?: ReadonlyMap<string, { score: number; at: number }>;
}

const NO_QUALITY: ReadonlyMap<string, { score: number; at: number }> = new Map();

export interface AnalysisPipelineOptions {
  /** Jobs analysed or waiting at once; more are dropped (reason backlog). Default 8. */
  readonly maxPending?: number;
  readonly analyzer?: AudioAnalyzer;
  readonly recogniser?: Intelligibility;
  /** Predicted MOS (monitoring.mos, mos_max_windows, mos_nice); off when absent or not enabled. */
  readonly mos?: { readonly enabled: boolean; readonly maxWindows: number; readonly nice?: number };
  /** A predicted-MOS scorer to use instead of one built from `mos` (closed by close()). */
  readonly mosScorer?: MosScorer;
  /** Ingested audio that was not analysed (tts_ingest_audio_dropped_total). */
  readonly dropped?: (reason: "too_long" | "backlog" | "undecodable") => void;
  /** For the recogniser's one-off warning (not installed). */
  readonly warn?: (msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * Analyses probe and ingested audio off the event loop (a worker for the measures, a child process
 * for the recogniser) and hands the results to a sink. Bounded: when jobs pile up (a flood of
 * ingested audio), new ones are dropped and counted, so analysis can never become the load.
 */
export class AnalysisPipeline {
  readonly #analyzer: AudioAnalyzer;
  readonly #asr: Intelligibility;
  #pending = 0;
  readonly #maxPending: number;
  readonly #dropped: (reason: "too_long" | "backlog" | "undecodable") => void;
  /** Predicted MOS: its own bound (one clip in flight, one waiting per engine/voice). */
  readonly #mos: MosScorer | undefined;
  /**
   * Per sink and engine/voice, the clip whose measures were written last while a fold into its
   * score (predicted MOS, words) is still to come: an older clip's fold never writes over a newer
   * clip's measures, nor back over series a failed analysis removed. As bounded as the folds in
   * flight (an entry leaves with its clip's last fold, or when a newer clip replaces it).
   */
  readonly #latestClip = new WeakMap<AudioSink, Map<string, { seq: number; open: number }>>();
  #seq = 0;

  constructor(
    private readonly sink: AudioSink,
    options: AnalysisPipelineOptions = {},
  ) {
    this.#analyzer = options.analyzer ?? new AudioAnalyzer();
    this.#asr = options.recogniser ?? new Intelligibility({ warn: options.warn ?? (() => {}) });
    this.#maxPending = options.maxPending ?? 8;
    this.#dropped = options.dropped ?? (() => {});
    const warn = options.warn ?? (() => {});
    if (options.mosScorer) this.#mos = options.mosScorer;
    else if (options.mos?.enabled)
      this.#mos = new MosScorer({
        maxWindows: options.mos.maxWindows,
        ...(options.mos.nice !== undefined && { nice: options.mos.nice }),
        logger: { warn },
      });
  }

  /** Latest quality score per engine (getCurrentMetrics), as the exporter's sink keeps it. */
  get latestQuality(): ReadonlyMap<string, { score: number; at: number }> {
    return this.sink.latestQuality ?? NO_QUALITY;
  }

  /** Starts the analysis of one audio; resolves when its results are in the sink (never rejects). */
  submit(job: AnalysisJob, sink: AudioSink = this.sink): Promise<void> {
    const labels = { engine: job.engine, voice: job.voice };
    if (this.#pending >= this.#maxPending) {
      if (job.ingested) this.#dropped("backlog");
      sink.failed(labels, "backlog", `audio analysis backlog full (${this.#pending} pending)`);
      return Promise.resolve();
    }
    this.#pending++;
    const receivedAt = Date.now();
    const waits: Promise<void>[] = [];
    let mos: Promise<MosOutcome> | undefined;
    const run = this.#run(job, labels, sink, receivedAt, () => mos, waits).finally(() => {
      this.#pending--;
    });
    // Not counted in #pending: the scorer has its own bound.
    mos = this.#mos
      ?.score(job.audio, job.format, `${job.engine}\0${job.voice}`, job.ingested?.maxSeconds)
      .then((o) => {
        sink.mos(labels, o, receivedAt);
        return o;
      });
    return Promise.all([run, mos]).then(() => Promise.all(waits).then(() => undefined));
  }

  #latest(sink: AudioSink): Map<string, { seq: number; open: number }> {
    let m = this.#latestClip.get(sink);
    if (!m) this.#latestClip.set(sink, (m = new Map()));
    return m;
  }

  async #run(
    job: AnalysisJob,
    labels: AudioLabels,
    sink: AudioSink,
    receivedAt: number,
    mosOf: () => Promise<MosOutcome> | undefined,
    waits: Promise<void>[],
  ): Promise<void> {
    let decoded = job.decoded;
    const key = `${labels.engine}\0${labels.voice}`;
    /** Folds one late component into this clip's score and writes the measures again (set below). */
    let fold: (next: (q: QualityScore) => QualityScore) => void = () => {};
    try {
      const result = await this.#analyzer.analyze(job.audio, job.format, {
        ...(job.text !== undefined && { text: job.text }),
        ...(job.ingested && { maxSeconds: job.ingested.maxSeconds }),
        keepSamples: job.text !== undefined && decoded === undefined,
      });
      const { analysis } = result;
      const { samples, sampleRate, channels, durationSeconds } = result.decoded;
      if (samples) decoded = { samples, sampleRate, channels, durationSeconds };
      sink.measured(labels, analysisSamples(analysis, labels), analysis.qualityScore.score, receivedAt);
      // Quality score v4 folds in the clip's predicted OVRL and the recogniser's intelligibility
      // (docs/quality-score.md). Both come seconds later (the MOS from its own worker, the words
      // from the recogniser), in either order: the measures are written now with the score of the
      // measures alone, and again after each fold, unless a newer clip's measures of the same
      // engine/voice were written meanwhile (or a failed analysis removed the series).
      const mos = mosOf();
      const recognise = job.text !== undefined && decoded !== undefined;
      const latest = this.#latest(sink);
      const seq = ++this.#seq;
      const open = (mos ? 1 : 0) + (recognise ? 1 : 0);
      if (open > 0) latest.set(key, { seq, open });
      else latest.delete(key);
      fold = (next) => {
        const clip = latest.get(key);
        if (clip?.seq !== seq) return;
        if (--clip.open === 0) latest.delete(key);
        const q = next(analysis.qualityScore);
        if (q === analysis.qualityScore) return;
        analysis.qualityScore = q;
        sink.measured(labels, analysisSamples(analysis, labels), q.score, receivedAt);
      };
      if (mos)
        waits.push(
          mos.then((outcome) => {
            const ovrl = outcome.results.find((r) => r.model === "dnsmos_p835")?.values.ovrl;
            fold((q) => withPredictedMos(q, ovrl));
          }),
        );
    } catch (err) {
      // The series are removed: an older clip's fold must not write them back.
      this.#latest(sink).delete(key);
      if (job.ingested) this.#dropped(err instanceof AudioTooLongError ? "too_long" : "undecodable");
      const reason =
        err instanceof AudioDecodeError
          ? "decode"
          : err instanceof AnalysisWorkerError
            ? "worker"
            : "analysis";
      sink.failed(labels, reason, err instanceof Error ? err.message : String(err));
      return;
    }
    if (job.text === undefined || decoded === undefined) return;
    try {
      // The worker's samples are ours alone: handed on to the recogniser's worker, not copied.
      const r = await this.#asr.score(decoded, job.text, { transfer: job.decoded === undefined });
      sink.recognised(labels, r && { asr: r.asr, ratio: r.ratio }, receivedAt);
      // No value (text too short, recogniser not installed): the score stays as it is.
      fold((q) => withIntelligibility(q, r?.ratio));
    } catch (err) {
      fold((q) => q);
      const timedOut = err instanceof RecogniserError && err.timedOut;
      sink.failed(
        labels,
        timedOut ? "recogniser_timeout" : "recogniser",
        err instanceof Error ? err.message : String(err),
      );
    }
  }

  async close(): Promise<void> {
    // The MOS worker first: it finishes its clip and exits (terminating it inside onnxruntime aborts).
    await this.#mos?.close();
    await Promise.all([this.#analyzer.close(), this.#asr.close()]);
  }
}
