// The threshold alerts' names, shared by the in-process alerts (src/alerts) and the generated
// Prometheus rules (src/monitoring/rules.ts): one alert, one name, one runbook, wherever it fires.
export const THRESHOLD_ALERT_NAMES = {
  latency: "TTSLatencyHigh",
  gpu_temp: "TTSGpuTemperatureHigh",
  memory: "TTSHostMemoryHigh",
  gpu_memory: "TTSGpuMemoryHigh",
  quality: "TTSQualityScoreLow",
  cache_hit_rate: "TTSCacheHitRateLow",
} as const;
