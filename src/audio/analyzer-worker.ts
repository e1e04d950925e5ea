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
}

parentPort?.on("message", (req: AnalyzeRequest) => {
  try {
    const decoded = decodeAudio(req.bytes, req.format);
    const analysis = analyzeAudio(decoded, req.text !== undefined ? { text: req.text } : {});
    parentPort?.postMessage({
      id: req.id,
      ok: true,
      decoded: {
        sampleRate: decoded.sampleRate,
        channels: decoded.channels,
        durationSeconds: decoded.durationSeconds,
      },
      analysis,
    });
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
