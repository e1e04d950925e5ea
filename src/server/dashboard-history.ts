import type { CurrentMetrics } from "../state/snapshot.ts";

// The web dashboard's recorded history: one row per real measurement, each with the time it was
// measured and the source that measured it, never a copy of an earlier value. A source is
//   "collector:<name>"  one collector run (host CPU, memory, GPUs),
//   "probe:<engine>"    one probe result (time to first audio, throughput, success),
//   "engine:<engine>"   the recorder's statistics as of the engine's newest request (probe or
//                       ingested): the newest latency when that request succeeded, p50/p95, RTF,
//                       success ratio and cache hit rate over the recorder's window,
//   "quality:<engine>"  one audio analysis (the quality score).
// The dashboard looks for new measurements every sample interval and records a source again only
// when its measurement time moved. Series keys are flat and readable ("engine.kokoro.latency_p95_ms",
// "host.cpu_percent", "gpu.0.temperature_celsius"), so the CSV export has one self-describing column
// per series, empty where a row's source did not measure it. Memory is bounded twice: rows older
// than dashboard.history_seconds go, and the ring holds at most ROWS_PER_INTERVAL rows per sample
// interval of history.

/** Rows kept per sample interval of history (a ring of history_seconds / sample_interval_seconds × this). */
export const ROWS_PER_INTERVAL = 16;

export interface Sample {
  /** Unix time in milliseconds at which the source measured these values. */
  readonly t: number;
  /** What measured them: "collector:cpu", "probe:kokoro", "engine:kokoro", "quality:kokoro". */
  readonly source: string;
  /** Series key → value; only what this measurement measured. */
  readonly v: Readonly<Record<string, number>>;
}

/** A recorded sample and its place in the record (the SSE event id; Last-Event-ID replays after it). */
export interface Recorded extends Sample {
  readonly seq: number;
}

export class HistoryRing {
  readonly #buf: Array<Recorded | undefined>;
  #next = 0;
  #size = 0;
  #seq = 0;

  readonly capacity: number;

