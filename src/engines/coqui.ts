import { type EngineConfigOf, type EngineContext, engineTimeoutMs } from "./context.ts";
import { throwIfAborted, withDeadline } from "./errors.ts";
import { authHeaders, fetchAudio } from "./http.ts";
import type { Engine, SynthesisRequest, SynthesisResult } from "./types.ts";

/** Joins a base URL and a path without losing a base path (`http://h/tts` + `api/tts`). */
export function endpoint(base: string, path: string): URL {
  return new URL(path.replace(/^\//, ""), base.endsWith("/") ? base : `${base}/`);
}

/**
 * Coqui TTS's demo server (`tts-server`, coqui-ai/TTS and idiap/coqui-ai-TTS):
 * `GET /api/tts?text=...&speaker_id=...&language_id=...` answers a WAV. `voice`, when set, is sent
 * as the speaker (multi-speaker models); keys not configured are left out, so the server's defaults apply.
 */
export function createCoquiEngine(config: EngineConfigOf<"coqui">, context: EngineContext): Engine {
  const timeoutMs = engineTimeoutMs(config, context);
  const voice = config.voice ?? config.speaker_id ?? "default";
  const where = `engine ${config.name} (coqui ${config.url})`;
  return {
    name: config.name,
    type: "coqui",
    voice,
    async synthesize(request: SynthesisRequest): Promise<SynthesisResult> {
      const signal = withDeadline(request.signal, timeoutMs);
      throwIfAborted(signal, where);
      const url = endpoint(config.url, "api/tts");
      url.searchParams.set("text", request.text);
      const speaker = request.voice ?? config.voice ?? config.speaker_id;
      // Only what is configured: coqui-ai's server reads an absent key as "", but the maintained
      // fork (idiap/coqui-ai-TTS) falls back to its --speaker_idx / --language_idx for an absent
      // key and to none at all for an empty one, which a multi-speaker or multilingual model refuses.
      if (speaker) url.searchParams.set("speaker_id", speaker);
      if (config.language_id) url.searchParams.set("language_id", config.language_id);
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
      return { ...response, voice: request.voice ?? voice };
    },
  };
}
