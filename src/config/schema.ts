import { statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { alertsSchema, dashboardSchema } from "../alerts/schema.ts";
import { LABEL_VALUE_EXPECTED, labelValueProblem } from "../metrics/labels.ts";

// The config file's shape (SPEC §4). Every object is strict: an unknown key is an error, because a
// misspelt key that is silently ignored is a setting the user believes in and does not have.

const seconds = (max: number) => z.number().positive().max(max);
const url = z.url({ protocol: /^https?$/ });

const processRef = z
  .strictObject({
    pid_file: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
  })
  .refine((p) => (p.pid_file === undefined) !== (p.name === undefined), {
    message: "exactly one of pid_file or name",
  });

/** A string that becomes a label value: the same check as ingested events (src/metrics/labels.ts). */
const labelValue = z.string().superRefine((v, ctx) => {
  const problem = labelValueProblem(v);
  if (problem === undefined) return;
  const shown = JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  ctx.addIssue({
    code: "custom",
    message: LABEL_VALUE_EXPECTED,
    params: { got: `${shown}, which ${problem}` },
  });
});

const engineCommon = {
  name: labelValue
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "letters, digits, '_', '.', '-' (1-64 characters)")
    .refine(
      (n) => n !== "exporter" && n !== "other",
      "a name other than the reserved 'exporter' and 'other'",
    ),
  enabled: z.boolean().default(true),
  timeout_seconds: seconds(600).optional(),
  /** GET /probe requests of this engine running at once (default 1 for embedded and command, 4 otherwise). */
  probe_concurrency: z.number().int().min(1).max(64).optional(),
  voice: labelValue.optional(),
  process: processRef.optional(),
  /** Extra HTTP header for network engines, e.g. { "name": "Authorization", "value_env": "TTS_TOKEN" }. */
  auth_header: z
    .strictObject({
      name: z.string().min(1),
      value_env: z.string().min(1).optional(),
      value_file: z.string().min(1).optional(),
    })
    .refine((a) => (a.value_env === undefined) !== (a.value_file === undefined), {
      message: "exactly one of value_env or value_file",
    })
    .optional(),
};

export const engineSchema = z.discriminatedUnion("type", [
  z.strictObject({ ...engineCommon, type: z.literal("embedded") }),
  z.strictObject({
    ...engineCommon,
    type: z.literal("command"),
    command: z.array(z.string()).min(1),
    stdin: z.string().optional(),
    output: z.enum(["file", "stdout"]).optional(),
  }),
  z.strictObject({
    ...engineCommon,
    type: z.literal("openai"),
    url,
    model: z.string().min(1).default("tts-1"),
    response_format: z.enum(["wav", "pcm"]).default("wav"),
    sample_rate: z.number().int().min(8000).max(192000).optional(),
    api_key_env: z.string().min(1).optional(),
    stream: z.boolean().optional(),
    /** "sse": OpenAI's streamed speech (speech.audio.delta events with base64 audio, then speech.audio.done). */
    stream_format: z.enum(["audio", "sse"]).optional(),
  }),
  z.strictObject({
    ...engineCommon,
    type: z.literal("coqui"),
    url,
    speaker_id: z.string().optional(),
    language_id: z.string().optional(),
  }),
  z.strictObject({ ...engineCommon, type: z.literal("piper"), url }),
  z.strictObject({ ...engineCommon, type: z.literal("marytts"), url, locale: z.string().default("en_US") }),
  z.strictObject({
    ...engineCommon,
    type: z.literal("triton"),
    /** The server's HTTP base, e.g. http://127.0.0.1:8000 (KServe v2: /v2/models/{model}/infer). */
    url,
    model: z.string().min(1),
    model_version: z.string().min(1).optional(),
    /** The model's BYTES input that takes the text, and its shape. */
    input_name: z.string().min(1).default("TEXT"),
    input_shape: z.array(z.number().int().min(1)).min(1).max(4).default([1]),
    /** A BYTES input that takes the voice (absent: the model has none). */
    voice_input: z.string().min(1).optional(),
    /** The output tensor holding the waveform, mono, and its datatype. */
    output_name: z.string().min(1).default("AUDIO"),
    output_datatype: z.enum(["FP32", "INT16", "INT32"]).default("FP32"),
    sample_rate: z.number().int().min(8000).max(192000),
    /** Ask for the output in Triton's binary tensor extension (less to parse than JSON numbers). */
    binary_output: z.boolean().default(false),
  }),
  z.strictObject({
    ...engineCommon,
    type: z.literal("riva"),
    /** grpc://host:port (plaintext) or grpcs://host:port (TLS). */
    url: z
      .string()
      .regex(
        /^grpcs?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
        "grpc://host:port or grpcs://host:port",
      ),
    language_code: z.string().min(1).default("en-US"),
    /** Requested output rate (Riva resamples the model's output to it). */
    sample_rate: z.number().int().min(8000).max(192000).default(22050),
    /** true: SynthesizeOnline (audio streamed back as it is made); false: unary Synthesize. */
    streaming: z.boolean().default(false),
    /** PEM file of the CA that signed the server's certificate (grpcs; default: the system's roots). */
    ca_file: z.string().min(1).optional(),
    /** TLS name to check the certificate against when it differs from the URL's host. */
    tls_server_name: z.string().min(1).optional(),
    /** Plain gRPC metadata sent with every call (e.g. NVCF's function-id); secrets go in auth_header. */
    metadata: z
      .record(z.string().regex(/^[0-9a-z_.-]+$/, "lower-case gRPC metadata keys"), z.string())
      .optional(),
  }),
  z.strictObject({
    ...engineCommon,
    type: z.literal("wyoming"),
    url: z.string().regex(/^tcp:\/\/[^:/]+:\d{1,5}$/, "tcp://host:port"),
    streaming: z.boolean().optional(),
  }),
]);

