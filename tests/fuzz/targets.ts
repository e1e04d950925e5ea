// One fuzz target per parser (issue 15, item 3): what it is fed, which errors it may throw (our
// typed ones only), and the round trip where an encoder exists. Run by tests/fuzz/parsers.test.ts
// (a few hundred inputs each, in `npm test`) and by scripts/fuzz.ts (`npm run fuzz`, >= 1,000,000).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { AlertExpressionError, parseCondition } from "../../src/alerts/expression.ts";
import { AudioDecodeError, decodeAudio, encodeWav16 } from "../../src/audio/decode.ts";
import type { AudioFormat } from "../../src/audio/format.ts";
import { NvidiaSmiOutputError, parseNvidiaSmiOutput } from "../../src/collectors/gpu.ts";
import { ConfigError, parseConfig, parseJsonWithPosition } from "../../src/config/load.ts";
import { pcmFromContentType } from "../../src/engines/http.ts";
import { EngineError } from "../../src/engines/types.ts";
import { checkPcm, checkWav, compressedAudio, probeWavHeader } from "../../src/engines/wav-header.ts";
import { encodeWyomingEvent, WyomingDecoder, WyomingProtocolError } from "../../src/engines/wyoming.ts";
import { validateBatch } from "../../src/ingest/http.ts";
import { parseWebConfig, WebConfigError } from "../../src/server/web-config.ts";
import { REPO_ROOT } from "../helpers/tools.ts";

export interface FuzzTarget<T = unknown> {
  readonly name: string;
  readonly arbitrary: fc.Arbitrary<T>;
  /** Runs the parser; returns normally or throws. A throw that `allowed` rejects is a failure. */
  readonly run: (input: T) => void;
  readonly allowed: readonly (abstract new (...args: never[]) => Error)[];
  /** Share of the fuzz run's inputs (weights are normalised). */
  readonly weight: number;
}

const target = <T>(t: FuzzTarget<T>): FuzzTarget => t as unknown as FuzzTarget;

/** Replaces the value at a random path of a JSON value (structure-aware mutation of a valid input). */
function mutate(base: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v !== null && typeof v === "object")
      for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(base, []);
  return fc
    .tuple(
      fc.constantFrom(...paths),
      fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined), fc.string(), fc.double(), fc.integer()),
    )
    .map(([path, value]) => {
      if (path.length === 0) return value;
      const copy = structuredClone(base) as Record<string | number, unknown>;
      let at: Record<string | number, unknown> = copy;
      for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
      const last = path[path.length - 1] as string | number;
      if (value === undefined) delete at[last];
      else at[last] = value;
      return copy;
    });
}

/** Text that is mostly JSON-ish or YAML-ish punctuation: reaches deeper than uniform strings. */
const noisyText = (alphabet: string, maxLength = 400) =>
  fc.array(fc.constantFrom(...alphabet.split("")), { maxLength }).map((cs) => cs.join(""));

const seedConfig = JSON.parse(readFileSync(join(REPO_ROOT, "config/config.json"), "utf8")) as unknown;

const configTarget = target<string>({
  name: "config loader",
  weight: 1,
  arbitrary: fc.oneof(
    fc.string({ maxLength: 300 }),
    noisyText('{}[]":,0123456789.-eE truefalsn\\u', 300),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    mutate(seedConfig).map((v) => JSON.stringify(v) ?? ""),
  ),
  run: (text) => {
    parseConfig(parseJsonWithPosition(text, "<fuzz>"), "<fuzz>", {});
  },
  allowed: [ConfigError],
});

const seedEvent = {
  engine: "kokoro",
  voice: "af_bella",
  text: "Hello there.",
  latency_ms: 120.5,
  ttfa_ms: 40,
  audio_duration_ms: 900,
  cache_hit: false,
  success: true,
  audio_wav_base64: Buffer.from(encodeWav16(new Float32Array(64), 16000)).toString("base64"),
};

const ingestTarget = target<unknown>({
  name: "ingest JSON validation",
  weight: 1,
  arbitrary: fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    mutate(seedEvent),
    fc.array(mutate(seedEvent), { maxLength: 5 }),
  ),
  run: (body) => {
    validateBatch(body, 100);
  },
  // A batch's problems are answers (400 with per-item errors), never a throw.
  allowed: [],
});

const formatArb: fc.Arbitrary<AudioFormat> = fc.oneof(
  fc.constant({ kind: "wav" } as const),
  fc.record({
    kind: fc.constant("pcm" as const),
    sampleRate: fc.oneof(fc.integer({ min: -10, max: 200_000 }), fc.double()),
    channels: fc.oneof(fc.integer({ min: -1, max: 10 }), fc.double()),
    encoding: fc.constantFrom("s16le", "s24le", "s32le", "f32le", "u8" as const),
  }),
);

