import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { atTime } from "./clock.ts";
import { fliteWav, wavToPcm } from "./real-audio.ts";

/** What the server does with the next requests (all optional: by default it answers real audio at once). */
export interface HttpBehaviour {
  /** Milliseconds between the request's arrival (body read) and the response headers. */
  delayMs?: number;
  /** Streaming: headers and the first chunk after `firstMs`, the rest `restMs` after that. */
  stream?: { firstMs: number; restMs: number };
  /** Answer this status with a text body instead of audio (401, 500, ...). */
  status?: number;
  body?: "audio" | "empty" | "html" | "json" | "truncated-wav" | "hang" | "reset-mid-body";
  /** Overrides the Content-Type of a successful answer. */
  contentType?: string;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly arrivedAt: number;
}

export interface HttpTtsServer {
  /** http://127.0.0.1:port (no trailing slash). */
  readonly url: string;
  readonly requests: RecordedRequest[];
  behaviour: HttpBehaviour;
  /** Which Piper HTTP dialect the server speaks (see src/engines/piper.ts). */
  piperDialect: "synthesize" | "root-text" | "root-json";
  close(): Promise<void>;
}

type Answer = { text: string; voice: string; format: "wav" | "pcm" } | { error: number; message: string };

/** Reads each protocol's request as its public docs describe it and says what to synthesise. */
function route(
  server: HttpTtsServer,
  method: string,
  path: string,
  query: URLSearchParams,
  body: string,
): Answer {
  const json = (): Record<string, unknown> | undefined => {
    try {
      const v: unknown = JSON.parse(body);
      return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  if (method === "POST" && path === "/v1/audio/speech") {
    // OpenAI: {model, input, voice, response_format}
    const b = json();
    if (!b || typeof b.input !== "string" || typeof b.model !== "string" || typeof b.voice !== "string") {
      return { error: 400, message: '{"error":{"message":"model, input and voice are required"}}' };
    }
    const format = b.response_format === "pcm" ? "pcm" : "wav";
    return { text: b.input, voice: b.voice, format };
  }
  if (method === "GET" && path === "/api/tts") {
    // Coqui tts-server: text, speaker_id, style_wav, language_id
    const text = query.get("text");
    if (!text) return { error: 400, message: "text is required" };
    return { text, voice: query.get("speaker_id") || "default", format: "wav" };
  }
  if (method === "GET" && path === "/process") {
    // MaryTTS: INPUT_TEXT, INPUT_TYPE=TEXT, OUTPUT_TYPE=AUDIO, AUDIO=WAVE_FILE, LOCALE, VOICE
    const text = query.get("INPUT_TEXT");
    if (
      !text ||
      query.get("INPUT_TYPE") !== "TEXT" ||
      query.get("OUTPUT_TYPE") !== "AUDIO" ||
      query.get("AUDIO") !== "WAVE_FILE"
    ) {
      return {
        error: 500,
        message: "<html><body>Error processing request: missing parameters</body></html>",
      };
    }
    return { text, voice: query.get("VOICE") ?? "default", format: "wav" };
  }
  if (method === "POST" && path === "/synthesize" && server.piperDialect === "synthesize") {
    const b = json();
    if (!b || typeof b.text !== "string")
      return { error: 400, message: "Request body must be a JSON object" };
    return { text: b.text, voice: typeof b.voice === "string" ? b.voice : "default", format: "wav" };
  }
  if (method === "POST" && path === "/" && server.piperDialect === "root-text") {
    if (!body.trim()) return { error: 500, message: "No text provided" };
    return { text: body, voice: "default", format: "wav" };
  }
  if (method === "POST" && path === "/" && server.piperDialect === "root-json") {
    const b = json();
    if (!b || typeof b.text !== "string") return { error: 500, message: "Internal Server Error" };
    return { text: b.text, voice: typeof b.voice === "string" ? b.voice : "default", format: "wav" };
  }
  return { error: 404, message: "<!doctype html><title>404 Not Found</title>" };
}

/**
 * One local server (127.0.0.1, port 0) speaking the OpenAI speech, Coqui, MaryTTS and Piper HTTP
 * protocols. Audio is real: Debian's flite synthesises the requested text (slt voice).
 */
export async function startHttpTtsServer(): Promise<HttpTtsServer> {
  const sockets = new Set<Socket>();
  const state: HttpTtsServer = {
    url: "",
    requests: [],
    behaviour: {},
    piperDialect: "synthesize",
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const arrivedAt = performance.now();
      const url = new URL(req.url ?? "/", "http://x");
      const body = Buffer.concat(chunks).toString("utf8");
      state.requests.push({
        method: req.method ?? "",
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        arrivedAt,
      });
      const b = state.behaviour;
      const answer = route(state, req.method ?? "", url.pathname, url.searchParams, body);
      if (b.body === "hang") return; // never answers; the client must give up
      // Audio is made before the delay starts, so the injected delay is the only wait the client sees.
      const wav = "error" in answer ? undefined : fliteWav(answer.text);
      const at = (ms: number, fn: () => void) => atTime(arrivedAt + ms, fn);
      at(b.delayMs ?? 0, () => {
        if ("error" in answer) {
          res.writeHead(answer.error, {
            "Content-Type": answer.message.startsWith("<") ? "text/html" : "text/plain",
          });
          res.end(answer.message);
          return;
        }
        if (b.status !== undefined) {
          res.writeHead(b.status, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ detail: b.status === 401 ? "Invalid API key" : "synthesis failed" }));
          return;
        }
        if (!wav) return;
        const { pcm, rate } = wavToPcm(wav);
        let audio = answer.format === "pcm" ? pcm : wav;
        let type = answer.format === "pcm" ? `audio/pcm;rate=${rate}` : "audio/wav";
        if (b.body === "empty") audio = Buffer.alloc(0);
        if (b.body === "html")
          [audio, type] = [
            Buffer.from("<!doctype html><html><body>Service Unavailable</body></html>"),
            "text/html",
          ];
        if (b.body === "json")
          [audio, type] = [Buffer.from('{"error":"model not loaded"}'), "application/json"];
        // A WAV whose header promises more samples than the body holds (a server that died mid-write).
        if (b.body === "truncated-wav") audio = wav.subarray(0, Math.floor(wav.length / 2));
        const headers = { "Content-Type": b.contentType ?? type };
        if (b.body === "reset-mid-body") {
          res.writeHead(200, { ...headers, "Content-Length": String(audio.length) });
          res.write(audio.subarray(0, 1000));
          setTimeout(() => req.socket.destroy(), 20);
          return;
        }
        if (b.stream) {
          const { firstMs, restMs } = b.stream;
          const cut = Math.min(audio.length, (answer.format === "pcm" ? 0 : 44) + 4096);
          // Headers and first chunk go out together, as a streaming TTS server flushes its first sentence.
          at(firstMs, () => {
            res.writeHead(200, headers);
            res.write(audio.subarray(0, cut));
            at(firstMs + restMs, () => res.end(audio.subarray(cut)));
          });
          return;
        }
        res.writeHead(200, { ...headers, "Content-Length": String(audio.length) });
        res.end(audio);
      });
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}
