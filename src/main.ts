#!/usr/bin/env node
// The CLI: parse arguments, load config, start. The only module that exits the process.
import { resolve } from "node:path";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { LiveSummary, summaryLines } from "./cli/terminal.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import { Logger } from "./log.ts";
import { TTSPerformanceMonitor, VERSION } from "./monitor.ts";
import { generateAll, writeGenerated } from "./monitoring/generate.ts";
import { ListenError } from "./server/listen.ts";

const EXIT_CONFIG = 2;
const EXIT_LISTEN = 3;

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`tts-monitor: ${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  if (err instanceof ListenError) {
    process.stderr.write(`tts-monitor: ${err.message}\n`);
    process.exit(EXIT_LISTEN);
  }
  process.stderr.write(`tts-monitor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

interface RunArgs {
  config: string;
  prometheusExport: boolean;
  logLevel: "debug" | "info" | "warn" | "error";
}

async function run(args: RunArgs): Promise<void> {
  const headless = args.prometheusExport || !process.stdout.isTTY;
  const view = headless ? undefined : new LiveSummary(process.stdout);
  const log = new Logger({
    json: args.prometheusExport || !process.stderr.isTTY,
    level: args.logLevel,
    ...(view ? { sink: { write: (line: string) => view.writeAbove(line.trimEnd()) } } : {}),
  });
  const monitor = new TTSPerformanceMonitor({ configPath: args.config, logger: log });
  await monitor.startMonitoring();

  let refresh: NodeJS.Timeout | undefined;
  if (view) {
    const draw = () => view.draw(summaryLines(monitor.getCurrentMetrics()));
    refresh = setInterval(draw, 1000);
    setTimeout(draw, 200);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(refresh);
    view?.clear();
    log.info("shutting down", { signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await monitor.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGHUP", () => monitor.reload());
}

export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName("tts-monitor")
    .usage(
      "$0 [options]\n\nPrometheus exporter for text-to-speech services: serves /metrics on server.listen_address (default :9090).",
    )
    .option("config", {
      alias: "c",
      type: "string",
      default: "config/config.json",
      describe: "Config file (JSON, see SPEC §4)",
    })
    .option("log-level", {
      choices: ["debug", "info", "warn", "error"] as const,
      default: "info" as const,
      describe: "Least severe log level printed",
    })
    .command(
      "$0",
      "Run the exporter and its collectors; a live summary when stdout is a terminal",
      (y) =>
        y.option("prometheus-export", {
          type: "boolean",
          default: false,
          describe: "Headless mode for containers: no terminal view, JSON logs on stderr",
        }),
      (a) => run({ config: a.config, prometheusExport: a["prometheus-export"], logLevel: a["log-level"] }),
    )
    .command(
      "generate",
      "Write the generated files (metrics reference; later rules and dashboards) from the config",
      (y) =>
        y.option("out", {
          type: "string",
          default: ".",
          describe: "Output directory (repository root by default)",
        }),
      async (a) => {
        const config = loadConfig(a.config);
        const written = await writeGenerated(generateAll(config), resolve(a.out));
        for (const file of written) process.stdout.write(`wrote ${file}\n`);
      },
    )
    .strict()
    .version(VERSION)
    .alias("h", "help")
    .alias("V", "version")
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`tts-monitor: ${msg} (see tts-monitor --help)\n`);
      process.exit(EXIT_CONFIG);
    })
    .parseAsync();
}

main(hideBin(process.argv)).catch(fail);
