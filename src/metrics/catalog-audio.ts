import type { MetricDef } from "./catalog-types.ts";

// Audio quality and intelligibility metrics (SPEC §3, §6), spread into the catalog.
// tts_quality_score, a contract metric, stays in catalog.ts.
export const audioMetrics = {} as const satisfies Record<string, MetricDef>;
