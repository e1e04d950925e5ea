#!/usr/bin/env node
// The CLI: parse arguments, load config, start. The only module that exits the process.
import { resolve } from "node:path";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import type { AnalyzeReport } from "./cli/analyze.ts";
import { DEFAULT_ANALYZE_MAX_SECONDS } from "./cli/analyze-defaults.ts";
import { LiveSummary, summaryLines } from "./cli/terminal.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import { DEFAULT_CONFIG_PATH, resolveConfigPath } from "./config/locate.ts";
import { createEngine } from "./engines/index.ts";
import { Logger } from "./log.ts";
import { TTSPerformanceMonitor, VERSION } from "./monitor.ts";
import { runProbe } from "./probes/probe.ts";
import type { Dashboard } from "./server/dashboard.ts";
import { ListenError } from "./server/listen.ts";

// The exporter path loads only what it runs: the generator (Grafana SDK), the web dashboard and the
// file analyser are imported by the commands that use them (start time and memory, docs/benchmarks.md).
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
  webDashboard: boolean;
  alerts: boolean;
  desktopNotifications: boolean;
  logLevel: "debug" | "info" | "warn" | "error";
  webConfigFile: string | undefined;
  /** `tts-monitor gateway`: the gateway runs whatever gateway.enabled says. */
  gateway?: boolean;
  /** `tts-monitor gateway --auto-optimize [--dry-run]`. */
  autoOptimize?: { dryRun: boolean };
}

async function run(args: RunArgs): Promise<void> {
  const headless = args.prometheusExport || !process.stdout.isTTY;
  const view = headless ? undefined : new LiveSummary(process.stdout);
  const log = new Logger({
    json: args.prometheusExport || !process.stderr.isTTY,
    level: args.logLevel,
    ...(view ? { sink: { write: (line: string) => view.writeAbove(line.trimEnd()) } } : {}),
  });
  const monitor = new TTSPerformanceMonitor({
    configPath: args.config,
    logger: log,
    alerts: args.alerts,
    desktopNotifications: args.desktopNotifications,
    ...(args.webConfigFile !== undefined && { webConfigFile: args.webConfigFile }),
    ...(args.gateway && { gateway: true }),
    ...(args.autoOptimize && { autoOptimize: args.autoOptimize }),
  });
  await monitor.startMonitoring();
  let dashboard: Dashboard | undefined;
  if (args.webDashboard) {
    try {
      const { startDashboard } = await import("./server/dashboard.ts");
      dashboard = await startDashboard(monitor);
    } catch (err) {
      await monitor.stop();
      throw err;
    }
  }

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
    await dashboard?.close();
    await monitor.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  if (view) {
    // The terminal closed (window closed, SSH dropped): it sends SIGHUP, and the live view has
    // nowhere left to draw, so the exporter stops cleanly instead of dying on a write error.
    process.stdout.on("error", () => {});
    process.on("SIGHUP", () => void shutdown("SIGHUP"));
  } else {
    // Headless, SIGHUP reloads the config, as daemons do.
    process.on("SIGHUP", () => monitor.reload());
  }
}

