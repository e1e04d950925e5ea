import http from "node:http";
import https from "node:https";
import zlib from "node:zlib";
import type { AudioFormat } from "../audio/format.ts";
import { readRegularFile } from "../util/files.ts";
import { abortError, excerpt, toEngineError, transportError } from "./errors.ts";
import { type AudioChunk, ChunkClock, EngineError, type SynthesisTimings } from "./types.ts";
import { checkPcm, checkWav, compressedAudio, probeWavHeader } from "./wav-header.ts";

const MAX_AUDIO_BYTES = 256 * 1024 * 1024;
const MAX_ERROR_BODY = 4096;
const MAX_REDIRECTS = 5;

type HeaderMap = Record<string, string>;

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
  /** Each piece of a 2xx body as it arrives (decoded when the server compressed it). */
  readonly onChunk?: (chunk: AudioChunk) => void;
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
      // Not readFile: a FIFO there would hold a thread of the pool for good.
      value = readRegularFile(auth.value_file, 64 * 1024)
        .toString("utf8")
        .trim();
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

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Where a redirect leads: undefined when the answer is not a redirect (or names no Location), a
 * message when it must not be followed (a POST answered 301/302/303 would lose its body, as a
 * browser turns it into a GET), else the next URL and method.
 */
export function redirectTarget(
  from: URL,
  method: string,
  status: number,
  location: string | undefined,
): { url: URL; method: string } | string | undefined {
  if (!REDIRECTS.has(status) || !location) return undefined;
  let url: URL;
  try {
    url = new URL(location, from);
  } catch {
    return `redirect to an invalid Location ${JSON.stringify(location)}`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `redirect to a non-HTTP Location ${JSON.stringify(location)}`;
  }
  if (method !== "GET" && status !== 307 && status !== 308) {
    return `redirect of a ${method} to ${url.href}: configure that URL instead`;
  }
  return { url, method };
}

/** Headers kept across a redirect to another origin: never the credentials. */
function withoutCredentials(headers: HeaderMap): HeaderMap {
  const kept: HeaderMap = {};
  for (const [name, value] of Object.entries(headers)) {
    if (["content-type", "accept"].includes(name.toLowerCase())) kept[name] = value;
  }
  return kept;
}

function decoderFor(encoding: string): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined {
  if (encoding === "gzip" || encoding === "x-gzip") return zlib.createGunzip();
  if (encoding === "deflate") return zlib.createInflate();
  if (encoding === "br") return zlib.createBrotliDecompress();
  return undefined;
}

/**
 * One HTTP request whose answer is audio, timed at the transport: `start` before connecting (a new
 * connection each time, as a cold client sees it), `requestSent` when the request is flushed,
 * `firstByte` at the response headers, `firstAudio` at the first byte past any WAV header, `end`
 * at the last body byte. The body is read as a stream so that a streaming server's time to first
 * audio is seen. Redirects are followed (all of them for GET; 307/308 for POST, which keep the
 * body), at most MAX_REDIRECTS, and the timings then start at the first request. A body sent with
 * a Content-Encoding (gzip, deflate, br) is decoded. Failures carry a bounded reason: connection,
 * auth (401/403), http_status, empty_audio, bad_audio, timeout.
 */
