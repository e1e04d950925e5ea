// The stress capability's entry: `tts-monitor stress <engine>` and `--stress-test` call this and nothing else.
import { readFileSync } from "node:fs";
import type { Config, EngineConfig } from "../config/schema.ts";
import { createEngine } from "../engines/index.ts";
import type { StepPlan, StepResult } from "./generator.ts";
import { acquireLease, displayMonitorUrl, type HeldLease, LeaseError } from "./lease-client.ts";
import { type ProgressView, progressView } from "./progress.ts";
import { writeJsonReport, writeReportDir } from "./report.ts";
import { runStress, type StressPlan, type StressReport } from "./run.ts";
import {
  type Arrival,
  PlanError,
  parseConcurrency,
  parseDuration,
  parseRamp,
  parseRates,
} from "./schedule.ts";
import { parseSlo, SloError } from "./slo.ts";

export { runStress, type StressReport } from "./run.ts";
export { parseSlo } from "./slo.ts";

/** Exit codes: 0 the SLO (and --fail-below) met, 1 not met, 2 bad input (nothing sent), 130 interrupted. */
export const STRESS_EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** The command's arguments as yargs gives them (strings, parsed here so each message names its argument). */
export interface StressArgs {
  readonly engine: string;
  readonly rates?: string | undefined;
  readonly ramp?: string | undefined;
  readonly concurrency?: string | undefined;
  readonly arrival: Arrival;
  readonly stepDuration: string;
  readonly warmup: string;
  readonly slo?: string | undefined;
  readonly textsFile?: string | undefined;
  readonly json?: string | undefined;
  readonly report?: string | undefined;
  readonly failBelow?: string | undefined;
  readonly maxRequests: string;
  readonly maxDuration: string;
  readonly maxRate: string;
  readonly lateSend: string;
  readonly maxLate: string;
  readonly stopAfter: string;
  readonly seed: string;
  readonly monitor?: string | undefined;
}

/** The rates when none of --rates, --ramp, --concurrency is given. */
export const DEFAULT_RAMP = "1:64:x2";

export const STRESS_DEFAULTS = {
  arrival: "constant",
  stepDuration: "30s",
  warmup: "5s",
  maxRequests: "100000",
  maxDuration: "30m",
  maxRate: "500",
  lateSend: "10ms",
  maxLate: "1%",
  stopAfter: "1",
  seed: "1",
} as const;

/** The default SLO: the config's latency threshold (its one home) as a p99, and 1 % errors. */
export function defaultSlo(config: Config): string {
  return `p99_latency<${config.thresholds.latency_max_ms}ms,error_rate<1%`;
}

function number(text: string, argument: string, min: number, integer = false): number {
  const n = /^\s*[0-9]*\.?[0-9]+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min) || (integer && !Number.isInteger(n)))
    throw new PlanError(
      `${argument} ${JSON.stringify(text)} is not ${integer ? "a whole number" : "a number"} ≥ ${min}`,
    );
  return n;
}

function ratio(text: string, argument: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$/.exec(text);
  const v = m ? Number(m[1]) / (m[2] === "%" ? 100 : 1) : Number.NaN;
  if (!(v >= 0 && v <= 1))
    throw new PlanError(`${argument} ${JSON.stringify(text)} is not a share (e.g. 1% or 0.01)`);
  return v;
}

