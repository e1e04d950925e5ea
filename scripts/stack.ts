// `npm run stack`: exporter, Prometheus and Alertmanager as local processes (Debian packages
// prometheus and prometheus-alertmanager), from the repository's files: config/config.json,
// prometheus.yml (targets moved to loopback), the generated alerting-rules/, and an alertmanager.yml
// rendered from the environment by the same generator as the compose stack. Data under .stack/.
// Ctrl-C or SIGTERM stops all three; nothing is left running.
//   npm run stack -- [--config f] [--dir .stack] [--exporter-port 9090] [--prometheus-port 9091] [--alertmanager-port 9093]
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.ts";
import {
  ALERTMANAGER_BIN,
  alertmanagerArgs,
  localPrometheusConfig,
  PROMETHEUS_BIN,
  type Proc,
  prometheusArgs,
  REPO_ROOT,
  startProcess,
  stopProcess,
} from "../src/monitoring/local-stack.ts";
import { renderAlertmanager } from "../src/monitoring/render-alertmanager.ts";

const { values } = parseArgs({
  options: {
    config: { type: "string", default: "config/config.json" },
    dir: { type: "string", default: ".stack" },
    "exporter-port": { type: "string", default: "9090" },
    "prometheus-port": { type: "string", default: "9091" },
    "alertmanager-port": { type: "string", default: "9093" },
  },
});

function requireBinary(path: string, pkg: string): void {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    console.error(`${path} is missing: install the Debian package ${pkg} (sudo apt-get install ${pkg})`);
    process.exit(1);
  }
}
requireBinary(PROMETHEUS_BIN, "prometheus");
requireBinary(ALERTMANAGER_BIN, "prometheus-alertmanager");

const dir = resolve(values.dir ?? ".stack");
const ports = {
  exporter: Number(values["exporter-port"]),
  prometheus: Number(values["prometheus-port"]),
  alertmanager: Number(values["alertmanager-port"]),
};
const configPath = resolve(values.config ?? "config/config.json");
const config = loadConfig(configPath);
mkdirSync(dir, { recursive: true });

// The exporter's own config, with its listen address moved to the chosen loopback port.
const raw = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, Record<string, unknown>>;
const exporterConfig = join(dir, "config.json");
writeFileSync(
  exporterConfig,
  `${JSON.stringify({ ...raw, server: { ...raw.server, listen_address: `127.0.0.1:${ports.exporter}` } }, null, 2)}\n`,
);
const amConfig = renderAlertmanager(config, process.env, join(dir, "alertmanager"));
const promConfig = join(dir, "prometheus.yml");
writeFileSync(
  promConfig,
  localPrometheusConfig({
    exporter: `127.0.0.1:${ports.exporter}`,
    alertmanager: `127.0.0.1:${ports.alertmanager}`,
  }),
);

const procs: Proc[] = [];
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    // Prometheus first (it would alert on the others going away), the exporter last.
    for (const p of [...procs].reverse()) await stopProcess(p);
    console.log("stack stopped");
  }
  process.exit(code);
}
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

function watch(p: Proc): Proc {
  void p.exited.then(() => {
    if (stopping) return;
    console.error(`${p.name} exited unexpectedly; its last output:\n${p.output()}`);
    void stopAll(1);
  });
  procs.push(p);
  return p;
}

function ready(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolveReady, reject) => {
    const attempt = () => {
      const req = get(url, (res) => {
        res.resume();
        if (res.statusCode === 200) resolveReady();
        else retry();
      });
      req.setTimeout(1000, () => req.destroy());
      req.on("error", retry);
    };
    const retry = () => {
      if (stopping) return;
      if (Date.now() > deadline) reject(new Error(`${url} did not answer 200 within ${timeoutMs} ms`));
      else setTimeout(attempt, 200);
    };
    attempt();
  });
}

watch(
  startProcess(
    "exporter",
    process.execPath,
    ["--import", "tsx", "src/main.ts", "--prometheus-export", "--config", exporterConfig],
    REPO_ROOT,
  ),
);
watch(
  startProcess(
    "alertmanager",
    ALERTMANAGER_BIN,
    alertmanagerArgs(amConfig, join(dir, "alertmanager-data"), `127.0.0.1:${ports.alertmanager}`),
    dir,
  ),
);
watch(
  startProcess(
    "prometheus",
    PROMETHEUS_BIN,
    prometheusArgs(promConfig, join(dir, "prometheus-data"), `127.0.0.1:${ports.prometheus}`),
    dir,
  ),
);

try {
  await Promise.all([
    ready(`http://127.0.0.1:${ports.exporter}/-/ready`),
    ready(`http://127.0.0.1:${ports.alertmanager}/-/ready`),
    ready(`http://127.0.0.1:${ports.prometheus}/-/ready`),
  ]);
} catch (err) {
  console.error(String(err));
  for (const p of procs) console.error(`--- ${p.name}:\n${p.output()}`);
  await stopAll(1);
}
console.log(
  [
    "tts-performance-monitor local stack is up (Ctrl-C stops it):",
    `  exporter      http://127.0.0.1:${ports.exporter}/metrics`,
    `  prometheus    http://127.0.0.1:${ports.prometheus}/`,
    `  alertmanager  http://127.0.0.1:${ports.alertmanager}/`,
    `  data          ${dir}`,
    `  pids          ${procs.map((p) => `${p.name}=${p.child.pid}`).join(" ")}`,
  ].join("\n"),
);
