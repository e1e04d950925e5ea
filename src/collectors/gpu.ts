import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import type { Socket } from "node:net";
import { delimiter, join } from "node:path";
import type { Logger } from "../log.ts";
import type { MetricName } from "../metrics/catalog.ts";
import type { Sample } from "../metrics/registry.ts";
import { RunError, type RunResult, runCommand } from "../util/exec.ts";
import type { Collector } from "./types.ts";

// A direct nvidia-smi query replaces node-nvidia-smi (see README): no shell, no XML, a timeout, and
// a killed process group when it hangs. One long-lived `--loop-ms` process then reads the GPUs
// every interval, so the exporter does not fork once per interval.

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

/**
 * Where `name` would run from, found without starting anything: the first executable file of that
 * name in `searchPath` (a name holding a slash is checked as it is). A few access() calls, cheap
 * enough to repeat every interval, so that an nvidia-smi installed later is noticed.
 */
export async function findExecutable(
  name: string,
  searchPath = process.env.PATH ?? "",
): Promise<string | undefined> {
  const candidates = name.includes("/")
    ? [name]
    : searchPath.split(delimiter).map((dir) => join(dir === "" ? "." : dir, name));
  for (const file of candidates) {
    try {
      await access(file, constants.X_OK);
      if ((await stat(file)).isFile()) return file;
    } catch {
      // not there, or not executable: the next directory
    }
  }
  return undefined;
}

/** One loop of `nvidia-smi --loop-ms`: its GPU rows and the messages printed before them, or why its rows do not parse. */
export type LoopBatch =
  | { readonly gpus: GpuReading[]; readonly messages: string[] }
  | { readonly error: NvidiaSmiOutputError };

const MAX_LINE = 64 * 1024;
const MAX_MESSAGES = 20;

/**
 * Splits the endless output of `nvidia-smi --query-gpu=... --loop-ms=N` into one batch per loop.
 * Each loop prints one row per GPU in index order, and nothing marks where a loop ends: a batch is
 * complete when it holds as many rows as the one-shot query before the loop returned, or when a row
 * comes for a GPU the batch already holds (the next loop has begun: a GPU fell off the bus, and
 * from then on a batch is that many rows).
 */
export class LoopBatcher {
  #partial = "";
  #rows: GpuReading[] = [];
  #messages: string[] = [];
  /** Line number within the current batch, for error messages like the one-shot query's. */
  #line = 0;
  #expected: number;

  constructor(
    private readonly fields: readonly GpuField[],
    expected: number,
    private readonly onBatch: (batch: LoopBatch) => void,
  ) {
    this.#expected = Math.max(1, expected);
  }

  /** Lines seen since the last batch that are not GPU rows (what nvidia-smi said before it exited). */
  get messages(): readonly string[] {
    return this.#messages;
  }

  push(chunk: string): void {
    const lines = (this.#partial + chunk).split("\n");
    this.#partial = lines.pop() ?? "";
    for (const line of lines) this.#take(line.trim());
    if (this.#partial.length > MAX_LINE) {
      this.#partial = "";
      this.#fail(
        new NvidiaSmiOutputError(`unexpected nvidia-smi output: a line longer than ${MAX_LINE} bytes`),
      );
    }
  }

  /** The output ended (nvidia-smi exited): the rows pending are its last batch. */
  end(): void {
    this.#take(this.#partial.trim());
    this.#partial = "";
    this.#flush();
  }

