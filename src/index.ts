// Public programmatic API (SPEC §8).

export type { AlertSpec } from "./alerts/evaluator.ts";
export { AlertExpressionError } from "./alerts/expression.ts";
export type { AlertEvent } from "./alerts/types.ts";
export { ConfigError, loadConfig, parseConfig } from "./config/load.ts";
export type { Config, EngineConfig, Thresholds } from "./config/schema.ts";
export { Logger } from "./log.ts";
export { catalog, type MetricName } from "./metrics/catalog.ts";
export { type MonitorOptions, TTSPerformanceMonitor } from "./monitor.ts";
export type {
  CollectorSnapshot,
  CurrentMetrics,
  EngineSnapshot,
  GpuSnapshot,
  ProbeSnapshot,
} from "./state/snapshot.ts";
