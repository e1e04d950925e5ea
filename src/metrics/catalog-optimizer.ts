import type { MetricDef } from "./catalog-types.ts";

// The auto-optimiser's metrics (src/optimizer/auto.ts, `tts-monitor gateway --auto-optimize`).
export const optimizerMetrics = {
  tts_optimizer_decisions_total: {
    type: "counter",
    help: "Decisions of the auto-optimiser, by lever (cache, limit, route) and action (grow, shrink, raise, lower); in --dry-run reported, not applied.",
    labels: ["lever", "action"],
    unit: "",
    area: "optimizer",
  },
  tts_optimizer_cache_capacity_bytes: {
    type: "gauge",
    help: "The gateway's audio cache capacity as the auto-optimiser last read or set it.",
    labels: [],
    unit: "bytes",
    area: "optimizer",
  },
  tts_optimizer_concurrency_limit_max: {
    type: "gauge",
    help: "Upper bound of the gateway's adaptive concurrency limit per engine, as the auto-optimiser last read or set it.",
    labels: ["engine"],
    unit: "",
    area: "optimizer",
  },
  tts_optimizer_route_weight: {
    type: "gauge",
    help: 'Relative weight of an engine among the routes of model "auto", as the auto-optimiser last read or set it.',
    labels: ["engine"],
    unit: "",
    area: "optimizer",
  },
} as const satisfies Record<string, MetricDef>;