function readTexts(file: string): string[] {
  let body: string;
  try {
    body = readFileSync(file, "utf8");
  } catch (err) {
    throw new PlanError(`--texts-file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const texts = body
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
  if (texts.length === 0) throw new PlanError(`--texts-file ${file} has no non-empty line`);
  const long = texts.findIndex((t) => t.length > 5000);
  if (long >= 0) throw new PlanError(`--texts-file ${file}: line ${long + 1} is over 5000 characters`);
  return texts;
}

/** Builds the plan from the arguments; every problem is a PlanError or SloError naming its argument. */
export function planFromArgs(args: StressArgs, config: Config, engine: EngineConfig): StressPlan {
  const given = [args.rates, args.ramp, args.concurrency].filter((v) => v !== undefined).length;
  if (given > 1) throw new PlanError("give only one of --rates, --ramp and --concurrency");
  const rates =
    args.concurrency !== undefined
      ? undefined
      : args.rates !== undefined
        ? parseRates(args.rates)
        : parseRamp(args.ramp ?? DEFAULT_RAMP);
  const concurrency = args.concurrency === undefined ? undefined : parseConcurrency(args.concurrency);
  const texts = args.textsFile === undefined ? [...config.probes.texts] : readTexts(args.textsFile);
  const failBelow = args.failBelow === undefined ? undefined : number(args.failBelow, "--fail-below", 0);
  return {
    ...(rates && { rates }),
    ...(concurrency && { concurrency }),
    arrival: args.arrival,
    stepDurationMs: parseDuration(args.stepDuration, "--step-duration"),
    warmupMs: parseDuration(args.warmup, "--warmup"),
    slo: parseSlo(args.slo ?? defaultSlo(config)),
    texts,
    textsSource: args.textsFile ?? "probes.texts",
    timeoutMs: (engine.timeout_seconds ?? config.probes.timeout_seconds) * 1000,
    maxRequests: number(args.maxRequests, "--max-requests", 1, true),
    maxDurationMs: parseDuration(args.maxDuration, "--max-duration"),
    maxRate: number(args.maxRate, "--max-rate", 0.001),
    stopAfterFailures: number(args.stopAfter, "--stop-after", 1, true),
    ...(failBelow !== undefined && { failBelowRps: failBelow }),
    seed: number(args.seed, "--seed", 0, true),
    lateSendMs: parseDuration(args.lateSend, "--late-send"),
    maxLateRatio: ratio(args.maxLate, "--max-late"),
  };
}

export interface StressIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WriteStream | NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Ctrl-C: the run stops at once and the partial report is still written. */
  readonly signal: AbortSignal;
}

/** `tts-monitor stress <engine>`: returns the exit code (STRESS_EXIT). */
export async function stressCommand(
  args: StressArgs,
  config: Config,
  configFile: string,
  io: StressIo,
): Promise<number> {
  const usage = (message: string) => {
    io.stderr.write(`tts-monitor: ${message}\n`);
    return STRESS_EXIT.usage;
  };
  const cfg = config.engines.find((e) => e.name === args.engine);
  if (!cfg)
    return usage(
      `no engine named ${JSON.stringify(args.engine)} in ${configFile} (configured: ${config.engines.map((e) => e.name).join(", ") || "none"})`,
    );
  let plan: StressPlan;
  try {
    plan = planFromArgs(args, config, cfg);
    const { checkPlan } = await import("./run.ts");
    checkPlan(plan);
  } catch (err) {
    if (err instanceof PlanError || err instanceof SloError) return usage(err.message);
    throw err;
  }
  let lease: HeldLease | undefined;
  if (args.monitor !== undefined) {
    try {
      const token = config.ingest.token_file
        ? readFileSync(config.ingest.token_file, "utf8").trim()
        : io.env[config.ingest.token_env]?.trim() || undefined;
      lease = await acquireLease(args.monitor, cfg.name, token, io.env);
    } catch (err) {
      if (err instanceof LeaseError) return usage(err.message);
      throw err;
    }
  }
  const engine = createEngine(cfg, { defaultTimeoutSeconds: config.probes.timeout_seconds, env: io.env });
  const view = progressView(io.stderr);
  let report: StressReport | undefined;
  try {
    report = await runStress(engine, plan, {
      signal: io.signal,
      onStepStart: (i, n, p) => view.stepStart(i, n, describe(p)),
      onLive: (live) => view.live(live),
      onStepEnd: (i, step) => view.stepEnd(i, stepLine(step)),
    });
  } finally {
    view.stop();
    await engine.close?.();
    if (report !== undefined && lease !== undefined && !(await lease.report(report)))
      io.stderr.write(
        `tts-monitor: the monitor at ${displayMonitorUrl(args.monitor ?? "")} did not take the stress report\n`,
      );
    await lease?.release();
  }
  return finish(report, args, io);
}

async function finish(
  report: StressReport,
  args: Pick<StressArgs, "json" | "report">,
  io: StressIo,
): Promise<number> {
  if (args.json !== undefined) await writeJsonReport(report, args.json);
  if (args.report !== undefined)
    for (const f of await writeReportDir(report, args.report)) io.stderr.write(`wrote ${f}\n`);
  io.stdout.write(verdictText(report));
  if (io.signal.aborted) return STRESS_EXIT.interrupted;
  return report.verdict.passed ? STRESS_EXIT.ok : STRESS_EXIT.failed;
}

/** `tts-monitor --stress-test`: every enabled engine with the defaults, one after the other. */
export async function stressTestAll(config: Config, configFile: string, io: StressIo): Promise<number> {
  let worst: number = STRESS_EXIT.ok;
  for (const e of config.engines.filter((c) => c.enabled)) {
    if (io.signal.aborted) break;
    io.stderr.write(`stress test of ${e.name}\n`);
    const code = await stressCommand(
      { engine: e.name, ...STRESS_DEFAULTS, arrival: "constant" },
      config,
      configFile,
      io,
    );
    worst = Math.max(worst, code);
  }
  return worst;
}

function describe(p: StepPlan): string {
  return p.model === "open" ? `${p.rate} req/s` : `${p.concurrency} workers`;
}

function stepLine(s: StepResult): string {
  const ms = (v: number | null) => (v === null ? "—" : `${Math.round(v * 1000)} ms`);
  const load = s.model === "open" ? `${s.offered_rps} req/s` : `${s.concurrency} workers`;
  return `${load}: achieved ${s.achieved_rps} req/s, goodput ${s.goodput_rps}, p50 ${ms(s.latency_seconds.p50)}, p99 ${ms(s.latency_seconds.p99)}, errors ${s.failed}, late ${(s.late_send_ratio * 100).toFixed(1)} %${s.valid ? "" : " (invalid)"} → ${s.meets_slo ? "SLO met" : s.valid ? "SLO broken" : "not counted"}`;
}

export function verdictText(r: StressReport): string {
  const lines = [
    `${r.engine}: ${r.verdict.passed ? "PASS" : "FAIL"}: ${r.verdict.summary}`,
    `knee: SLO rule ${r.knee.slo_rule_rps ?? "—"} req/s (verdict), Kneedle ${r.knee.kneedle_rps ?? "—"} req/s, USL ${r.knee.usl?.max_rps ?? "—"} req/s`,
  ];
  if (!r.complete) lines.push(`partial: stopped by ${r.stopped_by}`);
  return `${lines.join("\n")}\n`;
}

export type { ProgressView };
