import type { MetricName } from "../metrics/catalog.ts";
import type { Sample } from "../metrics/registry.ts";
import { RunError, runCommand } from "../util/exec.ts";
import type { Collector } from "./types.ts";

// A direct nvidia-smi query replaces node-nvidia-smi (see README): no shell, no XML, a timeout, and
// a killed process group when it hangs.

/** Query fields, in order; each numeric field maps to a metric and a scale to base units. */
export const GPU_FIELDS = [
  { field: "index" },
  { field: "name" },
  { field: "uuid" },
  { field: "utilization.gpu", metric: "tts_gpu_usage_percent", scale: 1 },
  { field: "utilization.memory", metric: "tts_gpu_memory_utilization_percent", scale: 1 },
  { field: "temperature.gpu", metric: "tts_gpu_temperature_celsius", scale: 1 },
  { field: "memory.used", metric: "tts_gpu_memory_used_bytes", scale: 1024 * 1024 },
  { field: "memory.total", metric: "tts_gpu_memory_total_bytes", scale: 1024 * 1024 },
  { field: "power.draw", metric: "tts_gpu_power_draw_watts", scale: 1 },
  { field: "power.limit", metric: "tts_gpu_power_limit_watts", scale: 1 },
  { field: "fan.speed", metric: "tts_gpu_fan_speed_percent", scale: 1 },
  { field: "clocks.sm", metric: "tts_gpu_sm_clock_hertz", scale: 1e6 },
] as const satisfies readonly { field: string; metric?: MetricName; scale?: number }[];

export const GPU_QUERY_ARGS = [
  `--query-gpu=${GPU_FIELDS.map((f) => f.field).join(",")}`,
  "--format=csv,noheader,nounits",
];

const GPU_METRICS: MetricName[] = [
  ...GPU_FIELDS.flatMap((f) => ("metric" in f ? [f.metric] : [])),
  "tts_gpu_memory_usage_ratio",
];

/** Values nvidia-smi prints for a field the board or driver does not report: dropped, never zero. */
const UNAVAILABLE =
  /^\[?(N\/A|Not Supported|Unknown Error|Insufficient Permissions|GPU requires reset|Not Available)\]?$/i;

export class NvidiaSmiOutputError extends Error {
  override readonly name = "NvidiaSmiOutputError";
}

export interface GpuReading {
  readonly index: string;
  readonly name: string;
  readonly uuid: string;
  /** Metric name → value in base units; fields the GPU does not report are absent. */
  readonly values: ReadonlyMap<MetricName, number>;
}

/** Parses `nvidia-smi --query-gpu=<GPU_FIELDS> --format=csv,noheader,nounits`. Throws on anything else. */
export function parseNvidiaSmi(stdout: string): GpuReading[] {
  const lines = stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0) throw new NvidiaSmiOutputError("nvidia-smi printed nothing (no GPU visible?)");
  return lines.map((line, i) => {
    let cells = line.split(",").map((c) => c.trim());
    // A board name holding a comma splits into extra cells: join them back into the name.
    const extra = cells.length - GPU_FIELDS.length;
    if (extra > 0 && /^\d+$/.test(cells[0] ?? "")) {
      cells = [cells[0] ?? "", cells.slice(1, 2 + extra).join(", "), ...cells.slice(2 + extra)];
    }
    if (cells.length !== GPU_FIELDS.length) {
      throw new NvidiaSmiOutputError(
        `unexpected nvidia-smi output, line ${i + 1}: ${cells.length} fields instead of ${GPU_FIELDS.length}: ${JSON.stringify(line.slice(0, 120))}`,
      );
    }
    const [index = "", name = "", uuid = ""] = cells;
    if (!/^\d+$/.test(index))
      throw new NvidiaSmiOutputError(
        `unexpected nvidia-smi output, line ${i + 1}: index ${JSON.stringify(index)}`,
      );
    if (!/^(GPU|MIG)-[0-9a-fA-F-]+$/.test(uuid)) {
      throw new NvidiaSmiOutputError(
        `unexpected nvidia-smi output, line ${i + 1}: uuid ${JSON.stringify(uuid.slice(0, 60))}`,
      );
    }
    const values = new Map<MetricName, number>();
    GPU_FIELDS.forEach((f, k) => {
      if (!("metric" in f)) return;
      const cell = cells[k] ?? "";
      if (cell === "" || UNAVAILABLE.test(cell)) return;
      const n = Number(cell);
      if (!Number.isFinite(n)) {
        throw new NvidiaSmiOutputError(
          `unexpected nvidia-smi output, line ${i + 1}: ${f.field} = ${JSON.stringify(cell.slice(0, 40))}`,
        );
      }
      values.set(f.metric, n * f.scale);
    });
    const used = values.get("tts_gpu_memory_used_bytes");
    const total = values.get("tts_gpu_memory_total_bytes");
    if (used !== undefined && total !== undefined && total > 0)
      values.set("tts_gpu_memory_usage_ratio", used / total);
    return { index, name, uuid, values };
  });
}

export function gpuSamples(readings: readonly GpuReading[]): Sample[] {
  return readings.flatMap((r) =>
    [...r.values].map(([metric, value]) => ({
      metric,
      labels: { gpu: r.index, name: r.name, uuid: r.uuid },
      value,
    })),
  );
}

export function gpuCollector(options: { nvidiaSmi: string; timeoutMs: number }): Collector {
  return {
    name: "gpu",
    metrics: GPU_METRICS,
    supported: () => ({ ok: true }),
    async collect(signal) {
      let stdout: Buffer;
      try {
        ({ stdout } = await runCommand(options.nvidiaSmi, GPU_QUERY_ARGS, {
          timeoutMs: options.timeoutMs,
          signal,
          maxBuffer: 1024 * 1024,
        }));
      } catch (err) {
        if (err instanceof RunError && err.kind === "not_found") {
          throw new Error(
            `${options.nvidiaSmi} not found on PATH: no NVIDIA driver here, so no GPU metrics`,
            { cause: err },
          );
        }
        throw err;
      }
      return gpuSamples(parseNvidiaSmi(stdout.toString("utf8")));
    },
  };
}
