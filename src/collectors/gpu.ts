import type { Logger } from "../log.ts";
import type { MetricName } from "../metrics/catalog.ts";
import type { Sample } from "../metrics/registry.ts";
import { RunError, type RunResult, runCommand } from "../util/exec.ts";
import type { Collector } from "./types.ts";

// A direct nvidia-smi query replaces node-nvidia-smi (see README): no shell, no XML, a timeout, and
// a killed process group when it hangs.

export interface GpuField {
  readonly field: string;
  /** The metric this field feeds; when several fields feed one metric, the first with a value wins. */
  readonly metric?: MetricName;
  /** Factor to base units (MiB → bytes, MHz → Hz). */
  readonly scale?: number;
}

/** Query fields, in order: the first three identify the GPU and are required; the others may be dropped. */
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
] as const satisfies readonly GpuField[];

/**
 * Drivers from R535 on split the power reading into a 1 s average and an instantaneous value; some
 * boards report only those. Older drivers reject these names, so they are asked for only when
 * power.draw gives nothing.
 */
export const POWER_FALLBACK_FIELDS: readonly GpuField[] = [
  { field: "power.draw.average", metric: "tts_gpu_power_draw_watts", scale: 1 },
  { field: "power.draw.instant", metric: "tts_gpu_power_draw_watts", scale: 1 },
];

/** Fields every nvidia-smi that has --query-gpu knows: the last resort when a driver rejects a field it does not name. */
const MINIMAL_FIELDS = new Set([
  "index",
  "name",
  "uuid",
  "utilization.gpu",
  "temperature.gpu",
  "memory.used",
  "memory.total",
  "power.draw",
]);

const REQUIRED = 3;

export const queryArgs = (fields: readonly GpuField[]) => [
  `--query-gpu=${fields.map((f) => f.field).join(",")}`,
  "--format=csv,noheader,nounits",
];

export const GPU_QUERY_ARGS = queryArgs(GPU_FIELDS);

const GPU_METRICS: MetricName[] = [
  ...GPU_FIELDS.flatMap((f) => ("metric" in f ? [f.metric] : [])),
  "tts_gpu_memory_usage_ratio",
];

/**
 * Values nvidia-smi prints for a field the board or driver does not report: dropped, never zero.
 * In CSV output every such value is in brackets ([N/A], [Not Supported], [Unknown Error],
 * [GPU requires reset], [Insufficient Permissions], [Requested functionality has been deprecated]...).
 */
const UNAVAILABLE =
  /^(\[.*\]|N\/A|Not Supported|Unknown Error|Insufficient Permissions|Not Available|ERR!)$/i;

