import type { ServerResponse } from "node:http";

// OpenAI's streamed speech (`stream_format: "sse"`) as the gateway sends it: each piece of audio a
// `speech.audio.delta` event with the bytes in base64 (in the asked response_format), then one
// `speech.audio.done` with usage. The same framing src/engines/sse.ts reads from an engine.

export type StreamFormat = "audio" | "sse";

function event(type: string, payload: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
}

/** Headers of an SSE answer: no caching, no proxy buffering (nginx), kept open. */
export const SSE_HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache",
  "X-Accel-Buffering": "no",
} as const;

export function writeDelta(res: ServerResponse, bytes: Uint8Array): void {
  if (bytes.length === 0) return;
  res.write(event("speech.audio.delta", { audio: Buffer.from(bytes).toString("base64") }));
}

/**
 * The closing event. Usage is counted as OpenAI bills speech: input tokens are not known to the
 * gateway (no tokeniser), so it reports characters as `input_characters` and leaves tokens at 0.
 */
export function writeDone(res: ServerResponse, inputCharacters: number): void {
  res.end(
    event("speech.audio.done", {
      usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0, input_characters: inputCharacters },
    }),
  );
}

/** A failure after the stream began: one `error` event in OpenAI's shape, then the end. */
export function writeStreamError(res: ServerResponse, message: string, code: string): void {
  res.end(event("error", { error: { message, type: "server_error", code } }));
}

/** Largest delta the gateway sends from a cached answer (OpenAI's deltas are a few KiB). */
export const HIT_DELTA_BYTES = 16 * 1024;