async function probeCommand(a: {
  config: string;
  engine: string;
  text: string | undefined;
  json: boolean;
}): Promise<number> {
  const file = resolveConfigPath(a.config);
  const config = loadConfig(file);
  const cfg = config.engines.find((e) => e.name === a.engine);
  if (!cfg) {
    process.stderr.write(
      `tts-monitor: no engine named ${JSON.stringify(a.engine)} in ${file} (configured: ${config.engines.map((e) => e.name).join(", ") || "none"})\n`,
    );
    return EXIT_CONFIG;
  }
  const engine = createEngine(cfg, {
    defaultTimeoutSeconds: config.probes.timeout_seconds,
    env: process.env,
  });
  const text = a.text ?? config.probes.texts[0] ?? "Hello.";
  try {
    const r = await runProbe(engine, text, (cfg.timeout_seconds ?? config.probes.timeout_seconds) * 1000);
    const { audio: _audio, decoded: _decoded, ...printable } = r;
    if (a.json) {
      process.stdout.write(`${JSON.stringify(printable, null, 2)}\n`);
    } else {
      const ms = (v: number | undefined) => (v === undefined ? "—" : `${v.toFixed(1)} ms`);
      const rows: [string, string][] = [
        ["engine", `${r.engine} (voice ${r.voice})`],
        ["result", r.success ? "success" : `failure: ${r.reason} — ${r.error}`],
        ["latency", ms(r.latencyMs)],
        ["first byte", ms(r.firstByteMs)],
        ["first audio", ms(r.ttfaMs)],
        ["longest stall", r.chunkGapsMs ? ms(Math.max(...r.chunkGapsMs)) : "—"],
        ["audio", r.audioDurationMs === undefined ? "—" : `${(r.audioDurationMs / 1000).toFixed(2)} s`],
        [
          "real-time factor",
          r.latencyMs !== undefined && r.audioDurationMs ? (r.latencyMs / r.audioDurationMs).toFixed(3) : "—",
        ],
        ["text", `${r.characters} characters, ${r.words} words`],
      ];
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(18)} ${v}\n`);
    }
    return r.success ? 0 : 1;
  } finally {
    await engine.close?.();
  }
}

/** Ctrl-C stops a stress run at once; its partial report is still written (a second Ctrl-C exits). */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once("SIGINT", () => {
    controller.abort("interrupted");
    process.once("SIGINT", () => process.exit(130));
  });
  process.once("SIGTERM", () => controller.abort("terminated"));
  return controller.signal;
}

async function stressTest(configOption: string): Promise<void> {
  const file = resolveConfigPath(configOption);
  const config = loadConfig(file);
  const { stressTestAll } = await import("./stress/index.ts");
  const io = { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interruptSignal() };
  process.exit(await stressTestAll(config, file, io));
}

async function optimizationReport(a: {
  config: string;
  json?: string;
  report?: string;
  trace?: string;
  stress: string[];
}): Promise<void> {
  const file = resolveConfigPath(a.config);
  const config = loadConfig(file);
  const { runOptimizationReport, EvidenceError } = await import("./optimizer/command.ts");
  try {
    await runOptimizationReport({
      config,
      configFile: file,
      ...(a.trace !== undefined && { traceFile: a.trace }),
      stressFiles: a.stress,
      ...(a.json !== undefined && { jsonFile: a.json }),
      ...(a.report !== undefined && { reportDir: a.report }),
      env: process.env,
      out: process.stdout,
    });
  } catch (err) {
    if (!(err instanceof EvidenceError)) throw err;
    process.stderr.write(`tts-monitor: ${err.message}\n`);
    process.exit(1);
  }
}

export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName("tts-monitor")
    // Options are read by their kebab-case names; without this, an unknown flag is listed twice.
    // Without dot-notation off, --web.config.file would become { web: { config: { file } } }.
    .parserConfiguration({ "camel-case-expansion": false, "dot-notation": false })
    .usage(
      "$0 [options]\n\nPrometheus exporter for text-to-speech services: serves /metrics on server.listen_address (default :9090).",
    )
    .option("config", {
      alias: "c",
      type: "string",
      default: DEFAULT_CONFIG_PATH,
      // Without it, a bare `--config` silently means the default file.
      requiresArg: true,
      describe: "Config file (JSON; README, Configuration)",
    })
    .check((a) => (a.config === "" ? "--config needs a file name" : true))
    .option("log-level", {
      choices: ["debug", "info", "warn", "error"] as const,
      default: "info" as const,
      describe: "Least severe log level printed",
    })
    .command(
      "$0",
      "Run the exporter and its collectors; a live summary when stdout is a terminal",
      (y) =>
        y
          .option("prometheus-export", {
            type: "boolean",
            default: false,
            describe: "Headless mode for containers: no terminal view, JSON logs on stderr",
          })
          .option("web-dashboard", {
            alias: "dashboard",
            type: "boolean",
            default: false,
            describe:
              "Also serve the live web dashboard on server.dashboard_address (default 127.0.0.1:8080)",
          })
          .option("alerts", {
            type: "boolean",
            default: false,
            describe:
              "Evaluate the thresholds and alerts.rules in-process; notify Slack, email, the dashboard",
          })
          .option("desktop-notifications", {
            type: "boolean",
            default: false,
            describe: "Also raise desktop notifications (notify-send, Debian package libnotify-bin)",
          })
          .option("web.config.file", {
            type: "string",
            requiresArg: true,
            describe:
              "Prometheus exporter-toolkit web config (TLS, basic auth, headers) for every port; overrides server.web_config_file (SECURITY.md)",
          })
          .option("stress-test", {
            type: "boolean",
            default: false,
            describe:
              "Stress every enabled engine with the defaults of `tts-monitor stress`, print the verdicts and exit",
          })
          .option("optimization-report", {
            type: "boolean",
            default: false,
            describe:
              "Print what to change per lever (cache, coalescing, concurrency, engines, batching, GPU) from the running monitor's evidence, or from --trace/--stress-report files (docs/optimization.md)",
          })
          .option("json", {
            type: "string",
            requiresArg: true,
            describe: "With --optimization-report: also write the JSON report here",
          })
          .option("report", {
            type: "string",
            requiresArg: true,
            describe:
              "With --optimization-report: write the Markdown report and its charts (SVG) into this directory",
          })
          .option("trace", {
            type: "string",
            requiresArg: true,
            describe:
              "With --optimization-report: a gateway trace file (JSONL) instead of the running monitor",
          })
          .option("stress-report", {
            type: "string",
            array: true,
            requiresArg: true,
            describe:
              "With --optimization-report: a stress report (JSON, tts-monitor stress --json); repeatable",
          })
          .check((a) =>
            !a["optimization-report"] &&
            (a.json !== undefined ||
              a.report !== undefined ||
              a.trace !== undefined ||
              a["stress-report"] !== undefined)
              ? "--json, --report, --trace and --stress-report go with --optimization-report"
              : true,
          ),
      (a) =>
        a["stress-test"]
          ? stressTest(a.config)
          : a["optimization-report"]
            ? optimizationReport({
                config: a.config,
                ...(a.json !== undefined && { json: a.json }),
                ...(a.report !== undefined && { report: a.report }),
                ...(a.trace !== undefined && { trace: a.trace }),
                stress: (a["stress-report"] ?? []).map(String),
              })
            : run({
                config: a.config,
                prometheusExport: a["prometheus-export"],
                webDashboard: a["web-dashboard"],
                alerts: a.alerts || a["desktop-notifications"],
                desktopNotifications: a["desktop-notifications"],
                logLevel: a["log-level"],
                webConfigFile: a["web.config.file"],
              }),
    )
    .command(
      "gateway",
      "Run the OpenAI-compatible TTS gateway on gateway.listen_address (default 0.0.0.0:9095) with the exporter",
      (y) =>
        y
          .option("prometheus-export", {
            type: "boolean",
            default: false,
            describe: "Headless mode for containers: no terminal view, JSON logs on stderr",
          })
          .option("web.config.file", {
            type: "string",
            requiresArg: true,
            describe:
              "Prometheus exporter-toolkit web config (TLS, basic auth, headers) for every port, the gateway's too; overrides server.web_config_file (SECURITY.md)",
          })
          .option("auto-optimize", {
            type: "boolean",
            default: false,
            describe:
              "Resize the cache, bound the concurrency limits and re-weight auto routes from the live trace, every optimizer.interval_seconds, within the optimizer bounds (docs/optimization.md)",
          })
          .option("dry-run", {
            type: "boolean",
            default: false,
            describe: "With --auto-optimize: log and count the decisions, change nothing",
          })
          .check((a) => (a["dry-run"] && !a["auto-optimize"] ? "--dry-run goes with --auto-optimize" : true)),
      (a) =>
        run({
          config: a.config,
          prometheusExport: a["prometheus-export"],
          webDashboard: false,
          alerts: false,
          desktopNotifications: false,
          logLevel: a["log-level"],
          webConfigFile: a["web.config.file"],
          gateway: true,
          ...(a["auto-optimize"] && { autoOptimize: { dryRun: a["dry-run"] } }),
        }),
    )
    .command(
      "generate",
      "Write the alert rules, Alertmanager config, Grafana dashboards and provisioning, and docs from the config",
      (y) =>
        y.option("out", {
          type: "string",
          default: ".",
          describe: "Output directory (repository root by default)",
        }),
      async (a) => {
        const file = resolveConfigPath(a.config);
        const config = loadConfig(file);
        const { generateAll, generationProblems, writeGenerated } = await import("./monitoring/generate.ts");
        const problems = generationProblems(config);
        if (problems.length > 0) throw new ConfigError(file, problems);
        const written = await writeGenerated(generateAll(config), resolve(a.out));
        for (const file of written) process.stdout.write(`wrote ${file}\n`);
      },
    )
    .command(
      "analyze <file>",
      "Analyse one audio file (WAV, or raw PCM at a stated rate) and print every measure",
      (y) =>
        y
          .positional("file", { type: "string", demandOption: true, describe: "Audio file" })
          .option("text", {
            type: "string",
            describe: "The text spoken: enables truncation and intelligibility",
          })
          .option("json", { type: "boolean", default: false, describe: "Print every measure as JSON" })
          .option("mos", {
            type: "boolean",
            default: true,
            describe: "Predicted MOS (DNSMOS P.835, about 1 s of CPU per 9 s of audio); --no-mos skips it",
          })
          .option("rate", {
            type: "number",
            describe: "Raw PCM input: sample rate in Hz (the file has no header)",
          })
          .option("encoding", {
            choices: ["s16le", "s24le", "s32le", "f32le", "u8"] as const,
            default: "s16le" as const,
            describe: "Raw PCM input: sample encoding (with --rate)",
          })
          .option("channels", {
            type: "number",
            default: 1,
            describe: "Raw PCM input: channels (with --rate)",
          })
          .option("max-seconds", {
            type: "number",
            default: DEFAULT_ANALYZE_MAX_SECONDS,
            describe: "Longer audio is refused before analysis (memory grows with the duration)",
          }),
      async (a) => {
        const format =
          a.rate === undefined
            ? undefined
            : { kind: "pcm" as const, sampleRate: a.rate, channels: a.channels, encoding: a.encoding };
        const { analyzeFile, formatReport } = await import("./cli/analyze.ts");
        let report: AnalyzeReport;
        try {
          report = await analyzeFile(a.file, {
            maxSeconds: a["max-seconds"],
            ...(a.text !== undefined && { text: a.text }),
            ...(format && { format }),
            mos: a.mos,
          });
        } catch (err) {
          process.stderr.write(
            `tts-monitor: cannot analyse ${a.file}: ${err instanceof Error ? err.message : String(err)}\n`,
          );
          process.exit(1);
        }
        // The threshold the alerts use: the config's (its one home), not a number written here.
        const qualityMin = loadConfig(resolveConfigPath(a.config)).thresholds.quality_score_min;
        process.stdout.write(
          a.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, qualityMin),
        );
      },
    )
    .command(
      "probe <engine>",
      "Run one synthesis probe of a configured engine now and print its result",
      (y) =>
        y
          .positional("engine", {
            type: "string",
            demandOption: true,
            describe: "Engine name from the config",
          })
          .option("text", {
            type: "string",
            requiresArg: true,
            describe: "Text to synthesise (default: the first probe text)",
          })
          .option("json", { type: "boolean", default: false, describe: "Print the result as JSON" })
          .check((a) => {
            // Repeated, yargs makes an array of it.
            const text: unknown = a.text;
            if (text === undefined) return true;
            if (typeof text !== "string") return "--text may be given only once";
            return text.trim() === "" ? "--text needs a non-empty text to synthesise" : true;
          }),
      async (a) => {
        const code = await probeCommand({ config: a.config, engine: a.engine, text: a.text, json: a.json });
        process.exit(code);
      },
    )
    .command(
      "stress <engine>",
      "Drive a configured engine at rising request rates (open model) and find the load it sustains under the SLO",
      (y) =>
        y
          .positional("engine", {
            type: "string",
            demandOption: true,
            describe: "Engine name from the config",
          })
          .option("rates", {
            type: "string",
            requiresArg: true,
            describe: "Requests/s per step, e.g. 1,2,4,8,16",
          })
          .option("ramp", {
            type: "string",
            requiresArg: true,
            describe:
              "Rates from:to:xK or from:to:+K (default 1:64:x2 when neither --rates nor --concurrency)",
          })
          .option("concurrency", {
            type: "string",
            requiresArg: true,
            describe:
              "Closed model instead: workers per step, e.g. 1,2,4,8 (for comparison; it hides stalls)",
          })
          .option("arrival", {
            choices: ["constant", "poisson"] as const,
            default: "constant" as const,
            describe: "Open-model arrivals",
          })
          .option("step-duration", {
            type: "string",
            default: "30s",
            requiresArg: true,
            describe: "Measured time per step",
          })
          .option("warmup", {
            type: "string",
            default: "5s",
            requiresArg: true,
            describe: "Unmeasured time before each step",
          })
          .option("slo", {
            type: "string",
            requiresArg: true,
            describe:
              'e.g. "p99_latency<1.5s,error_rate<1%" (default: p99 below thresholds.latency_max_ms, 1 % errors)',
          })
          .option("texts-file", {
            type: "string",
            requiresArg: true,
            describe: "Texts to send, one per line (default probes.texts)",
          })
          .option("json", {
            type: "string",
            requiresArg: true,
            describe: "Write the JSON report here (docs/stress.md)",
          })
          .option("report", {
            type: "string",
            requiresArg: true,
            describe: "Write stress.md, stress.svg and stress.json into this directory",
          })
          .option("fail-below", {
            type: "string",
            requiresArg: true,
            describe: "Exit 1 when the sustainable rate is below this many requests/s",
          })
          .option("max-requests", {
            type: "string",
            default: "100000",
            requiresArg: true,
            describe: "Cap on requests sent in the whole run",
          })
          .option("max-duration", {
            type: "string",
            default: "30m",
            requiresArg: true,
            describe: "Cap on the whole run's time",
          })
          .option("max-rate", {
            type: "string",
            default: "500",
            requiresArg: true,
            describe: "Cap on any step's rate (requests/s)",
          })
          .option("stop-after", {
            type: "string",
            default: "1",
            requiresArg: true,
            describe: "Stop after this many consecutive steps that break the SLO",
          })
          .option("late-send", {
            type: "string",
            default: "10ms",
            requiresArg: true,
            describe: "A send later than this is late",
          })
          .option("max-late", {
            type: "string",
            default: "1%",
            requiresArg: true,
            describe: "A step with more late sends is invalid",
          })
          .option("seed", {
            type: "string",
            default: "1",
            requiresArg: true,
            describe: "Seed of the Poisson arrivals",
          })
          .option("monitor", {
            type: "string",
            requiresArg: true,
            describe:
              "A running tts-monitor's exporter URL: its probes of the engine pause during the run (a lease)",
          }),
      async (a) => {
        const file = resolveConfigPath(a.config);
        const config = loadConfig(file);
        const { stressCommand } = await import("./stress/index.ts");
        const opt = (v: unknown, name: string): string | undefined => {
          // Repeated, yargs makes an array of it.
          if (v === undefined || typeof v === "string") return v;
          process.stderr.write(`tts-monitor: --${name} may be given only once\n`);
          process.exit(EXIT_CONFIG);
        };
        const io = {
          stdout: process.stdout,
          stderr: process.stderr,
          env: process.env,
          signal: interruptSignal(),
        };
        const code = await stressCommand(
          {
            engine: a.engine,
            rates: opt(a.rates, "rates"),
            ramp: opt(a.ramp, "ramp"),
            concurrency: opt(a.concurrency, "concurrency"),
            arrival: a.arrival,
            stepDuration: opt(a["step-duration"], "step-duration") as string,
            warmup: opt(a.warmup, "warmup") as string,
            slo: opt(a.slo, "slo"),
            textsFile: opt(a["texts-file"], "texts-file"),
            json: opt(a.json, "json"),
            report: opt(a.report, "report"),
            failBelow: opt(a["fail-below"], "fail-below"),
            maxRequests: opt(a["max-requests"], "max-requests") as string,
            maxDuration: opt(a["max-duration"], "max-duration") as string,
            maxRate: opt(a["max-rate"], "max-rate") as string,
            lateSend: opt(a["late-send"], "late-send") as string,
            maxLate: opt(a["max-late"], "max-late") as string,
            stopAfter: opt(a["stop-after"], "stop-after") as string,
            seed: opt(a.seed, "seed") as string,
            monitor: opt(a.monitor, "monitor"),
          },
          config,
          file,
          io,
        );
        process.exit(code);
      },
    )
    .strict()
    .version(VERSION)
    .alias("h", "help")
    .alias("V", "version")
    .fail((msg, err) => {
      // yargs' own usage errors (a flag without its value: YError; a failed check: its string) end
      // here; an error thrown by a command's handler goes on to fail() above.
      if (err instanceof Error && err.name !== "YError") throw err;
      process.stderr.write(`tts-monitor: ${msg ?? String(err)} (see tts-monitor --help)\n`);
      process.exit(EXIT_CONFIG);
    })
    .parseAsync();
}

main(hideBin(process.argv)).catch(fail);
