// The one owner of every per-engine/voice gauge series: it creates them from probe results and
// audio analyses, and removes them when what they describe is gone (an engine switched off or
// removed, an analysis that failed, an ingest-only engine/voice no longer reported). A long-lived
// registry shows frozen values unless one module does this on purpose (STYLE.md, "one owner per
// lifetime"). Counters and histograms stay: they are cumulative, as Prometheus conventions allow.

import type { MetricSample } from "../audio/metrics.ts";
import type { MosOutcome } from "../audio/mos/index.ts";
import { recordMos } from "../audio/mos/metrics.ts";
import type { AnalysisFailureReason, AudioLabels, AudioSink } from "../ingest/analysis.ts";
import type { SynthesisRecorder } from "../ingest/recorder.ts";
import type { Logger } from "../log.ts";
import { catalog, type MetricName, metricNames } from "../metrics/catalog.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import type { ProbeResult } from "../probes/probe.ts";
import { forgetProbe, recordProbe } from "../probes/record.ts";

/** Default of config ingest.series_ttl_seconds. */
export const DEFAULT_SERIES_TTL_SECONDS = 600;

const INTELLIGIBILITY: readonly MetricName[] = [
  "tts_intelligibility_ratio",
  "tts_intelligibility_timestamp_seconds",
];

/** The gauges one analysis sets per engine/voice, replaced together so an absent measure does not linger. */
const MEASURE_GAUGES: readonly MetricName[] = metricNames.filter(
  (n) =>
    catalog[n].area === "audio" &&
    catalog[n].type === "gauge" &&
    !INTELLIGIBILITY.includes(n) &&
    n !== "tts_audio_predicted_mos",
);

/** Replaces the audio measures of an engine/voice with one analysis's samples, stamped with `receivedAt`. */
export function writeMeasures(
  registry: MetricsRegistry,
  labels: AudioLabels,
  samples: readonly MetricSample[],
  receivedAt: number,
): void {
  const l = { engine: labels.engine, voice: labels.voice };
  for (const name of MEASURE_GAUGES) registry.gauge(name).remove(l);
  for (const s of samples) {
    if (INTELLIGIBILITY.includes(s.metric)) continue;
    registry.gauge(s.metric).set(s.labels, s.value);
  }
  registry.gauge("tts_audio_analysis_timestamp_seconds").set(l, receivedAt / 1000);
}

/** Replaces (or, with no result, removes) the intelligibility series of an engine/voice. */
export function writeIntelligibility(
  registry: MetricsRegistry,
  labels: AudioLabels,
  result: { asr: string; ratio: number } | undefined,
  receivedAt: number,
): void {
  removeIntelligibility(registry, labels);
  if (!result) return;
  const l = { engine: labels.engine, voice: labels.voice, asr: result.asr };
  registry.gauge("tts_intelligibility_ratio").set(l, result.ratio);
  registry.gauge("tts_intelligibility_timestamp_seconds").set(l, receivedAt / 1000);
}

function removeIntelligibility(registry: MetricsRegistry, match: Partial<AudioLabels>): number {
  let n = 0;
  for (const name of INTELLIGIBILITY) n += registry.removeMatching(name, match);
  return n;
}

/** Removes every audio gauge of an engine (all voices) or of one engine/voice; returns how many series went. */
function removeAudio(registry: MetricsRegistry, match: Partial<AudioLabels>): number {
  let n = removeIntelligibility(registry, match);
  for (const name of MEASURE_GAUGES) n += registry.removeMatching(name, match);
  n += registry.removeMatching("tts_audio_predicted_mos", match);
  return n;
}

/** The sink of GET /probe's fresh registry: one probe, nothing to expire, failures still counted. */
export function registryAudioSink(registry: MetricsRegistry): AudioSink {
  return {
    measured: (labels, samples, _score, receivedAt) => writeMeasures(registry, labels, samples, receivedAt),
    recognised: (labels, result, receivedAt) => writeIntelligibility(registry, labels, result, receivedAt),
    mos: (labels, outcome) => recordMos(registry, labels, outcome),
    failed: (labels, reason) => {
      if (reason === "recogniser" || reason === "recogniser_timeout") removeIntelligibility(registry, labels);
      else if (reason !== "backlog") removeAudio(registry, labels);
      registry.counter("tts_audio_analysis_failures_total").inc({ engine: labels.engine, reason });
    },
  };
}

