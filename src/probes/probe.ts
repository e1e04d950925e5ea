import { decodeAudio } from "../audio/decode.ts";
import type { AudioFormat, DecodedAudio } from "../audio/format.ts";
import { chunkStats } from "../engines/chunk-stats.ts";
import { type Engine, EngineError, type FailureReason } from "../engines/types.ts";
import { countCharacters, countWords } from "../ingest/event.ts";
import { timedOut, withTimeout } from "../util/signals.ts";

/** One synthesis probe's outcome: timings relative to the request start, and the decoded audio. */
export interface ProbeResult {
  readonly engine: string;
  readonly voice: string;
  readonly text: string;
  readonly characters: number;
  readonly words: number;
  readonly success: boolean;
  readonly reason?: FailureReason;
  readonly error?: string;
  /** Request start → last audio byte. */
  readonly latencyMs?: number;
  /** Request start → first byte of the response. */
  readonly firstByteMs?: number;
  /** Request start → first audio sample. */
  readonly ttfaMs?: number;
  readonly audioDurationMs?: number;
  /** Gaps between the answer's audio chunks, ms (streaming engines; absent below two chunks). */
  readonly chunkGapsMs?: readonly number[];
  /** Wall time of the whole probe, decoding included. */
  readonly durationMs: number;
  readonly finishedAt: number;
  readonly audio?: { readonly bytes: Uint8Array; readonly format: AudioFormat };
  readonly decoded?: DecodedAudio;
}

/** Runs one synthesis with a deadline and turns every failure into a bounded reason. Never throws. */
export async function runProbe(
  engine: Engine,
  text: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const started = performance.now();
  // Not AbortSignal.any(): on Node 20 it leaks into the monitor's lifetime signal (util/signals.ts).
  const combined = withTimeout(signal, timeoutMs);
  const base = {
    engine: engine.name,
    voice: engine.voice,
    text,
    characters: countCharacters(text),
    words: countWords(text),
  };
  const failed = (reason: FailureReason, error: string, extra: Partial<ProbeResult> = {}): ProbeResult => ({
    ...base,
    ...extra,
    success: false,
    reason,
    error,
    durationMs: performance.now() - started,
    finishedAt: Date.now(),
  });
  try {
    const result = await engine.synthesize({ text, signal: combined });
    const t = result.timings;
    const { gapsMs } = chunkStats(t);
    const timing = {
      voice: result.voice,
      latencyMs: t.end - t.start,
      ...(t.firstByte !== undefined && { firstByteMs: t.firstByte - t.start }),
      ...(t.firstAudio !== undefined && { ttfaMs: t.firstAudio - t.start }),
      ...(gapsMs.length > 0 && { chunkGapsMs: gapsMs }),
    };
    if (result.audio.length === 0)
      return failed("empty_audio", `${engine.name}: no audio in the response`, timing);
    let decoded: DecodedAudio;
    try {
      decoded = decodeAudio(result.audio, result.format);
    } catch (err) {
      return failed(
        "bad_audio",
        `${engine.name}: ${err instanceof Error ? err.message : String(err)}`,
        timing,
      );
    }
    if (decoded.samples.length === 0)
      return failed("empty_audio", `${engine.name}: the audio holds no samples`, timing);
    return {
      ...base,
      ...timing,
      success: true,
      audioDurationMs: decoded.durationSeconds * 1000,
      durationMs: performance.now() - started,
      finishedAt: Date.now(),
      audio: { bytes: result.audio, format: result.format },
      decoded,
    };
  } catch (err) {
    if (err instanceof EngineError) return failed(err.reason, err.message);
    if (timedOut(combined)) return failed("timeout", `${engine.name}: no answer within ${timeoutMs} ms`);
    return failed("other", `${engine.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
