import { type EngineConfigOf, type EngineContext, engineTimeoutMs } from "./context.ts";
import { endpoint } from "./coqui.ts";
import { throwIfAborted, withDeadline } from "./errors.ts";
import { authHeaders, fetchAudio, type HttpAudioRequest } from "./http.ts";
import { type Engine, EngineError, type SynthesisRequest, type SynthesisResult } from "./types.ts";

/**
 * How a Piper HTTP server takes its text. Servers in the wild differ:
 * - `synthesize`: `POST /synthesize` with JSON `{text, voice}` (recent piper1-gpl `http_server`);
 * - `root-text`: `POST /` with the text as the body (rhasspy/piper's original `http_server`);
 * - `root-json`: `POST /` with JSON `{text, voice}` (piper1-gpl before /synthesize).
 */
export type PiperDialect = "synthesize" | "root-text" | "root-json";

/**
 * Piper's HTTP server. The dialect is found on the first call and remembered: /synthesize first;
 * on 404 the older `POST /` with the text as body; if that is refused (400/415/500: a server that
 * only parses JSON) `POST /` with JSON. Timings are those of the request that produced audio.
 */
export function createPiperEngine(config: EngineConfigOf<"piper">, context: EngineContext): Engine {
  const timeoutMs = engineTimeoutMs(config, context);
  const voice = config.voice ?? "default";
  const where = `engine ${config.name} (piper ${config.url})`;
  let dialect: PiperDialect | undefined;

  const requestFor = (d: PiperDialect, text: string, used: string | undefined) => {
    const json = JSON.stringify({ text, ...(used === undefined ? {} : { voice: used }) });
    if (d === "root-text") {
      return { url: endpoint(config.url, ""), body: text, type: "text/plain; charset=utf-8" };
    }
    return {
      url: endpoint(config.url, d === "synthesize" ? "synthesize" : ""),
      body: json,
      type: "application/json",
    };
  };

  return {
    name: config.name,
    type: "piper",
    voice,
    async synthesize(request: SynthesisRequest): Promise<SynthesisResult> {
      const signal = withDeadline(request.signal, timeoutMs);
      throwIfAborted(signal, where);
      const used = request.voice ?? config.voice;
      const auth = await authHeaders(config.auth_header, context.env, where);
      const attempt = (d: PiperDialect) => {
        const r = requestFor(d, request.text, used);
        const call: HttpAudioRequest = {
          url: r.url,
          method: "POST",
          headers: { "Content-Type": r.type, Accept: "audio/wav, */*", ...auth },
          body: r.body,
          signal,
          where,
          expect: { kind: "wav" },
          ...(request.onChunk && { onChunk: request.onChunk }),
        };
        return fetchAudio(call);
      };
      const rejectedBy = (error: unknown, statuses: readonly number[]) =>
        error instanceof EngineError &&
        error.reason === "http_status" &&
        statuses.includes(error.status ?? 0);

      if (dialect !== undefined) {
        return { ...(await attempt(dialect)), voice: used ?? voice };
      }
      const order: Array<[PiperDialect, readonly number[]]> = [
        ["synthesize", [404, 405]],
        ["root-text", [400, 415, 500]],
        ["root-json", []],
      ];
      let lastError: unknown;
      for (const [d, fallThrough] of order) {
        try {
          const response = await attempt(d);
          dialect = d;
          return { ...response, voice: used ?? voice };
        } catch (error) {
          if (!rejectedBy(error, fallThrough)) throw error;
          lastError = error;
        }
      }
      throw lastError;
    },
  };
}
