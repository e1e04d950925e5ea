import type { CollectorState } from "../collectors/runner.ts";
import type { EngineSummary } from "../ingest/recorder.ts";
import type { MetricName } from "../metrics/catalog.ts";

// The one read model of the monitor's state (SPEC §8 getCurrentMetrics()). The in-process alert
// evaluator, the web dashboard's history, the terminal view and the TypeScript API all read this
// snapshot; none of them reaches into the collectors, the recorder or the probe results. Each value
// stands beside the time it was measured (epoch ms), so a reader can tell its age, and values
// derived from others (a GPU's memory ratio, a probe's throughput, the mean GPU usage) are computed
// here once. This module sits below the views: it imports types of collectors/, ingest/ and
// metrics/ only, never server/, alerts/ or cli/.

export interface GpuSnapshot {
  readonly gpu: string;
  readonly name: string;
  readonly usagePercent?: number;
  readonly temperatureCelsius?: number;
  readonly memoryUsedBytes?: number;
  readonly memoryTotalBytes?: number;
  /** Used / total memory, 0-1 (computed once by the GPU collector). */
  readonly memoryUsageRatio?: number;
  readonly powerWatts?: number;
  /** When the GPU collector run that measured these values finished (epoch ms). */
  readonly at: number;
}

/** The last probe of an engine, as the snapshot carries it. */
export interface ProbeSnapshot {
  readonly success: boolean;
  /** When the probe finished (epoch ms): the time of every value below. */
  readonly at: number;
  readonly latencyMs?: number;
  readonly ttfaMs?: number;
  /** Characters of the probe text per second of latency (successful probes only). */
  readonly throughputCharsPerSecond?: number;
}

export interface EngineSnapshot extends EngineSummary {
  /** Latest quality score of this engine's analysed audio. */
  readonly qualityScore?: number;
  /** When that analysis finished (epoch ms). */
  readonly qualityScoreAt?: number;
  /** Latest predicted overall MOS (DNSMOS P.835 OVRL, 1-5) of this engine's audio, and its time. */
  readonly predictedMos?: number;
  readonly predictedMosAt?: number;
  /** The engine's last probe, when it is probed. */
  readonly probe?: ProbeSnapshot;
}

export interface CollectorSnapshot {
  readonly success: boolean;
  readonly error?: string;
  /** When its last run finished (epoch ms). */
  readonly at: number;
}

/** The gateway's state (src/gateway/), when it runs: its cache and each engine's limit and circuit. */
export interface GatewaySnapshot {
  readonly cacheBytes: number;
  readonly cacheCapacityBytes: number;
  readonly cacheEntries: number;
  /** Cache hits / lookups since the gateway started; undefined before the first lookup. */
  readonly cacheHitRatio: number | undefined;
  readonly coalesced: number;
  readonly rejected: number;
  readonly engines: Readonly<
    Record<
      string,
      {
        readonly limit: number;
        readonly inFlight: number;
        readonly queued: number;
        readonly circuitOpen: boolean;
        readonly minRttMs?: number;
      }
    >
  >;
}

export interface CurrentMetrics {
  /** When this snapshot was built (epoch ms). */
  readonly timestamp: number;
  /** Latency of the newest successful synthesis (any engine, probe or reported). */
  readonly latencyMs: number | undefined;
  /** When that synthesis was recorded (epoch ms): the time of latencyMs, never of a later failure. */
  readonly latencyAt: number | undefined;
  /** Latest quality score (any engine), when audio analysis has run. */
  readonly qualityScore: number | undefined;
  readonly qualityScoreAt: number | undefined;
  /** Cache hit rate over the window: hits / lookups of all engines that report cache flags, pooled. */
  readonly cacheHitRate: number | undefined;
  readonly engines: Readonly<Record<string, EngineSnapshot>>;
  /** Mean GPU utilisation across GPUs (0-100); undefined without a GPU. */
  readonly gpuUsage: number | undefined;
  readonly gpus: readonly GpuSnapshot[];
  readonly cpuUsageRatio: number | undefined;
  readonly load1: number | undefined;
  /** When the cpu collector measured cpuUsageRatio and load1 (epoch ms). */
  readonly cpuAt: number | undefined;
  readonly memoryUsageRatio: number | undefined;
  readonly memoryUsedBytes: number | undefined;
  readonly memoryTotalBytes: number | undefined;
  readonly swapUsageRatio: number | undefined;
  /** When the memory collector measured the memory and swap values (epoch ms). */
  readonly memoryAt: number | undefined;
  readonly collectors: Readonly<Record<string, CollectorSnapshot>>;
  /** Present while the gateway runs. */
  readonly gateway?: GatewaySnapshot;
}

/** What a probe result must offer the snapshot (probes/probe.ts ProbeResult has it). */
export interface ProbeReading {
  readonly success: boolean;
  readonly finishedAt: number;
  readonly characters: number;
  readonly latencyMs?: number;
  readonly ttfaMs?: number;
}

/** Where the snapshot reads from; the monitor passes its collectors, recorder, analysis and probes. */
export interface SnapshotSources {
  readonly now: number;
  readonly collectors: {
    readonly names: readonly string[];
    state(name: string): CollectorState | undefined;
  };
  /** The recorder's per-engine summary (SynthesisRecorder.summary()). */
  readonly engines: ReadonlyMap<string, EngineSummary>;
  /** The recorder's pooled cache hit rate over its window. */
  readonly cacheHitRate: number | undefined;
  /** Latest quality score per engine (AnalysisPipeline.latestQuality), when analysis is on. */
  readonly quality?: ReadonlyMap<string, { readonly score: number; readonly at: number }>;
  /** Latest predicted OVRL per engine (SeriesLifetimes.latestMos), when MOS is on. */
  readonly mos?: ReadonlyMap<string, { readonly ovrl: number; readonly at: number }>;
  readonly probes: ReadonlyMap<string, ProbeReading>;
  readonly gateway?: GatewaySnapshot | undefined;
}