export interface LifetimesOptions {
  /** Gauges of an engine/voice that is not probed and not reported for this long go (ingest.series_ttl_seconds). */
  readonly seriesTtlSeconds: number;
  /** The engines probed at start (configured and enabled). */
  readonly probed: Iterable<string>;
  /** Called for each engine whose series were removed (the monitor forgets its last probe). */
  readonly onForget?: (engine: string) => void;
  readonly now?: () => number;
}

const key = (engine: string, voice: string) => `${engine}\u0000${voice}`;

/**
 * Decides when per-engine/voice gauges exist. Probe results and analysis results come in through
 * it; it drops those of an engine removed after they started (a probe or analysis in flight when the
 * engine was switched off must not bring its series back).
 */
export class SeriesLifetimes implements AudioSink {
  #probed: Set<string>;
  /** Epoch ms at which each engine's series were last removed. */
  readonly #forgottenAt = new Map<string, number>();
  /** Epoch ms of the audio behind each engine/voice's measures. */
  readonly #audioAt = new Map<string, { engine: string; voice: string; at: number }>();
  readonly #latestQuality = new Map<string, { score: number; at: number }>();
  readonly #latestMos = new Map<string, { ovrl: number; at: number }>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly registry: MetricsRegistry,
    private readonly recorder: SynthesisRecorder,
    private readonly log: Logger,
    private readonly options: LifetimesOptions,
  ) {
    this.#probed = new Set(options.probed);
    this.#now = options.now ?? Date.now;
  }

  /** Latest quality score per engine, with the time its audio was received (getCurrentMetrics). */
  get latestQuality(): ReadonlyMap<string, { score: number; at: number }> {
    return this.#latestQuality;
  }

  /** Latest predicted overall MOS (DNSMOS P.835 OVRL) per engine, with the time its audio was received. */
  get latestMos(): ReadonlyMap<string, { ovrl: number; at: number }> {
    return this.#latestMos;
  }

  /** Whether the engine is probed now (configured and enabled). */
  probed(engine: string): boolean {
    return this.#probed.has(engine);
  }

  /**
   * The engines probed from now on (after a dashboard switch or a reload). Every series of an engine
   * that is no longer probed goes, with one log line saying why.
   */
  setProbed(enabled: Iterable<string>, configured: Iterable<string>): void {
    const next = new Set(enabled);
    const inConfig = new Set(configured);
    for (const engine of this.#probed) {
      if (next.has(engine)) continue;
      this.#forgetEngine(engine);
      this.log.info("engine series removed", {
        engine,
        why: inConfig.has(engine) ? "switched off" : "removed from the config",
      });
    }
    this.#probed = next;
  }

  /** Records a probe result; false (nothing recorded) when the engine is no longer probed. */
  probeResult(result: ProbeResult): boolean {
    if (!this.#probed.has(result.engine)) return false;
    recordProbe(result, this.registry, this.recorder);
    return true;
  }

  #forgetEngine(engine: string): void {
    forgetProbe(engine, this.registry);
    removeAudio(this.registry, { engine });
    this.recorder.forget(engine);
    this.#latestQuality.delete(engine);
    this.#latestMos.delete(engine);
    for (const [k, a] of this.#audioAt) if (a.engine === engine) this.#audioAt.delete(k);
    this.#forgottenAt.set(engine, this.#now());
    this.options.onForget?.(engine);
  }

  /** A result of audio received before its engine's series were removed is stale on arrival. */
  #stale(engine: string, receivedAt: number): boolean {
    const forgotten = this.#forgottenAt.get(engine);
    return forgotten !== undefined && receivedAt <= forgotten;
  }

  measured(
    labels: AudioLabels,
    samples: readonly MetricSample[],
    qualityScore: number,
    receivedAt: number,
  ): void {
    if (this.#stale(labels.engine, receivedAt)) return;
    writeMeasures(this.registry, labels, samples, receivedAt);
    this.#audioAt.set(key(labels.engine, labels.voice), { ...labels, at: receivedAt });
    this.#latestQuality.set(labels.engine, { score: qualityScore, at: receivedAt });
    this.log.reset("analysis-backlog");
  }

  recognised(
    labels: AudioLabels,
    result: { asr: string; ratio: number } | undefined,
    receivedAt: number,
  ): void {
    if (this.#stale(labels.engine, receivedAt)) return;
    writeIntelligibility(this.registry, labels, result, receivedAt);
  }

  mos(labels: AudioLabels, outcome: MosOutcome, receivedAt: number): void {
    if (this.#stale(labels.engine, receivedAt)) return;
    // Superseded or closed: a newer clip (or nothing) decides; recordMos leaves the series alone.
    if (outcome.absent === "superseded by a newer clip" || outcome.absent === "closed") return;
    recordMos(this.registry, labels, outcome);
    const ovrl = outcome.results.find((r) => r.model === "dnsmos_p835")?.values.ovrl;
    if (ovrl === undefined) this.#latestMos.delete(labels.engine);
    else this.#latestMos.set(labels.engine, { ovrl, at: receivedAt });
  }

  /**
   * An analysis that produced nothing: counted by reason. A failed analysis removes the engine/voice's
   * audio gauges, a failed recognition its intelligibility; a job dropped for a full backlog leaves
   * the previous measures (an older audio, with its timestamp) in place.
   */
  failed(labels: AudioLabels, reason: AnalysisFailureReason, error: string): void {
    this.registry.counter("tts_audio_analysis_failures_total").inc({ engine: labels.engine, reason });
    if (reason === "backlog") {
      this.log.once(
        "analysis-backlog",
        "warn",
        "audio analysis backlog full; dropping audio until it drains",
        {
          engine: labels.engine,
          error,
        },
      );
      return;
    }
    const match = { engine: labels.engine, voice: labels.voice };
    if (reason === "recogniser" || reason === "recogniser_timeout") {
      removeIntelligibility(this.registry, match);
      this.log.warn("intelligibility test failed; its series removed", { ...match, reason, error });
      return;
    }
    removeAudio(this.registry, match);
    this.#audioAt.delete(key(labels.engine, labels.voice));
    if (![...this.#audioAt.values()].some((a) => a.engine === labels.engine)) {
      this.#latestQuality.delete(labels.engine);
      this.#latestMos.delete(labels.engine);
    }
    this.log.warn("audio analysis failed; the engine/voice's audio series removed", {
      ...match,
      reason,
      error,
    });
  }

  /**
   * Removes the gauges of engines/voices that are not probed and were not reported (nor analysed)
   * for seriesTtlSeconds. Runs on a timer once started; callable directly.
   */
  sweep(): void {
    const now = this.#now();
    const cutoff = now - this.options.seriesTtlSeconds * 1000;
    const fresh = new Set<string>();
    const stale = new Map<string, { engine: string; voice: string }>();
    for (const r of this.recorder.reported()) {
      if (this.#probed.has(r.engine)) continue;
      const k = key(r.engine, r.voice);
      if (r.at > cutoff) fresh.add(k);
      else stale.set(k, { engine: r.engine, voice: r.voice });
    }
    for (const [k, a] of this.#audioAt) {
      if (this.#probed.has(a.engine)) continue;
      if (a.at > cutoff) fresh.add(k);
      else stale.set(k, { engine: a.engine, voice: a.voice });
    }
    const gone: string[] = [];
    for (const [k, { engine, voice }] of stale) {
      if (fresh.has(k)) continue;
      this.recorder.forget(engine, voice);
      removeAudio(this.registry, { engine, voice });
      this.#audioAt.delete(k);
      gone.push(`${engine}/${voice}`);
    }
    if (gone.length === 0) return;
    for (const engine of new Set([...this.#latestQuality.keys(), ...this.#latestMos.keys()]))
      if (!this.#probed.has(engine) && ![...this.#audioAt.values()].some((a) => a.engine === engine)) {
        this.#latestQuality.delete(engine);
        this.#latestMos.delete(engine);
      }
    this.log.info("series of engines/voices not reported within ingest.series_ttl_seconds removed", {
      ttl_seconds: this.options.seriesTtlSeconds,
      count: gone.length,
      series: gone.slice(0, 20),
    });
  }

  /** Sweeps on a timer: a quarter of the TTL, between 1 s and 60 s. */
  start(): void {
    if (this.#timer) return;
    const every = Math.min(60_000, Math.max(1000, (this.options.seriesTtlSeconds * 1000) / 4));
    this.#timer = setInterval(() => this.sweep(), every);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
