// Worker side of AudioAnalyzer: decode + analyse, one message at a time.
import { parentPort } from "node:worker_threads";
import { lowerThisThreadPriority } from "../util/thread-priority.ts";
import { analyzeAudio } from "./analyze.ts";
import { AudioDecodeError, decodeAudio } from "./decode.ts";
import type { AudioFormat } from "./format.ts";

lowerThisThreadPriority();

export interface AnalyzeRequest {
  id: number;
  bytes: Uint8Array;
  format: AudioFormat | undefined;
  text: string | undefined;
  /** Longer audio is refused after decoding, before any analysis (ingest.max_audio_seconds). */
  maxSeconds?: number | undefined;
  /** Send the decoded samples back (transferred), for the recogniser. */
  keepSamples?: boolean | undefined;
}

parentPort?.on("message", (req: AnalyzeRequest) => {
  try {
    const decoded = decodeAudio(req.bytes, req.format);
    if (req.maxSeconds !== undefined && decoded.durationSeconds > req.maxSeconds) {
      parentPort?.postMessage({
        id: req.id,
        ok: false,
        name: "AudioTooLongError",
        message: `audio is ${decoded.durationSeconds.toFixed(1)} s long, over the ${req.maxSeconds} s limit`,
        reason: "too_long",
      });
      return;
    }
    const analysis = analyzeAudio(decoded, req.text !== undefined ? { text: req.text } : {});
    const samples = req.keepSamples ? decoded.samples : undefined;
    parentPort?.postMessage(
      {
        id: req.id,
        ok: true,
        decoded: {
          sampleRate: decoded.sampleRate,
          channels: decoded.channels,
          durationSeconds: decoded.durationSeconds,
          ...(samples && { samples }),
        },
        analysis,
      },
      samples && samples.byteOffset === 0 && samples.byteLength === samples.buffer.byteLength
        ? [samples.buffer as ArrayBuffer]
        : [],
    );
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    parentPort?.postMessage({
      id: req.id,
      ok: false,
      name: err.name,
      message: err.message,
      reason: e instanceof AudioDecodeError ? e.reason : err.message,
    });
  }
});