/** Age of a value in seconds at `now`, or undefined when it has no time. */
export function ageSeconds(at: number | undefined, now: number): number | undefined {
  return at === undefined ? undefined : Math.max(0, (now - at) / 1000);
}

/** The value of one catalog metric in a collector's last successful run (the first sample matching `labels`). */
export function collectorValue(
  state: CollectorState | undefined,
  metric: MetricName,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  if (!state?.success) return undefined;
  return state.samples.find(
    (s) => s.metric === metric && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}

export function buildSnapshot(src: SnapshotSources): CurrentMetrics {
  const cpu = src.collectors.state("cpu");
  const memory = src.collectors.state("memory");
  const gpus = gpuSnapshots(src.collectors.state("gpu"));
  const usages = gpus.flatMap((g) => (g.usagePercent === undefined ? [] : [g.usagePercent]));
  // Keyed by names from the config and from ingestion: objects without a prototype, so that an
  // engine named "__proto__" or "constructor" is an entry like any other.
  const collectors: Record<string, CollectorSnapshot> = Object.create(null);
  for (const name of src.collectors.names) {
    const st = src.collectors.state(name);
    if (st) collectors[name] = { success: st.success, at: st.at, ...optional("error", st.error) };
  }
  const engines: Record<string, EngineSnapshot> = Object.create(null);
  let latest: { at: number; latencyMs: number } | undefined;
  for (const [name, summary] of src.engines) {
    const q = src.quality?.get(name);
    const mos = src.mos?.get(name);
    const p = src.probes.get(name);
    engines[name] = {
      ...summary,
      ...(q && { qualityScore: q.score, qualityScoreAt: q.at }),
      ...(mos && { predictedMos: mos.ovrl, predictedMosAt: mos.at }),
      ...(p && { probe: probeSnapshot(p) }),
    };
    // The latency is paired with the time of the success that measured it, not of a later failure.
    const at = summary.lastSuccessAt;
    if (summary.latencyMs !== undefined && at !== undefined && (!latest || at > latest.at))
      latest = { at, latencyMs: summary.latencyMs };
  }
  let quality: { score: number; at: number } | undefined;
  for (const q of src.quality?.values() ?? []) if (!quality || q.at > quality.at) quality = q;
  const cpuUsageRatio = collectorValue(cpu, "tts_host_cpu_usage_ratio");
  const load1 = collectorValue(cpu, "tts_host_load1");
  const memoryUsageRatio = collectorValue(memory, "tts_host_memory_usage_ratio");
  const host = [cpuUsageRatio, load1].some((v) => v !== undefined);
  const mem = memoryUsageRatio !== undefined;
  return {
    timestamp: src.now,
    latencyMs: latest?.latencyMs,
    latencyAt: latest?.at,
    qualityScore: quality?.score,
    qualityScoreAt: quality?.at,
    cacheHitRate: src.cacheHitRate,
    engines,
    gpuUsage: usages.length ? usages.reduce((a, b) => a + b, 0) / usages.length : undefined,
    gpus,
    cpuUsageRatio,
    load1,
    cpuAt: host ? cpu?.at : undefined,
    memoryUsageRatio,
    memoryUsedBytes: collectorValue(memory, "tts_host_memory_used_bytes"),
    memoryTotalBytes: collectorValue(memory, "tts_host_memory_total_bytes"),
    swapUsageRatio: collectorValue(memory, "tts_host_swap_usage_ratio"),
    memoryAt: mem ? memory?.at : undefined,
    collectors,
    ...(src.gateway && { gateway: src.gateway }),
  };
}

function probeSnapshot(p: ProbeReading): ProbeSnapshot {
  const ok = p.success;
  return {
    success: ok,
    at: p.finishedAt,
    ...(ok && optional("latencyMs", p.latencyMs)),
    ...(ok && optional("ttfaMs", p.ttfaMs)),
    ...(ok &&
      p.latencyMs !== undefined &&
      p.latencyMs > 0 && { throughputCharsPerSecond: p.characters / (p.latencyMs / 1000) }),
  };
}

function gpuSnapshots(state: CollectorState | undefined): GpuSnapshot[] {
  if (!state?.success) return [];
  const byGpu = new Map<string, { name: string; values: Map<MetricName, number> }>();
  for (const s of state.samples) {
    const key = s.labels.gpu ?? "";
    const entry = byGpu.get(key) ?? { name: s.labels.name ?? "", values: new Map() };
    entry.values.set(s.metric, s.value);
    byGpu.set(key, entry);
  }
  return [...byGpu].map(([gpu, e]) => {
    const v = (m: MetricName) => e.values.get(m);
    return {
      gpu,
      name: e.name,
      at: state.at,
      ...optional("usagePercent", v("tts_gpu_usage_percent")),
      ...optional("temperatureCelsius", v("tts_gpu_temperature_celsius")),
      ...optional("memoryUsedBytes", v("tts_gpu_memory_used_bytes")),
      ...optional("memoryTotalBytes", v("tts_gpu_memory_total_bytes")),
      ...optional("memoryUsageRatio", v("tts_gpu_memory_usage_ratio")),
      ...optional("powerWatts", v("tts_gpu_power_draw_watts")),
    };
  });
}

/** `{ key: value }` when value is defined, `{}` otherwise (exactOptionalPropertyTypes-friendly spreading). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