/** A valid WAV with some bytes overwritten and possibly cut short. */
const mutatedWav = fc
  .tuple(
    fc.float32Array({ maxLength: 64, noNaN: true }),
    fc.array(fc.tuple(fc.nat(80), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.nat(200),
  )
  .map(([samples, edits, cut]) => {
    const bytes = new Uint8Array(encodeWav16(samples, 16000));
    for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
    return bytes.subarray(0, Math.max(0, bytes.length - (cut % (bytes.length + 1))));
  });

const decodeTarget = target<{ bytes: Uint8Array; format: AudioFormat }>({
  name: "WAV/raw PCM decode",
  weight: 1.5,
  arbitrary: fc.record({
    bytes: fc.oneof(fc.uint8Array({ maxLength: 512 }), mutatedWav),
    format: formatArb,
  }),
  run: ({ bytes, format }) => {
    decodeAudio(bytes, format);
  },
  allowed: [AudioDecodeError],
});

/** Round trip: what encodeWav16 writes decodes to the same samples (16-bit quantisation apart). */
const wavRoundTrip = target<{ samples: Float32Array; rate: number }>({
  name: "WAV encode/decode round trip",
  weight: 0.5,
  arbitrary: fc.record({
    samples: fc.float32Array({ minLength: 1, maxLength: 256, min: -1, max: 1, noNaN: true }),
    rate: fc.integer({ min: 8000, max: 96_000 }),
  }),
  run: ({ samples, rate }) => {
    const decoded = decodeAudio(encodeWav16(samples, rate));
    if (decoded.sampleRate !== rate || decoded.samples.length !== samples.length)
      throw new Error(`round trip: ${decoded.samples.length} samples at ${decoded.sampleRate} Hz`);
    for (let i = 0; i < samples.length; i++)
      if (Math.abs((decoded.samples[i] ?? 0) - (samples[i] ?? 0)) > 1 / 16384)
        throw new Error(`round trip: sample ${i} ${samples[i]} came back as ${decoded.samples[i]}`);
  },
  allowed: [],
});

const wyomingEvent = fc.record({
  type: fc.constantFrom("synthesize", "audio-start", "audio-chunk", "audio-stop", "info", "describe"),
  data: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  payload: fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
});

const wyomingTarget = target<{ bytes: Uint8Array; cuts: number[] }>({
  name: "Wyoming framing decoder",
  weight: 1,
  arbitrary: fc.record({
    bytes: fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      noisyText('{}"\n:,0123456789 type data_length payload_length', 300).map(
        (t) => new Uint8Array(Buffer.from(t)),
      ),
      // A valid stream with a byte changed.
      fc
        .tuple(fc.array(wyomingEvent, { maxLength: 3 }), fc.nat(400), fc.integer({ min: 0, max: 255 }))
        .map(([events, at, value]) => {
          const bytes = new Uint8Array(
            Buffer.concat(events.map((e) => encodeWyomingEvent(e.type, e.data, e.payload))),
          );
          if (bytes.length > 0) bytes[at % bytes.length] = value;
          return bytes;
        }),
    ),
    cuts: fc.array(fc.nat(300), { maxLength: 5 }),
  }),
  run: ({ bytes, cuts }) => {
    const decoder = new WyomingDecoder();
    for (const chunk of split(bytes, cuts)) decoder.push(Buffer.from(chunk));
  },
  allowed: [WyomingProtocolError],
});

function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  return out;
}

/** Round trip: events encoded and cut anywhere decode to the same events. */
interface WyEvent {
  type: string;
  data: Record<string, unknown>;
  payload?: Uint8Array | undefined;
}
const wyomingRoundTrip = target<{ events: WyEvent[]; cuts: number[] }>({
  name: "Wyoming encode/decode round trip",
  weight: 0.5,
  arbitrary: fc.record({
    events: fc.array(wyomingEvent, { minLength: 1, maxLength: 4 }),
    cuts: fc.array(fc.nat(2000), { maxLength: 6 }),
  }),
  run: ({ events, cuts }) => {
    const typed = events;
    const bytes = new Uint8Array(
      Buffer.concat(typed.map((e) => encodeWyomingEvent(e.type, e.data, e.payload))),
    );
    const decoder = new WyomingDecoder();
    const got = split(bytes, cuts).flatMap((c) => decoder.push(Buffer.from(c)));
    const want = typed.map((e) => ({
      type: e.type,
      data: JSON.parse(JSON.stringify(e.data)) as unknown,
      payload: e.payload ? Buffer.from(e.payload).toString("hex") : undefined,
    }));
    const have = got.map((e) => ({ type: e.type, data: e.data, payload: e.payload?.toString("hex") }));
    if (JSON.stringify(have) !== JSON.stringify(want))
      throw new Error(`round trip: ${JSON.stringify(have)} != ${JSON.stringify(want)}`);
  },
  allowed: [],
});

const fixtureRow = readFileSync(join(REPO_ROOT, "tests/fixtures/nvidia-smi/rtx3090.csv"), "utf8").trim();

const nvidiaSmiTarget = target<string>({
  name: "nvidia-smi CSV parser",
  weight: 1,
  arbitrary: fc.oneof(
    fc.string({ maxLength: 300 }),
    noisyText("0123456789,. \n[N/A]NotSupported-GPU", 300),
    fc
      .tuple(fc.array(fc.tuple(fc.nat(fixtureRow.length), fc.string({ maxLength: 6 })), { maxLength: 4 }))
      .map(([edits]) => {
        let row = fixtureRow;
        for (const [at, text] of edits) row = row.slice(0, at) + text + row.slice(at + 1);
        return row;
      }),
  ),
  run: (text) => {
    parseNvidiaSmiOutput(text);
  },
  allowed: [NvidiaSmiOutputError],
});

