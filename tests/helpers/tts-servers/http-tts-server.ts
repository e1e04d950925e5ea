import http from "node:http";
import { gzipSync } from "node:zlib";
import { atTime } from "./clock.ts";
import { listenLocal } from "./listen-local.ts";
import { ffmpegStreamWav, fliteWav, soxConvert, wavToPcm } from "./real-audio.ts";

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
  /**
   * Kokoro-FastAPI's OpenAI route: `stream` defaults to true, and a streamed WAV comes from PyAV /
   * ffmpeg's muxer (0xFFFFFFFF RIFF and data sizes, a LIST chunk) with chunked transfer.
   */
  kokoro?: boolean;
  /** A server that ignores response_format and answers this compressed format (real audio, by sox). */
  compressed?: "ogg" | "flac";
  /** A server or proxy that compresses the body whatever the client's Accept-Encoding says. */
  contentEncoding?: "gzip";
  /** Answers every request with this redirect (status, absolute or relative Location). */
  redirect?: { status: number; location: string };
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
  /**
   * The Coqui model's speakers and languages, as idiap/coqui-ai-TTS's server reads them: an absent
   * `speaker_id` / `language_id` falls back to the server's `--speaker_idx` / `--language_idx`, an
   * empty one means none, which a multi-speaker / multilingual model refuses with a 500.
   */
  coqui: { defaultSpeaker?: string; defaultLanguage?: string };
  close(): Promise<void>;
}

type Answer =
  | { text: string; voice: string; format: "wav" | "pcm"; stream?: boolean; contentType?: string }
  | { error: number; message: string; contentType?: string };

// Flask's answers: a view returning bytes is sent as text/html, an exception is this page.
const FLASK_HTML = "text/html; charset=utf-8";
const FLASK_500 =
  "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to complete your request.</p>\n";
const FLASK_404 =
  "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server.</p>\n";
const FLASK_405 =
  "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n";
const maryBadRequest = (message: string) => ({
  error: 400,
  message: `<html><body><h1>Bad request</h1><p>${message}.</h1></body></html>`,
  contentType: "text/html; charset=UTF-8",
});

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
    const stream = server.behaviour.kokoro === true && b.stream !== false;
    return {
      text: b.input,
      voice: b.voice,
      format,
      stream,
      ...(server.behaviour.kokoro && format === "pcm" ? { contentType: "audio/pcm" } : {}),
    };
  }
  if (path.endsWith("/") && path.length > 1 && path.slice(0, -1) === "/v1/audio/speech") {
    // FastAPI (Kokoro-FastAPI, openedai-speech): redirect_slashes answers 307 to the URL without it.
    return { error: 307, message: "" };
  }
  if ((method === "GET" || method === "POST") && path === "/api/tts") {
    // Coqui tts-server: text, speaker_id, style_wav, language_id (query or form values)
    const text = query.get("text") ?? "";
    if (!text.trim()) return { error: 400, message: '{"error":"Text parameter is required"}' };
    const { defaultSpeaker, defaultLanguage } = server.coqui;
    const speaker = query.has("speaker_id") ? query.get("speaker_id") || undefined : defaultSpeaker;
    const language = query.has("language_id") ? query.get("language_id") || undefined : defaultLanguage;
    if (
      (defaultSpeaker !== undefined && speaker === undefined) ||
      (defaultLanguage !== undefined && !language)
    ) {
      return {
        error: 500,
        message: `{"error":"TTS synthesis failed: ${speaker === undefined ? "Model is multi-speaker but no `speaker` is provided." : "Model is multi-lingual but no `language` is provided."}"}`,
      };
    }
    return { text, voice: speaker ?? "default", format: "wav" };
  }
  if ((method === "GET" || method === "POST") && path === "/process") {
    // MaryTTS: INPUT_TEXT, INPUT_TYPE, OUTPUT_TYPE and LOCALE are required, AUDIO with OUTPUT_TYPE=AUDIO
    const text = query.get("INPUT_TEXT");
    if (!text || !query.get("INPUT_TYPE") || !query.get("OUTPUT_TYPE") || !query.get("LOCALE")) {
      return maryBadRequest(
        "Request must contain the parameter 'INPUT_TEXT' and 'INPUT_TYPE' and 'OUTPUT_TYPE' and 'LOCALE'",
      );
    }
    if (query.get("INPUT_TYPE") !== "TEXT")
      return maryBadRequest(`The value '${query.get("INPUT_TYPE")}' of parameter 'INPUT_TYPE' is not valid`);
    if (query.get("OUTPUT_TYPE") !== "AUDIO" || query.get("AUDIO") !== "WAVE_FILE") {
      return maryBadRequest("Request must contain the parameter 'AUDIO' when OUTPUT_TYPE=AUDIO");
    }
    return { text, voice: query.get("VOICE") ?? "default", format: "wav", contentType: "audio/x-wav" };
  }
  // Piper's Flask servers answer the WAV bytes as text/html, and any failure as Flask's 500 page.
  const piper = { format: "wav" as const, contentType: FLASK_HTML };
  const flask500 = { error: 500, message: FLASK_500, contentType: FLASK_HTML };
  if (path === "/synthesize" && server.piperDialect === "synthesize") {
    // piper1-gpl: POST /synthesize, json.loads(request.data)
    if (method !== "POST") return { error: 405, message: FLASK_405, contentType: FLASK_HTML };
    const b = json();
    if (!b || typeof b.text !== "string" || !b.text.trim()) return flask500;
    return { ...piper, text: b.text, voice: typeof b.voice === "string" ? b.voice : "default" };
  }
  if (path === "/" && server.piperDialect === "synthesize" && method !== "GET") {
    // piper1-gpl today: / is the GET-only web page
    return { error: 405, message: FLASK_405, contentType: FLASK_HTML };
  }
  if (method === "POST" && path === "/" && server.piperDialect === "root-text") {
    // rhasspy/piper: the body is the text
    if (!body.trim()) return flask500;
    return { ...piper, text: body, voice: "default" };
  }
  if (method === "POST" && path === "/" && server.piperDialect === "root-json") {
    // piper1-gpl 1.3: POST / with json.loads(request.data)
    const b = json();
    if (!b || typeof b.text !== "string" || !b.text.trim()) return flask500;
    return { ...piper, text: b.text, voice: typeof b.voice === "string" ? b.voice : "default" };
  }
  return { error: 404, message: FLASK_404, contentType: FLASK_HTML };
}

