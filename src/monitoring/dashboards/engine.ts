import { RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import type { Thresholds } from "../../config/schema.ts";
import type { MonitoringProfile } from "../profile.ts";
import { recordNames } from "../rules.ts";
import { dashboard, fleetQuantile, query, RATE, sel, selBucket, selRecorded, timeseries } from "./common.ts";
import { withGatewayRow } from "./gateway.ts";
import { DASHBOARDS } from "./refs.ts";

/** p50, p90, p95 and p99 over the selected instances (All: the fleet), one query each. */
function quantileQueries(bucketRate: string) {
  return (["0.5", "0.9", "0.95", "0.99"] as const).map((q, i) =>
    query(
      fleetQuantile(q, bucketRate, ["engine", "voice"]),
      `{{engine}} {{voice}} p${Number(q) * 100}`,
      String.fromCharCode(65 + i),
    ),
  );
}

/** A quantile of a chunk-timing histogram per engine, voice and source over the selected instances. */
function chunkQuantile(q: string, name: "tts_inter_chunk_gap_seconds" | "tts_stall_seconds"): string {
  return `histogram_quantile(${q}, sum by (engine, voice, source, le) (rate(${selBucket(name)}[${RATE}])))`;
}

/** One engine in depth: latency quantiles, time to first audio, inter-chunk gaps and stalls, real-time factor, throughput, errors. */
export function engineDashboard(t: Thresholds, profile: MonitoringProfile) {
  const rec = recordNames(profile);
  const latency = { value: t.latency_max_ms / 1000, bad: "above" } as const;
  const d = dashboard(DASHBOARDS.engine, "TTS / Per engine", true)
    .withRow(new RowBuilder("Latency"))
    .withPanel(
      timeseries({
        title: "Latency quantiles",
        description: `From the tts_latency_seconds histogram; alert on p95 above ${t.latency_max_ms} ms.`,
        unit: "s",
        queries: [...quantileQueries(rec.latencyBucketRate)],
        threshold: latency,
      }),
    )
    .withPanel(
      timeseries({
        title: "Time to first audio quantiles",
        description: "Streaming engines report the first audio sample; others equal the latency.",
        unit: "s",
        queries: [...quantileQueries(rec.ttfaBucketRate)],
      }),
    )
    .withPanel(
      timeseries({
        title: "Streaming: inter-chunk gaps and stalls",
        description: `Gaps between audio chunks of streamed answers (tts_inter_chunk_gap_seconds, p50 and p99) and the longest gap per answer (tts_stall_seconds, p95: TTSStreamStalling fires above ${t.stall_max_ms} ms), by source: probes and the gateway's upstream answers. Engines that answer in one piece have no series.`,
        unit: "s",
        min: 0,
        queries: [
          ...(["0.5", "0.99"] as const).map((q, i) =>
            query(
              chunkQuantile(q, "tts_inter_chunk_gap_seconds"),
              `{{engine}} {{voice}} {{source}} gap p${Number(q) * 100}`,
              String.fromCharCode(65 + i),
            ),
          ),
          query(chunkQuantile("0.95", "tts_stall_seconds"), "{{engine}} {{voice}} {{source}} stall p95", "C"),
        ],
        threshold: { value: t.stall_max_ms / 1000, bad: "above" },
      }),
    )
    .withPanel(
      timeseries({
        title: "Cold and warm request latency",
        unit: "s",
        queries: [
          query(sel("tts_request_temperature_latency_seconds"), "{{engine}} {{voice}} {{temperature}}"),
        ],
        threshold: latency,
      }),
    )
    .withPanel(
      timeseries({
        title: "Request duration p95 by result (failures included)",
        description:
          "From tts_request_duration_seconds: every attempt, a timed-out one counting its time until the timeout. The latency panels above count successes only.",
        unit: "s",
        queries: [
          query(
            `histogram_quantile(0.95, sum by (engine, result, le) (rate(${selBucket("tts_request_duration_seconds")}[${RATE}])))`,
            "{{engine}} {{result}}",
          ),
        ],
        threshold: latency,
      }),
    )
    .withPanel(
      timeseries({
        title: "Probe duration",
        description: "Wall time of the last probe, successful or failed.",
        unit: "s",
        queries: [query(sel("tts_probe_duration_seconds"), "{{engine}}")],
      }),
    )
    .withPanel(
      timeseries({
        title: "Age of the last probe",
        description:
          "Seconds since the engine's last probe finished (tts_probe_last_run_timestamp_seconds); a switched-off engine has no series.",
        unit: "s",
        min: 0,
        queries: [query(`time() - ${sel("tts_probe_last_run_timestamp_seconds")}`, "{{engine}}")],
      }),
    )
    .withRow(new RowBuilder("Speed"))
    .withPanel(
      timeseries({
        title: "Real-time factor",
        description: "Synthesis time / audio duration; below 1 is faster than real time.",
        unit: "short",
        queries: [query(sel("tts_real_time_factor"), "{{engine}} {{voice}} {{source}}")],
        threshold: { value: 1, bad: "above" },
      }),
    )
    .withPanel(
      timeseries({
        title: "Throughput: characters per second",
        unit: "short",
        queries: [query(sel("tts_throughput_characters_per_second"), "{{engine}} {{voice}} {{source}}")],
      }),
    )
    .withPanel(
      timeseries({
        title: "Throughput: words per minute",
        unit: "short",
        queries: [
          query(sel("tts_throughput_words_per_minute"), "{{engine}} {{voice}} synthesis"),
          query(sel("tts_speaking_rate_words_per_minute"), "{{engine}} {{voice}} speaking rate", "B"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Requests per second by result",
        unit: "reqps",
        queries: [
          query(
            `sum by (engine, voice, result) (${selRecorded(rec.requestsRate, ["engine", "voice"])})`,
            "{{engine}} {{voice}} {{result}}",
          ),
        ],
      }),
    )
    .withRow(new RowBuilder("Errors"))
    .withPanel(
      timeseries({
        title: "Failures per second by reason",
        unit: "reqps",
        queries: [
          query(
            `sum by (engine, reason) (${selRecorded(rec.failuresRate, ["engine"])})`,
            "{{engine}} {{reason}}",
          ),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Error ratio",
        unit: "percentunit",
        min: 0,
        max: 1,
        // Failures over requests of the selected instances, summed before dividing (a ratio per
        // replica cannot be summed or averaged).
        queries: [
          query(
            `sum by (engine) (${selRecorded(rec.requestsRate, ["engine"], { result: "failure" })})` +
              ` / sum by (engine) (${selRecorded(rec.requestsRate, ["engine"])})`,
            "{{engine}}",
          ),
        ],
      }),
    );
  return withGatewayRow(d);
}
