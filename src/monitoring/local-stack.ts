// The stack as local processes (Debian's prometheus and prometheus-alertmanager), from the repository's
// own files: prometheus.yml with its targets moved to loopback, the generated rules, and an
// alertmanager.yml rendered by the same generator. Used by `npm run stack` and the integration tests.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { dump, load } from "js-yaml";

export const PROMETHEUS_BIN = "/usr/bin/prometheus";
export const ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager";
export const REPO_ROOT = resolve(import.meta.dirname, "../..");

export interface LocalPrometheusOptions {
  /** host:port of the exporter (replaces the compose target exporter:9090). */
  readonly exporter: string;
  /** host:port of Alertmanager (replaces alertmanager:9093); none: no alerting section. */
  readonly alertmanager?: string;
  /** Rule files (absolute); default: the repository's alerting-rules/*.yml. */
  readonly ruleFiles?: readonly string[];
  readonly scrapeInterval?: string;
  readonly evaluationInterval?: string;
}

interface PromConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  alerting?: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
  scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
}

/** prometheus.yml (the compose one) rewritten for processes on this host. */
export function localPrometheusConfig(o: LocalPrometheusOptions): string {
  const cfg = load(readFileSync(resolve(REPO_ROOT, "prometheus.yml"), "utf8")) as PromConfig;
  cfg.global = {
    ...cfg.global,
    ...(o.scrapeInterval ? { scrape_interval: o.scrapeInterval } : {}),
    ...(o.evaluationInterval ? { evaluation_interval: o.evaluationInterval } : {}),
  };
  cfg.rule_files = o.ruleFiles ? [...o.ruleFiles] : (cfg.rule_files ?? []).map((f) => resolve(REPO_ROOT, f));
  for (const job of cfg.scrape_configs) {
    for (const sc of job.static_configs)
      sc.targets = sc.targets.map((t) => (t === "exporter:9090" ? o.exporter : t));
  }
  if (o.alertmanager) {
    for (const am of cfg.alerting?.alertmanagers ?? []) {
      for (const sc of am.static_configs) sc.targets = sc.targets.map(() => o.alertmanager as string);
    }
  } else {
    delete cfg.alerting;
  }
  return dump(cfg, { lineWidth: -1 });
}

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  output(): string;
}

export function startProcess(
  name: string,
  cmd: string,
  args: readonly string[],
  cwd: string,
  env = process.env,
): Proc {
  // Own process group: a stop reaches whatever the program started, and Ctrl-C in the terminal
  // reaches only the stack script, which then stops its children in order.
  const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  const keep = (c: Buffer) => {
    output = (output + c.toString("utf8")).slice(-64 * 1024);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((r) => {
    child.once("exit", () => r());
    child.once("error", () => r());
  });
  return { name, child, exited, output: () => output };
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once the leader exited. */
export async function stopProcess(p: Proc, graceMs = 10_000): Promise<void> {
  const pid = p.child.pid;
  if (pid === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(timer);
  signal("SIGKILL"); // anything left in the group
}

export function prometheusArgs(configFile: string, dataDir: string, listen: string): string[] {
  return [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${dataDir}`,
    `--web.listen-address=${listen}`,
    "--web.enable-lifecycle",
    "--log.level=warn",
  ];
}

export function alertmanagerArgs(configFile: string, dataDir: string, listen: string): string[] {
  return [
    `--config.file=${configFile}`,
    `--storage.path=${dataDir}`,
    `--web.listen-address=${listen}`,
    // No gossip cluster for a single local instance (and no port 9094 to collide on).
    "--cluster.listen-address=",
    "--log.level=warn",
  ];
}
