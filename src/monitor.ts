import type { Server } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import pkg from "../package.json" with { type: "json" };
import { collectorTimeoutSeconds, enabledCollectors } from "./collectors/index.ts";
import { CollectorRunner } from "./collectors/runner.ts";
import { loadConfig, parseConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { Logger } from "./log.ts";
import { MetricsRegistry } from "./metrics/registry.ts";
import { createExporterApp } from "./server/exporter.ts";
import { boundAddress, closeServer, listen } from "./server/listen.ts";

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
  /** false: collect and record without serving HTTP (embedding in another service). Default true. */
  readonly serve?: boolean;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface GpuSnapshot {
  readonly gpu: string;
  readonly name: string;
  readonly usagePercent?: number;
  readonly temperatureCelsius?: number;
  readonly memoryUsedBytes?: number;
  readonly memoryTotalBytes?: number;
  readonly powerWatts?: number;
}

export interface CurrentMetrics {
  readonly timestamp: number;
  /** Mean GPU utilisation across GPUs (0-100); undefined without a GPU. */
  readonly gpuUsage: number | undefined;
  readonly gpus: readonly GpuSnapshot[];
  readonly cpuUsageRatio: number | undefined;
  readonly load1: number | undefined;
  readonly memoryUsageRatio: number | undefined;
  readonly memoryUsedBytes: number | undefined;
  readonly memoryTotalBytes: number | undefined;
  readonly swapUsageRatio: number | undefined;
  readonly collectors: Readonly<Record<string, { success: boolean; error?: string }>>;
}

/** The exporter: config, collectors in the background, and the HTTP endpoints on :9090. */
export class TTSPerformanceMonitor {
  readonly registry = new MetricsRegistry();
  readonly log: Logger;
  #config: Config;
  readonly #configPath: string | undefined;
  #runner: CollectorRunner;
  #server: Server | undefined;
  #ready = false;
  #started = false;
  readonly #loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  #loopTimer: NodeJS.Timeout | undefined;
  readonly #options: MonitorOptions;

  constructor(options: MonitorOptions = {}) {
    this.#options = options;
    this.log = options.logger ?? new Logger({ json: !process.stderr.isTTY });
    const env = options.env ?? process.env;
    if (options.config !== undefined) {
      this.#config = parseConfig(options.config, "<config object>", env);
    } else {
      this.#configPath = options.configPath ?? "config/config.json";
      this.#config = loadConfig(this.#configPath, env);
    }
    this.log.addSecret(this.#config.alerts.slack_webhook);
    this.#runner = this.#makeRunner();
    this.registry
      .gauge("tts_exporter_build_info")
      .set({ version: VERSION, nodejs_version: process.version }, 1);
    this.registry.gauge("tts_exporter_start_time_seconds").set(Math.floor(Date.now() / 1000));
    this.#markConfigLoaded(true);
  }

  get config(): Config {
    return this.#config;
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

  #markConfigLoaded(ok: boolean): void {
    this.registry.gauge("tts_exporter_config_last_reload_successful").set(ok ? 1 : 0);
    if (ok)
      this.registry
        .gauge("tts_exporter_config_last_reload_success_timestamp_seconds")
        .set(Math.floor(Date.now() / 1000));
  }

  async startMonitoring(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#loopDelay.enable();
    this.#loopTimer = setInterval(() => {
      const p99 = this.#loopDelay.percentile(99);
      if (Number.isFinite(p99) && p99 > 0)
        this.registry.gauge("tts_exporter_event_loop_lag_seconds").set(p99 / 1e9);
      this.#loopDelay.reset();
    }, this.#config.monitoring.interval_seconds * 1000);
    this.#loopTimer.unref();
    this.#runner.start();
    if (this.#options.serve !== false) {
      const app = createExporterApp({ registry: this.registry, isReady: () => this.#ready });
      const address = this.#options.listenAddress ?? this.#config.server.listen_address;
      this.#server = await listen(app, address, "exporter");
      this.log.info("exporter listening", { address: boundAddress(this.#server), metrics: "/metrics" });
    }
    this.#ready = true;
  }

  /**
   * Re-reads the config file (SIGHUP). A bad file is rejected and the running config stays; the
   * listen address cannot change without a restart.
   */
  reload(): boolean {
    if (this.#configPath === undefined) return false;
    let next: Config;
    try {
      next = loadConfig(this.#configPath, this.#options.env ?? process.env);
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
    this.#config = next;
    this.log.addSecret(next.alerts.slack_webhook);
    this.#runner.stop();
    // Series of collectors switched off must go, not freeze at their last value.
    for (const name of this.#runner.names) {
      this.registry.gauge("tts_exporter_collector_success").remove({ collector: name });
      this.registry.gauge("tts_exporter_collector_duration_seconds").remove({ collector: name });
    }
    this.#runner = this.#makeRunner();
    if (this.#started) this.#runner.start();
    this.#markConfigLoaded(true);
    this.log.info("config reloaded", { file: this.#configPath });
    return true;
  }

  getCurrentMetrics(): CurrentMetrics {
    const value = (collector: string, metric: string) =>
      this.#runner.state(collector)?.samples.find((s) => s.metric === metric)?.value;
    const gpuSamples = this.#runner.state("gpu")?.samples ?? [];
    const byGpu = new Map<string, { name: string; values: Map<string, number> }>();
    for (const s of gpuSamples) {
      const key = s.labels.gpu ?? "";
      const entry = byGpu.get(key) ?? { name: s.labels.name ?? "", values: new Map() };
      entry.values.set(s.metric, s.value);
      byGpu.set(key, entry);
    }
    const gpus: GpuSnapshot[] = [...byGpu].map(([gpu, e]) => {
      const v = (m: string) => e.values.get(m);
      return {
        gpu,
        name: e.name,
        ...optional("usagePercent", v("tts_gpu_usage_percent")),
        ...optional("temperatureCelsius", v("tts_gpu_temperature_celsius")),
        ...optional("memoryUsedBytes", v("tts_gpu_memory_used_bytes")),
        ...optional("memoryTotalBytes", v("tts_gpu_memory_total_bytes")),
        ...optional("powerWatts", v("tts_gpu_power_draw_watts")),
      };
    });
    const usages = gpus.flatMap((g) => (g.usagePercent === undefined ? [] : [g.usagePercent]));
    const collectors: Record<string, { success: boolean; error?: string }> = {};
    for (const name of this.#runner.names) {
      const st = this.#runner.state(name);
      if (st) collectors[name] = { success: st.success, ...optional("error", st.error) };
    }
    return {
      timestamp: Date.now(),
      gpuUsage: usages.length ? usages.reduce((a, b) => a + b, 0) / usages.length : undefined,
      gpus,
      cpuUsageRatio: value("cpu", "tts_host_cpu_usage_ratio"),
      load1: value("cpu", "tts_host_load1"),
      memoryUsageRatio: value("memory", "tts_host_memory_usage_ratio"),
      memoryUsedBytes: value("memory", "tts_host_memory_used_bytes"),
      memoryTotalBytes: value("memory", "tts_host_memory_total_bytes"),
      swapUsageRatio: value("memory", "tts_host_swap_usage_ratio"),
      collectors,
    };
  }

  async stop(): Promise<void> {
    this.#ready = false;
    this.#runner.stop();
    clearInterval(this.#loopTimer);
    this.#loopDelay.disable();
    if (this.#server) await closeServer(this.#server);
    this.#server = undefined;
    this.#started = false;
  }
}

/** `{ key: value }` when value is defined, `{}` otherwise (exactOptionalPropertyTypes-friendly spreading). */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