  /** `maxAgeMs`: rows measured longer ago than this before the newest one are dropped. */
  constructor(
    capacity: number,
    readonly maxAgeMs = Number.POSITIVE_INFINITY,
    firstSeq = 0,
  ) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.#buf = new Array<Recorded | undefined>(this.capacity);
    this.#seq = firstSeq;
  }

  /** Records a sample; returns it with its sequence number. */
  push(sample: Sample): Recorded {
    const rec: Recorded = { ...sample, seq: ++this.#seq };
    this.#put(rec);
    return rec;
  }

  /** Rows dropped by the capacity while younger than maxAgeMs (more measurements than the ring holds). */
  evictedEarly = 0;

  #put(rec: Recorded): void {
    const evicted = this.#size === this.#buf.length ? this.#buf[this.#next] : undefined;
    if (evicted && rec.t - evicted.t <= this.maxAgeMs) this.evictedEarly++;
    this.#buf[this.#next] = rec;
    this.#next = (this.#next + 1) % this.#buf.length;
    this.#size = Math.min(this.#size + 1, this.#buf.length);
    this.#expire(rec.t);
  }

  /** Drops the oldest rows measured more than maxAgeMs before `now`. */
  #expire(now: number): void {
    while (this.#size > 0) {
      const i = (this.#next - this.#size + this.#buf.length) % this.#buf.length;
      const oldest = this.#buf[i];
      if (oldest && now - oldest.t <= this.maxAgeMs) return;
      this.#buf[i] = undefined;
      this.#size--;
    }
  }

  get size(): number {
    return this.#size;
  }

  /** The sequence number of the newest row (0 before the first). */
  get lastSeq(): number {
    return this.#seq;
  }

  /**
   * A ring of another capacity and age holding the newest rows of this one that fit (a config
   * reload changed dashboard.history_seconds or sample_interval_seconds). Sequence numbers go on.
   */
  resized(capacity: number, maxAgeMs: number): HistoryRing {
    const next = new HistoryRing(capacity, maxAgeMs, this.#seq);
    for (const s of this.samples(next.capacity)) next.#put(s);
    return next;
  }

  /** The rows recorded after sequence number `seq`, oldest first; at most the `last` newest. */
  samplesAfter(seq: number, last = this.#size): Recorded[] {
    return this.samples(last).filter((s) => s.seq > seq);
  }

  /** Oldest first; at most the `last` newest rows when given. */
  samples(last = this.#size): Recorded[] {
    const n = Math.min(last, this.#size);
    const out: Recorded[] = [];
    for (let k = n; k > 0; k--) {
      const i = (this.#next - k + this.#buf.length) % this.#buf.length;
      const s = this.#buf[i];
      if (s) out.push(s);
    }
    return out;
  }
}

/**
 * The measurements in a snapshot that are newer than the ones already recorded: `seen` maps each
 * source to the time of its last recorded measurement and is updated. Engines for which `enabled`
 * is false are left out (switched off from the dashboard or the config). Oldest first.
 */
export function newMeasurements(
  m: CurrentMetrics,
  seen: Map<string, number>,
  enabled: (engine: string) => boolean,
): Sample[] {
  const out: Sample[] = [];
  const add = (source: string, t: number | undefined, fill: (put: Put) => void) => {
    if (t === undefined || (seen.get(source) ?? Number.NEGATIVE_INFINITY) >= t) return;
    const v: Record<string, number> = {};
    fill((key, value) => {
      if (value !== undefined && Number.isFinite(value)) v[key] = round(value);
    });
    seen.set(source, t);
    if (Object.keys(v).length > 0) out.push({ t, source, v });
  };
  const pct = (r: number | undefined) => (r === undefined ? undefined : r * 100);
  add("collector:cpu", m.cpuAt, (put) => put("host.cpu_percent", pct(m.cpuUsageRatio)));
  add("collector:memory", m.memoryAt, (put) => {
    put("host.memory_percent", pct(m.memoryUsageRatio));
    put("host.swap_percent", pct(m.swapUsageRatio));
  });
  const gpuAt = m.gpus[0]?.at;
  add("collector:gpu", gpuAt, (put) => {
    for (const g of m.gpus) {
      const k = `gpu.${g.gpu}.`;
      put(`${k}usage_percent`, g.usagePercent);
      put(`${k}temperature_celsius`, g.temperatureCelsius);
      put(`${k}memory_percent`, pct(g.memoryUsageRatio));
    }
  });
  for (const name of Object.keys(m.engines).sort()) {
    if (!enabled(name)) continue;
    const e = m.engines[name];
    if (!e) continue;
    const k = `engine.${name}.`;
    // The newest latency belongs to this row only when the newest request is the success that measured it.
    const newestSucceeded = e.lastSuccessAt !== undefined && e.lastSuccessAt === e.lastAttemptAt;
    add(`engine:${name}`, e.lastAttemptAt, (put) => {
      if (newestSucceeded) {
        put(`${k}latency_ms`, e.latencyMs);
        put(`${k}rtf`, e.realTimeFactor);
      }
      put(`${k}latency_p50_ms`, e.latencyP50Ms);
      put(`${k}latency_p95_ms`, e.latencyP95Ms);
      put(`${k}success_ratio`, e.successRatio);
      put(`${k}cache_hit_rate`, e.cacheHitRate);
    });
    const p = e.probe;
    add(`probe:${name}`, p?.at, (put) => {
      put(`${k}probe_success`, p?.success ? 1 : 0);
      put(`${k}ttfa_ms`, p?.ttfaMs);
      put(`${k}throughput_chars_per_second`, p?.throughputCharsPerSecond);
    });
    add(`stall:${name}`, e.stallAt, (put) => {
      put(`${k}stall_ms`, e.stallMs);
      put(`${k}stall_p95_ms`, e.stallP95WindowMs);
    });
    add(`quality:${name}`, e.qualityScoreAt, (put) => put(`${k}quality_score`, e.qualityScore));
    add(`mos:${name}`, e.predictedMosAt, (put) => put(`${k}predicted_mos`, e.predictedMos));
  }
  return out.sort((a, b) => a.t - b.t);
}

type Put = (key: string, value: number | undefined) => void;

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** Every series key present in the samples, sorted (engine, gpu, host). */
export function seriesKeys(samples: readonly Sample[]): string[] {
  const keys = new Set<string>();
  for (const s of samples) for (const k of Object.keys(s.v)) keys.add(k);
  return [...keys].sort();
}

/**
 * One CSV text cell (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes
 * doubled. A text that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
 * carriage return: an engine name from ingestion is not trusted) gets a leading single quote, as
 * OWASP advises. Only text goes through here: numbers (a negative value) are written as they are.
 */
export function csvField(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/**
 * CSV (RFC 4180, CRLF line ends, a header row), one record per measurement: `timestamp` (when it
 * was measured, ISO 8601, UTC, milliseconds), `unix_ms` (the same in Unix milliseconds), `source`
 * (what measured it), then one column per series; empty where this measurement has no value.
 */
export function toCsv(samples: readonly Sample[]): string {
  const keys = seriesKeys(samples);
  const lines = [["timestamp", "unix_ms", "source", ...keys].map(csvField).join(",")];
  for (const s of samples) {
    lines.push(
      [
        new Date(s.t).toISOString(),
        String(s.t),
        csvField(s.source),
        ...keys.map((k) => (k in s.v ? String(s.v[k]) : "")),
      ].join(","),
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}

export function toJson(samples: readonly Sample[], intervalSeconds: number, historySeconds: number): string {
  return JSON.stringify({
    generated_at: new Date().toISOString(),
    interval_seconds: intervalSeconds,
    history_seconds: historySeconds,
    series: seriesKeys(samples),
    samples: samples.map(({ t, source, v }) => ({ t, source, v })),
  });
}
