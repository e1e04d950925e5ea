// NVIDIA Riva TTS over gRPC (`nvidia.riva.tts.RivaSpeechSynthesis`, protos vendored under
// proto/riva/ from nvidia-riva/common, MIT): unary `Synthesize`, or `SynthesizeOnline`, which
// streams the audio back as it is synthesised. LINEAR_PCM (16-bit little-endian mono) at the
// requested sample rate. Each synthesis opens its own channel (a cold client, as the HTTP engines
// see it) and closes it after. @grpc/grpc-js is loaded at the first Riva synthesis (about half a
// second of start-up that every other command would pay for nothing).

import { fileURLToPath } from "node:url";
import type * as grpc from "@grpc/grpc-js";
import { readRegularFile } from "../util/files.ts";
import { type EngineConfigOf, type EngineContext, engineTimeoutMs } from "./context.ts";
import { abortError, throwIfAborted, withDeadline } from "./errors.ts";
import { authHeaders, type PcmFormat } from "./http.ts";
import {
  ChunkClock,
  type Engine,
  EngineError,
  type FailureReason,
  type SynthesisRequest,
  type SynthesisResult,
} from "./types.ts";
import { checkPcm } from "./wav-header.ts";

/** proto/riva/ beside src/ and dist/ alike. */
export const RIVA_PROTO_DIR = fileURLToPath(new URL("../../proto/riva/", import.meta.url));
export const RIVA_TTS_PROTO = "riva/proto/riva_tts.proto";

const LINEAR_PCM = 1;
const MAX_AUDIO_BYTES = 256 * 1024 * 1024;

export interface RivaSynthesizeRequest {
  text: string;
  language_code: string;
  encoding: number;
  sample_rate_hz: number;
  voice_name: string;
}
export interface RivaSynthesizeResponse {
  audio: Buffer;
}

type RivaClient = grpc.Client & {
  Synthesize(
    request: RivaSynthesizeRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: RivaSynthesizeResponse) => void,
  ): grpc.ClientUnaryCall;
  SynthesizeOnline(
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
  ): grpc.ClientDuplexStream<RivaSynthesizeRequest, RivaSynthesizeResponse>;
};
type RivaClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => RivaClient;

interface RivaModules {
  readonly grpc: typeof grpc;
  readonly Client: RivaClientConstructor;
  readonly definition: grpc.GrpcObject;
}

let modules: Promise<RivaModules> | undefined;

/** grpc-js and the vendored protos, loaded once (proto field names kept: snake_case, as the server sees them). */
function rivaModules(): Promise<RivaModules> {
  modules ??= (async () => {
    const [g, protoLoader] = await Promise.all([import("@grpc/grpc-js"), import("@grpc/proto-loader")]);
    const definition = g.loadPackageDefinition(
      protoLoader.loadSync(RIVA_TTS_PROTO, {
        includeDirs: [RIVA_PROTO_DIR],
        keepCase: true,
        longs: String,
        enums: Number,
        defaults: true,
      }),
    );
    const nvidia = definition.nvidia as grpc.GrpcObject;
    const tts = (nvidia.riva as grpc.GrpcObject).tts as grpc.GrpcObject;
    return { grpc: g, definition, Client: tts.RivaSpeechSynthesis as unknown as RivaClientConstructor };
  })();
  return modules;
}

/** The package definition of the vendored protos (the tests' Riva server serves it). */
export async function rivaPackage(): Promise<grpc.GrpcObject> {
  return (await rivaModules()).definition;
}

/** gRPC status codes (grpc/doc/statuscodes.md), by number. */
const STATUS_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** gRPC status codes as bounded reasons: the server's own error statuses are its answer's status. */
export function grpcReason(code: number): FailureReason {
  switch (STATUS_NAMES[code]) {
    case "DEADLINE_EXCEEDED":
      return "timeout";
    case "UNAVAILABLE":
      return "connection";
    case "UNAUTHENTICATED":
    case "PERMISSION_DENIED":
      return "auth";
    case "UNIMPLEMENTED":
      return "protocol";
    case "CANCELLED":
      return "other";
    default:
      return "http_status";
  }
}

function statusError(error: grpc.ServiceError, signal: AbortSignal, where: string): EngineError {
  if (signal.aborted) return abortError(signal, where);
  const name = STATUS_NAMES[error.code] ?? String(error.code);
  return new EngineError(
    `${where}: gRPC status ${error.code} ${name}: ${error.details || error.message}`,
    grpcReason(error.code),
    { cause: error },
  );
}