const WORDS = ["latency", "gpu_temp", "memory_usage", "quality_score", "cache_hit_rate", "and", "or", "not"];
const alertTarget = target<string>({
  name: "alert expression language",
  weight: 1,
  arbitrary: fc.oneof(
    fc.string({ maxLength: 120 }),
    fc
      .array(
        fc.oneof(
          fc.constantFrom(...WORDS, ">", "<", ">=", "<=", "==", "!=", "(", ")", "=", "=>", "%", "ms", '"'),
          fc.double().map(String),
          fc.string({ maxLength: 4 }),
        ),
        { maxLength: 12 },
      )
      .map((parts) => parts.join(" ")),
  ),
  run: (text) => {
    parseCondition(text);
  },
  allowed: [AlertExpressionError],
});

const engineResponseTarget = target<{ bytes: Uint8Array; contentType: string; strict: boolean }>({
  name: "engine response parsing",
  weight: 1,
  arbitrary: fc.record({
    bytes: fc.oneof(fc.uint8Array({ maxLength: 300 }), mutatedWav),
    contentType: fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.constantFrom("audio/wav", "audio/pcm;rate=24000", "audio/L16; rate=22050; channels=1", "audio/mpeg"),
      noisyText("audio/pcm;rate=channels=0123456789 ,", 60),
    ),
    strict: fc.boolean(),
  }),
  run: ({ bytes, contentType, strict }) => {
    probeWavHeader(bytes);
    compressedAudio(bytes, contentType, strict);
    const pcm = pcmFromContentType(contentType, {
      kind: "pcm",
      sampleRate: 24000,
      channels: 1,
      encoding: "s16le",
    });
    try {
      checkWav(bytes, "fuzz");
    } finally {
      checkPcm(bytes, pcm, "fuzz");
    }
  },
  allowed: [EngineError],
});

const seedWebConfig = {
  tls_server_config: {
    cert_file: "server.crt",
    key_file: "server.key",
    client_auth_type: "RequireAndVerifyClientCert",
    client_ca_file: "ca.crt",
    min_version: "TLS12",
    cipher_suites: ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
  },
  http_server_config: { http2: true, headers: { "X-Frame-Options": "deny" } },
  basic_auth_users: { alice: "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze" },
  rate_limit: { interval: "1s", burst: 20 },
};

const webConfigTarget = target<string>({
  name: "web-config parser",
  weight: 1,
  arbitrary: fc.oneof(
    fc.string({ maxLength: 300 }),
    noisyText("abc_:- \n\t{}[]&*!|>'\"#%@`?,0123456789", 300),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ""),
    mutate(seedWebConfig).map((v) => JSON.stringify(v) ?? ""),
  ),
  run: (text) => {
    // Certificates come from this reader: a short PEM-looking text, never the disk.
    parseWebConfig(
      text,
      "/fuzz/web.yml",
      (path) => `-----BEGIN CERTIFICATE-----\n${path}\n-----END CERTIFICATE-----\n`,
    );
  },
  allowed: [WebConfigError],
});

export const TARGETS: readonly FuzzTarget[] = [
  configTarget,
  ingestTarget,
  decodeTarget,
  wavRoundTrip,
  wyomingTarget,
  wyomingRoundTrip,
  nvidiaSmiTarget,
  alertTarget,
  engineResponseTarget,
  webConfigTarget,
];

/** A single input longer than this counts as a hang. */
export const SLOW_INPUT_MS = 5000;

export interface FuzzOutcome {
  readonly target: string;
  readonly runs: number;
  /** The first failing input (shrunk) and what it threw; undefined when all passed. */
  readonly failure: string | undefined;
  readonly slowestMs: number;
}

/** Runs `numRuns` inputs of one target with fast-check (shrinking a failure to a small input). */
export function runTarget(t: FuzzTarget, numRuns: number, seed: number): FuzzOutcome {
  let slowestMs = 0;
  let runs = 0;
  const details = fc.check(
    fc.property(t.arbitrary, (input) => {
      runs++;
      const start = performance.now();
      try {
        t.run(input);
      } catch (err) {
        if (!t.allowed.some((cls) => err instanceof cls)) throw err;
      } finally {
        const ms = performance.now() - start;
        slowestMs = Math.max(slowestMs, ms);
        if (ms > SLOW_INPUT_MS) throw new Error(`one input took ${Math.round(ms)} ms`);
      }
    }),
    { numRuns, seed, endOnFailure: false },
  );
  const failure = details.failed
    ? `${fc.stringify(details.counterexample)}: ${details.errorInstance instanceof Error ? `${details.errorInstance.name}: ${details.errorInstance.message}` : String(details.errorInstance)}`
    : undefined;
  return { target: t.name, runs: details.failed ? runs : numRuns, failure, slowestMs };
}
