// Public programmatic API (SPEC §8).

export { ConfigError, loadConfig, parseConfig } from "./config/load.ts";
export type { Config, EngineConfig, Thresholds } from "./config/schema.ts";
export { Logger } from "./log.ts";
export { catalog, type MetricName } from "./metrics/catalog.ts";
export { type CurrentMetrics, type MonitorOptions, TTSPerformanceMonitor } from "./monitor.ts";
