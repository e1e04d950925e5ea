import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { OptimizationReport } from "./report.ts";

// One SVG per lever, rendered server-side with vega-lite (compiled to vega, rendered without a canvas).

const BASE = { $schema: "https://vega.github.io/schema/vega-lite/v6.json", width: 560, height: 280 } as const;

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The chart specs of a report, by file name (a lever without data has none). */
export function chartSpecs(r: OptimizationReport): Record<string, TopLevelSpec> {
  const out: Record<string, TopLevelSpec> = {};
  if (r.cache.status === "ok") {
    const mib = (b: number) => b / 2 ** 20;
    out["cache-mrc.svg"] = {
      ...BASE,
      title:
        "LRU hit ratio vs cache size (exact stack distance" +
        (r.cache.method === "exact" ? ")" : ", SHARDS)"),
      layer: [
        {
          data: { values: r.cache.mrc.map((p) => ({ mib: mib(p.capacity_bytes), hit: p.hit_ratio })) },
          mark: { type: "line", interpolate: "step-after" },
          encoding: {
            x: { field: "mib", type: "quantitative", title: "cache capacity (MiB)" },
            y: { field: "hit", type: "quantitative", title: "hit ratio", scale: { domain: [0, 1] } },
          },
        },
        {
          data: {
            values: [
              {
                mib: mib(r.cache.recommended_bytes),
                hit: r.cache.hit_ratio_at_recommended,
                what: "recommended",
              },
            ],
          },
          mark: { type: "point", filled: true, size: 90, color: "#d62728" },
          encoding: { x: { field: "mib", type: "quantitative" }, y: { field: "hit", type: "quantitative" } },
        },
        {
          data: { values: [{ hit: r.cache.infinite_hit_ratio }] },
          mark: { type: "rule", strokeDash: [4, 4], color: "#888" },
          encoding: { y: { field: "hit", type: "quantitative" } },
        },
      ],
    };
  }
  if (r.coalescing.status === "ok") {
    out["coalescing.svg"] = {
      ...BASE,
      height: 120,
      title: "Requests that arrived while an identical one was in flight",
      data: {
        values: [
          { what: "could share (from the trace)", share: r.coalescing.share },
          { what: "did share (gateway flag)", share: r.coalescing.observed_share },
        ],
      },
      mark: "bar",
      encoding: {
        y: { field: "what", type: "nominal", title: null },
        x: { field: "share", type: "quantitative", title: "share of requests", scale: { domain: [0, 1] } },
      },
    };
  }
  const conc = Object.entries(r.concurrency).flatMap(([engine, c]) =>
    c.status === "ok"
      ? c.curve.flatMap((p) => [
          { engine, concurrency: p.concurrency, ms: p.p50_ms, q: "p50" },
          { engine, concurrency: p.concurrency, ms: p.p90_ms, q: "p90" },
        ])
      : [],
  );
  if (conc.length > 0) {
    out["concurrency.svg"] = {
      ...BASE,
      title: "Latency vs concurrency at arrival (per engine)",
      data: { values: conc },
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "concurrency", type: "quantitative", title: "syntheses in flight at arrival" },
        y: { field: "ms", type: "quantitative", title: "latency (ms)" },
        color: { field: "engine", type: "nominal" },
        strokeDash: { field: "q", type: "nominal", title: "quantile" },
      },
    };
  }
  const rows = r.engines.filter((e) => e.latency.p95_ms !== null);
  if (rows.length > 0) {
    out["engines.svg"] = {
      ...BASE,
      title: `Engines: p95 latency (SLO ${r.slo.latency_p95_ms} ms) and cost`,
      data: {
        values: rows.map((e) => ({
          name: e.name,
          p95: e.latency.p95_ms,
          cost: e.cost ?? 0,
          ok: e.meets_slo,
        })),
      },
      layer: [
        {
          mark: "bar",
          encoding: {
            x: { field: "name", type: "nominal", title: "engine" },
            y: { field: "p95", type: "quantitative", title: "p95 latency (ms)" },
            color: { field: "ok", type: "nominal", title: "meets SLO" },
          },
        },
        {
          data: { values: [{ slo: r.slo.latency_p95_ms }] },
          mark: { type: "rule", color: "#d62728" },
          encoding: { y: { field: "slo", type: "quantitative" } },
        },
      ],
    };
  }
  if (r.batching.status === "ok") {
    const pts = Object.entries(r.batching.engines).flatMap(([engine, b]) =>
      b.status === "ok" ? b.points.map((p) => ({ engine, ...p })) : [],
    );
    if (pts.length > 0)
      out["batching.svg"] = {
        ...BASE,
        title: "Expected batch fill vs max_queue_delay (1 + λ·d)",
        data: { values: pts },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "max_queue_delay_ms", type: "quantitative", title: "max queue delay (ms)" },
          y: { field: "expected_batch_fill", type: "quantitative", title: "requests per batch" },
          color: { field: "engine", type: "nominal" },
        },
      };
  }
  if (r.gpu.status === "ok") {
    out["gpu.svg"] = {
      ...BASE,
      height: 160,
      title: "GPU utilisation and memory",
      data: {
        values: r.gpu.gpus.flatMap((g) => [
          { gpu: `${g.gpu} ${g.name}`, what: "utilisation", v: (g.usage_percent ?? 0) / 100 },
          { gpu: `${g.gpu} ${g.name}`, what: "memory", v: g.memory_usage_ratio ?? 0 },
        ]),
      },
      mark: "bar",
      encoding: {
        y: { field: "gpu", type: "nominal", title: null },
        yOffset: { field: "what" },
        x: { field: "v", type: "quantitative", title: "share", scale: { domain: [0, 1] } },
        color: { field: "what", type: "nominal" },
      },
    };
  }
  return out;
}
