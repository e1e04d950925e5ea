import { readFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import type { AudioFormat } from "../audio/format.ts";
import { abortError, excerpt, toEngineError } from "./errors.ts";
import { EngineError, type SynthesisTimings } from "./types.ts";
import { checkPcm, checkWav, probeWavHeader } from "./wav-header.ts";

const MAX_AUDIO_BYTES = 256 * 1024 * 1024;
const MAX_ERROR_BODY = 4096;

export type PcmFormat = Extract<AudioFormat, { kind: "pcm" }>;

export interface HttpAudioRequest {
  readonly url: URL;
  readonly method: "GET" | "POST";
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly signal: AbortSignal;
  /** Prefix of every error message: which engine, which protocol. */
  readonly where: string;
  /** What the engine asked for. A RIFF body is read as WAV whatever was asked (servers that ignore the format). */
  readonly expect: { readonly kind: "wav" } | { readonly kind: "pcm"; readonly fallback: PcmFormat };
}

export interface HttpAudioResponse {
  readonly audio: Uint8Array;
  readonly format: AudioFormat;
  readonly timings: SynthesisTimings;
  readonly status: number;
}

/** The header named by `auth_header`, read from the environment or a file at each request (secrets rotate). */
export async function authHeaders(
  auth:
    | {
        readonly name: string;
        readonly value_env?: string | undefined;
        readonly value_file?: string | undefined;
      }
    | undefined,
  env: Readonly<Record<string, string | undefined>>,
  where: string,
): Promise<Record<string, string>> {
  if (!auth) return {};
  let value: string | undefined;
  if (auth.value_env !== undefined) {
    value = env[auth.value_env];
    if (!value)
      throw new EngineError(
        `${where}: auth header ${auth.name}: environment variable ${auth.value_env} is not set`,
        "auth",
      );
  } else if (auth.value_file !== undefined) {
    try {
      value = (await readFile(auth.value_file, "utf8")).trim();
    } catch (error) {
      throw new EngineError(`${where}: auth header ${auth.name}: cannot read ${auth.value_file}`, "auth", {
        cause: error,
      });
    }
  }
  return value ? { [auth.name]: value } : {};
}

/** Sample rate stated by a raw-PCM Content-Type, e.g. `audio/pcm;rate=24000` or `audio/L16; rate=22050; channels=1`. */
export function pcmFromContentType(contentType: string | undefined, fallback: PcmFormat): PcmFormat {
  if (!contentType) return fallback;
  const params = new Map(
    contentType
      .split(";")
      .slice(1)
      .map((p) => p.trim().toLowerCase().split("=") as [string, string | undefined]),
  );
  const rate = Number(params.get("rate") ?? params.get("samplerate") ?? params.get("sample_rate"));
  const channels = Number(params.get("channels"));
  return {
    ...fallback,
    ...(Number.isInteger(rate) && rate >= 1000 ? { sampleRate: rate } : {}),
    ...(Number.isInteger(channels) && channels >= 1 && channels <= 8 ? { channels } : {}),
  };
}

/** Finds the first audio byte in a body that arrives in chunks: past the WAV header, or the first PCM byte. */
class FirstAudioFinder {
  private head = Buffer.alloc(0);
  private decided: "wav" | "pcm" | "none" | undefined;
  firstAudio: number | undefined;

  constructor(private readonly expect: HttpAudioRequest["expect"]) {}

  feed(chunk: Buffer, now: number): void {
    if (this.firstAudio !== undefined || this.decided === "none" || chunk.length === 0) return;
    this.head = Buffer.concat([this.head, chunk]);
    if (this.decided === undefined) {
      if (this.head.length < 4 && "RIFF".startsWith(this.head.toString("latin1"))) return;
      const riff = this.head.subarray(0, 4).toString("latin1") === "RIFF";
      this.decided = riff ? "wav" : this.expect.kind === "pcm" ? "pcm" : "none";
    }
    if (this.decided === "pcm") {
      this.firstAudio = now;
    } else if (this.decided === "wav") {
      const probe = probeWavHeader(this.head);
      if (probe.state === "ok" && this.head.length > probe.layout.dataOffset) this.firstAudio = now;
      else if (probe.state === "invalid") this.decided = "none";
    }
    if (this.firstAudio !== undefined || this.decided === "none") this.head = Buffer.alloc(0);
  }
}

/**
 * One HTTP request whose answer is audio, timed at the transport: `start` before connecting (a new
 * connection each time, as a cold client sees it), `requestSent` when the request is flushed,
 * `firstByte` at the response headers, `firstAudio` at the first byte past any WAV header, `end`
 * at the last body byte. The body is read as a stream so that a streaming server's time to first
 * audio is seen. Failures carry a bounded reason: connection, auth (401/403), http_status,
 * empty_audio, bad_audio, timeout.
 */
export function fetchAudio(request: HttpAudioRequest): Promise<HttpAudioResponse> {
  const { url, signal, where } = request;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal, where));
      return;
    }
    let settled = false;
    const settle = (error: EngineError | undefined, value?: HttpAudioResponse) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (error) {
        req.destroy();
        reject(error);
      } else if (value) resolve(value);
    };
    const start = performance.now();
    let requestSent: number | undefined;
    const transport = url.protocol === "https:" ? https : http;
    const req = transport.request(url, {
      method: request.method,
      headers: {
        ...(request.body === undefined ? {} : { "Content-Length": String(Buffer.byteLength(request.body)) }),
        ...request.headers,
      },
      agent: false,
    });
    const onAbort = () => settle(abortError(signal, where));
    signal.addEventListener("abort", onAbort, { once: true });
    req.on("finish", () => {
      requestSent = performance.now();
    });
    req.on("error", (error) => settle(toEngineError(error, signal, where)));
    req.on("response", (res) => {
      const firstByte = performance.now();
      const status = res.statusCode ?? 0;
      const contentType = res.headers["content-type"];
      const chunks: Buffer[] = [];
      let size = 0;
      const ok = status >= 200 && status < 300;
      const finder = new FirstAudioFinder(request.expect);
      res.on("data", (chunk: Buffer) => {
        const now = performance.now();
        if (ok) finder.feed(chunk, now);
        size += chunk.length;
        if (size > (ok ? MAX_AUDIO_BYTES : MAX_ERROR_BODY)) {
          if (ok) settle(new EngineError(`${where}: body larger than ${MAX_AUDIO_BYTES} bytes`, "bad_audio"));
          else res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on("error", (error) => settle(toEngineError(error, signal, where)));
      res.on("close", () => {
        if (settled) return;
        const end = performance.now();
        const body = Buffer.concat(chunks);
        if (!ok) {
          const detail = body.length > 0 ? `: ${excerpt(body)}` : "";
          const reason = status === 401 || status === 403 ? "auth" : "http_status";
          settle(new EngineError(`${where}: HTTP ${status}${detail}`, reason, { status }));
          return;
        }
        if (!res.complete) {
          settle(
            new EngineError(`${where}: connection closed after ${body.length} body bytes`, "connection"),
          );
          return;
        }
        try {
          const format = audioFormat(body, contentType, request.expect, where);
          const timings: SynthesisTimings = {
            start,
            requestSent: Math.min(requestSent ?? firstByte, firstByte),
            firstByte,
            firstAudio: finder.firstAudio ?? end,
            end,
          };
          settle(undefined, { audio: body, format, timings, status });
        } catch (error) {
          settle(error instanceof EngineError ? error : toEngineError(error, signal, where));
        }
      });
    });
    req.end(request.body);
  });
}

function audioFormat(
  body: Buffer,
  contentType: string | undefined,
  expect: HttpAudioRequest["expect"],
  where: string,
): AudioFormat {
  const isRiff = body.subarray(0, 4).toString("latin1") === "RIFF";
  if (expect.kind === "wav" || isRiff) {
    checkWav(body, where);
    return { kind: "wav" };
  }
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type.startsWith("text/") || type.includes("json") || type.includes("xml")) {
    if (body.length === 0) throw new EngineError(`${where}: empty body`, "empty_audio");
    throw new EngineError(`${where}: ${type} body instead of PCM audio: ${excerpt(body)}`, "bad_audio");
  }
  const format = pcmFromContentType(contentType, expect.fallback);
  checkPcm(body, format, where);
  return format;
}
