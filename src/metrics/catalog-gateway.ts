import type { MetricDef } from "./catalog-types.ts";

// The gateway's own families (src/gateway/, docs/gateway.md). Its requests are also recorded in the
// tts_* families with source="gateway", and its cache lookups feed tts_cache_hit_rate.

export const gatewayMetrics = {
  tts_gateway_cache_hits_total: {
    type: "counter",
    help: "Gateway requests served from the audio cache (no engine call), by engine.",
    labels: ["engine"],
    unit: "",
    area: "gateway",
  },
  tts_gateway_cache_lookups_total: {
    type: "counter",
    help: "Gateway audio cache lookups, by engine.",
    labels: ["engine"],
    unit: "",
    area: "gateway",
  },
  tts_gateway_cache_bytes: {
    type: "gauge",
    help: "Audio bytes held in the gateway cache.",
    labels: [],
    unit: "bytes",
    area: "gateway",
  },
  tts_gateway_cache_capacity_bytes: {
    type: "gauge",
    help: "Capacity of the gateway audio cache (gateway.cache.max_bytes, or as set at run time).",
    labels: [],
    unit: "bytes",
    area: "gateway",
  },
  tts_gateway_cache_entries: {
    type: "gauge",
    help: "Entries held in the gateway audio cache.",
    labels: [],
    unit: "",
    area: "gateway",
  },
  tts_gateway_cache_evictions_total: {
    type: "counter",
    help: "Gateway cache entries removed, by reason (capacity: least recently used, to make room; expired: past gateway.cache.ttl_seconds).",
    labels: ["reason"],
    unit: "",
    area: "gateway",
  },
  tts_gateway_coalesced_total: {
    type: "counter",
    help: "Gateway requests that shared an identical synthesis already in flight, by engine.",
    labels: ["engine"],
    unit: "",
    area: "gateway",
  },
  tts_gateway_concurrency_limit: {
    type: "gauge",
    help: "Adaptive concurrency limit of the gateway's syntheses per engine.",
    labels: ["engine"],
    unit: "",
    area: "gateway",
  },
  tts_gateway_in_flight: {
    type: "gauge",
    help: "Gateway syntheses running on the engine now.",
    labels: ["engine"],
    unit: "",
    area: "gateway",
  },
  tts_gateway_queue_length: {
    type: "gauge",
    help: "Gateway syntheses waiting for a slot under the engine's concurrency limit.",
    labels: ["engine"],
    unit: "",
    area: "gateway",
  },
  tts_gateway_rejected_total: {
    type: "counter",
    help: "Gateway requests answered 429 or 503 without synthesis, by engine and reason (queue_full, queue_timeout, circuit_open).",
    labels: ["engine", "reason"],
    unit: "",
    area: "gateway",
  },
  tts_gateway_route_total: {
    type: "counter",
    help: "Engines the gateway sent syntheses to, by engine and reason (requested, auto, fallback).",
    labels: ["engine", "reason"],
    unit: "",
    area: "gateway",
  },
  tts_gateway_circuit_open: {
    type: "gauge",
    help: "1 while the engine's circuit breaker keeps it out of the gateway's routes (after consecutive failures), else 0.",
    labels: ["engine"],
    unit: "",
    area: "gateway",
  },
} as const satisfies Record<string, MetricDef>;