  #take(line: string): void {
    if (line === "") return;
    this.#line++;
    if (!DATA_ROW.test(line)) {
      if (this.#messages.length < MAX_MESSAGES) this.#messages.push(line);
      return;
    }
    let row: GpuReading;
    try {
      row = parseRow(line, this.#line, this.fields);
    } catch (err) {
      this.#fail(err instanceof NvidiaSmiOutputError ? err : new NvidiaSmiOutputError(String(err)));
      return;
    }
    if (this.#rows.some((r) => r.index === row.index)) {
      this.#expected = this.#rows.length;
      this.#flush();
      this.#line = 1;
    }
    this.#rows.push(row);
    if (this.#rows.length >= this.#expected) this.#flush();
  }

  #flush(): void {
    if (this.#rows.length === 0) return;
    this.onBatch({ gpus: this.#rows, messages: this.#messages });
    this.#rows = [];
    this.#messages = [];
    this.#line = 0;
  }

  #fail(error: NvidiaSmiOutputError): void {
    this.#rows = [];
    this.#messages = [];
    this.#line = 0;
    this.onBatch({ error });
  }
}

/**
 * One long-lived `nvidia-smi --query-gpu=... --loop-ms=N`, in its own process group (so that a kill
 * also ends what a wrapper script started), killed when the exporter's process exits.
 */
class NvidiaSmiLoop {
  readonly startedAt = Date.now();
  /** When the last complete batch came (the start, until the first one). */
  lastBatchAt = this.startedAt;
  latest: LoopBatch | undefined;
  exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined;
  /** Whether a batch of GPU rows ever came: what the one-shot query learnt still holds for this driver. */
  delivered = false;
  /** Settles at the first batch (rows or a parse error) or when the process ends, whichever comes first. */
  readonly firstBatch: Promise<void>;
  readonly #child: ChildProcess;
  readonly #batcher: LoopBatcher;
  #stderr = "";
  #settle: () => void = () => undefined;
  readonly #killOnExit = () => this.kill();

  constructor(file: string, fields: readonly GpuField[], intervalMs: number, expected: number) {
    this.firstBatch = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.#batcher = new LoopBatcher(fields, expected, (batch) => {
      this.latest = batch;
      if ("gpus" in batch) {
        this.lastBatchAt = Date.now();
        this.delivered = true;
      }
      this.#settle();
    });
    this.#child = spawn(file, [...queryArgs(fields), `--loop-ms=${Math.round(intervalMs)}`], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    process.once("exit", this.#killOnExit);
    this.#child.stdout?.setEncoding("utf8").on("data", (chunk: string) => this.#batcher.push(chunk));
    this.#child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      if (this.#stderr.length < 8192) this.#stderr += chunk;
    });
    let status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let stdoutEnded = false;
    const ended = () => {
      if (this.exit || !status) return;
      this.#batcher.end();
      this.exit = status;
      this.#settle();
      process.off("exit", this.#killOnExit);
      // What a wrapper script left running in the group (a `sleep`) goes with it.
      this.#killGroup();
      this.#child.stdout?.destroy();
      this.#child.stderr?.destroy();
    };
    this.#child.stdout?.on("end", () => {
      stdoutEnded = true;
      ended();
    });
    this.#child.on("error", (err) => {
      this.#stderr = err.message;
      status ??= { code: null, signal: null };
      ended();
    });
    this.#child.on("exit", (code, signal) => {
      status = { code, signal };
      // Its last lines may still be in the pipe; a grandchild holding the pipe must not keep it open.
      if (stdoutEnded) ended();
      else setTimeout(ended, 250).unref();
    });
    // Between runs nothing here should keep a process alive that is otherwise done (library use).
    this.#child.unref();
    for (const pipe of [this.#child.stdout, this.#child.stderr]) (pipe as Socket | null)?.unref();
  }

  kill(): void {
    if (!this.exit) this.#killGroup();
  }

  #killGroup(): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // the group is gone already
    }
  }

  /** Why it stopped: the exit code or signal, and the first lines it said. */
  describeExit(name: string, intervalMs: number): string {
    const { code, signal } = this.exit ?? { code: null, signal: null };
    const detail = signal ? `killed by ${signal}` : `exit code ${code}`;
    const said = firstLines(this.#stderr.trim() || this.#batcher.messages.join("\n"));
    return `${name} --loop-ms=${Math.round(intervalMs)} stopped: ${detail}${said ? `: ${said}` : ""}`;
  }
}

export interface GpuCollectorOptions {
  readonly nvidiaSmi: string;
  /** How long one query may take: the one-shot queries' timeout, and the loop's allowance beyond its interval. */
  readonly timeoutMs: number;
  /** The monitoring interval: nvidia-smi's --loop-ms. */
  readonly intervalMs: number;
  /** Where to look for nvidia-smi (default $PATH). */
  readonly searchPath?: string;
}

/** The longest wait between two starts of a failing nvidia-smi. */
const MAX_BACKOFF_MS = 60_000;
/** A loop that ran this long was healthy: the next failure starts the backoff again from zero. */
const HEALTHY_MS = 60_000;

/**
 * GPU metrics from one long-lived `nvidia-smi --loop-ms`: no process per interval. A one-shot query
 * first learns what the driver accepts (fields it rejects, the newer power fields, how many GPUs,
 * warning exits with good rows); then the loop runs with those fields and each run of this collector
 * returns its latest batch. A loop that exits, or prints no GPU row for an interval plus the
 * timeout, is killed and started again, at once the first time, then after a doubling backoff;
 * a failing one-shot query backs off the same way. Without nvidia-smi nothing is started: PATH is
 * searched again each run.
 */
