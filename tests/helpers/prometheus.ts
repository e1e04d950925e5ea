// Starts Debian's Prometheus (package "prometheus") on a free loopback port with a temporary TSDB,
// and queries it through its HTTP API.
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll } from "vitest";
import { tempDir } from "./exporter.ts";
import { httpGet } from "./http.ts";
import { freePort, requireBinary, waitFor } from "./tools.ts";

export const PROMETHEUS = "/usr/bin/prometheus";
export const PROMTOOL = "/usr/bin/promtool";

export interface VectorSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface RunningPrometheus {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
  /** An instant query; throws when Prometheus answers with an error. */
  query(expr: string): Promise<VectorSample[]>;
  /** The active targets from /api/v1/targets. */
  targets(): Promise<Array<Record<string, unknown>>>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
});
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

async function apiGet(url: string): Promise<unknown> {
  const res = await httpGet(url, { timeoutMs: 5000 });
  const body = JSON.parse(res.body) as { status: string; data?: unknown; error?: string };
  if (body.status !== "success") throw new Error(`${url}: ${body.error ?? res.body}`);
  return body.data;
}

/** Starts Prometheus with this configuration text (written next to its temporary TSDB). */
export async function startPrometheus(configText: string): Promise<RunningPrometheus> {
  requireBinary(PROMETHEUS, "prometheus");
  const dir = tempDir("tts-prometheus-");
  const configFile = join(dir, "prometheus.yml");
  writeFileSync(configFile, configText);
  const port = await freePort();
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
  );
  running.add(child);
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (c: string) => {
    output += c;
  });
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    output += c;
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    "Prometheus /-/ready",
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
      const res = await httpGet(`${url}/-/ready`, { timeoutMs: 1000 });
      return res.status === 200 ? true : undefined;
    },
    30_000,
    100,
  ).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw new Error(`${String(err)}\nprometheus output:\n${output}`);
  });
  return {
    url,
    child,
    output: () => output,
    async query(expr) {
      const data = (await apiGet(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)) as {
        resultType: string;
        result: VectorSample[];
      };
      if (data.resultType !== "vector") throw new Error(`${expr}: a ${data.resultType}, not a vector`);
      return data.result;
    },
    async targets() {
      const data = (await apiGet(`${url}/api/v1/targets?state=active`)) as {
        activeTargets: Array<Record<string, unknown>>;
      };
      return data.activeTargets;
    },
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      running.delete(child);
    },
  };
}