const collectorsSchema = z.strictObject({
  cpu: z.boolean().default(true),
  memory: z.boolean().default(true),
  disk: z.boolean().default(true),
  filesystem: z.boolean().default(true),
  process: z.boolean().default(true),
  gpu: z.boolean().default(true),
});

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, "host:port (e.g. 0.0.0.0:9090)")
  .refine((a) => Number(a.slice(a.lastIndexOf(":") + 1)) <= 65_535, "host:port with a port from 0 to 65535");

/** An http(s) URL, as a Slack incoming webhook is. */
const isHttpUrl = (s: string) => {
  try {
    return /^https?:$/.test(new URL(s).protocol);
  } catch {
    return false;
  }
};

/** One address or a comma-separated list ("a@example.org, Ops <ops@example.org>"), as Alertmanager's `to` takes. */
const isEmailList = (s: string) =>
  s.split(",").every((a) => /^(?:[^<>@]*<)?[^\s@<>,]+@[^\s@<>,]+>?$/.test(a.trim()));

/**
 * `monitoring.host_root`: the host's `/` as the exporter sees it ("/" on the host, "/host" in the
 * compose stack). An absolute path to a directory that exists; the problem's `got` says why not.
 */
const hostRoot = z
  .string()
  .min(1)
  .default("/")
  .superRefine((root, ctx) => {
    const expected = "an existing directory, absolute (the host's / as the exporter sees it, e.g. /host)";
    const fail = (got: string) => ctx.addIssue({ code: "custom", message: expected, params: { got } });
    if (!isAbsolute(root)) return fail(`${JSON.stringify(root)}: a relative path`);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(root, { throwIfNoEntry: false });
    } catch (err) {
      return fail(`${JSON.stringify(root)}: cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
    if (st === undefined) return fail(`${JSON.stringify(root)}: no such directory`);
    if (!st.isDirectory()) return fail(`${JSON.stringify(root)}: not a directory`);
  });

/** `--optimization-report` and `--auto-optimize` (src/optimizer/, docs/optimization.md). */
const optimizerSchema = z
  .strictObject({
    /** Seconds between two decisions of `--auto-optimize`. */
    interval_seconds: z.number().min(1).max(86_400).default(60),
    /** The most memory the audio cache may be given; the knee is searched within it. */
    cache_budget_bytes: z
      .number()
      .int()
      .min(1024)
      .max(2 ** 50)
      .default(256 * 1024 * 1024),
    /** The auto-optimiser never shrinks the cache below this. */
    cache_floor_bytes: z
      .number()
      .int()
      .min(0)
      .max(2 ** 50)
      .default(1024 * 1024),
    /** The recommended cache size may give up this much hit ratio against the whole budget. */
    cache_hit_tolerance: z.number().min(0).max(0.5).default(0.01),
    /** Traces up to this many requests get the exact curve; longer ones SHARDS (fixed size). */
    exact_max_requests: z.number().int().min(1000).max(100_000_000).default(1_000_000),
    /** Keys SHARDS keeps (fixed-size variant); about 8,192 gives errors near 0.01 (docs/optimization.md). */
    shards_sample_keys: z.number().int().min(256).max(1_000_000).default(8192),
    /** Newest trace entries a decision reads. */
    window_requests: z.number().int().min(100).max(10_000_000).default(100_000),
    /** A lever with fewer requests than this in its window is skipped (too little evidence). */
    min_requests: z.number().int().min(1).max(1_000_000).default(50),
    /** A change smaller than this share of the current setting is not made (hysteresis). */
    hysteresis_ratio: z.number().min(0).max(1).default(0.1),
    /** Bounds of the concurrency limits the auto-optimiser sets. */
    limit_floor: z.number().int().min(1).max(100_000).default(1),
    limit_ceiling: z.number().int().min(1).max(100_000).default(256),
    /** The smallest weight an `auto` route keeps: a slow engine still gets traffic to show it recovered. */
    route_weight_floor: z.number().min(0.001).max(1).default(0.05),
    /** SLO an engine must meet to be recommended (p95 latency defaults to thresholds.latency_max_ms). */
    slo: z
      .strictObject({
        latency_p95_ms: z.number().positive().max(600_000).optional(),
        error_rate_max: z.number().min(0).max(1).default(0.01),
      })
      .prefault({}),
    /** Engines behind Triton or with batch support, and the queue delays to evaluate. */
    batching: z
      .strictObject({
        engines: z.array(z.string().min(1)).default([]),
        max_batch_size: z.number().int().min(1).max(4096).default(8),
        max_queue_delay_ms: z
          .array(z.number().positive().max(10_000))
          .min(1)
          .default([1, 2, 5, 10, 20, 50, 100]),
      })
      .prefault({}),
  })
  .prefault({})
  .refine((o) => o.limit_floor <= o.limit_ceiling, {
    message: "limit_floor at most limit_ceiling",
    path: ["limit_floor"],
  })
  .refine((o) => o.cache_floor_bytes <= o.cache_budget_bytes, {
    message: "cache_floor_bytes at most cache_budget_bytes",
    path: ["cache_floor_bytes"],
  });
/** `gateway` (docs/gateway.md): 9095 clashes with neither 9090, 8080, 8880 (Kokoro-FastAPI) nor 9091/9093 (compose). */
const gatewaySchema = z.strictObject({
  enabled: z.boolean().default(false),
  listen_address: hostPort.default("0.0.0.0:9095"),
  /** Bearer token clients must send; read from this env variable (none: no auth), or from token_file. */
  token_env: z.string().min(1).default("TTS_MONITOR_GATEWAY_TOKEN"),
  token_file: z.string().min(1).optional(),
  max_body_bytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  /** OpenAI's own limit is 4096 characters. */
  max_input_chars: z.number().int().min(1).max(100_000).default(4096),
  cache: z
    .strictObject({
      max_bytes: z
        .number()
        .int()
        .min(0)
        .max(64 * 1024 ** 3)
        .default(256 * 1024 * 1024),
      /** Entries older than this are not served (absent: no expiry). */
      ttl_seconds: z.number().positive().max(31_536_000).optional(),
    })
    .prefault({}),
  limits: z
    .strictObject({
      initial: z.number().int().min(1).max(10_000).default(4),
      min: z.number().int().min(1).max(10_000).default(1),
      max: z.number().int().min(1).max(10_000).default(64),
      /** Syntheses waiting for a slot per engine; past it a request gets 429. */
      queue: z.number().int().min(0).max(100_000).default(64),
      queue_timeout_ms: z.number().int().min(1).max(600_000).default(5000),
      /** How often the minimum RTT is re-measured (the limit drops to `min` for a few requests). */
      min_rtt_interval_seconds: z.number().positive().max(3600).default(30),
      /** Completed syntheses per limit update (the sample RTT is their median). */
      sample_size: z.number().int().min(1).max(1000).default(8),
      /** Latency above the minimum tolerated before the limit shrinks (0.25: 25 %). */
      tolerance: z.number().min(0).max(10).default(0.25),
    })
    .prefault({})
    .refine((l) => l.min <= l.initial && l.initial <= l.max, {
      message: "limits with min <= initial <= max",
    }),
  /** Engines tried in order when the named one fails or its circuit is open, per engine name. */
  fallback: z.record(z.string(), z.array(z.string().min(1))).default({}),
  /** Engines `model: "auto"` may pick (default: every enabled engine). */
  routes: z.array(z.string().min(1)).min(1).optional(),
  /** What `auto` must meet; an engine outside it is picked only when none is inside. */
  slo: z
    .strictObject({
      latency_ms: z.number().positive().max(600_000).default(2000),
      max_error_rate: z.number().min(0).max(1).default(0.05),
      min_quality: z.number().min(0).max(1).optional(),
      min_mos: z.number().min(1).max(5).optional(),
    })
    .prefault({}),
  breaker: z
    .strictObject({
      /** Consecutive failures that open an engine's circuit. */
      failures: z.number().int().min(1).max(1000).default(5),
      /** Seconds an open circuit waits before letting one request probe the engine. */
      open_seconds: z.number().positive().max(3600).default(10),
    })
    .prefault({}),
  /** Share of successful engine syntheses whose audio goes to the audio analysis, 0-1. */
  analysis_sample_ratio: z.number().min(0).max(1).default(0),
  trace: z
    .strictObject({
      /** Entries kept in memory (GatewayControls.trace). */
      entries: z.number().int().min(1).max(1_000_000).default(10_000),
      /** Also append each entry to this JSON Lines file, rotated to `<file>.1` past max_file_bytes. */
      file: z.string().min(1).optional(),
      max_file_bytes: z
        .number()
        .int()
        .min(4096)
        .max(1024 ** 3)
        .default(64 * 1024 * 1024),
    })
    .prefault({}),
});

export const configSchema = z.strictObject({
  tool_info: z
    .strictObject({
      name: z.string().default("tts_performance_monitor"),
      version: z.string().default("1.0.0"),
      enabled: z.boolean().default(true),
    })
    .prefault({}),
  monitoring: z
    .strictObject({
      // Below 0.1 s the collectors (and nvidia-smi) would run back to back and burn a core.
      interval_seconds: z.number().min(0.1).max(3600).default(1),
      /** Per-collector timeout (5 s by default); a run still going at the next tick skips that tick. */
      collector_timeout_seconds: z.number().min(0.1).max(60).optional(),
      gpu_monitoring: z.boolean().default(true),
      audio_analysis: z.boolean().default(true),
      /** Predicted MOS (DNSMOS P.835, ONNX in a low-priority worker); needs audio_analysis. */
      mos: z.boolean().default(true),
      /** 9.01 s model windows scored per clip at most (about 1 s of CPU each). */
      mos_max_windows: z.number().int().min(1).max(30).default(3),
      /** Nice value of the inference thread (0-19); higher yields more to everything else. */
      mos_nice: z.number().int().min(0).max(19).default(10),
      cache_monitoring: z.boolean().default(true),
      collectors: collectorsSchema.prefault({}),
      nvidia_smi_path: z.string().min(1).default("nvidia-smi"),
      /** The host's / seen from the exporter: the host collectors read <host_root>/proc and its mounts. */
      host_root: hostRoot,
      /** Filesystem types that the filesystem collector ignores (pseudo and virtual filesystems). */
      filesystem_types_exclude: z
        .array(z.string())
        .default([
          "autofs",
          "binfmt_misc",
          "bpf",
          "cgroup",
          "cgroup2",
          "configfs",
          "debugfs",
          "devpts",
          "devtmpfs",
          "fusectl",
          "hugetlbfs",
          "mqueue",
          "nsfs",
          "proc",
          "pstore",
          "rpc_pipefs",
          "securityfs",
          "selinuxfs",
          "squashfs",
          "sysfs",
          "tracefs",
          "overlay",
          "tmpfs",
          "ramfs",
        ]),
    })
    .prefault({}),
  thresholds: z
    .strictObject({
      latency_max_ms: z.number().positive().max(600_000).default(500),
      gpu_temp_max: z.number().min(20).max(120).default(85),
      memory_usage_max: z.number().gt(0).max(100).default(90),
      quality_score_min: z.number().min(0).max(1).default(0.8),
      cache_hit_rate_min: z.number().min(0).max(1).default(0.7),
      /** TTSStreamStalling: p95 of the longest gap between audio chunks per streamed answer. */
      stall_max_ms: z.number().positive().max(600_000).default(1000),
    })
    .prefault({}),
  alerts: alertsSchema.prefault({}).superRefine((alerts, ctx) => {
    // Checked here, after the environment overrides are merged in, so that a bad
    // TTS_MONITOR_SLACK_WEBHOOK or TTS_MONITOR_EMAIL is refused at start like a bad file.
    if (alerts.slack_webhook !== undefined && !isHttpUrl(alerts.slack_webhook))
      ctx.addIssue({
        code: "custom",
        path: ["slack_webhook"],
        message: "an http(s) URL (a Slack incoming webhook)",
      });
    if (alerts.email_notifications && alerts.email_to === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["email_to"],
        message:
          "a recipient (alerts.email_to or the environment variable TTS_MONITOR_EMAIL), because alerts.email_notifications is true",
      });
    if (alerts.email_to !== undefined && !isEmailList(alerts.email_to))
      ctx.addIssue({
        code: "custom",
        path: ["email_to"],
        message: "an email address, or several separated by commas",
      });
  }),
  probes: z
    .strictObject({
      interval_seconds: seconds(86_400).default(15),
      timeout_seconds: seconds(600).default(10),
      texts: z
        .array(z.string().min(1).max(5000))
        .min(1)
        .default(["The quick brown fox jumps over the lazy dog."]),
    })
    .prefault({}),
  engines: z
    .array(engineSchema)
    .default([{ name: "embedded", type: "embedded", voice: "slt", enabled: true }])
    .superRefine((engines, ctx) => {
      const seen = new Set<string>();
      engines.forEach((e, i) => {
        if (seen.has(e.name)) {
          ctx.addIssue({
            code: "custom",
            path: [i, "name"],
            message: `a unique engine name ("${e.name}" repeats)`,
          });
        }
        seen.add(e.name);
      });
    }),
  ingest: z
    .strictObject({
      /** Bearer token required by POST /api/v1/syntheses; read from this env variable (none: no auth). */
      token_env: z.string().min(1).default("TTS_MONITOR_INGEST_TOKEN"),
      token_file: z.string().min(1).optional(),
      max_body_bytes: z
        .number()
        .int()
        .min(1024)
        .max(1024 ** 3)
        .default(10 * 1024 * 1024),
      max_events_per_request: z.number().int().min(1).max(100_000).default(10_000),
      /** Cardinality guard: distinct engine / voice label values accepted from ingestion. */
      max_engines: z.number().int().min(1).max(10_000).default(50),
      max_voices: z.number().int().min(1).max(100_000).default(200),
      cache_window_seconds: z.number().int().min(1).max(86_400).default(300),
      /** Window of every success ratio (getCurrentMetrics, in-process rules, the dashboards' views). */
      success_window_seconds: z.number().int().min(1).max(86_400).default(300),
      /** Gauges of an engine/voice that is not probed and not reported for this long are removed. */
      series_ttl_seconds: z.number().int().min(1).max(604_800).default(600),
      /**
       * Series budget (src/ingest/series-budget.ts): ingested (engine, voice) combinations with a
       * series of their own, ("other", "other") included, and the samples they may add per scrape
       * (every family a series could fill: about 120 per ingested pair, 160 with a gateway series);
       * new combinations past either are folded into "other". The minimum of max_samples holds the
       * room reserved for ("other", "other") in every source (RESERVED_SAMPLES, 328).
       */
      max_series: z.number().int().min(1).max(10_000).default(50),
      max_samples: z.number().int().min(400).max(1_000_000).default(10_000),
      /** Ingested audio longer than this is not analysed (counted in tts_ingest_audio_dropped_total). */
      max_audio_seconds: z.number().positive().max(3600).default(120),
    })
    .prefault({}),
  server: z
    .strictObject({
      listen_address: hostPort.default("0.0.0.0:9090"),
      dashboard_address: hostPort.default("127.0.0.1:8080"),
      /** The exporter-toolkit web config (TLS, basic auth, headers) for every port; --web.config.file overrides it. */
      web_config_file: z.string().min(1).optional(),
    })
    .prefault({}),
  dashboard: dashboardSchema,
  optimizer: optimizerSchema,
  /** The OpenAI-compatible TTS gateway (src/gateway/, docs/gateway.md); off unless enabled or `tts-monitor gateway`. */
  gateway: gatewaySchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type EngineConfig = z.infer<typeof engineSchema>;
export type EngineType = EngineConfig["type"];
export type Thresholds = Config["thresholds"];
export type CollectorSwitches = Config["monitoring"]["collectors"];
export type OptimizerConfig = Config["optimizer"];
export type GatewayConfig = Config["gateway"];
