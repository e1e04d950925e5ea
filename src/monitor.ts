import { EventEmitter } from "node:events";
import type { Server } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import pkg from "../package.json" with { type: "json" };
import { AlertEvaluator, type AlertSpec } from "./alerts/evaluator.ts";
import { QUALITY_SCORE_VERSION } from "./audio/quality-score.ts";
import { collectorTimeoutSeconds, enabledCollectors } from "./collectors/index.ts";
import { CollectorRunner } from "./collectors/runner.ts";
import { ConfigError, loadConfig, parseConfig, readSecret, readSecretFile } from "./config/load.ts";
import { DEFAULT_CONFIG_PATH, resolveConfigPath } from "./config/locate.ts";
import { RunTimeOverrides } from "./config/overrides.ts";
import type { Config } from "./config/schema.ts";
import { createEngine } from "./engines/index.ts";
import { type Engine, EngineError, type FailureReason } from "./engines/types.ts";
import type { GatewayControls } from "./gateway/contract.ts";
import type { Gateway } from "./gateway/index.ts";
import { type AnalysisJob, AnalysisPipeline } from "./ingest/analysis.ts";
import { type SynthesisEvent, validateApiEvent } from "./ingest/event.ts";
import { mountIngest } from "./ingest/http.ts";
import { SynthesisRecorder } from "./ingest/recorder.ts";
import { Logger } from "./log.ts";
import { MetricsRegistry } from "./metrics/registry.ts";
import { EVIDENCE_VERSION, type Evidence } from "./optimizer/evidence.ts";
import { mountEvidence } from "./optimizer/evidence-route.ts";
import type { AutoOptimizer } from "./optimizer/index.ts";
import type { ProbeResult } from "./probes/probe.ts";
import { ProbeRunner } from "./probes/runner.ts";
import { createExporterApp } from "./server/exporter.ts";
import { boundAddress, closeServer, listen } from "./server/listen.ts";
import { defaultProbeConcurrency, mountProbe } from "./server/probe-route.ts";
import { mountStressLeases, StressLeases } from "./server/stress-leases.ts";
import { WebConfigSource } from "./server/web-config.ts";
import { registryAudioSink, SeriesLifetimes } from "./state/lifetimes.ts";
import { buildSnapshot, type CurrentMetrics } from "./state/snapshot.ts";
import { sweepTempDirs } from "./util/temp-dir.ts";

export const VERSION: string = pkg.version;
const LOOP_RESOLUTION_MS = 20;

export interface MonitorOptions {
  /** Path of the JSON config file (default config/config.json). Ignored when `config` is given. */
  readonly configPath?: string;
  /** A config object in the file's shape, validated like the file. */
  readonly config?: unknown;
  readonly logger?: Logger;
  /** Overrides server.listen_address (tests use 127.0.0.1:0). */
  readonly listenAddress?: string;
  /** Overrides server.web_config_file (the --web.config.file flag). */
  readonly webConfigFile?: string;
  /** false: collect and record without serving HTTP (embedding in another service). Default true. */
  readonly serve?: boolean;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Evaluate the thresholds and config rules in-process and notify (the --alerts flag). */
  readonly alerts?: boolean;
  /** Also notify through notify-send (--desktop-notifications). */
  readonly desktopNotifications?: boolean;
  /** Run the gateway (`tts-monitor gateway`) even when gateway.enabled is false. */
  readonly gateway?: boolean;
  /** Overrides gateway.listen_address (tests use 127.0.0.1:0). */
  readonly gatewayListenAddress?: string;
  /** Run the auto-optimiser over the gateway (`--auto-optimize`; dryRun: decide and report, change nothing). */
  readonly autoOptimize?: { readonly dryRun: boolean };
}

export type { CurrentMetrics, GpuSnapshot } from "./state/snapshot.ts";

/**
 * The routes that take the ingestion token (ingestion, the stress leases, the optimiser's evidence):
 * with a web config's basic auth in front, a Bearer token opens these and nothing else.
 */
const TOKEN_ROUTES = /^\/api\/v1\/(syntheses|stress\/leases(\/[^/]+(\/report)?)?|optimizer\/evidence)$/;

