import { type EngineConfigOf, type EngineContext, engineTimeoutMs } from "./context.ts";
import { throwIfAborted, withDeadline } from "./errors.ts";
import { authHeaders, fetchAudio, type PcmFormat } from "./http.ts";
import { type Engine, EngineError, type SynthesisRequest, type SynthesisResult } from "./types.ts";

// OpenAI and Kokoro-FastAPI send `pcm` as 24 kHz 16-bit mono little-endian without a header.
const OPENAI_PCM_RATE = 24_000;

/**
 * OpenAI's `POST /v1/audio/speech` and the servers that copy it (Kokoro-FastAPI, LocalAI,
 * openedai-speech): JSON `{model, input, voice, response_format}` in, audio bytes out.
 */
export function createOpenAiEngine(config: EngineConfigOf<"openai">, context: EngineContext): Engine {
  const timeoutMs = engineTimeoutMs(config, context);
  const url = new URL(config.url);
  const voice = config.voice ?? "alloy";
  const where = `engine ${config.name} (openai ${url.origin}${url.pathname})`;
  const fallback: PcmFormat = {
    kind: "pcm",
    sampleRate: config.sample_rate ?? OPENAI_PCM_RATE,
    channels: 1,
    encoding: "s16le",
  };
  return {
    name: config.name,
    type: "openai",
    voice,
    async synthesize(request: SynthesisRequest): Promise<SynthesisResult> {
      const signal = withDeadline(request.signal, timeoutMs);
      throwIfAborted(signal, where);
      const used = request.voice ?? voice;
      const headers: Record<string, string> = {
        "Content-Type": "application/json",
        Accept: config.response_format === "pcm" ? "audio/pcm, */*" : "audio/wav, */*",
        ...(await authHeaders(config.auth_header, context.env, where)),
      };
      if (config.api_key_env !== undefined) {
        const key = context.env[config.api_key_env];
        if (!key)
          throw new EngineError(`${where}: environment variable ${config.api_key_env} is not set`, "auth");
        headers.Authorization = `Bearer ${key}`;
      }
      const body = JSON.stringify({
        model: config.model,
        input: request.text,
        voice: used,
        response_format: config.response_format,
        ...(config.stream === undefined ? {} : { stream: config.stream }),
      });
      const response = await fetchAudio({
        url,
        method: "POST",
        headers,
        body,
        signal,
        where,
        ...(request.onChunk && { onChunk: request.onChunk }),
        expect: config.response_format === "pcm" ? { kind: "pcm", fallback } : { kind: "wav" },
      });
      return { audio: response.audio, format: response.format, timings: response.timings, voice: used };
    },
  };
}
