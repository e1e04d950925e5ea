import net from "node:net";
import type { AudioFormat } from "../audio/format.ts";
import { clip } from "../log.ts";
import { type EngineConfigOf, type EngineContext, engineTimeoutMs } from "./context.ts";
import { abortError, throwIfAborted, toEngineError, withDeadline } from "./errors.ts";
import type { PcmFormat } from "./http.ts";
import {
  type AudioChunk,
  ChunkClock,
  type Engine,
  EngineError,
  type SynthesisRequest,
  type SynthesisResult,
} from "./types.ts";

/** One Wyoming event: a type, a JSON object, and optional binary payload (audio-chunk's PCM). */
export interface WyomingEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly payload?: Buffer;
}

export class WyomingProtocolError extends Error {
  override readonly name = "WyomingProtocolError";
}

// A header line longer than this is not a Wyoming header (and must not grow the buffer forever).
const MAX_HEADER_LINE = 64 * 1024;
const MAX_BLOCK = 64 * 1024 * 1024;

/** Encodes an event as wyoming's `write_event` does: header line, then data bytes, then payload. */
export function encodeWyomingEvent(
  type: string,
  data: Record<string, unknown> = {},
  payload?: Uint8Array,
): Buffer {
  const header: Record<string, unknown> = { type, version: "1.5.0" };
  const dataBytes = Object.keys(data).length > 0 ? Buffer.from(JSON.stringify(data), "utf8") : undefined;
  if (dataBytes) header.data_length = dataBytes.length;
  if (payload && payload.length > 0) header.payload_length = payload.length;
  const parts = [Buffer.from(`${JSON.stringify(header)}\n`, "utf8")];
  if (dataBytes) parts.push(dataBytes);
  if (payload && payload.length > 0) parts.push(Buffer.from(payload));
  return Buffer.concat(parts);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function lengthField(header: Record<string, unknown>, key: string): number {
  const v = header[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_BLOCK) {
    throw new WyomingProtocolError(`bad ${key}: ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Incremental decoder of a Wyoming byte stream. Data may be inline in the header (older servers)
 * and/or in a `data_length` block that is merged over it, as wyoming's `async_read_event` does.
 */
export class WyomingDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { header: Record<string, unknown>; dataLength: number; payloadLength: number } | undefined;

  /** Feeds bytes; returns the events completed by them. Throws WyomingProtocolError on broken framing. */
  push(chunk: Buffer): WyomingEvent[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const events: WyomingEvent[] = [];
    for (;;) {
      if (!this.pending) {
        const newline = this.buffer.indexOf(0x0a);
        if (newline < 0) {
          if (this.buffer.length > MAX_HEADER_LINE)
            throw new WyomingProtocolError("header line without newline");
          break;
        }
        const line = this.buffer.subarray(0, newline).toString("utf8");
        this.buffer = this.buffer.subarray(newline + 1);
        if (line.trim() === "") continue;
        let header: unknown;
        try {
          header = JSON.parse(line);
        } catch {
          throw new WyomingProtocolError(`header is not JSON: ${JSON.stringify(clip(line, 80))}`);
        }
        if (!isObject(header) || typeof header.type !== "string") {
          throw new WyomingProtocolError(`header without a type: ${JSON.stringify(clip(line, 80))}`);
        }
        if (header.data !== undefined && header.data !== null && !isObject(header.data)) {
          throw new WyomingProtocolError("header data is not an object");
        }
        this.pending = {
          header,
          dataLength: lengthField(header, "data_length"),
          payloadLength: lengthField(header, "payload_length"),
        };
      }
      const { header, dataLength, payloadLength } = this.pending;
      if (this.buffer.length < dataLength + payloadLength) break;
      const data: Record<string, unknown> = { ...(isObject(header.data) ? header.data : {}) };
      if (dataLength > 0) {
        let extra: unknown;
        try {
          extra = JSON.parse(this.buffer.subarray(0, dataLength).toString("utf8"));
        } catch {
          throw new WyomingProtocolError(`data block of ${String(header.type)} is not JSON`);
        }
        if (!isObject(extra))
          throw new WyomingProtocolError(`data block of ${String(header.type)} is not an object`);
        Object.assign(data, extra);
      }
      const payload =
        payloadLength > 0
          ? Buffer.from(this.buffer.subarray(dataLength, dataLength + payloadLength))
          : undefined;
      this.buffer = this.buffer.subarray(dataLength + payloadLength);
      this.pending = undefined;
      events.push({ type: header.type as string, data, ...(payload ? { payload } : {}) });
    }
    return events;
  }

  /** Bytes of an event that started but did not finish (a connection closed mid-event). */
  get partial(): boolean {
    return this.pending !== undefined || this.buffer.length > 0;
  }
}

const ENCODINGS: Record<number, PcmFormat["encoding"]> = {
  1: "u8",
  2: "s16le",
  3: "s24le",
  4: "s32le",
};

function pcmFormat(event: WyomingEvent, where: string): PcmFormat {
  const { rate, width, channels } = event.data;
  const encoding = typeof width === "number" ? ENCODINGS[width] : undefined;
  if (typeof rate !== "number" || rate < 1000 || rate > 384_000 || !encoding) {
    throw new EngineError(
      `${where}: ${event.type} with unusable format ${JSON.stringify({ rate, width, channels })}`,
      "protocol",
    );
  }
  const ch =
    typeof channels === "number" && Number.isInteger(channels) && channels >= 1 && channels <= 8
      ? channels
      : undefined;
  if (ch === undefined)
    throw new EngineError(`${where}: ${event.type} with ${JSON.stringify(channels)} channels`, "protocol");
  return { kind: "pcm", sampleRate: rate, channels: ch, encoding };
}

const sameFormat = (a: PcmFormat, b: PcmFormat) =>
  a.sampleRate === b.sampleRate && a.channels === b.channels && a.encoding === b.encoding;

interface Exchange {
  /** Each audio-chunk payload as it arrives. */
  readonly onChunk?: ((chunk: AudioChunk) => void) | undefined;
  /** Events written right after connecting. */
  readonly send: Buffer[];
  /** A synthesis: the conversation must end with audio. */
  readonly expectsAudio: boolean;
}

/** Parses `tcp://host:port`. */
export function parseTcpUrl(url: string): { host: string; port: number } {
  const match = /^tcp:\/\/([^:/]+):(\d{1,5})$/.exec(url);
  if (!match?.[1] || !match[2]) throw new Error(`not a tcp://host:port URL: ${url}`);
  return { host: match[1], port: Number(match[2]) };
}

/**
 * Home Assistant's Wyoming protocol over TCP. One-shot: `synthesize` → `audio-start`,
 * `audio-chunk`s, `audio-stop`. With `streaming: true` and a server whose `info` says
 * `supports_synthesize_streaming`: `synthesize-start`, `synthesize-chunk`, `synthesize` (the
 * compatibility copy Home Assistant also sends), `synthesize-stop` → one audio-start/stop group
 * per sentence → `synthesize-stopped`. The `describe` round trip is done once per engine, on its
 * own connection, so it is not counted in the synthesis latency.
 */
export function createWyomingEngine(config: EngineConfigOf<"wyoming">, context: EngineContext): Engine {
  const timeoutMs = engineTimeoutMs(config, context);
  const { host, port } = parseTcpUrl(config.url);
  const voice = config.voice ?? "default";
  const where = `engine ${config.name} (wyoming ${config.url})`;
  let serverStreams: boolean | undefined;

  const talk = (exchange: Exchange, signal: AbortSignal, until: (e: WyomingEvent) => boolean) =>
    converse(host, port, exchange, signal, until, where);

  async function supportsStreaming(signal: AbortSignal): Promise<boolean> {
    if (serverStreams !== undefined) return serverStreams;
    const { events } = await talk(
      { send: [encodeWyomingEvent("describe")], expectsAudio: false },
      signal,
      (e) => e.type === "info",
    );
    const info = events.find((e) => e.type === "info");
    const tts = Array.isArray(info?.data.tts) ? (info.data.tts as unknown[]) : [];
    serverStreams = tts.some((p) => isObject(p) && p.supports_synthesize_streaming === true);
    return serverStreams;
  }

  return {
    name: config.name,
    type: "wyoming",
    voice,
    async synthesize(request: SynthesisRequest): Promise<SynthesisResult> {
      const signal = withDeadline(request.signal, timeoutMs);
      throwIfAborted(signal, where);
      const used = request.voice ?? config.voice;
      const voiceData = used === undefined ? {} : { voice: { name: used } };
      const streaming = config.streaming === true && (await supportsStreaming(signal));
      const send = streaming
        ? [
            encodeWyomingEvent("synthesize-start", voiceData),
            encodeWyomingEvent("synthesize-chunk", { text: request.text }),
            encodeWyomingEvent("synthesize", { text: request.text, ...voiceData }),
            encodeWyomingEvent("synthesize-stop"),
          ]
        : [encodeWyomingEvent("synthesize", { text: request.text, ...voiceData })];
      const done = streaming
        ? (e: WyomingEvent) => e.type === "synthesize-stopped"
        : (e: WyomingEvent) => e.type === "audio-stop";
      const result = await talk({ send, expectsAudio: true, onChunk: request.onChunk }, signal, done);
      return { ...result.audio, voice: used ?? voice };
    },
  };
}

interface Conversation {
  readonly events: WyomingEvent[];
  readonly audio: Omit<SynthesisResult, "voice">;
}

/** One connection: write the events, read until `until` matches, collect audio with timings. */
function converse(
  host: string,
  port: number,
  exchange: Exchange,
  signal: AbortSignal,
  until: (event: WyomingEvent) => boolean,
  where: string,
): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal, where));
      return;
    }
    const start = performance.now();
    let requestSent: number | undefined;
    let firstByte: number | undefined;
    let firstAudio: number | undefined;
    let format: PcmFormat | undefined;
    const chunks: Buffer[] = [];
    const clock = new ChunkClock();
    const onChunk = exchange.onChunk;
    const events: WyomingEvent[] = [];
    const decoder = new WyomingDecoder();
    let settled = false;
    const socket = net.connect({ host, port });
    const finish = (error: EngineError | undefined, value?: Conversation) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      if (error) reject(error);
      else if (value) resolve(value);
    };
    const onAbort = () => finish(abortError(signal, where));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.setNoDelay(true);
    socket.on("connect", () => {
      socket.write(Buffer.concat(exchange.send), () => {
        requestSent ??= performance.now();
      });
    });
    // Read as Home Assistant's client reads it: the format may come from audio-start or, when a
    // server sends none, from the first audio-chunk (each chunk carries rate/width/channels);
    // audio-stop ends the audio even without audio-start (wyoming-piper sends only audio-stop for
    // a text with nothing to say); events this client does not know are skipped.
    const handle = (event: WyomingEvent, now: number): boolean => {
      events.push(event);
      switch (event.type) {
        case "error": {
          const text = typeof event.data.text === "string" ? event.data.text : "error event";
          const code = typeof event.data.code === "string" ? ` (${event.data.code})` : "";
          throw new EngineError(`${where}: server error${code}: ${text}`, "protocol");
        }
        case "audio-start": {
          const f = pcmFormat(event, where);
          if (format && !sameFormat(format, f)) {
            throw new EngineError(`${where}: audio format changed between sentences`, "protocol");
          }
          format = f;
          return false;
        }
        case "audio-chunk":
          format ??= pcmFormat(event, where);
          if (event.payload && event.payload.length > 0) {
            firstAudio ??= now;
            chunks.push(event.payload);
            clock.mark(now);
            onChunk?.({ bytes: event.payload, at: now, format });
          }
          return false;
        default:
          return until(event);
      }
    };
    socket.on("data", (chunk: Buffer) => {
      const now = performance.now();
      firstByte ??= now;
      try {
        for (const event of decoder.push(chunk)) {
          if (!handle(event, now)) continue;
          const end = now;
          const sent = Math.min(requestSent ?? firstByte, firstByte);
          const audio = Buffer.concat(chunks);
          if (exchange.expectsAudio) checkWyomingAudio(audio, format, where);
          finish(undefined, {
            events,
            audio: {
              audio,
              format: format ?? { kind: "pcm", sampleRate: 16000, channels: 1, encoding: "s16le" },
              timings: {
                start,
                requestSent: sent,
                firstByte,
                firstAudio: firstAudio ?? end,
                end,
                chunks: clock.times,
              },
            },
          });
          return;
        }
      } catch (error) {
        finish(
          error instanceof EngineError
            ? error
            : new EngineError(
                `${where}: ${error instanceof Error ? error.message : String(error)}`,
                "protocol",
                { cause: error },
              ),
        );
      }
    });
    socket.on("error", (error) => finish(toEngineError(error, signal, where)));
    socket.on("close", () => {
      if (signal.aborted) {
        finish(abortError(signal, where));
        return;
      }
      const what =
        firstByte === undefined
          ? "before answering"
          : decoder.partial
            ? "in the middle of an event"
            : "before the end of the audio";
      finish(new EngineError(`${where}: connection closed ${what}`, "protocol"));
    });
  });
}

const WIDTH = { u8: 1, s16le: 2, s24le: 3, s32le: 4, f32le: 4 } as const;

function checkWyomingAudio(audio: Buffer, format: AudioFormat | undefined, where: string): void {
  if (audio.length === 0 || !format || format.kind !== "pcm") {
    throw new EngineError(`${where}: audio-stop without any audio`, "empty_audio");
  }
  const frame = WIDTH[format.encoding] * format.channels;
  if (audio.length % frame !== 0) {
    throw new EngineError(
      `${where}: ${audio.length} audio bytes are not whole ${frame}-byte frames`,
      "bad_audio",
    );
  }
}