/** The exporter: config, collectors in the background, and the HTTP endpoints on :9090. */
export class TTSPerformanceMonitor {
  readonly registry = new MetricsRegistry();
  readonly log: Logger;
  #config: Config;
  /** The config as last read from the file (before the run-time changes): what a reload compares with. */
  #fileConfig: Config;
  /** Run-time changes (the dashboard's controls) that a reload keeps unless the file changed the same key. */
  readonly #overrides = new RunTimeOverrides();
  readonly #configPath: string | undefined;
  #runner: CollectorRunner;
  #server: Server | undefined;
  #gateway: { readonly gateway: Gateway; readonly server: Server } | undefined;
  #ready = false;
  #started = false;
  readonly #loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  #loopTimer: NodeJS.Timeout | undefined;
  readonly #options: MonitorOptions;
  readonly recorder: SynthesisRecorder;
  /** "probe" (ProbeResult), "config-change" ({ setting, value, at }), and later "alert". */
  readonly events = new EventEmitter();
  readonly #probes: ProbeRunner;
  /** Engines a `tts-monitor stress` run drives now (POST /api/v1/stress/leases): no scheduled probes, ingest as source="stress". */
  readonly stressLeases = new StressLeases();
  #engines: Map<string, BuiltEngine>;
  readonly #analysis: AnalysisPipeline | undefined;
  #lastProbe = new Map<string, ProbeResult>();
  /** The one owner of per-engine/voice gauge series (src/state/lifetimes.ts). */
  readonly #lifetimes: SeriesLifetimes;
  /** In-process alerts (src/alerts): thresholds, config rules and addAlert() rules. */
  readonly alerts: AlertEvaluator;
  #web: WebConfigSource | undefined;

  constructor(options: MonitorOptions = {}) {
    this.#options = options;
    this.log = options.logger ?? new Logger({ json: !process.stderr.isTTY });
    const env = options.env ?? process.env;
    if (options.config !== undefined) {
      this.#config = parseConfig(options.config, "<config object>", env);
    } else {
      this.#configPath = resolveConfigPath(options.configPath);
      this.#config = loadConfig(this.#configPath, env);
      if (this.#configPath !== (options.configPath ?? DEFAULT_CONFIG_PATH))
        this.log.info("no config/config.json here: using the default config shipped with the package", {
          file: this.#configPath,
        });
    }
    this.#fileConfig = this.#config;
    if (options.serve !== false) this.#web = this.#openWebConfig();
    this.log.addSecret(this.#config.alerts.slack_webhook);
    this.#addEngineSecrets(this.#config);
    this.#runner = this.#makeRunner();
    const ingest = this.#config.ingest;
    this.recorder = new SynthesisRecorder(this.registry, {
      cacheWindowSeconds: ingest.cache_window_seconds,
      successWindowSeconds: ingest.success_window_seconds,
      maxEngines: ingest.max_engines,
      maxVoices: ingest.max_voices,
      maxSeries: ingest.max_series,
      maxSamples: ingest.max_samples,
      knownEngines: this.#config.engines.map((e) => e.name),
      cacheMonitoring: this.#config.monitoring.cache_monitoring,
    });
    this.#lifetimes = new SeriesLifetimes(this.registry, this.recorder, this.log, {
      seriesTtlSeconds: ingest.series_ttl_seconds,
      probed: enabledEngines(this.#config),
      onForget: (engine) => this.#lastProbe.delete(engine),
    });
    this.#analysis = this.#config.monitoring.audio_analysis
      ? new AnalysisPipeline(this.#lifetimes, {
          warn: (msg, fields) => this.log.warn(msg, fields),
          dropped: (reason) => this.registry.counter("tts_ingest_audio_dropped_total").inc({ reason }),
          mos: {
            enabled: this.#config.monitoring.mos,
            maxWindows: this.#config.monitoring.mos_max_windows,
            nice: this.#config.monitoring.mos_nice,
          },
        })
      : undefined;
    this.#engines = this.#buildEngines(this.#config, new Map());
    this.#probes = new ProbeRunner(
      [...this.#engines.values()].map((e) => e.engine),
      {
        intervalSeconds: () => this.#config.probes.interval_seconds,
        texts: () => this.#config.probes.texts,
        timeoutMs: (engine) => this.#engineTimeoutMs(engine),
        enabled: (engine) =>
          this.#config.tool_info.enabled &&
          (this.#config.engines.find((e) => e.name === engine.name)?.enabled ?? false) &&
          !this.stressLeases.active(engine.name),
      },
      (result) => this.#onProbe(result),
    );
    this.alerts = new AlertEvaluator({
      source: this,
      registry: this.registry,
      log: this.log,
      events: this.events,
      env,
      ...(options.desktopNotifications && { desktopNotifications: true }),
    });
    this.#setBuildInfo(undefined, this.#config);
    this.registry.gauge("tts_exporter_start_time_seconds").set(Math.floor(Date.now() / 1000));
    this.#markConfigLoaded(true);
  }

  get config(): Config {
    return this.#config;
  }

  /**
   * The web config every server of this exporter serves through (the dashboard's, a gateway's):
   * pass it as `listen(handler, address, what, { web })`. Read at construction: a bad file throws
   * ConfigError there; re-read when it changes.
   */
  get webConfig(): WebConfigSource {
    this.#web ??= this.#openWebConfig();
    return this.#web;
  }

  #openWebConfig(): WebConfigSource {
    return new WebConfigSource(this.#options.webConfigFile ?? this.#config.server.web_config_file, this.log);
  }

  get collectors(): CollectorRunner {
    return this.#runner;
  }

  /** Address the exporter listens on, e.g. "127.0.0.1:9090" (after startMonitoring). */
  get address(): string | undefined {
    return this.#server ? boundAddress(this.#server) : undefined;
  }

  #makeRunner(): CollectorRunner {
    const runner = new CollectorRunner(enabledCollectors(this.#config), this.registry, this.log, {
      intervalSeconds: this.#config.monitoring.interval_seconds,
      timeoutSeconds: collectorTimeoutSeconds(this.#config),
    });
    for (const name of runner.names)
      this.registry.counter("tts_exporter_collector_skipped_total").inc({ collector: name }, 0);
    return runner;
  }

  /** tts_exporter_build_info, with the config's tool_info.name and tool_info.version as `tool` and `tool_version`. */
  #setBuildInfo(previous: Config | undefined, next: Config): void {
    const labels = (c: Config) => ({
      tool: c.tool_info.name,
      tool_version: c.tool_info.version,
      version: VERSION,
      nodejs_version: process.version,
      quality_score_version: QUALITY_SCORE_VERSION,
    });
    const gauge = this.registry.gauge("tts_exporter_build_info");
    if (previous) gauge.remove(labels(previous));
    gauge.set(labels(next), 1);
  }

