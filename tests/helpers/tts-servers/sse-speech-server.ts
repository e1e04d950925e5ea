import http from "node:http";
import { atTime } from "./clock.ts";
import { listenLocal } from "./listen-local.ts";
import { fliteWav, wavToPcm } from "./real-audio.ts";

// OpenAI's streamed speech, as its API reference describes it: `POST /v1/audio/speech` with
// `stream_format: "sse"` answers `text/event-stream`; each event's data is JSON, first
// `{"type":"speech.audio.delta","audio":"<base64>"}` per piece of audio (in the asked
// response_format: pcm is raw samples, wav one WAV file across the deltas), then
// `{"type":"speech.audio.done","usage":{"input_tokens":..,"output_tokens":..,"total_tokens":..}}`.
// The audio is real speech from flite.

export interface SseBehaviour {
  /** Milliseconds from the request's arrival to the headers and the first delta. */
  delayMs?: number;
  /** First delta after `firstMs`, the other deltas and done `restMs` after that. */
  stream?: { firstMs: number; restMs: number };
  /** Audio deltas the answer is cut into (default 4). */
  pieces?: number;
  /** How the events are written: CRLF line ends, comments and data split over lines, byte by byte. */
  framing?: "lf" | "crlf-comments-multiline" | "cr" | "dribble";
  /** Speaks this text whatever the input (a short clip keeps the analysis of frequent probes cheap). */
  say?: string;
  fault?: "malformed-json" | "bad-base64" | "no-done" | "error-event" | "not-sse" | "http-500" | "no-audio";
}

export interface SseSpeechServer {
  readonly url: string;
  readonly requests: Array<Record<string, unknown>>;
  behaviour: SseBehaviour;
  close(): Promise<void>;
}

function events(format: "wav" | "pcm", text: string, b: SseBehaviour): string[] {
  const wav = fliteWav(b.say ?? text);
  const audio = format === "pcm" ? wavToPcm(wav).pcm : wav;
  const n = b.fault === "no-audio" ? 0 : (b.pieces ?? 4);
  const size = Math.ceil(audio.length / Math.max(1, n));
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const piece = audio.subarray(i * size, (i + 1) * size);
    let b64 = piece.toString("base64");
    if (b.fault === "bad-base64" && i === 1) b64 = `${b64.slice(0, 10)}!!*${b64.slice(10)}`;
    out.push(JSON.stringify({ type: "speech.audio.delta", audio: b64 }));
  }
  if (b.fault === "malformed-json") out.splice(1, 0, '{"type":"speech.audio.delta","audio":');
  if (b.fault === "error-event")
    out.splice(2, out.length, JSON.stringify({ type: "error", error: { message: "model overloaded" } }));
  if (b.fault !== "no-done")
    out.push(
      JSON.stringify({
        type: "speech.audio.done",
        usage: { input_tokens: text.length, output_tokens: audio.length >> 6, total_tokens: 0 },
      }),
    );
  return out;
}

/** One event as `framing` writes it. */
function frame(data: string, framing: SseBehaviour["framing"]): string {
  if (framing === "crlf-comments-multiline") {
    // A comment (a keep-alive), the event name, and the JSON split after its first comma.
    const cut = data.indexOf(",") + 1;
    return `: keep-alive\r\nevent: speech\r\ndata: ${data.slice(0, cut)}\r\ndata:${data.slice(cut)}\r\n\r\n`;
  }
  if (framing === "cr") return `data: ${data}\r\r`;
  return `data: ${data}\n\n`;
}

export async function startSseSpeechServer(): Promise<SseSpeechServer> {
  const state = { requests: [] as Array<Record<string, unknown>>, behaviour: {} as SseBehaviour };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const arrivedAt = performance.now();
      const b = state.behaviour;
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      } catch {
        res.writeHead(400, { "Content-Type": "application/json" }).end('{"error":{"message":"bad JSON"}}');
        return;
      }
      state.requests.push(body);
      if (req.url !== "/v1/audio/speech" || typeof body.input !== "string") {
        res.writeHead(404, { "Content-Type": "application/json" }).end('{"error":{"message":"not found"}}');
        return;
      }
      const format = body.response_format === "pcm" ? "pcm" : "wav";
      if (b.fault === "http-500") {
        res
          .writeHead(500, { "Content-Type": "application/json" })
          .end('{"error":{"message":"The server had an error processing your request."}}');
        return;
      }
      if (b.fault === "not-sse" || body.stream_format !== "sse") {
        // A server without SSE support answers the audio itself.
        const wav = fliteWav(body.input);
        res.writeHead(200, { "Content-Type": "audio/wav" }).end(wav);
        return;
      }
      const framed = events(format, body.input, b).map((d) => frame(d, b.framing));
      const at = (ms: number, fn: () => void) => atTime(arrivedAt + ms, fn);
      const first = b.stream?.firstMs ?? b.delayMs ?? 0;
      at(first, () => {
        res.writeHead(200, {
          "Content-Type": "text/event-stream; charset=utf-8",
          "Cache-Control": "no-cache",
        });
        if (b.framing === "dribble") {
          // Seven bytes per write, on separate turns: lines, JSON and base64 split anywhere.
          const all = Buffer.from(framed.join(""));
          let sent = 0;
          const next = () => {
            if (sent >= all.length) return void res.end();
            res.write(all.subarray(sent, sent + 7));
            sent += 7;
            setImmediate(next);
          };
          next();
          return;
        }
        res.write(framed[0] ?? "");
        const rest = () => res.end(framed.slice(1).join(""));
        if (b.stream) at(b.stream.firstMs + b.stream.restMs, rest);
        else rest();
      });
    });
  });
  return Object.assign(state, {
    ...(await listenLocal(server)),
  });
}
