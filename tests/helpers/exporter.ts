// Starts the real exporter as a child process (the CLI, as a user runs it), on 127.0.0.1:0, and
// reads the bound port from its "exporter listening" log line. Every child started here is killed
// after each test, whatever the test did.
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, afterEach, expect } from "vitest";
import { FIXTURES, REPO_ROOT, waitFor } from "./tools.ts";

export type FakeNvidiaSmi =
  | { readonly kind: "fixture"; readonly fixture: "rtx3090.csv" | "a100x4.csv" }
  | { readonly kind: "hang" }
  | { readonly kind: "exit9" }
  | { readonly kind: "garbage" }
  /**
   * Answers any --query-gpu like the real tool from a driver profile (tests/fixtures/nvidia-smi/drivers),
   * rejecting the fields that driver does not know; each call's arguments go to `log` when given.
   */
  | { readonly kind: "driver"; readonly profile: string; readonly log?: string }
  /** No nvidia-smi anywhere on PATH. */
  | { readonly kind: "none" };

const FAKE_SCRIPTS = {
  fixture: "print-fixture.sh",
  hang: "hang.sh",
  exit9: "exit9.sh",
  garbage: "garbage.sh",
  driver: "emulate.mjs",
} as const;

export interface ExporterOptions {
  /** Merged (deeply, objects only) over the test base config: 1 s interval, 127.0.0.1:0. */
  readonly config?: Record<string, unknown>;
  /** The config file's exact text (malformed JSON tests); replaces `config`. */
  readonly configText?: string;
  /** CLI arguments before `--config <file>`; default ["--prometheus-export"]. */
  readonly args?: readonly string[];
  /** Extra environment variables (undefined removes one). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly nvidiaSmi?: FakeNvidiaSmi;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningExporter {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** The directory holding the fake nvidia-smi, when one was installed. */
  readonly fakeBin: string | undefined;
  readonly configFile: string;
  stderr(): string;
  stdout(): string;
  /** stderr's JSON log lines, parsed (other lines skipped). */
  logs(): Array<Record<string, unknown>>;
  readonly exited: Promise<ExitStatus>;
  /**
   * Sends the signal and waits for the exit (SIGKILL after `graceMs`, 30 s by default: a loaded
   * machine's exporter finishes its nice-10 MOS window and its analysis before it exits).
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitStatus>;
}

/**
 * How the tests run the CLI: the compiled package (`node dist/main.js`), as `npm start` and the
 * installed `tts-monitor` do. tests/global-setup.ts builds dist/ first when a source is newer.
 * Running the sources through tsx instead cost about 1 s more CPU per process start (the esbuild
 * service, tsx in every worker thread), and the suite starts a CLI process about a hundred times.
 */
export const CLI = ["dist/main.js"] as const;

export const BASE_CONFIG = {
  monitoring: { interval_seconds: 1 },
  server: { listen_address: "127.0.0.1:0", dashboard_address: "127.0.0.1:0" },
} as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

// Children started inside a test die after that test; children started in beforeAll (shared by
// the file's tests, e.g. an exporter scraped by a Prometheus) live until the file is done.
const children = new Set<ChildProcess>();
const fileChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function track(child: ChildProcess): void {
  (expect.getState().currentTestName === undefined ? fileChildren : children).add(child);
}

function untrack(child: ChildProcess): void {
  children.delete(child);
  fileChildren.delete(child);
}

function kill(set: Set<ChildProcess>): void {
  for (const child of set) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  set.clear();
}

function killAll(): void {
  kill(children);
  kill(fileChildren);
}

// Registered once per test file that imports this module.
afterEach(() => {
  kill(children);
});
afterAll(() => {
  killAll();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
});
// Last resort if the worker goes away while children still run.
process.once("exit", killAll);

export function tempDir(prefix = "tts-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** PATH without any directory that holds an nvidia-smi (so "no nvidia-smi" holds on a GPU host too). */
function pathWithoutNvidiaSmi(path: string): string[] {
  return path.split(delimiter).filter((d) => d !== "" && !existsSync(join(d, "nvidia-smi")));
}

/** Puts the chosen fake nvidia-smi first on PATH; returns the PATH and the fake's directory. */
export function nvidiaSmiPath(
  fake: FakeNvidiaSmi,
  basePath = process.env.PATH ?? "",
): {
  path: string;
  bin: string | undefined;
} {
  const rest = pathWithoutNvidiaSmi(basePath);
  if (fake.kind === "none") return { path: rest.join(delimiter), bin: undefined };
  const bin = join(tempDir("tts-fake-nvidia-smi-"), "bin");
  mkdirSync(bin);
  symlinkSync(join(FIXTURES, "nvidia-smi", FAKE_SCRIPTS[fake.kind]), join(bin, "nvidia-smi"));
  return { path: [bin, ...rest].join(delimiter), bin };
}

interface Spawned {
  child: ChildProcess;
  configFile: string;
  fakeBin: string | undefined;
  out: { stdout: string; stderr: string };
  exited: Promise<ExitStatus>;
}

function spawnExporter(options: ExporterOptions): Spawned {
  const dir = tempDir();
  const configFile = join(dir, "config.json");
  const text =
    options.configText ??
    `${JSON.stringify(deepMerge(BASE_CONFIG as unknown as Record<string, unknown>, options.config ?? {}), null, 2)}\n`;
  writeFileSync(configFile, text);

  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  for (const [k, v] of Object.entries(options.env ?? {})) if (v === undefined) delete env[k];
  let fakeBin: string | undefined;
  if (options.nvidiaSmi) {
    const { path, bin } = nvidiaSmiPath(options.nvidiaSmi, env.PATH);
    env.PATH = path;
    fakeBin = bin;
    if (options.nvidiaSmi.kind === "fixture") env.FAKE_NVIDIA_SMI_FIXTURE = options.nvidiaSmi.fixture;
    if (options.nvidiaSmi.kind === "driver") {
      env.FAKE_NVIDIA_SMI_PROFILE = join(FIXTURES, "nvidia-smi", "drivers", options.nvidiaSmi.profile);
      if (options.nvidiaSmi.log !== undefined) env.FAKE_NVIDIA_SMI_LOG = options.nvidiaSmi.log;
    }
  }
  const args = [...CLI, ...(options.args ?? ["--prometheus-export"]), "--config", configFile];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  const out = { stdout: "", stderr: "" };
  child.stdout?.setEncoding("utf8").on("data", (c: string) => {
    out.stdout += c;
  });
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    out.stderr += c;
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => {
      untrack(child);
      resolve({ code, signal });
    });
  });
  return { child, configFile, fakeBin, out, exited };
}

