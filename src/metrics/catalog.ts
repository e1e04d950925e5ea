// Every metric the exporter can emit. Registration, docs/metrics.md, dashboards and alert rules
// all read this table; nothing else defines a metric name.

import { audioMetrics } from "./catalog-audio.ts";
import { gatewayMetrics } from "./catalog-gateway.ts";
import { optimizerMetrics } from "./catalog-optimizer.ts";
import type { MetricArea, MetricDef } from "./catalog-types.ts";

export type { MetricArea, MetricDef, MetricType } from "./catalog-types.ts";

const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30] as const;
const TTS_LABELS = ["engine", "voice"] as const;
/** Gaps between audio chunks of a stream: a 20 ms frame to a 10 s hang. */
const CHUNK_GAP_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10] as const;
const GPU_LABELS = ["gpu", "name", "uuid"] as const;

export const catalog = {
  // --- The four contract metrics (SPEC §3): names and types are fixed. ---
  tts_latency_seconds: {
    type: "histogram",
    help: "End-to-end latency of successful syntheses, from request sent to last audio byte received (failures' durations: tts_request_duration_seconds).",
    labels: ["engine", "voice", "source"],
    unit: "seconds",
    area: "tts",
    buckets: LATENCY_BUCKETS,
  },
  tts_gpu_usage_percent: {
    type: "gauge",
    help: "GPU utilisation over the last sample period, 0-100, from nvidia-smi utilization.gpu.",
    labels: GPU_LABELS,
    unit: "percent",
    area: "gpu",
  },
  tts_quality_score: {
    type: "gauge",
    help: "Composite audio quality score of the last analysed audio, 0-1 (1 best), with its predicted MOS and, when the text is known, the recogniser's intelligibility (words) folded in where they gave a value; formula in docs/quality-score.md, its version in the build info metric (label quality_score_version).",
    labels: TTS_LABELS,
    unit: "",
    area: "audio",
  },
  tts_cache_hit_rate: {
    type: "gauge",
    help: "Cache hits divided by cache lookups over the sliding window, 0-1.",
    labels: ["engine"],
    unit: "",
    area: "cache",
  },

  ...audioMetrics,

  // --- TTS performance ---
  tts_time_to_first_audio_seconds: {
    type: "histogram",
    help: "Time from request sent to the first audio sample received (streaming engines).",
    labels: ["engine", "voice", "source"],
    unit: "seconds",
    area: "tts",
    buckets: LATENCY_BUCKETS,
  },
  tts_inter_chunk_gap_seconds: {
    type: "histogram",
    help: "Time between consecutive audio chunks of a streamed answer (a transport read or an audio event; streaming engines, one observation per gap), as probes (source=probe) and the gateway (source=gateway, once per upstream answer) received them.",
    labels: ["engine", "voice", "source"],
    unit: "seconds",
    area: "tts",
    buckets: CHUNK_GAP_BUCKETS,
  },
  tts_stall_seconds: {
    type: "histogram",
    help: "Longest gap between consecutive audio chunks of each streamed answer (one observation per answer with two chunks or more: a probe's, or a gateway's upstream answer): the stall a listener hears.",
    labels: ["engine", "voice", "source"],
    unit: "seconds",
    area: "tts",
    buckets: CHUNK_GAP_BUCKETS,
  },
  tts_real_time_factor: {
    type: "gauge",
    help: "Synthesis time divided by produced audio duration for the last request (below 1 is faster than real time).",
    labels: ["engine", "voice", "source"],
    unit: "",
    area: "tts",
  },
  tts_throughput_characters_per_second: {
    type: "gauge",
    help: "Input characters synthesised per second of synthesis time, last request.",
    labels: ["engine", "voice", "source"],
    unit: "",
    area: "tts",
  },
  tts_throughput_words_per_minute: {
    type: "gauge",
    help: "Input words synthesised per minute of synthesis time, last request.",
    labels: ["engine", "voice", "source"],
    unit: "",
    area: "tts",
  },
  tts_speaking_rate_words_per_minute: {
    type: "gauge",
    help: "Words per minute of produced audio (input words / audio duration), last request.",
    labels: ["engine", "voice", "source"],
    unit: "",
    area: "tts",
  },
  tts_audio_duration_seconds: {
    type: "gauge",
    help: "Duration of the audio produced by the last request.",
    labels: ["engine", "voice", "source"],
    unit: "seconds",
    area: "tts",
  },
  tts_request_duration_seconds: {
    type: "histogram",
    help: "Duration of every synthesis attempt by result (success or failure; a timed-out request counts its time until the timeout), so failures show in latency views; tts_latency_seconds has successes only.",
    labels: ["engine", "voice", "source", "result"],
    unit: "seconds",
    area: "tts",
    buckets: LATENCY_BUCKETS,
  },
  tts_last_request_timestamp_seconds: {
    type: "gauge",
    help: "Unix time of the latest synthesis attempt (success or failure) of the series; removed with the series' other gauges when the engine is switched off or removed, or when an ingest-only series is not reported for ingest.series_ttl_seconds.",
    labels: ["engine", "voice", "source"],
    unit: "seconds",
    area: "tts",
  },
  tts_last_success_timestamp_seconds: {
    type: "gauge",
    help: "Unix time of the latest successful synthesis of the series: the time of tts_real_time_factor, tts_throughput_*, tts_speaking_rate_words_per_minute and tts_audio_duration_seconds.",
    labels: ["engine", "voice", "source"],
    unit: "seconds",
    area: "tts",
  },
  tts_requests_total: {
    type: "counter",
    help: "Synthesis requests by result (success or failure).",
    labels: ["engine", "voice", "source", "result"],
    unit: "",
    area: "tts",
  },
  tts_failures_total: {
    type: "counter",
    help: "Failed synthesis requests by bounded reason (timeout, connection, http_status, protocol, empty_audio, bad_audio, auth, other).",
    labels: ["engine", "voice", "source", "reason"],
    unit: "",
    area: "tts",
  },
  tts_request_temperature_latency_seconds: {
    type: "gauge",
    help: "Latency of the first request after the exporter started or the engine was switched on again (temperature=cold) and of the latest later one (temperature=warm).",
    labels: ["engine", "voice", "temperature"],
    unit: "seconds",
    area: "tts",
  },
  tts_probe_success: {
    type: "gauge",
    help: "1 when the last synthesis probe of the engine succeeded, 0 otherwise; absent while the engine is switched off or after it was removed from the config.",
    labels: ["engine"],
    unit: "",
    area: "tts",
  },
  tts_probe_duration_seconds: {
    type: "gauge",
    help: "Wall time of the last synthesis probe, successful or failed, including audio decoding.",
    labels: ["engine"],
    unit: "seconds",
    area: "tts",
  },
  tts_probe_last_run_timestamp_seconds: {
    type: "gauge",
    help: "Unix time at which the last synthesis probe of the engine finished.",
    labels: ["engine"],
    unit: "seconds",
    area: "tts",
  },
  tts_ingest_events_total: {
    type: "counter",
    help: "Synthesis events received through the ingestion API, by outcome (accepted, rejected).",
    labels: ["outcome"],
    unit: "",
    area: "tts",
  },
  tts_ingest_labels_folded_total: {
    type: "counter",
    help: "Ingested events whose engine or voice label was folded into 'other' by the cardinality guard.",
    labels: ["label"],
    unit: "",
    area: "tts",
  },

  // --- Cache ---
  tts_cache_hits_total: {
    type: "counter",
    help: "Cache hits reported by synthesis events.",
    labels: ["engine"],
    unit: "",
    area: "cache",
  },
  tts_cache_lookups_total: {
    type: "counter",
    help: "Cache lookups (hits and misses) reported by synthesis events.",
    labels: ["engine"],
    unit: "",
    area: "cache",
  },

  // --- Host ---
  tts_host_cpu_usage_ratio: {
    type: "gauge",
    help: "Share of CPU time not idle across all cores over the last collection interval, 0-1.",
    labels: [],
    unit: "",
    area: "host",
  },
  tts_host_cpu_cores: {
    type: "gauge",
    help: "Number of logical CPUs.",
    labels: [],
    unit: "",
    area: "host",
  },
  tts_host_load1: {
    type: "gauge",
    help: "1-minute load average.",
    labels: [],
    unit: "",
    area: "host",
  },
  tts_host_load5: {
    type: "gauge",
    help: "5-minute load average.",
    labels: [],
    unit: "",
    area: "host",
  },
  tts_host_load15: {
    type: "gauge",
    help: "15-minute load average.",
    labels: [],
    unit: "",
    area: "host",
  },
  tts_host_memory_total_bytes: {
    type: "gauge",
    help: "Physical memory size (MemTotal).",
    labels: [],
    unit: "bytes",
    area: "host",
  },
  tts_host_memory_used_bytes: {
    type: "gauge",
    help: "Physical memory in use: MemTotal - MemAvailable.",
    labels: [],
    unit: "bytes",
    area: "host",
  },
  tts_host_memory_usage_ratio: {
    type: "gauge",
    help: "Physical memory in use divided by MemTotal, 0-1.",
    labels: [],
    unit: "",
    area: "host",
  },
  tts_host_swap_total_bytes: {
    type: "gauge",
    help: "Swap size (SwapTotal).",
    labels: [],
    unit: "bytes",
    area: "host",
  },
  tts_host_swap_used_bytes: {
    type: "gauge",
    help: "Swap in use: SwapTotal - SwapFree.",
    labels: [],
    unit: "bytes",
    area: "host",
  },
  tts_host_swap_usage_ratio: {
    type: "gauge",
    help: "Swap in use divided by SwapTotal, 0-1 (0 when there is no swap).",
    labels: [],
    unit: "",
    area: "host",
  },
  tts_host_disk_read_bytes_total: {
    type: "counter",
    help: "Bytes read from the block device since boot (/proc/diskstats).",
    labels: ["device"],
    unit: "bytes",
    area: "host",
  },
  tts_host_disk_written_bytes_total: {
    type: "counter",
    help: "Bytes written to the block device since boot (/proc/diskstats).",
    labels: ["device"],
    unit: "bytes",
    area: "host",
  },
  tts_host_filesystem_size_bytes: {
    type: "gauge",
    help: "Filesystem size.",
    labels: ["mountpoint", "device", "fstype"],
    unit: "bytes",
    area: "host",
  },
  tts_host_filesystem_free_bytes: {
    type: "gauge",
    help: "Filesystem space available to unprivileged users.",
    labels: ["mountpoint", "device", "fstype"],
    unit: "bytes",
    area: "host",
  },

  // --- Processes (TTS servers named in config, and the exporter itself as process="exporter") ---
  tts_process_instances: {
    type: "gauge",
    help: "Number of OS processes matched for the process (0 when the TTS server is not running); for the exporter, itself and its child processes (the predicted-MOS worker, a recogniser run).",
    labels: ["process"],
    unit: "",
    area: "process",
  },
  tts_process_threads: {
    type: "gauge",
    help: "Threads of the matched processes, summed.",
    labels: ["process"],
    unit: "",
    area: "process",
  },
  tts_process_cpu_seconds_total: {
    type: "counter",
    help: "User and system CPU time of the matched processes, summed (processes that exited drop out).",
    labels: ["process"],
    unit: "seconds",
    area: "process",
  },
  tts_process_resident_memory_bytes: {
    type: "gauge",
    help: "Resident set size of the matched processes, summed.",
    labels: ["process"],
    unit: "bytes",
    area: "process",
  },

  // --- GPU (only from a real nvidia-smi query; no GPU means no series) ---
  tts_gpu_temperature_celsius: {
    type: "gauge",
    help: "GPU core temperature.",
    labels: GPU_LABELS,
    unit: "celsius",
    area: "gpu",
  },
  tts_gpu_memory_used_bytes: {
    type: "gauge",
    help: "GPU memory in use (VRAM).",
    labels: GPU_LABELS,
    unit: "bytes",
    area: "gpu",
  },
  tts_gpu_memory_total_bytes: {
    type: "gauge",
    help: "GPU memory size (VRAM).",
    labels: GPU_LABELS,
    unit: "bytes",
    area: "gpu",
  },
  tts_gpu_memory_usage_ratio: {
    type: "gauge",
    help: "GPU memory in use divided by GPU memory size, 0-1.",
    labels: GPU_LABELS,
    unit: "",
    area: "gpu",
  },
  tts_gpu_memory_utilization_percent: {
    type: "gauge",
    help: "Share of time the GPU memory controller was busy, 0-100 (nvidia-smi utilization.memory).",
    labels: GPU_LABELS,
    unit: "percent",
    area: "gpu",
  },
  tts_gpu_power_draw_watts: {
    type: "gauge",
    help: "GPU board power draw.",
    labels: GPU_LABELS,
    unit: "watts",
    area: "gpu",
  },
  tts_gpu_power_limit_watts: {
    type: "gauge",
    help: "GPU enforced power limit.",
    labels: GPU_LABELS,
    unit: "watts",
    area: "gpu",
  },
  tts_gpu_fan_speed_percent: {
    type: "gauge",
    help: "GPU fan speed as a share of its maximum, 0-100 (absent on passively cooled boards).",
    labels: GPU_LABELS,
    unit: "percent",
    area: "gpu",
  },
  tts_gpu_sm_clock_hertz: {
    type: "gauge",
    help: "Current streaming multiprocessor clock.",
    labels: GPU_LABELS,
    unit: "hertz",
    area: "gpu",
  },

  // --- Exporter self-health ---
  tts_exporter_build_info: {
    type: "gauge",
    help: "Always 1; labels carry the config's tool_info.name and tool_info.version (tool, tool_version), the exporter version, the Node.js version and the version of the tts_quality_score formula (docs/quality-score.md).",
    labels: ["tool", "tool_version", "version", "nodejs_version", "quality_score_version"],
    unit: "",
    area: "exporter",
  },
  tts_exporter_start_time_seconds: {
    type: "gauge",
    help: "Unix time at which the exporter started.",
    labels: [],
    unit: "seconds",
    area: "exporter",
  },
  tts_exporter_collector_success: {
    type: "gauge",
    help: "1 when the collector's last run succeeded, 0 when it failed or timed out.",
    labels: ["collector"],
    unit: "",
    area: "exporter",
  },
  tts_exporter_collector_duration_seconds: {
    type: "gauge",
    help: "Wall time of the collector's last run.",
    labels: ["collector"],
    unit: "seconds",
    area: "exporter",
  },
  tts_exporter_collector_skipped_total: {
    type: "counter",
    help: "Collector runs skipped because the previous run was still in flight.",
    labels: ["collector"],
    unit: "",
    area: "exporter",
  },
  tts_exporter_probe_rejected_total: {
    type: "counter",
    help: "GET /probe requests answered 429 because the engine's probe_concurrency probes were already running.",
    labels: ["engine"],
    unit: "",
    area: "exporter",
  },
  tts_exporter_config_last_reload_successful: {
    type: "gauge",
    help: "1 when the last configuration (re)load succeeded, 0 when the last SIGHUP reload was rejected.",
    labels: [],
    unit: "",
    area: "exporter",
  },
  tts_exporter_config_last_reload_success_timestamp_seconds: {
    type: "gauge",
    help: "Unix time of the last successful configuration load.",
    labels: [],
    unit: "seconds",
    area: "exporter",
  },
  tts_exporter_series_limit_reached_total: {
    type: "counter",
    help: "Events from outside (data=ingest) refused a series of their own because the series budget (limit: series, samples or bytes; ingest.max_series, ingest.max_samples) was spent; they were folded into 'other'.",
    labels: ["limit", "data"],
    unit: "",
    area: "exporter",
  },
  tts_ingest_audio_dropped_total: {
    type: "counter",
    help: "Ingested audio not analysed, by reason (too_long: over ingest.max_audio_seconds; backlog: the analysis queue was full; undecodable).",
    labels: ["reason"],
    unit: "",
    area: "tts",
  },
  tts_exporter_event_loop_lag_seconds: {
    type: "gauge",
    help: "Event loop delay of the exporter process (p99 over the last collection interval).",
    labels: [],
    unit: "seconds",
    area: "exporter",
  },

  // --- In-process alerting (--alerts, the web dashboard): src/alerts/ ---
  tts_exporter_alerts_firing: {
    type: "gauge",
    help: "In-process alerts firing now, by alert rule name (each engine or GPU that crosses the rule counts once).",
    labels: ["alert"],
    unit: "",
    area: "exporter",
  },
  tts_exporter_notifications_sent_total: {
    type: "counter",
    help: "Alert notifications delivered, by channel (slack, email, desktop, dashboard).",
    labels: ["channel"],
    unit: "",
    area: "exporter",
  },
  tts_exporter_notifications_failed_total: {
    type: "counter",
    help: "Alert notifications given up on after every retry, by channel.",
    labels: ["channel"],
    unit: "",
    area: "exporter",
  },
  tts_exporter_notification_attempts_failed_total: {
    type: "counter",
    help: "Failed delivery attempts of alert notifications (each retry counts), by channel.",
    labels: ["channel"],
    unit: "",
    area: "exporter",
  },
  tts_exporter_alert_actions_total: {
    type: "counter",
    help: "Alert actions run (named in alerts.actions), by action and result (success, failure, timeout).",
    labels: ["action", "result"],
    unit: "",
    area: "exporter",
  },

  ...optimizerMetrics,
  ...gatewayMetrics,
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof catalog;
export type LabelsOf<N extends MetricName> = (typeof catalog)[N]["labels"][number];

export const metricNames = Object.keys(catalog) as MetricName[];

export function isMetricName(name: string): name is MetricName {
  return Object.hasOwn(catalog, name);
}
