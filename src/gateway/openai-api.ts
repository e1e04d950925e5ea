import type { ServerResponse } from "node:http";
import { EngineError } from "../engines/types.ts";
import { labelValueProblem } from "../metrics/labels.ts";
import { RESPONSE_FORMATS, type ResponseFormat } from "./audio-out.ts";
import type { StreamFormat } from "./sse-out.ts";

// OpenAI's speech API as clients see it: the request body, and error bodies in OpenAI's shape
// ({ "error": { message, type, param, code } }) with its status codes.

export interface SpeechRequest {
  readonly model: string;
  /** Normalised (NFC, whitespace collapsed, trimmed): what is synthesised and hashed. */
  readonly input: string;
  readonly voice: string | undefined;
  readonly format: ResponseFormat;
  readonly speed: number;
  /** "sse": OpenAI's streamed speech events (speech.audio.delta / .done) instead of the raw audio. */
  readonly streamFormat: StreamFormat;
}

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

const invalid = (message: string, param: string, code: string | null = null) =>
  new ApiError(400, "invalid_request_error", message, param, code);

/** NFC, runs of whitespace as one space, trimmed: texts that sound the same share a cache entry. */
export function normaliseText(text: string): string {
  return text.normalize("NFC").replace(/\s+/gu, " ").trim();
}

export function parseSpeechRequest(
  body: unknown,
  options: { readonly maxInputChars: number; readonly defaultFormat: ResponseFormat },
): SpeechRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw invalid("the request body must be a JSON object", "body");
  const b = body as Record<string, unknown>;
  if (typeof b.model !== "string" || b.model === "")
    throw invalid("'model' is required: a configured engine's name, or \"auto\"", "model");
  if (b.input === undefined) throw invalid("'input' is required: the text to speak", "input");
  if (typeof b.input !== "string") throw invalid("'input' must be a string", "input");
  const input = normaliseText(b.input);
  if (input === "") throw invalid("'input' must not be empty", "input");
  if ([...input].length > options.maxInputChars)
    throw invalid(
      `'input' is longer than ${options.maxInputChars} characters (gateway.max_input_chars)`,
      "input",
      "string_above_max_length",
    );
  let voice: string | undefined;
  if (b.voice !== undefined && b.voice !== null) {
    const problem = labelValueProblem(b.voice);
    if (typeof b.voice !== "string" || problem !== undefined)
      throw invalid(`'voice' ${problem ?? "must be a string"}`, "voice");
    voice = b.voice;
  }
  let format = options.defaultFormat;
  if (b.response_format !== undefined && b.response_format !== null) {
    if (
      typeof b.response_format !== "string" ||
      !(RESPONSE_FORMATS as readonly string[]).includes(b.response_format)
    )
      throw invalid(`'response_format' must be one of ${RESPONSE_FORMATS.join(", ")}`, "response_format");
    format = b.response_format as ResponseFormat;
  }
  let speed = 1;
  if (b.speed !== undefined && b.speed !== null) {
    if (typeof b.speed !== "number" || !Number.isFinite(b.speed) || b.speed < 0.25 || b.speed > 4)
      throw invalid("'speed' must be a number from 0.25 to 4.0", "speed");
    speed = b.speed;
  }
  let streamFormat: StreamFormat = "audio";
  if (b.stream_format !== undefined && b.stream_format !== null) {
    if (b.stream_format !== "audio" && b.stream_format !== "sse")
      throw invalid("'stream_format' must be one of audio, sse", "stream_format");
    streamFormat = b.stream_format;
  }
  return { model: b.model, input, voice, format, speed, streamFormat };
}

/** An engine's failure as the client sees it: the reason and status, not the engine's address. */
export function engineFailure(engine: string, err: unknown): ApiError {
  const reason = err instanceof EngineError ? err.reason : "other";
  const upstream = err instanceof EngineError ? err.status : undefined;
  const server = (status: number, message: string) =>
    new ApiError(status, "server_error", message, null, `engine_${reason}`);
  switch (reason) {
    case "timeout":
      return server(504, `engine ${engine} did not answer in time`);
    case "connection":
      return server(502, `engine ${engine} cannot be reached`);
    case "auth":
      return server(502, `engine ${engine} refused the gateway's credentials`);
    case "http_status":
      if (upstream === 429)
        return new ApiError(
          429,
          "rate_limit_error",
          `engine ${engine} is rate limiting`,
          null,
          "engine_busy",
          1,
        );
      if (upstream !== undefined && upstream >= 400 && upstream < 500 && upstream !== 401 && upstream !== 403)
        return new ApiError(
          400,
          "invalid_request_error",
          `engine ${engine} rejected the request (HTTP ${upstream}); check the voice and input`,
          null,
          "engine_rejected",
        );
      return server(502, `engine ${engine} answered HTTP ${upstream ?? "error"}`);
    case "empty_audio":
      return server(502, `engine ${engine} returned no audio`);
    case "bad_audio":
    case "protocol":
      return server(502, `engine ${engine} returned something that is not valid audio`);
    default:
      return server(502, `engine ${engine} failed`);
  }
}

export function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    error: { message: err.message, type: err.type, param: err.param, code: err.code },
  });
  res.writeHead(err.status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    ...(err.retryAfterSeconds !== undefined && { "Retry-After": String(err.retryAfterSeconds) }),
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}