export function parseJsonLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial line still being written
    }
  }
  return out;
}

/** Starts the exporter and resolves once it logged its listening address. */
export async function startExporter(options: ExporterOptions = {}): Promise<RunningExporter> {
  const { child, configFile, fakeBin, out, exited } = spawnExporter(options);
  let exitedEarly: ExitStatus | undefined;
  void exited.then((s) => {
    exitedEarly = s;
  });
  const address = await waitFor(
    "the exporter's 'exporter listening' log line",
    () => {
      if (exitedEarly)
        throw new Error(`exporter exited (${JSON.stringify(exitedEarly)}) before listening:\n${out.stderr}`);
      const line = parseJsonLines(out.stderr).find((l) => l.msg === "exporter listening");
      return typeof line?.address === "string" ? line.address : undefined;
    },
    60_000, // a deadline for a loaded machine, not a start-up time (bench/ measures that)
    20,
  ).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw err instanceof Error ? new Error(`${err.message}\nstderr so far:\n${out.stderr}`) : err;
  });
  const port = Number(/:(\d+)$/.exec(address)?.[1]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`cannot read a port from ${address}`);
  const pid = child.pid ?? -1;
  return {
    child,
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    fakeBin,
    configFile,
    stderr: () => out.stderr,
    stdout: () => out.stdout,
    logs: () => parseJsonLines(out.stderr),
    exited,
    async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 30_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const status = await exited;
      clearTimeout(timer);
      return status;
    },
  };
}

export interface CliResult extends ExitStatus {
  readonly stdout: string;
  readonly stderr: string;
  readonly configFile: string;
}

/** Runs the CLI to its exit (for the cases that must exit: bad config, port in use, --help). */
export async function runCli(options: ExporterOptions & { timeoutMs?: number } = {}): Promise<CliResult> {
  const { child, configFile, out, exited } = spawnExporter(options);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000);
  const status = await exited;
  clearTimeout(timer);
  return { ...status, stdout: out.stdout, stderr: out.stderr, configFile };
}

/** Runs the CLI with exactly these arguments (no --config added), to its exit. */
export async function runCliArgs(
  args: readonly string[],
  timeoutMs = 20_000,
  env: Readonly<Record<string, string>> = {},
): Promise<Omit<CliResult, "configFile">> {
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const status = await new Promise<ExitStatus>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  clearTimeout(timer);
  untrack(child);
  return { ...status, stdout, stderr };
}

/** Processes whose command line mentions `needle` (e.g. the fake nvidia-smi's directory), by pid. */
export function processesMatching(needle: string): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim();
      if (cmdline.includes(needle)) out.push({ pid: Number(entry), cmdline });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Pids in process group `pgid` (field 5 of /proc/<pid>/stat): a script and the children it left behind. */
export function processGroupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // fields[0] is the state (field 3); pgrp is field 5. Zombies are already dead.
      if (Number(fields[2]) === pgid && fields[0] !== "Z") out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
