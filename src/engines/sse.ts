// Server-sent events (WHATWG HTML "server-sent events": the event stream format) and OpenAI's
// streamed speech on top of them: `speech.audio.delta` events carry base64 audio, one
// `speech.audio.done` (with token usage) ends the answer.

import { excerpt } from "./errors.ts";
import { EngineError } from "./types.ts";

export interface SseEvent {
  /** The `event:` field ("message" when absent). */
  readonly event: string;
  /** The `data:` lines joined with "\n". */
  readonly data: string;
}

/**
 * Incremental parser of an event stream: lines end with CRLF, LF or CR (a CR at the end of one
 * piece may be followed by the LF in the next), `:` lines are comments, `data:` lines of one event
 * are joined with "\n", an empty line dispatches the event, a leading BOM is dropped. Bytes are
 * decoded as UTF-8 across piece boundaries. An event left undispatched when the stream ends is
 * dropped, as the spec says.
 */
export class SseParser {
  readonly #decoder = new TextDecoder("utf-8");
  #buffer = "";
  #started = false;
  #skipLf = false;
  #event = "";
  #data: string[] = [];

  /** Feeds raw bytes; returns the events completed by them. */
  push(bytes: Uint8Array): SseEvent[] {
    let text = this.#decoder.decode(bytes, { stream: true });
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#skipLf && text.length > 0) {
      if (text.startsWith("\n")) text = text.slice(1);
      this.#skipLf = false;
    }
    this.#buffer += text;
    const events: SseEvent[] = [];
    let from = 0;
    for (;;) {
      const cr = this.#buffer.indexOf("\r", from);
      const lf = this.#buffer.indexOf("\n", from);
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      if (end < 0) break;
      const line = this.#buffer.slice(from, end);
      if (this.#buffer[end] === "\r") {
        if (end + 1 < this.#buffer.length) from = this.#buffer[end + 1] === "\n" ? end + 2 : end + 1;
        else {
          from = end + 1;
          this.#skipLf = true;
        }
      } else from = end + 1;
      const event = this.#line(line);
      if (event) events.push(event);
    }
    this.#buffer = this.#buffer.slice(from);
    return events;
  }

  /** Characters of an incomplete line held back (for a bound on a stream that never ends a line). */
  get pending(): number {
    return this.#buffer.length;
  }

  #line(line: string): SseEvent | undefined {
    if (line === "") {
      const event = { event: this.#event || "message", data: this.#data.join("\n") };
      const dispatch = this.#data.length > 0;
      this.#event = "";
      this.#data = [];
      return dispatch ? event : undefined;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.#data.push(value);
    else if (field === "event") this.#event = value;
    // id and retry do not matter to one request's answer
    return undefined;
  }
}

/** Standard base64 (or URL-safe), padding optional, as OpenAI's deltas carry it. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** A held-back line this long is no event stream (a binary body sent as text/event-stream). */
const MAX_LINE_CHARS = 16 * 1024 * 1024;

/**
 * Reads OpenAI's `stream_format: "sse"` answer: each `speech.audio.delta` gives audio bytes,
 * `speech.audio.done` ends it. A body that is not JSON events is `protocol`, a delta whose audio is
 * not base64 is `bad_audio`, an `error` event is `protocol` with its message, a stream that ends
 * without `speech.audio.done` is `protocol`. Other event types (transcript deltas) are skipped.
 */
export class OpenAiSpeechEvents {
  readonly #parser = new SseParser();
  done = false;
  /** Token usage of `speech.audio.done`, when the server sent it. */
  usage: Readonly<Record<string, unknown>> | undefined;

  constructor(private readonly where: string) {}

  /** The audio in these bytes of the body, in order. Throws an EngineError on a broken stream. */
  push(bytes: Uint8Array): Buffer[] {
    const audio: Buffer[] = [];
    for (const e of this.#parser.push(bytes)) {
      if (this.done) break;
      const piece = this.#event(e);
      if (piece && piece.length > 0) audio.push(piece);
    }
    if (this.#parser.pending > MAX_LINE_CHARS)
      throw new EngineError(`${this.where}: SSE line longer than ${MAX_LINE_CHARS} characters`, "protocol");
    return audio;
  }

  /** The body ended: throws unless `speech.audio.done` came. */
  finish(): Buffer[] {
    if (!this.done)
      throw new EngineError(`${this.where}: SSE stream ended without speech.audio.done`, "protocol");
    return [];
  }

  #event(e: SseEvent): Buffer | undefined {
    if (e.data === "[DONE]") {
      this.done = true;
      return undefined;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(e.data);
    } catch {
      throw new EngineError(
        `${this.where}: malformed SSE event (not JSON): ${excerpt(Buffer.from(e.data))}`,
        "protocol",
      );
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      throw new EngineError(
        `${this.where}: malformed SSE event (not an object): ${excerpt(Buffer.from(e.data))}`,
        "protocol",
      );
    const o = parsed as Record<string, unknown>;
    const type = typeof o.type === "string" ? o.type : e.event;
    if (type === "speech.audio.delta") {
      const b64 = o.audio;
      if (typeof b64 !== "string")
        throw new EngineError(`${this.where}: speech.audio.delta without a string "audio"`, "protocol");
      if (b64.length % 4 === 1 || !BASE64.test(b64))
        throw new EngineError(`${this.where}: speech.audio.delta whose audio is not base64`, "bad_audio");
      return Buffer.from(b64, "base64");
    }
    if (type === "speech.audio.done") {
      this.done = true;
      if (o.usage !== null && typeof o.usage === "object") this.usage = o.usage as Record<string, unknown>;
      return undefined;
    }
    if (type === "error") {
      const err = o.error as { message?: unknown } | undefined;
      const message =
        typeof err?.message === "string" ? err.message : typeof o.message === "string" ? o.message : "";
      throw new EngineError(
        `${this.where}: SSE error event${message ? `: ${excerpt(Buffer.from(message))}` : ""}`,
        "protocol",
      );
    }
    return undefined;
  }
}
