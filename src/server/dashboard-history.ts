import type { CurrentMetrics } from "../monitor.ts";
import type { ProbeResult } from "../probes/probe.ts";

// The web dashboard's recorded history: one sample per interval in a fixed-size ring, so memory is
// bounded by dashboard.history_seconds whatever the uptime. Series keys are flat and readable
// ("engine.kokoro.latency_p95_ms", "host.cpu_percent", "gpu.0.temperature_celsius"), so the CSV
// export has one self-describing column per series.

export interface Sample {
  /** Unix time in milliseconds. */
  readonly t: number;
  /** Series key → value; a series without a value at this time is absent. */
  readonly v: Readonly<Record<string, number>>;
}

export class HistoryRing {
  readonly #buf: Array<Sample | undefined>;
  #next = 0;
  #size = 0;

  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.#buf = new Array<Sample | undefined>(this.capacity);
  }

  push(sample: Sample): void {
    this.#buf[this.#next] = sample;
    this.#next = (this.#next + 1) % this.#buf.length;
    this.#size = Math.min(this.#size + 1, this.#buf.length);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * A ring of another capacity holding the newest samples of this one (a config reload changed
   * dashboard.history_seconds or sample_interval_seconds).
   */
  resized(capacity: number): HistoryRing {
    const next = new HistoryRing(capacity);
    for (const s of this.samples(next.capacity)) next.push(s);
    return next;
  }

  /** The samples taken after Unix time `t` (ms), oldest first; at most the `last` newest. */
  samplesAfter(t: number, last = this.#size): Sample[] {
    return this.samples(last).filter((s) => s.t > t);
  }

  /** Oldest first; at most the `last` newest samples when given. */
  samples(last = this.#size): Sample[] {
    const n = Math.min(last, this.#size);
    const out: Sample[] = [];
    for (let k = n; k > 0; k--) {
      const i = (this.#next - k + this.#buf.length) % this.#buf.length;
      const s = this.#buf[i];
      if (s) out.push(s);
    }
    return out;
  }
}

/** One sample from the monitor's current state. `enabled` filters out engines switched off. */
export function takeSample(
  m: CurrentMetrics,
  probes: ReadonlyMap<string, ProbeResult>,
  enabled: (engine: string) => boolean,
): Sample {
  const v: Record<string, number> = {};
  const put = (key: string, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value)) v[key] = round(value);
  };
  const names = new Set([...Object.keys(m.engines), ...probes.keys()]);
  for (const name of [...names].sort()) {
    if (!enabled(name)) continue;
    const e = m.engines[name];
    const p = probes.get(name);
    const k = `engine.${name}.`;
    put(`${k}latency_ms`, e?.latencyMs);
    put(`${k}latency_p50_ms`, e?.latencyP50Ms);
    put(`${k}latency_p95_ms`, e?.latencyP95Ms);
    put(`${k}ttfa_ms`, p?.success ? p.ttfaMs : undefined);
    put(`${k}rtf`, e?.realTimeFactor);
    put(
      `${k}throughput_chars_per_second`,
      p?.success && p.latencyMs ? p.characters / (p.latencyMs / 1000) : undefined,
    );
    put(`${k}quality_score`, e?.qualityScore);
    put(`${k}predicted_mos`, e?.predictedMos);
    put(`${k}cache_hit_rate`, e?.cacheHitRate);
    put(`${k}success_ratio`, e?.successRatio);
  }
  const pct = (r: number | undefined) => (r === undefined ? undefined : r * 100);
  put("host.cpu_percent", pct(m.cpuUsageRatio));
  put("host.memory_percent", pct(m.memoryUsageRatio));
  put("host.swap_percent", pct(m.swapUsageRatio));
  for (const g of m.gpus) {
    const k = `gpu.${g.gpu}.`;
    put(`${k}usage_percent`, g.usagePercent);
    put(`${k}temperature_celsius`, g.temperatureCelsius);
    put(
      `${k}memory_percent`,
      g.memoryUsedBytes !== undefined && g.memoryTotalBytes
        ? (g.memoryUsedBytes / g.memoryTotalBytes) * 100
        : undefined,
    );
  }
  return { t: m.timestamp, v };
}

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
 * CSV (RFC 4180, CRLF line ends, a header row): `timestamp` (ISO 8601, UTC, milliseconds),
 * `unix_ms` (Unix time in milliseconds), then one column per series; empty where no value.
 */
export function toCsv(samples: readonly Sample[]): string {
  const keys = seriesKeys(samples);
  const lines = [["timestamp", "unix_ms", ...keys].map(csvField).join(",")];
  for (const s of samples) {
    lines.push(
      [new Date(s.t).toISOString(), String(s.t), ...keys.map((k) => (k in s.v ? String(s.v[k]) : ""))].join(
        ",",
      ),
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
    samples,
  });
}
