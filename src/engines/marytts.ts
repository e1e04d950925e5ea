import { type EngineConfigOf, type EngineContext, engineTimeoutMs } from "./context.ts";
import { endpoint } from "./coqui.ts";
import { throwIfAborted, withDeadline } from "./errors.ts";
import { authHeaders, fetchAudio } from "./http.ts";
import type { Engine, SynthesisRequest, SynthesisResult } from "./types.ts";

/**
 * MaryTTS's HTTP interface: `GET /process?INPUT_TEXT=...&INPUT_TYPE=TEXT&OUTPUT_TYPE=AUDIO
 * &AUDIO=WAVE_FILE&LOCALE=...&VOICE=...` answers a WAV (an error is a 500 with a text page).
 */
export function createMaryTtsEngine(config: EngineConfigOf<"marytts">, context: EngineContext): Engine {
  const timeoutMs = engineTimeoutMs(config, context);
  const voice = config.voice ?? "default";
  const where = `engine ${config.name} (marytts ${config.url})`;
  return {
    name: config.name,
    type: "marytts",
    voice,
    async synthesize(request: SynthesisRequest): Promise<SynthesisResult> {
      const signal = withDeadline(request.signal, timeoutMs);
      throwIfAborted(signal, where);
      const url = endpoint(config.url, "process");
      const params = url.searchParams;
      params.set("INPUT_TEXT", request.text);
      params.set("INPUT_TYPE", "TEXT");
      params.set("OUTPUT_TYPE", "AUDIO");
      params.set("AUDIO", "WAVE_FILE");
      params.set("LOCALE", config.locale);
      const used = request.voice ?? config.voice;
      // Without VOICE the server picks its default voice for the locale.
      if (used !== undefined) params.set("VOICE", used);
      const headers = {
        Accept: "audio/wav, */*",
        ...(await authHeaders(config.auth_header, context.env, where)),
      };
      const response = await fetchAudio({
        url,
        method: "GET",
        headers,
        signal,
        where,
        ...(request.onChunk && { onChunk: request.onChunk }),
        expect: { kind: "wav" },
      });
      return { ...response, voice: used ?? voice };
    },
  };
}