export function gpuCollector(options: GpuCollectorOptions): Collector {
  const { intervalMs, timeoutMs } = options;
  // What this driver accepts, learnt once: a field it rejects is dropped from every later query.
  let fields: GpuField[] = [...GPU_FIELDS];
  /** The newer drivers' power fields are tried once, when power.draw gives nothing. */
  let powerFallbackTried = false;
  let loop: NvidiaSmiLoop | undefined;
  /** The one-shot query's samples, served until the loop's first batch. */
  let discovered: Sample[] = [];
  /** GPUs the one-shot query found: how many rows make one batch of the loop. */
  let gpuCount = 1;
  /**
   * Whether the last loop delivered GPU rows: then a new loop starts with what was learnt, without
   * a one-shot query first (each spawn blocks the event loop for a time that grows with the
   * exporter's memory, tens of ms on a loaded host; one per restart, not two). A loop that never
   * delivered (a driver that now rejects a field) sends the next start through the one-shot query.
   */
  let learnt = false;
  let starting: Promise<Sample[]> | undefined;
  let failures = 0;
  let retryAt = 0;
  let lastError: Error | undefined;
  let stopped = false;
  /** Messages already logged (the one-shot query's warning is printed again by every loop). */
  const said = new Set<string>();

  /** One log line per distinct event, not one per interval (Logger.once, keyed by the event). */
  const note = (
    log: Logger | undefined,
    level: "info" | "warn",
    msg: string,
    detail: Record<string, unknown>,
  ) => log?.once(`gpu:${msg}${JSON.stringify(detail)}`, level, msg, { collector: "gpu", ...detail });

  const tell = (log: Logger | undefined, messages: readonly string[]) => {
    const message = firstLines(messages.join("\n"));
    if (message === "" || said.has(message)) return;
    said.add(message);
    note(log, "info", "nvidia-smi printed a message along with the GPU data", { message });
  };

  /** Counts a failure and says when the next start may be: at once the first time, then doubling. */
  const fail = (err: unknown): Error => {
    const error = err instanceof Error ? err : new Error(String(err));
    failures++;
    const backoff =
      failures <= 1 ? 0 : Math.min(intervalMs * 2 ** (failures - 1), Math.max(MAX_BACKOFF_MS, intervalMs));
    retryAt = Date.now() + backoff;
    lastError = error;
    return error;
  };

  const notFound = () =>
    new Error(`${options.nvidiaSmi} not found on PATH: no NVIDIA driver here, so no GPU metrics`);

  const run = async (
    file: string,
    query: readonly GpuField[],
    signal: AbortSignal,
  ): Promise<QueryOutcome> => {
    let stdout: string;
    let failed: RunResult | undefined;
    try {
      stdout = (
        await runCommand(file, queryArgs(query), { timeoutMs, signal, maxBuffer: 1024 * 1024 })
      ).stdout.toString("utf8");
    } catch (err) {
      if (err instanceof RunError && err.kind === "not_found") throw notFound();
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
    file: string,
    wanted: readonly GpuField[],
    signal: AbortSignal,
    log: Logger | undefined,
    /** Told each smaller field set at once, so that what was learnt survives a run cut by its timeout. */
    learn?: (fields: GpuField[]) => void,
  ): Promise<{ query: GpuField[]; outcome: Extract<QueryOutcome, { kind: "output" }> }> => {
    let current = [...wanted];
    for (let attempt = 0; attempt <= wanted.length; attempt++) {
      const outcome = await run(file, current, signal);
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

  const read = async (file: string, signal: AbortSignal, log: Logger | undefined): Promise<GpuReading[]> => {
    const { query: answered, outcome } = await query(file, fields, signal, log, (smaller) => {
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
      const text = firstLines(failed.stderr || stdout);
      throw new Error(`${options.nvidiaSmi}: ${detail}${text ? `: ${text}` : ""}`);
    }
    if (failed) {
      // Exit codes 14 (infoROM corrupted) and 15 (a GPU fell off the bus) come with rows for the GPUs
      // that answered: those are exported, and the reason is said once.
      const message = firstLines(failed.stderr || parsed.messages.join("\n"));
      said.add(message);
      said.add(firstLines(parsed.messages.join("\n")));
      note(log, "warn", "nvidia-smi reported GPUs but exited with an error; exporting the GPUs it reported", {
        exit_code: failed.code,
        message,
      });
    } else {
      tell(log, parsed.messages);
    }
    return parsed.gpus;
  };

  /** Once, when power.draw gives nothing: asks for the newer drivers' power fields. */
  const withPowerFallback = async (
    file: string,
    gpus: GpuReading[],
    signal: AbortSignal,
    log: Logger | undefined,
  ): Promise<GpuReading[]> => {
    const noPower = (g: GpuReading) => !g.values.has("tts_gpu_power_draw_watts");
    if (powerFallbackTried || !gpus.some(noPower)) return gpus;
    powerFallbackTried = true;
    const base = fields;
    try {
      const { query: answered, outcome } = await query(
        file,
        [...base, ...POWER_FALLBACK_FIELDS],
        signal,
        log,
      );
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

  /** A new loop with the fields learnt before: its first batch, or why it ended without one. */
  const restart = async (file: string, signal: AbortSignal, log: Logger | undefined): Promise<Sample[]> => {
    const started = new NvidiaSmiLoop(file, fields, intervalMs, gpuCount);
    loop = started;
    const aborted = new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true }),
    );
    await Promise.race([started.firstBatch, aborted]);
    // Cut by the runner's timeout: the loop keeps running, and the next run reads what it printed.
    if (started.latest === undefined && signal.aborted) throw signal.reason;
    if (started.latest === undefined) {
      // Ended before its first batch: counted like any stopped loop, through the one-shot query next time.
      learnt = false;
      loop = undefined;
      throw fail(new Error(started.describeExit(options.nvidiaSmi, intervalMs)));
    }
    return latest(started, log);
  };

  /** The one-shot query, then the loop with what it learnt. */
  const start = async (file: string, signal: AbortSignal, log: Logger | undefined): Promise<Sample[]> => {
    if (learnt && !stopped) return restart(file, signal, log);
    try {
      const gpus = await withPowerFallback(file, await read(file, signal, log), signal, log);
      discovered = gpuSamples(gpus);
      gpuCount = gpus.length;
      if (!stopped) loop = new NvidiaSmiLoop(file, fields, intervalMs, gpus.length);
      return discovered;
    } catch (err) {
      // Cut by the runner's timeout: that is the reason to repeat while backing off.
      throw fail(signal.aborted && signal.reason instanceof Error ? signal.reason : err);
    }
  };

  /** The running loop's latest batch; a loop silent too long is killed. */
  const latest = (running: NvidiaSmiLoop, log: Logger | undefined): Sample[] => {
    if (Date.now() - running.startedAt >= HEALTHY_MS) failures = 0;
    const allowedMs = intervalMs + timeoutMs;
    if (Date.now() - running.lastBatchAt > allowedMs) {
      running.kill();
      loop = undefined;
      learnt = running.delivered;
      throw fail(
        new Error(
          `${options.nvidiaSmi} --loop-ms=${Math.round(intervalMs)} printed no GPU row for ${allowedMs / 1000} s: killed, starting it again`,
        ),
      );
    }
    const batch = running.latest;
    if (batch === undefined) return discovered;
    if ("error" in batch) throw batch.error;
    tell(log, batch.messages);
    return gpuSamples(batch.gpus);
  };

  return {
    name: "gpu",
    metrics: GPU_METRICS,
    supported: () => ({ ok: true }),
    async collect(signal, log) {
      // A one-shot query cut by the runner's timeout may still be ending (its process group being killed).
      await starting?.catch(() => undefined);
      if (loop && !loop.exit) return latest(loop, log);
      if (loop?.exit) {
        const ended = loop;
        loop = undefined;
        learnt = ended.delivered;
        if (Date.now() - ended.startedAt >= HEALTHY_MS) failures = 0;
        const error = fail(new Error(ended.describeExit(options.nvidiaSmi, intervalMs)));
        if (Date.now() < retryAt) throw error;
        note(log, "warn", "nvidia-smi --loop-ms stopped; starting it again", { error: error.message });
      }
      if (Date.now() < retryAt && lastError) throw lastError;
      const file = await findExecutable(options.nvidiaSmi, options.searchPath);
      if (file === undefined) throw notFound();
      const run = start(file, signal, log);
      starting = run;
      try {
        return await run;
      } finally {
        if (starting === run) starting = undefined;
      }
    },
    stop() {
      stopped = true;
      loop?.kill();
      loop = undefined;
    },
  };
}
