// Package entry for consumers: the sources are TypeScript run through tsx's loader (a runtime
// dependency), so the loader is registered before they are imported; types are in dist/types.
import { register } from "tsx/esm/api";

register();
const api = await import("./src/index.ts");

export const {
  TTSPerformanceMonitor,
  ConfigError,
  loadConfig,
  parseConfig,
  Logger,
  catalog,
  AlertExpressionError,
} = api;