/** How nvidia-smi rejects a field its driver does not know (exit code 2, on stdout; curly quotes on Windows). */
const INVALID_FIELD = /Field\s+["“”'`]?([^"“”'`\s]+)["“”'`]?\s+is not a valid field to query/i;

/** A data row starts with the GPU index; anything else is a message (a warning, a header). */
const DATA_ROW = /^\d+\s*,/;

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

export interface ParsedOutput {
  readonly gpus: GpuReading[];
  /** Lines that are not data rows: warnings nvidia-smi prints along with the data (infoROM...). */
  readonly messages: string[];
}

/**
 * Parses `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`. Lines that do not start
 * with a GPU index are messages, set aside; a data row that does not match the query throws, and
 * so does an output without any data row.
 */
export function parseNvidiaSmiOutput(stdout: string, fields: readonly GpuField[] = GPU_FIELDS): ParsedOutput {
  const lines = stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0) throw new NvidiaSmiOutputError("nvidia-smi printed nothing (no GPU visible?)");
  const messages: string[] = [];
  const gpus: GpuReading[] = [];
  lines.forEach((line, i) => {
    if (DATA_ROW.test(line)) gpus.push(parseRow(line, i + 1, fields));
    else messages.push(line);
  });
  if (gpus.length === 0) {
    throw new NvidiaSmiOutputError(
      `unexpected nvidia-smi output, line 1: no GPU data row: ${JSON.stringify((messages[0] ?? "").slice(0, 160))}`,
    );
  }
  return { gpus, messages };
}

/** The GPUs of an nvidia-smi output (see parseNvidiaSmiOutput); messages are dropped. */
export function parseNvidiaSmi(stdout: string, fields: readonly GpuField[] = GPU_FIELDS): GpuReading[] {
  return parseNvidiaSmiOutput(stdout, fields).gpus;
}

function parseRow(line: string, lineNo: number, fields: readonly GpuField[]): GpuReading {
  let cells = line.split(",").map((c) => c.trim());
  // A board name holding a comma splits into extra cells: join them back into the name.
  const extra = cells.length - fields.length;
  if (extra > 0) cells = [cells[0] ?? "", cells.slice(1, 2 + extra).join(", "), ...cells.slice(2 + extra)];
  if (cells.length !== fields.length) {
    throw new NvidiaSmiOutputError(
      `unexpected nvidia-smi output, line ${lineNo}: ${cells.length} fields instead of ${fields.length}: ${JSON.stringify(line.slice(0, 120))}`,
    );
  }
  const [index = "", name = "", rawUuid = ""] = cells;
  if (!/^\d+$/.test(index))
    throw new NvidiaSmiOutputError(
      `unexpected nvidia-smi output, line ${lineNo}: index ${JSON.stringify(index)}`,
    );
  // A GPU in a bad state may not report its uuid: it keeps its index and an empty uuid label.
  const uuid = UNAVAILABLE.test(rawUuid) ? "" : rawUuid;
  if (uuid !== "" && !/^(GPU|MIG)-[0-9a-fA-F-]+$/.test(uuid)) {
    throw new NvidiaSmiOutputError(
      `unexpected nvidia-smi output, line ${lineNo}: uuid ${JSON.stringify(uuid.slice(0, 60))}`,
    );
  }
  const values = new Map<MetricName, number>();
  fields.forEach((f, k) => {
    if (f.metric === undefined || values.has(f.metric)) return;
    const cell = cells[k] ?? "";
    if (cell === "" || UNAVAILABLE.test(cell)) return;
    const n = Number(cell);
    if (!Number.isFinite(n) || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(cell)) {
      throw new NvidiaSmiOutputError(
        `unexpected nvidia-smi output, line ${lineNo}: ${f.field} = ${JSON.stringify(cell.slice(0, 40))}`,
      );
    }
    values.set(f.metric, n * (f.scale ?? 1));
  });
  const used = values.get("tts_gpu_memory_used_bytes");
  const total = values.get("tts_gpu_memory_total_bytes");
  if (used !== undefined && total !== undefined && total > 0)
    values.set("tts_gpu_memory_usage_ratio", used / total);
  return { index, name, uuid, values };
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

/** The field a driver rejected (`Field "x" is not a valid field to query.`), if that is what the text says. */
export function rejectedField(text: string): string | undefined {
  return INVALID_FIELD.exec(text)?.[1];
}

const firstLines = (text: string) => text.trim().split(/\r?\n/).slice(0, 3).join(" / ").slice(0, 300);

type QueryOutcome =
  | { readonly kind: "output"; readonly stdout: string; readonly failed?: RunResult }
  | { readonly kind: "rejected"; readonly field: string };

export function gpuCollector(options: { nvidiaSmi: string; timeoutMs: number }): Collector {
  // What this driver accepts, learnt once: a field it rejects is dropped from every later query.
  let fields: GpuField[] = [...GPU_FIELDS];
  /** The newer drivers' power fields are tried once, when power.draw gives nothing. */
  let powerFallbackTried = false;
  /** One log line per distinct event, not one per interval (Logger.once, keyed by the event). */
  const note = (
    log: Logger | undefined,
    level: "info" | "warn",
    msg: string,
    detail: Record<string, unknown>,
  ) => log?.once(`gpu:${msg}${JSON.stringify(detail)}`, level, msg, { collector: "gpu", ...detail });

  const run = async (query: readonly GpuField[], signal: AbortSignal): Promise<QueryOutcome> => {
    let stdout: string;
    let failed: RunResult | undefined;
    try {
      stdout = (
        await runCommand(options.nvidiaSmi, queryArgs(query), {
          timeoutMs: options.timeoutMs,
          signal,
          maxBuffer: 1024 * 1024,
        })
      ).stdout.toString("utf8");
    } catch (err) {
      if (err instanceof RunError && err.kind === "not_found") {
        throw new Error(`${options.nvidiaSmi} not found on PATH: no NVIDIA driver here, so no GPU metrics`, {
          cause: err,
        });
      }
      if (!(err instanceof RunError) || err.kind !== "exit" || !err.result) throw err;
      failed = err.result;
      stdout = failed.stdout.toString("utf8");
    }
    const field = rejectedField(`${stdout}\n${failed?.stderr ?? ""}`);
    if (field !== undefined) return { kind: "rejected", field };
    return { kind: "output", stdout, ...(failed && { failed }) };
  };

  /** Runs the query, dropping each field the driver rejects, until it answers. */
  const query = async (
    wanted: readonly GpuField[],
    signal: AbortSignal,
    log: Logger | undefined,
    /** Told each smaller field set at once, so that what was learnt survives a run cut by its timeout. */
    learn?: (fields: GpuField[]) => void,
  ): Promise<{ query: GpuField[]; outcome: Extract<QueryOutcome, { kind: "output" }> }> => {
    let current = [...wanted];
    for (let attempt = 0; attempt <= wanted.length; attempt++) {
      const outcome = await run(current, signal);
      if (outcome.kind === "output") return { query: current, outcome };
      const k = current.findIndex((f) => f.field === outcome.field);
      if (k >= REQUIRED) {
        // The newer power fields are expected to be unknown to older drivers: not worth a line.
        if (GPU_FIELDS.some((f) => f.field === outcome.field)) {
          const message =
            "nvidia-smi does not know a query field (older or newer driver); querying without it";
          note(log, "info", message, { field: outcome.field });
        }
        current = current.filter((_, i) => i !== k);
      } else if (k < 0 && current.some((f, i) => i >= REQUIRED && !MINIMAL_FIELDS.has(f.field))) {
        // The rejected name is not one we asked for as such (an alias?): fall back to the fields every driver knows.
        note(log, "warn", "nvidia-smi rejected the query; falling back to the basic fields", {
          field: outcome.field,
        });
        current = current.filter((f) => MINIMAL_FIELDS.has(f.field));
      } else {
        throw new NvidiaSmiOutputError(
          `nvidia-smi rejects the query field ${JSON.stringify(outcome.field)}: no GPU metrics with this driver`,
        );
      }
      learn?.(current);
    }
    throw new NvidiaSmiOutputError("nvidia-smi rejected every query field");
  };

  const read = async (signal: AbortSignal, log: Logger | undefined): Promise<GpuReading[]> => {
    const { query: answered, outcome } = await query(fields, signal, log, (smaller) => {
      fields = smaller;
    });
    fields = answered;
    const { stdout, failed } = outcome;
    let parsed: ParsedOutput;
    try {
      parsed = parseNvidiaSmiOutput(stdout, fields);
    } catch (err) {
      if (!failed) throw err;
      // A failed run without GPU rows: the error is nvidia-smi's own message (stderr, or stdout).
      const detail = failed.signal ? `killed by ${failed.signal}` : `exit code ${failed.code}`;
      const said = firstLines(failed.stderr || stdout);
      throw new Error(`${options.nvidiaSmi}: ${detail}${said ? `: ${said}` : ""}`);
    }
    if (failed) {
      // Exit codes 14 (infoROM corrupted) and 15 (a GPU fell off the bus) come with rows for the GPUs
      // that answered: those are exported, and the reason is said once.
      note(log, "warn", "nvidia-smi reported GPUs but exited with an error; exporting the GPUs it reported", {
        exit_code: failed.code,
        message: firstLines(failed.stderr || parsed.messages.join("\n")),
      });
    } else if (parsed.messages.length > 0) {
      note(log, "info", "nvidia-smi printed a message along with the GPU data", {
        message: firstLines(parsed.messages.join("\n")),
      });
    }
    return parsed.gpus;
  };

  /** Once, when power.draw gives nothing: asks for the newer drivers' power fields. */
  const withPowerFallback = async (
    gpus: GpuReading[],
    signal: AbortSignal,
    log: Logger | undefined,
  ): Promise<GpuReading[]> => {
    const noPower = (g: GpuReading) => !g.values.has("tts_gpu_power_draw_watts");
    if (powerFallbackTried || !gpus.some(noPower)) return gpus;
    powerFallbackTried = true;
    const base = fields;
    try {
      const { query: answered, outcome } = await query([...base, ...POWER_FALLBACK_FIELDS], signal, log);
      if (outcome.failed || answered.length === base.length) return gpus;
      const richer = parseNvidiaSmi(outcome.stdout, answered);
      if (richer.filter(noPower).length < gpus.filter(noPower).length) {
        fields = answered;
        return richer;
      }
    } catch (err) {
      if (signal.aborted) throw err;
      // The plain query works; a failure of the extra fields only means no extra power reading.
    }
    fields = base;
    return gpus;
  };

  return {
    name: "gpu",
    metrics: GPU_METRICS,
    supported: () => ({ ok: true }),
    async collect(signal, log) {
      const gpus = await withPowerFallback(await read(signal, log), signal, log);
      return gpuSamples(gpus);
    },
  };
}