  #markConfigLoaded(ok: boolean): void {
    this.registry.gauge("tts_exporter_config_last_reload_successful").set(ok ? 1 : 0);
    if (ok)
      this.registry
        .gauge("tts_exporter_config_last_reload_success_timestamp_seconds")
        .set(Math.floor(Date.now() / 1000));
  }

  /**
   * One engine per enabled config entry. An entry whose settings (and the default timeout it
   * inherits) did not change keeps its running engine, so a reload does not restart an embedded
   * voice or drop a Wyoming connection that still works. Throws ConfigError for an entry that
   * cannot run (an unknown embedded voice, an empty command).
   */
  #buildEngines(config: Config, current: ReadonlyMap<string, BuiltEngine>): Map<string, BuiltEngine> {
    const env = this.#options.env ?? process.env;
    const context = { defaultTimeoutSeconds: config.probes.timeout_seconds, env };
    const built = new Map<string, BuiltEngine>();
    config.engines.forEach((e, i) => {
      if (!e.enabled) return;
      const { enabled: _, ...settings } = e;
      const key = JSON.stringify([settings, config.probes.timeout_seconds]);
      const kept = current.get(e.name);
      if (kept?.key === key) {
        built.set(e.name, kept);
        return;
      }
      try {
        built.set(e.name, { key, engine: createEngine(e, context) });
      } catch (err) {
        throw new ConfigError(this.#configPath ?? "<config object>", [
          {
            path: `$.engines[${i}]`,
            expected: "an engine config that can run",
            got: err instanceof Error ? err.message : String(err),
          },
        ]);
      }
    });
    return built;
  }

  #engineTimeoutMs(engine: Engine): number {
    const cfg = this.#config.engines.find((e) => e.name === engine.name);
    return (cfg?.timeout_seconds ?? this.#config.probes.timeout_seconds) * 1000;
  }

  #onProbe(result: ProbeResult): void {
    // A probe that ends after its engine was switched off or removed leaves no trace.
    if (!this.#lifetimes.probeResult(result)) return;
    this.#lastProbe.set(result.engine, result);
    const job = analysisJob(result);
    if (job && this.#analysis) void this.#analysis.submit(job);
    if (!result.success) {
      this.log.warn("probe failed", { engine: result.engine, reason: result.reason, error: result.error });
    }
    this.events.emit("probe", result);
  }

  // --- Run-time controls (the web dashboard's controls; each change is logged and emitted) ---

  #change(what: string, detail: Record<string, unknown>): void {
    this.log.info("setting changed", { setting: what, ...detail });
    this.events.emit("config-change", { setting: what, ...detail, at: Date.now() });
  }

  /** Changes the probe interval; the next probe of every engine is re-planned at once. */
  setProbeInterval(seconds: number): void {
    if (!(seconds > 0 && seconds <= 86_400))
      throw new RangeError(`probe interval must be in (0, 86400] seconds, got ${seconds}`);
    this.#config = { ...this.#config, probes: { ...this.#config.probes, interval_seconds: seconds } };
    this.#overrides.record({ kind: "probe_interval" }, seconds);
    this.#probes.reschedule();
    this.#change("probes.interval_seconds", { value: seconds });
  }

  /** Replaces the probe texts (used round-robin from the next probe on). */
  setProbeTexts(texts: readonly string[]): void {
    const clean = texts.map((t) => t.trim()).filter((t) => t.length > 0);
    if (clean.length === 0 || clean.some((t) => t.length > 5000))
      throw new RangeError("probe texts: 1 or more texts of 1-5000 characters");
    this.#config = { ...this.#config, probes: { ...this.#config.probes, texts: clean } };
    this.#overrides.record({ kind: "probe_texts" }, clean);
    this.#change("probes.texts", { count: clean.length });
  }

  /** Changes thresholds at run time (validated like the config file). */
  setThresholds(changes: Partial<Config["thresholds"]>): void {
    const next = parseConfig(
      { ...this.#config, thresholds: { ...this.#config.thresholds, ...changes } },
      "<run-time change>",
      {},
    );
    this.#config = { ...this.#config, thresholds: next.thresholds };
    for (const key of Object.keys(changes) as Array<keyof Config["thresholds"]>)
      this.#overrides.record({ kind: "threshold", key }, next.thresholds[key]);
    this.#change("thresholds", { ...changes });
  }

  /** Enables or disables probing of a configured engine. */
  setEngineEnabled(name: string, enabled: boolean): void {
    const i = this.#config.engines.findIndex((e) => e.name === name);
    if (i < 0) throw new RangeError(`no engine named ${JSON.stringify(name)}`);
    if (enabled && !this.#probes.engine(name)) {
      throw new RangeError(
        `engine ${JSON.stringify(name)} was disabled at start; enable it in the config and restart`,
      );
    }
    const engines = this.#config.engines.map((e, k) => (k === i ? { ...e, enabled } : e));
    this.#config = { ...this.#config, engines };
    this.#overrides.record({ kind: "engine_enabled", engine: name }, enabled);
    this.#lifetimes.setProbed(
      enabledEngines(this.#config),
      engines.map((e) => e.name),
    );
    if (enabled) this.#probes.reschedule();
    this.#change("engine.enabled", { engine: name, value: enabled });
  }

  /**
   * Adds an in-process alert: `addAlert({ condition: "latency > 300", action: "optimize_cache",
   * notification: "slack" })`. Throws AlertExpressionError (naming the column) on a bad condition.
   */
  addAlert(spec: AlertSpec): { readonly name: string } {
    return this.alerts.add(spec);
  }

  /** The last probe result of each engine (its audio included); views read getCurrentMetrics().engines[name].probe. */
  get lastProbes(): ReadonlyMap<string, ProbeResult> {
    return this.#lastProbe;
  }

  /** Runs one probe of the engine now and records it like a scheduled one. */
  async probe(engine: string): Promise<ProbeResult> {
    return this.#probes.probeNow(engine);
  }

  /**
   * Records a synthesis that your own service performed (SPEC §5, the TypeScript API). Throws a
   * TypeError naming the field when the event is invalid; nothing is recorded then.
   */
  recordSynthesis(event: SynthesisEvent): void {
    validateApiEvent(event);
    const labels = this.recorder.record(event, this.stressLeases.active(event.engine) ? "stress" : "ingest");
    if (event.audio !== undefined) this.#analyseIngested(event, labels);
  }

  /**
   * Ingested audio goes through the same analysis as probe audio (bounded; undecodable or too long
   * audio is logged and counted). Decoding happens in the analysis worker, not here.
   */
  #analyseIngested(event: SynthesisEvent, labels: { engine: string; voice: string }): void {
    if (!this.#analysis || event.audio === undefined || event.success === false) return;
    // The labels the recorder used: the cardinality guard holds for the audio series too.
    void this.#analysis.submit({
      engine: labels.engine,
      voice: labels.voice,
      audio: event.audio,
      ...(event.text !== undefined && { text: event.text }),
      ingested: { maxSeconds: this.#config.ingest.max_audio_seconds },
    });
  }

  /**
   * Wraps an async synthesis function: each call is timed and recorded (success, or failure with a
   * bounded reason), and its result or error passes through unchanged.
   */
  instrument<A extends unknown[], R>(
    fn: (...args: A) => Promise<R>,
    options: {
      readonly engine: string;
      readonly voice?: string;
      /** The input text of a call (default: the first argument when it is a string). */
      readonly text?: (...args: A) => string | undefined;
      readonly cacheHit?: (result: R) => boolean | undefined;
      readonly audioDurationMs?: (result: R) => number | undefined;
    },
  ): (...args: A) => Promise<R> {
    return async (...args: A): Promise<R> => {
      const text = options.text ? options.text(...args) : typeof args[0] === "string" ? args[0] : undefined;
      const base = {
        engine: options.engine,
        ...(options.voice !== undefined && { voice: options.voice }),
        ...(text !== undefined && { text }),
      };
      const start = performance.now();
      try {
        const result = await fn(...args);
        const cacheHit = options.cacheHit?.(result);
        const audioDurationMs = options.audioDurationMs?.(result);
        this.recorder.record(
          {
            ...base,
            latencyMs: performance.now() - start,
            ...(cacheHit !== undefined && { cacheHit }),
            ...(audioDurationMs !== undefined && { audioDurationMs }),
          },
          "ingest",
        );
        return result;
      } catch (err) {
        this.recorder.record(
          { ...base, latencyMs: performance.now() - start, success: false, errorReason: classifyError(err) },
          "ingest",
        );
        throw err;
      }
    };
  }

  async startMonitoring(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#loopDelay.enable();
    this.#loopTimer = setInterval(() => {
      // The histogram records whole timer periods: the lag is what exceeds the sampling resolution.
      const p99 = this.#loopDelay.percentile(99) / 1e9 - LOOP_RESOLUTION_MS / 1000;
      if (Number.isFinite(p99))
        this.registry.gauge("tts_exporter_event_loop_lag_seconds").set(Math.max(0, p99));
      this.#loopDelay.reset();
    }, this.#config.monitoring.interval_seconds * 1000);
    this.#loopTimer.unref();
    if (this.#options.alerts) this.alerts.enable({ external: true });
    this.alerts.start();
    if (this.#options.serve !== false) {
      const ingest = this.#config.ingest;
      const env = this.#options.env ?? process.env;
      const token = ingest.token_file
        ? readSecretFile(ingest.token_file, "$.ingest.token_file", this.#configPath ?? "<config object>")
        : env[ingest.token_env]?.trim() || undefined;
      this.log.addSecret(token);
      const app = createExporterApp({
        registry: this.registry,
        isReady: () => this.#ready,
        log: this.log,
        mount: (a) => {
          mountIngest(a, {
            registry: this.registry,
            log: this.log,
            token,
            maxBodyBytes: ingest.max_body_bytes,
            maxEvents: ingest.max_events_per_request,
            apply: (events) => {
              for (const e of events) {
                const labels = this.recorder.record(
                  e,
                  this.stressLeases.active(e.engine) ? "stress" : "ingest",
                );
                if (e.audio !== undefined) this.#analyseIngested(e, labels);
              }
            },
          });
          mountStressLeases(a, {
            leases: this.stressLeases,
            configured: (name) => {
              const e = this.#config.engines.find((c) => c.name === name);
              return e === undefined ? undefined : e.enabled ? "enabled" : "disabled";
            },
            token,
            log: this.log,
            onReport: (report) => this.addStressReport(report),
          });
          mountEvidence(a, { token, evidence: () => this.optimizerEvidence() });
          mountProbe(a, {
            engine: (name) => this.#probes.engine(name),
            configured: (name) => {
              const e = this.#config.engines.find((c) => c.name === name);
              return e === undefined ? undefined : e.enabled ? "enabled" : "disabled";
            },
            timeoutMs: (engine) => this.#engineTimeoutMs(engine),
            maxConcurrent: (engine) =>
              this.#config.engines.find((e) => e.name === engine.name)?.probe_concurrency ??
              defaultProbeConcurrency(engine.type),
            registry: this.registry,
            text: () => this.#config.probes.texts[0] ?? "Hello.",
            ...(this.#analysis && {
              analyse: async (result, registry) => {
                const job = analysisJob(result);
                if (job) await this.#analysis?.submit(job, registryAudioSink(registry));
              },
            }),
          });
        },
      });
      const address = this.#options.listenAddress ?? this.#config.server.listen_address;
      this.#server = await listen(app, address, "exporter", {
        web: this.webConfig,
        // The ingestion token authenticates its own route beside basic auth (SECURITY.md).
        bearerRoute: (req) => token !== undefined && TOKEN_ROUTES.test((req.url ?? "").split("?")[0] ?? ""),
      });
      this.log.info("exporter listening", { address: boundAddress(this.#server), metrics: "/metrics" });
    }
    if (this.#options.serve !== false && (this.#options.gateway || this.#config.gateway.enabled))
      await this.#startGateway();
    // Started only once the port is bound: a port in use stops the process before anything runs
    // (and its one error line is all it prints).
    // Temporary files of exporters that crashed or were killed; ours are removed by stop().
    for (const dir of sweepTempDirs()) this.log.info("removed a stale temporary directory", { dir });
    if (this.#config.tool_info.enabled) this.#runner.start();
    else this.#logDisabled();
    this.#probes.start();
    this.#lifetimes.start();
    this.#ready = true;
  }

  /** The gateway (src/gateway/): its requests are recorded with source="gateway" on this exporter. */
  async #startGateway(): Promise<void> {
    const { createGateway, listenGateway } = await import("./gateway/index.ts");
    const config = this.#config.gateway;
    const env = this.#options.env ?? process.env;
    const token = config.token_file
      ? readSecretFile(config.token_file, "$.gateway.token_file", this.#configPath ?? "<config object>")
      : env[config.token_env]?.trim() || undefined;
    this.log.addSecret(token);
    let snapshot: { at: number; metrics: CurrentMetrics } | undefined;
    const gateway = createGateway({
      config,
      engines: () => new Map([...this.#engines].map(([name, b]) => [name, b.engine])),
      registry: this.registry,
      log: this.log,
      token,
      record: (event) => this.recorder.record(event, "gateway"),
      recordChunkGaps: (labels, gaps) => this.recorder.recordChunkGaps(labels, "gateway", gaps),
      ...(this.#analysis && {
        analyse: (job) =>
          void this.#analysis?.submit({
            ...job,
            ingested: { maxSeconds: this.#config.ingest.max_audio_seconds },
          }),
      }),
      quality: (engine) => {
        // Read at most once a second: `auto` asks per request and candidate.
        const now = Date.now();
        if (!snapshot || now - snapshot.at > 1000) snapshot = { at: now, metrics: this.getCurrentMetrics() };
        const e = snapshot.metrics.engines[engine];
        return (
          e && { ...optional("qualityScore", e.qualityScore), ...optional("predictedMos", e.predictedMos) }
        );
      },
    });
    const address = this.#options.gatewayListenAddress ?? config.listen_address;
    const server = await listenGateway(gateway, address, {
      web: this.webConfig,
      // With its own client token, a bearer request skips basic auth and the gateway checks it.
      bearerRoute: () => token !== undefined,
    });
    this.#gateway = { gateway, server };
    if (this.#options.autoOptimize) {
      const { AutoOptimizer } = await import("./optimizer/index.ts");
      this.#autoOptimizer = new AutoOptimizer({
        controls: gateway,
        config: () => this.#config,
        log: this.log,
        registry: this.registry,
        events: this.events,
        dryRun: this.#options.autoOptimize.dryRun,
      });
      this.#autoOptimizer.start();
      this.log.info("auto-optimiser started", {
        interval_seconds: this.#config.optimizer.interval_seconds,
        dry_run: this.#options.autoOptimize.dryRun,
      });
    }
    this.log.info("gateway listening", {
      address: boundAddress(server),
      api: "/v1/audio/speech",
      formats: gateway.formats.join(","),
    });
  }

  /** The running gateway's run-time controls (src/gateway/contract.ts), when it runs. */
  get gateway(): Gateway | undefined {
    return this.#gateway?.gateway;
  }

  /** Address the gateway listens on, when it runs. */
  get gatewayAddress(): string | undefined {
    return this.#gateway ? boundAddress(this.#gateway.server) : undefined;
  }

  /** Engines' API keys and auth header values are masked in every log line, like the webhook. */
  #addEngineSecrets(config: Config): void {
    const env = this.#options.env ?? process.env;
    for (const e of config.engines) {
      if ("api_key_env" in e && e.api_key_env !== undefined) this.log.addSecret(env[e.api_key_env]);
      const auth = "auth_header" in e ? e.auth_header : undefined;
      if (auth?.value_env !== undefined) this.log.addSecret(env[auth.value_env]);
      if (auth?.value_file !== undefined) {
        try {
          this.log.addSecret(readSecret(auth.value_file));
        } catch {
          // Unreadable now: the engine reports it as an `auth` failure at its next request.
        }
      }
    }
  }

  #logDisabled(): void {
    this.log.warn(
      "monitoring is switched off (tool_info.enabled is false): no collectors and no probes; the endpoints and ingestion stay up",
    );
  }

  /**
   * Re-reads the config file (SIGHUP). A bad file is rejected and the running config stays. Engines
   * added, changed or removed take effect at once (an unchanged engine keeps running); the listen
   * addresses cannot change without a restart.
   */
  reload(): boolean {
    if (this.#configPath === undefined) return false;
    let next: Config;
    let engines: Map<string, BuiltEngine>;
    try {
      next = loadConfig(this.#configPath, this.#options.env ?? process.env);
      engines = this.#buildEngines(next, this.#engines);
    } catch (err) {
      this.#markConfigLoaded(false);
      this.log.error("config reload rejected; keeping the running config", {
        error: err instanceof Error ? err.message : String(err),
      });
      return false;
    }
    if (next.server.listen_address !== this.#config.server.listen_address) {
      this.log.warn("server.listen_address changed: restart the exporter to apply it");
    }
    // The web config file itself is watched (src/server/web-config.ts); which file it is, is fixed at start.
    if (next.server.web_config_file !== this.#config.server.web_config_file && !this.#options.webConfigFile) {
      this.log.warn("server.web_config_file changed: restart the exporter to apply it");
    }
    const wasEnabled = this.#config.tool_info.enabled;
    this.#setBuildInfo(this.#config, next);
    // Engines are built from the file; run-time changes the file left alone stay in force.
    const previousFile = this.#fileConfig;
    this.#fileConfig = next;
    const { config: withRunTime, kept } = this.#overrides.reapply(previousFile, next, this.log);
    next = withRunTime;
    this.#config = next;
    this.log.addSecret(next.alerts.slack_webhook);
    this.#addEngineSecrets(next);
    const previous = this.#runner;
    previous.stop();
    this.#runner = this.#makeRunner();
    // Series of collectors switched off must go, not freeze at their last value.
    previous.release(next.tool_info.enabled ? this.#runner.names : []);
    if (this.#started && next.tool_info.enabled) this.#runner.start();
    if (this.#started && wasEnabled && !next.tool_info.enabled) this.#logDisabled();
    this.#lifetimes.setProbed(
      enabledEngines(next),
      next.engines.map((e) => e.name),
    );
    this.#engines = engines;
    this.recorder.knowEngines(engines.keys());
    this.#probes.setEngines([...engines.values()].map((e) => e.engine));
    this.#markConfigLoaded(true);
    this.log.info("config reloaded", {
      file: this.#configPath,
      ...(kept.length > 0 && { kept_run_time_changes: kept }),
    });
    return true;
  }

  #attachedGateway: GatewayControls | undefined;
  #autoOptimizer: AutoOptimizer | undefined;
  readonly #stressReports = new Map<string, unknown>();

  /** Controls of a gateway run outside this monitor (the one it runs itself is used without this). */
  attachGateway(controls: GatewayControls | undefined): void {
    this.#attachedGateway = controls;
  }

  /** A finished stress report (its JSON object): the newest per engine is kept for the optimiser. */
  addStressReport(report: { readonly engine: string; readonly [field: string]: unknown }): void {
    this.#stressReports.delete(report.engine);
    this.#stressReports.set(report.engine, report);
    // Bounded like every other per-engine table: the oldest engine's report goes first.
    while (this.#stressReports.size > this.#config.ingest.max_engines) {
      const oldest = this.#stressReports.keys().next().value;
      if (oldest === undefined) break;
      this.#stressReports.delete(oldest);
    }
  }

  /** What GET /api/v1/optimizer/evidence serves (src/optimizer/evidence.ts): read from the snapshot and the gateway. */
  optimizerEvidence(): Evidence {
    const m = this.getCurrentMetrics();
    const engines: Record<string, { quality_score?: number; predicted_mos?: number }> = {};
    for (const [name, e] of Object.entries(m.engines))
      engines[name] = {
        ...optional("quality_score", e.qualityScore),
        ...optional("predicted_mos", e.predictedMos),
      };
    const g: GatewayControls | undefined = this.gateway ?? this.#attachedGateway;
    return {
      version: EVIDENCE_VERSION,
      trace: g ? g.trace(this.#config.optimizer.window_requests) : [],
      trace_source: g ? "gateway" : "none",
      engines,
      gpus: m.gpus,
      stress_reports: [...this.#stressReports.values()],
      ...(g && {
        gateway: {
          cache_capacity_bytes: g.cacheCapacityBytes(),
          limits: g.limits(),
          route_weights: g.routeWeights(),
        },
      }),
    };
  }

  /** The one snapshot of the state (src/state/snapshot.ts): every value beside the time it was measured. */
  getCurrentMetrics(): CurrentMetrics {
    return buildSnapshot({
      now: Date.now(),
      collectors: this.#runner,
      engines: this.recorder.summary(),
      cacheHitRate: this.recorder.cacheHitRate(),
      quality: this.#lifetimes.latestQuality,
      mos: this.#lifetimes.latestMos,
      probes: this.#lastProbe,
      gateway: this.#gateway?.gateway.snapshot(),
    });
  }

  async stop(): Promise<void> {
    this.#ready = false;
    this.#runner.stop();
    this.#lifetimes.stop();
    await this.#probes.stop();
    await this.alerts.stop();
    await this.#analysis?.close();
    clearInterval(this.#loopTimer);
    this.#loopDelay.disable();
    await this.#autoOptimizer?.stop();
    this.#autoOptimizer = undefined;
    if (this.#gateway) {
      await closeServer(this.#gateway.server);
      await this.#gateway.gateway.close();
      this.#gateway = undefined;
    }
    if (this.#server) await closeServer(this.#server);
    this.#server = undefined;
    this.#web?.stop();
    this.#web = undefined;
    this.#started = false;
  }
}

/** A running engine and the settings it was built from (to tell, on reload, whether to rebuild it). */
interface BuiltEngine {
  readonly key: string;
  readonly engine: Engine;
}

/** Names of the engines that are probed: configured and enabled. */
function enabledEngines(config: Config): string[] {
  return config.engines.filter((e) => e.enabled).map((e) => e.name);
}

/** The analysis of a successful probe's audio (the probe text is what was said). */
function analysisJob(result: ProbeResult): AnalysisJob | undefined {
  if (!result.success || !result.audio) return undefined;
  return {
    engine: result.engine,
    voice: result.voice,
    text: result.text,
    audio: result.audio.bytes,
    format: result.audio.format,
    ...(result.decoded && { decoded: result.decoded }),
  };
}

/** Bounded failure reason of an error thrown by a user's synthesis function. */
export function classifyError(err: unknown): FailureReason {
  if (err instanceof EngineError) return err.reason;
  const e = err as { name?: string; code?: string; status?: number } | undefined;
  if (e?.name === "TimeoutError" || e?.name === "AbortError" || e?.code === "ETIMEDOUT") return "timeout";
  if (e?.code && /^E(CONNREFUSED|CONNRESET|HOSTUNREACH|NOTFOUND|AI_AGAIN|PIPE)$/.test(e.code))
    return "connection";
  if (e?.status === 401 || e?.status === 403) return "auth";
  if (typeof e?.status === "number" && e.status >= 400) return "http_status";
  return "other";
}

/** `{ key: value }` when value is defined, `{}` otherwise (exactOptionalPropertyTypes-friendly spreading). */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
