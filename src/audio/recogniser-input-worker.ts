// Worker side of the recogniser's input: resampling to 16 kHz, the noise floor and the WAV file are
// work in proportion to the audio, so they run here and not on the exporter's event loop.
import { writeFileSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { encodeWav16, resample } from "./decode.ts";
import { conditionForRecogniser, RECOGNISER_RATE } from "./intelligibility.ts";

export interface RecogniserInputRequest {
  readonly id: number;
  readonly samples: Float32Array;
  readonly sampleRate: number;
  /** Where the 16 kHz 16-bit WAV goes. */
  readonly path: string;
}

parentPort?.on("message", (req: RecogniserInputRequest) => {
  try {
    const x = conditionForRecogniser(resample(req.samples, req.sampleRate, RECOGNISER_RATE));
    writeFileSync(req.path, encodeWav16(x, RECOGNISER_RATE));
    parentPort?.postMessage({ id: req.id, ok: true });
  } catch (e) {
    parentPort?.postMessage({ id: req.id, ok: false, message: e instanceof Error ? e.message : String(e) });
  }
});