/**
 * One local server (127.0.0.1, port 0) speaking the OpenAI speech, Coqui, MaryTTS and Piper HTTP
 * protocols as their servers' source has them (Kokoro-FastAPI / openedai-speech, coqui-ai/TTS and
 * idiap/coqui-ai-TTS `TTS/server/server.py`, marytts `SynthesisRequestHandler`, rhasspy/piper and
 * OHF-Voice/piper1-gpl `http_server.py`), Content-Types and error pages included. Audio is real:
 * Debian's flite synthesises the requested text (slt voice).
 */
export async function startHttpTtsServer(): Promise<HttpTtsServer> {
  const state: HttpTtsServer = {
    url: "",
    requests: [],
    behaviour: {},
    piperDialect: "synthesize",
    coqui: {},
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
      if (b.redirect) {
        res.writeHead(b.redirect.status, { Location: b.redirect.location, "Content-Type": "text/html" });
        res.end("<p>Redirecting</p>");
        return;
      }
      const answer = route(state, req.method ?? "", url.pathname, url.searchParams, body);
      if (b.body === "hang") return; // never answers; the client must give up
      // Audio is made before the delay starts, so the injected delay is the only wait the client sees.
      const wav = "error" in answer ? undefined : fliteWav(answer.text);
      const at = (ms: number, fn: () => void) => atTime(arrivedAt + ms, fn);
      at(b.delayMs ?? 0, () => {
        if ("error" in answer) {
          const location =
            answer.error === 307 ? { Location: `${state.url}${url.pathname.slice(0, -1)}${url.search}` } : {};
          res.writeHead(answer.error, {
            "Content-Type":
              answer.contentType ??
              (answer.message.startsWith("<")
                ? "text/html"
                : answer.message
                  ? "application/json"
                  : "text/plain"),
            ...location,
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
        const stream = answer.stream === true;
        let audio = answer.format === "pcm" ? pcm : stream ? ffmpegStreamWav(wav) : wav;
        let type = answer.contentType ?? (answer.format === "pcm" ? `audio/pcm;rate=${rate}` : "audio/wav");
        if (b.compressed) {
          audio = soxConvert(wav, b.compressed);
          type = b.compressed === "ogg" ? "audio/ogg" : "audio/flac";
        }
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
        const headers: Record<string, string> = { "Content-Type": b.contentType ?? type };
        if (b.contentEncoding === "gzip") {
          audio = gzipSync(audio);
          headers["Content-Encoding"] = "gzip";
        }
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
        if (stream) {
          // Kokoro's StreamingResponse: chunked, a piece per sentence as it is synthesised.
          res.writeHead(200, { ...headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no" });
          const piece = 8192;
          let sent = 0;
          const next = () => {
            if (sent >= audio.length) {
              res.end();
              return;
            }
            res.write(audio.subarray(sent, sent + piece));
            sent += piece;
            setImmediate(next);
          };
          next();
          return;
        }
        res.writeHead(200, { ...headers, "Content-Length": String(audio.length) });
        res.end(audio);
      });
    });
  });
  return Object.assign(state, {
    ...(await listenLocal(server)),
  });
}