export function fetchAudio(request: HttpAudioRequest): Promise<HttpAudioResponse> {
  const { signal, where } = request;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal, where));
      return;
    }
    let settled = false;
    let current: http.ClientRequest | undefined;
    const settle = (error: EngineError | undefined, value?: HttpAudioResponse) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (error) {
        current?.destroy();
        reject(error);
      } else if (value) resolve(value);
    };
    const onAbort = () => settle(abortError(signal, where));
    signal.addEventListener("abort", onAbort, { once: true });
    const start = performance.now();

    const send = (
      url: URL,
      method: string,
      body: string | Buffer | undefined,
      headers: HeaderMap,
      hop: number,
    ) => {
      let requestSent: number | undefined;
      const transport = url.protocol === "https:" ? https : http;
      let req: http.ClientRequest;
      try {
        req = transport.request(url, {
          method,
          headers: {
            "Accept-Encoding": "identity",
            ...(body === undefined ? {} : { "Content-Length": String(Buffer.byteLength(body)) }),
            ...headers,
          },
          agent: false,
        });
      } catch (error) {
        // a header value Node refuses (a secret with a newline), an unusable redirect target
        settle(transportError(error, where));
        return;
      }
      current = req;
      req.on("finish", () => {
        requestSent = performance.now();
      });
      // A request left behind by a redirect may still report its socket's end: not our failure.
      req.on("error", (error) => {
        if (current === req) settle(toEngineError(error, signal, where));
      });
      req.on("response", (res) => {
        if (settled || current !== req) {
          res.destroy();
          return;
        }
        const firstByte = performance.now();
        const status = res.statusCode ?? 0;
        const next = redirectTarget(url, method, status, res.headers.location);
        if (next !== undefined) {
          res.on("error", () => {});
          res.resume();
          if (typeof next === "string") {
            settle(new EngineError(`${where}: HTTP ${status} ${next}`, "http_status", { status }));
          } else if (hop >= MAX_REDIRECTS) {
            settle(
              new EngineError(`${where}: more than ${MAX_REDIRECTS} redirects`, "http_status", { status }),
            );
          } else {
            const keep = next.url.origin === url.origin ? headers : withoutCredentials(headers);
            send(next.url, next.method, next.method === method ? body : undefined, keep, hop + 1);
          }
          return;
        }
        const contentType = res.headers["content-type"];
        const ok = status >= 200 && status < 300;
        let stream: NodeJS.ReadableStream = res;
        const encoding = (res.headers["content-encoding"] ?? "").trim().toLowerCase();
        if (ok && encoding !== "" && encoding !== "identity") {
          const decoder = decoderFor(encoding);
          if (!decoder) {
            res.resume();
            settle(
              new EngineError(
                `${where}: unsupported Content-Encoding ${JSON.stringify(encoding)}`,
                "bad_audio",
              ),
            );
            return;
          }
          decoder.on("error", (error) =>
            settle(
              new EngineError(`${where}: cannot decode the ${encoding} body: ${error.message}`, "bad_audio"),
            ),
          );
          stream = res.pipe(decoder);
        }
        const chunks: Buffer[] = [];
        let size = 0;
        const finder = new FirstAudioFinder(request.expect);
        const clock = new ChunkClock();
        // Decided at the first byte: a RIFF stream is WAV whatever was asked (as audioFormat reads it).
        let streamFormat: AudioFormat | undefined;
        stream.on("data", (chunk: Buffer) => {
          if (settled) return;
          const now = performance.now();
          if (ok) finder.feed(chunk, now);
          size += chunk.length;
          if (size > (ok ? MAX_AUDIO_BYTES : MAX_ERROR_BODY)) {
            if (ok)
              settle(new EngineError(`${where}: body larger than ${MAX_AUDIO_BYTES} bytes`, "bad_audio"));
            else res.destroy();
            return;
          }
          chunks.push(chunk);
          if (!ok || chunk.length === 0) return;
          clock.mark(now);
          if (request.onChunk) {
            streamFormat ??=
              request.expect.kind === "wav" || chunks[0]?.subarray(0, 4).toString("latin1") === "RIFF"
                ? { kind: "wav" }
                : pcmFromContentType(contentType, request.expect.fallback);
            request.onChunk({ bytes: chunk, at: now, format: streamFormat });
          }
        });
        res.on("error", (error) => settle(toEngineError(error, signal, where)));
        const complete = () => {
          if (settled) return;
          const end = performance.now();
          const bytes = Buffer.concat(chunks);
          try {
            const format = audioFormat(bytes, contentType, request.expect, where);
            const timings: SynthesisTimings = {
              start,
              requestSent: Math.min(requestSent ?? firstByte, firstByte),
              firstByte,
              firstAudio: finder.firstAudio ?? end,
              end,
              chunks: clock.times,
            };
            settle(undefined, { audio: bytes, format, timings, status });
          } catch (error) {
            settle(error instanceof EngineError ? error : toEngineError(error, signal, where));
          }
        };
        if (ok) stream.on("end", () => (res.complete ? complete() : undefined));
        res.on("close", () => {
          if (settled) return;
          if (!ok) {
            const bytes = Buffer.concat(chunks);
            const detail = bytes.length > 0 ? `: ${excerpt(bytes)}` : "";
            const reason = status === 401 || status === 403 ? "auth" : "http_status";
            settle(new EngineError(`${where}: HTTP ${status}${detail}`, reason, { status }));
          } else if (!res.complete) {
            settle(new EngineError(`${where}: connection closed after ${size} body bytes`, "connection"));
          }
        });
      });
      req.end(body);
    };
    send(request.url, request.method, request.body, { ...request.headers }, 0);
  });
}

function audioFormat(
  body: Buffer,
  contentType: string | undefined,
  expect: HttpAudioRequest["expect"],
  where: string,
): AudioFormat {
  const isRiff = body.subarray(0, 4).toString("latin1") === "RIFF";
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (!isRiff && body.length > 0) {
    // A server that ignored the asked format (MP3, its usual default) or a proxy's error page.
    const other = compressedAudio(body, type, expect.kind === "wav");
    if (other) {
      const asked = expect.kind === "wav" ? "WAV" : "raw PCM";
      throw new EngineError(
        `${where}: ${other} audio${type ? ` (${type})` : ""} instead of ${asked}: the server ignored the requested format`,
        "bad_audio",
      );
    }
  }
  if (expect.kind === "wav" || isRiff) {
    checkWav(body, where);
    return { kind: "wav" };
  }
  if (type.startsWith("text/") || type.includes("json") || type.includes("xml")) {
    if (body.length === 0) throw new EngineError(`${where}: empty body`, "empty_audio");
    throw new EngineError(`${where}: ${type} body instead of PCM audio: ${excerpt(body)}`, "bad_audio");
  }
  const format = pcmFromContentType(contentType, expect.fallback);
  checkPcm(body, format, where);
  return format;
}