export function createRivaEngine(config: EngineConfigOf<"riva">, context: EngineContext): Engine {
  const timeoutMs = engineTimeoutMs(config, context);
  const url = new URL(config.url);
  const tls = url.protocol === "grpcs:";
  const address = `${url.hostname}:${url.port}`;
  const voice = config.voice ?? "";
  const label = voice || "default";
  const rpc = config.streaming ? "SynthesizeOnline" : "Synthesize";
  const where = `engine ${config.name} (riva ${rpc} ${config.url})`;
  const format: PcmFormat = { kind: "pcm", sampleRate: config.sample_rate, channels: 1, encoding: "s16le" };
  const credentials = ({ grpc }: RivaModules): grpc.ChannelCredentials => {
    if (!tls) return grpc.credentials.createInsecure();
    if (config.ca_file === undefined) return grpc.credentials.createSsl();
    let ca: Buffer;
    try {
      ca = readRegularFile(config.ca_file, 1024 * 1024);
    } catch (error) {
      throw new EngineError(`${where}: cannot read ca_file ${config.ca_file}`, "connection", {
        cause: error,
      });
    }
    return grpc.credentials.createSsl(ca);
  };
  return {
    name: config.name,
    type: "riva",
    voice: label,
    async synthesize(request: SynthesisRequest): Promise<SynthesisResult> {
      const signal = withDeadline(request.signal, timeoutMs);
      throwIfAborted(signal, where);
      const used = request.voice ?? voice;
      const loaded = await rivaModules();
      const { grpc } = loaded;
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(config.metadata ?? {})) metadata.set(k, v);
      for (const [k, v] of Object.entries(await authHeaders(config.auth_header, context.env, where)))
        metadata.set(k.toLowerCase(), v);
      const message: RivaSynthesizeRequest = {
        text: request.text,
        language_code: config.language_code,
        encoding: LINEAR_PCM,
        sample_rate_hz: config.sample_rate,
        voice_name: used,
      };
      const client = new loaded.Client(address, credentials(loaded), {
        // Its own connection, not one shared with an earlier synthesis: cold as a new client is.
        "grpc.use_local_subchannel_pool": 1,
        ...(config.tls_server_name !== undefined && {
          "grpc.ssl_target_name_override": config.tls_server_name,
          "grpc.default_authority": config.tls_server_name,
        }),
        "grpc.max_receive_message_length": MAX_AUDIO_BYTES,
      });
      const start = performance.now();
      try {
        const timed = await (config.streaming
          ? streaming(client, message, metadata, signal, where, request)
          : unary(client, message, metadata, signal, where, request));
        if (timed.audio.length === 0)
          throw new EngineError(`${where}: no audio in the answer`, "empty_audio");
        checkPcm(timed.audio, format, where);
        return {
          audio: timed.audio,
          format,
          voice: used || "default",
          timings: { start, ...timed.timings },
        };
      } finally {
        client.close();
      }
    },
  };

  function unary(
    client: RivaClient,
    message: RivaSynthesizeRequest,
    metadata: grpc.Metadata,
    signal: AbortSignal,
    where: string,
    request: SynthesisRequest,
  ): Promise<Timed> {
    return new Promise((resolve, reject) => {
      let firstByte: number | undefined;
      const call = client.Synthesize(message, metadata, {}, (error, response) => {
        signal.removeEventListener("abort", onAbort);
        const end = performance.now();
        if (error) return reject(statusError(error, signal, where));
        const audio = Buffer.from(response?.audio ?? Buffer.alloc(0));
        if (audio.length > 0) request.onChunk?.({ bytes: audio, at: end, format });
        resolve({
          audio,
          timings: {
            requestSent,
            firstByte: firstByte ?? end,
            firstAudio: end,
            end,
            chunks: audio.length > 0 ? [end] : [],
          },
        });
      });
      const requestSent = performance.now();
      const onAbort = () => call.cancel();
      signal.addEventListener("abort", onAbort, { once: true });
      call.on("metadata", () => {
        firstByte ??= performance.now();
      });
    });
  }

  function streaming(
    client: RivaClient,
    message: RivaSynthesizeRequest,
    metadata: grpc.Metadata,
    signal: AbortSignal,
    where: string,
    request: SynthesisRequest,
  ): Promise<Timed> {
    return new Promise((resolve, reject) => {
      const call = client.SynthesizeOnline(metadata, {});
      const clock = new ChunkClock();
      const parts: Buffer[] = [];
      let size = 0;
      let firstByte: number | undefined;
      let firstAudio: number | undefined;
      let settled = false;
      const fail = (error: EngineError) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        call.cancel();
        reject(error);
      };
      const onAbort = () => fail(abortError(signal, where));
      signal.addEventListener("abort", onAbort, { once: true });
      call.on("metadata", () => {
        firstByte ??= performance.now();
      });
      call.on("data", (response: RivaSynthesizeResponse) => {
        if (settled) return;
        const now = performance.now();
        firstByte ??= now;
        const audio = Buffer.from(response.audio ?? Buffer.alloc(0));
        if (audio.length === 0) return;
        size += audio.length;
        if (size > MAX_AUDIO_BYTES)
          return fail(new EngineError(`${where}: more than ${MAX_AUDIO_BYTES} bytes of audio`, "bad_audio"));
        firstAudio ??= now;
        parts.push(audio);
        clock.mark(now);
        request.onChunk?.({ bytes: audio, at: now, format });
      });
      call.on("error", (error: grpc.ServiceError) => fail(statusError(error, signal, where)));
      call.on("end", () => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        const end = performance.now();
        resolve({
          audio: Buffer.concat(parts),
          timings: {
            requestSent,
            firstByte: firstByte ?? end,
            firstAudio: firstAudio ?? end,
            end,
            chunks: clock.times,
          },
        });
      });
      // One request, then half-close: what a server-streaming SynthesizeOnline (Riva before the
      // streaming-input API) reads too.
      call.write(message);
      call.end();
      const requestSent = performance.now();
    });
  }
}

interface Timed {
  readonly audio: Buffer;
  readonly timings: Omit<SynthesisResult["timings"], "start">;
}
