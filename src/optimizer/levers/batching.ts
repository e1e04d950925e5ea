import type { TraceEntry } from "../../gateway/contract.ts";
import type { GpuSnapshot } from "../../state/snapshot.ts";
import { engineServed, quantile, round, windowSeconds } from "../stats.ts";
import { type LeverEvidence, type Skipped, skipped } from "./types.ts";

export interface BatchPoint {
  readonly max_queue_delay_ms: number;
  /** 1 + λ·d (Poisson arrivals: the first request plus those arriving while it waits), capped at the batch size. */
  readonly expected_batch_fill: number;
  /** The wait the first request of a batch pays at most (on average about half of it). */
  readonly latency_cost_ms: number;
}

export interface BatchEngine {
  readonly status: "ok";
  readonly evidence: LeverEvidence;
  readonly arrival_rps: number;
  readonly p50_latency_ms: number | null;
  readonly points: readonly BatchPoint[];
  /** The shortest delay that fills batches of two or more at a cost under 10 % of p50; null: none does. */
  readonly suggested_delay_ms: number | null;
  readonly setting: { readonly triton: string } | null;
}

export interface BatchingLever {
  readonly status: "ok";
  readonly engines: Readonly<Record<string, BatchEngine | Skipped>>;
}

export function batchingLever(
  entries: readonly TraceEntry[],
  o: {
    readonly engines: readonly string[];
    readonly maxBatch: number;
    readonly delaysMs: readonly number[];
    readonly minRequests: number;
  },
): BatchingLever | Skipped {
  if (o.engines.length === 0)
    return skipped(
      "an engine listed in optimizer.batching.engines (engines behind Triton or with batch support)",
    );
  const out: Record<string, BatchEngine | Skipped> = {};
  for (const name of o.engines) {
    const served = entries.filter((e) => e.engine === name && engineServed(e));
    if (served.length < o.minRequests) {
      out[name] = skipped(
        `at least ${o.minRequests} requests of ${name} in the trace (it has ${served.length})`,
      );
      continue;
    }
    const win = windowSeconds(served);
    const lambda = win > 0 ? served.length / win : 0;
    const p50 = quantile(
      served.filter((e) => e.result === "success").map((e) => e.end_ms - e.start_ms),
      0.5,
    );
    const points = [...o.delaysMs]
      .sort((a, b) => a - b)
      .map((d) => ({
        max_queue_delay_ms: d,
        expected_batch_fill: round(Math.min(o.maxBatch, 1 + (lambda * d) / 1000), 4),
        latency_cost_ms: d,
      }));
    const pick = points.find(
      (p) => p.expected_batch_fill >= 2 && (p50 === undefined || p.latency_cost_ms <= 0.1 * p50),
    );
    out[name] = {
      status: "ok",
      evidence: { window_seconds: round(win, 3), requests: served.length },
      arrival_rps: round(lambda, 4),
      p50_latency_ms: p50 === undefined ? null : round(p50, 3),
      points,
      suggested_delay_ms: pick?.max_queue_delay_ms ?? null,
      setting: pick
        ? {
            triton: `dynamic_batching { max_queue_delay_microseconds: ${Math.round(pick.max_queue_delay_ms * 1000)} } max_batch_size: ${o.maxBatch}`,
          }
        : null,
    };
  }
  return { status: "ok", engines: out };
}

export interface GpuRow {
  readonly gpu: string;
  readonly name: string;
  readonly usage_percent: number | null;
  readonly memory_usage_ratio: number | null;
  readonly memory_free_bytes: number | null;
  readonly temperature_celsius: number | null;
  /** Utilisation ≥ 90 % or memory ≥ 90 %: more load will queue on the GPU. */
  readonly gpu_bound: boolean;
  /** Free memory for another copy of what is loaded, utilisation under 50 %, 10 °C below the threshold. */
  readonly headroom_one_more_replica: boolean;
  readonly notes: readonly string[];
}

export interface GpuLever {
  readonly status: "ok";
  readonly gpus: readonly GpuRow[];
  /** Requests per second the engines served over the trace, beside the utilisation they cost. */
  readonly throughput_rps: number;
  readonly confidence: number;
}

export function gpuLever(
  gpus: readonly GpuSnapshot[],
  entries: readonly TraceEntry[],
  tempMax: number,
): GpuLever | Skipped {
  if (gpus.length === 0)
    return skipped(
      "GPU series from the exporter (tts_gpu_*; none when no NVIDIA GPU or nvidia-smi is present)",
    );
  const served = entries.filter(engineServed);
  const win = windowSeconds(served);
  const rows = [...gpus]
    .sort((a, b) => (a.gpu < b.gpu ? -1 : 1))
    .map((g) => {
      const free =
        g.memoryTotalBytes !== undefined && g.memoryUsedBytes !== undefined
          ? g.memoryTotalBytes - g.memoryUsedBytes
          : undefined;
      const notes: string[] = [];
      const bound = (g.usagePercent ?? 0) >= 90 || (g.memoryUsageRatio ?? 0) >= 0.9;
      const memOk = free !== undefined && g.memoryUsedBytes !== undefined && free >= 1.1 * g.memoryUsedBytes;
      const cool = g.temperatureCelsius === undefined || g.temperatureCelsius <= tempMax - 10;
      const idle = g.usagePercent !== undefined && g.usagePercent < 50;
      if (free === undefined) notes.push("memory not reported");
      if (!memOk && free !== undefined)
        notes.push("not enough free memory for another copy of what is loaded");
      if (!cool) notes.push(`within 10 °C of the ${tempMax} °C threshold`);
      if (!idle) notes.push("utilisation at 50 % or more (or unknown)");
      return {
        gpu: g.gpu,
        name: g.name,
        usage_percent: g.usagePercent ?? null,
        memory_usage_ratio: g.memoryUsageRatio ?? null,
        memory_free_bytes: free ?? null,
        temperature_celsius: g.temperatureCelsius ?? null,
        gpu_bound: bound,
        headroom_one_more_replica: memOk && cool && idle && !bound,
        notes,
      };
    });
  return {
    status: "ok",
    gpus: rows,
    throughput_rps: win > 0 ? round(served.length / win, 4) : 0,
    // One reading of the GPUs, not a time series against throughput: a hint, not a measurement.
    confidence: 0.5,
  };
}
