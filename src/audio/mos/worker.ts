// Worker side of MosScorer (a child process, started by fork with an IPC channel): decode,
// resample, run the models' ONNX sessions, one message at a time. The process runs at a low CPU
// priority (MOS_WORKER_NICE, its first argument) and onnxruntime gets one thread, so inference
// yields to the exporter's event loop and the analyser.
import { readdirSync, readFileSync } from "node:fs";
import { setPriority } from "node:os";
import { join } from "node:path";
import { decodeAudio, resample } from "../decode.ts";
import type { AudioFormat } from "../format.ts";
import { MOS_MIN_SECONDS, MOS_SILENCE_PEAK, MOS_WORKER_NICE } from "./limits.ts";
import type { MosSession } from "./model.ts";
import { MOS_MODELS, type MosModelName } from "./models.ts";

export interface MosRequest {
  id: number;
  bytes: Uint8Array;
  format: AudioFormat | undefined;
  models: MosModelName[];
  modelDir: string;
  maxWindows: number;
  /** Longer audio gets no value, decided before resampling (ingest.max_audio_seconds). */
  maxSeconds?: number;
}

export interface MosModelResult {
  model: MosModelName;
  values: Record<string, number>;
  windows: number;
  windowsAvailable: number;
  inferenceSeconds: number;
}

export type MosReply =
  | {
      id: number;
      ok: true;
      audioSeconds: number;
      results: MosModelResult[];
      /** Why a model gave no value: runtime or model file missing or unreadable (per model). */
      unavailable: Array<{ model: MosModelName; reason: string }>;
      /** Why this clip gets no value from any model (too short, silent). */
      absent?: string;
    }
  | { id: number; ok: false; decode: boolean; message: string };

{
  const arg = Number(process.argv[2]);
  const nice = Number.isInteger(arg) ? arg : MOS_WORKER_NICE;
  // On Linux a priority is per thread: this one, then every thread Node started before it (its
  // platform's and libuv's). Threads started later (onnxruntime's) inherit it from their creator.
  let tids: number[] = [];
  try {
    tids = readdirSync("/proc/self/task").map(Number);
  } catch {
    // no /proc: the calling thread only
  }
  for (const tid of [0, ...tids]) {
    try {
      setPriority(tid, nice);
    } catch {
      // not permitted or not supported: inference still runs, at normal priority
    }
  }
}

type Ort = typeof import("onnxruntime-node");
let ort: Promise<Ort> | undefined;
const sessions = new Map<string, Promise<MosSession>>();

async function session(model: MosModelName, modelDir: string): Promise<MosSession> {
  const file = join(modelDir, MOS_MODELS[model].file);
  const key = `${model}\0${file}`;
  let s = sessions.get(key);
  if (!s) {
    s = (async () => {
      ort ??= import("onnxruntime-node").catch((e: unknown) => {
        throw new Error(
          `onnxruntime-node is not installed (optional dependency): ${e instanceof Error ? e.message : String(e)}`,
        );
      });
      const rt = await ort;
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(file);
      } catch (e) {
        throw new Error(`model file ${file} unreadable: ${e instanceof Error ? e.message : String(e)}`);
      }
      const inner = await rt.InferenceSession.create(bytes, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: "sequential",
        executionProviders: ["cpu"],
        // One clip at a time, a few windows: no arena kept between runs (its peak stays resident).
        enableCpuMemArena: false,
        enableMemPattern: false,
      }).catch((e: unknown) => {
        throw new Error(
          `model file ${file} is not a valid ONNX model: ${e instanceof Error ? e.message : String(e)}`,
        );
      });
      return {
        async run(inputName, data, dims) {
          const out = await inner.run({ [inputName]: new rt.Tensor("float32", data, [...dims]) });
          const first = out[inner.outputNames[0] ?? ""];
          if (!first || !(first.data instanceof Float32Array)) throw new Error("model output is not float32");
          return first.data;
        },
        release: () => inner.release(),
      };
    })();
    sessions.set(key, s);
  }
  return s;
}

async function handle(req: MosRequest): Promise<MosReply> {
  let decoded: ReturnType<typeof decodeAudio>;
  try {
    decoded = decodeAudio(req.bytes, req.format);
  } catch (e) {
    return { id: req.id, ok: false, decode: true, message: e instanceof Error ? e.message : String(e) };
  }
  const base = { id: req.id, ok: true as const, audioSeconds: decoded.durationSeconds };
  if (decoded.durationSeconds < MOS_MIN_SECONDS)
    return { ...base, results: [], unavailable: [], absent: `audio shorter than ${MOS_MIN_SECONDS} s` };
  if (req.maxSeconds !== undefined && decoded.durationSeconds > req.maxSeconds)
    return { ...base, results: [], unavailable: [], absent: `audio longer than ${req.maxSeconds} s` };
  let peak = 0;
  for (const v of decoded.samples) peak = Math.max(peak, Math.abs(v));
  if (!(peak >= MOS_SILENCE_PEAK)) return { ...base, results: [], unavailable: [], absent: "silence" };
  const results: MosModelResult[] = [];
  const unavailable: Array<{ model: MosModelName; reason: string }> = [];
  for (const name of req.models) {
    const model = MOS_MODELS[name];
    let s: MosSession;
    try {
      s = await session(name, req.modelDir);
    } catch (e) {
      unavailable.push({ model: name, reason: e instanceof Error ? e.message : String(e) });
      continue;
    }
    const x = resample(decoded.samples, decoded.sampleRate, model.sampleRate);
    const start = performance.now();
    const r = await model.score(x, s, req.maxWindows);
    results.push({ model: name, ...r, inferenceSeconds: (performance.now() - start) / 1000 });
  }
  return { ...base, results, unavailable };
}

/** The parent is gone (killed, crashed): nothing is left to answer, so the process ends at once. */
process.on("disconnect", () => process.kill(process.pid, "SIGKILL"));

process.on("message", (req: MosRequest) => {
  void handle(req).then(
    (reply) => process.send?.(reply),
    (e: unknown) =>
      process.send?.({
        id: req.id,
        ok: false,
        decode: false,
        message: e instanceof Error ? e.message : String(e),
      } satisfies MosReply),
  );
});
