import { type DashboardBuilder, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { query, RATE, sel, timeseries } from "./common.ts";

/** The gateway's row (tts-monitor gateway): cache, coalescing, adaptive limit, queue, rejections, routes. */
export function withGatewayRow(d: DashboardBuilder): DashboardBuilder {
  return d
    .withRow(new RowBuilder("Gateway"))
    .withPanel(
      timeseries({
        title: "Gateway cache hit ratio",
        description: "Hits / lookups of the gateway's audio cache over the rate window.",
        unit: "percentunit",
        min: 0,
        max: 1,
        queries: [
          query(
            `sum by (engine) (rate(${sel("tts_gateway_cache_hits_total")}[${RATE}])) / sum by (engine) (rate(${sel("tts_gateway_cache_lookups_total")}[${RATE}]))`,
            "{{engine}}",
          ),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Gateway cache size",
        unit: "bytes",
        min: 0,
        queries: [
          query(sel("tts_gateway_cache_bytes"), "held"),
          query(sel("tts_gateway_cache_capacity_bytes"), "capacity", "B"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Gateway coalesced requests per second",
        description: "Requests that shared an identical synthesis already in flight.",
        unit: "reqps",
        queries: [
          query(`sum by (engine) (rate(${sel("tts_gateway_coalesced_total")}[${RATE}]))`, "{{engine}}"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Gateway concurrency: limit, in flight, queue",
        unit: "short",
        min: 0,
        queries: [
          query(sel("tts_gateway_concurrency_limit"), "{{engine}} limit"),
          query(sel("tts_gateway_in_flight"), "{{engine}} in flight", "B"),
          query(sel("tts_gateway_queue_length"), "{{engine}} queued", "C"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Gateway rejections per second",
        description: "429 (queue_full, queue_timeout) and 503 (circuit_open) answers.",
        unit: "reqps",
        queries: [
          query(
            `sum by (engine, reason) (rate(${sel("tts_gateway_rejected_total")}[${RATE}]))`,
            "{{engine}} {{reason}}",
          ),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Gateway routes per second",
        description: "Engines the gateway sent requests to: requested, chosen by auto, or a fallback.",
        unit: "reqps",
        queries: [
          query(
            `sum by (engine, reason) (rate(${sel("tts_gateway_route_total")}[${RATE}]))`,
            "{{engine}} {{reason}}",
          ),
          query(sel("tts_gateway_circuit_open"), "{{engine}} circuit open", "B"),
        ],
      }),
    );
}
