// AudioAnalyzer: decode + analysis off the event loop, in one worker thread with a FIFO queue.
// A scrape or an HTTP request never waits on an FFT.

import { Worker } from "node:worker_threads";
import { workerUrl } from "../util/worker-url.ts";
import type { AudioAnalysis } from "./analyze.ts";
import { AudioDecodeError } from "./decode.ts";
import type { AudioFormat } from "./format.ts";

export interface AnalyzerResult {
  /** samples: only when asked for (keepSamples). */
  decoded: { sampleRate: number; channels: number; durationSeconds: number; samples?: Float32Array };
  analysis: AudioAnalysis;
}

/** The analysis worker crashed or exited with requests pending (the next request starts a fresh one). */
export class AnalysisWorkerError extends Error {
  override readonly name = "AnalysisWorkerError";
}

type Reply =
  | ({ id: number; ok: true } & AnalyzerResult)
  | { id: number; ok: false; name: string; message: string; reason: string };

/** The audio is longer than the caller's limit (maxSeconds); nothing was analysed. */
export class AudioTooLongError extends Error {
  override readonly name = "AudioTooLongError";
}

interface Pending {
  resolve: (r: AnalyzerResult) => void;
  reject: (e: Error) => void;
}

export interface AudioAnalyzerOptions {
  /** The worker script (default ./analyzer-worker.mjs; the fault tests run one that crashes). */
  readonly workerUrl?: URL;
}

export class AudioAnalyzer {
  readonly #workerUrl: URL;
  #worker: Worker | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  constructor(options: AudioAnalyzerOptions = {}) {
    this.#workerUrl = options.workerUrl ?? workerUrl("analyzer-worker", import.meta.url);
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(this.#workerUrl);
    worker.on("message", (reply: Reply) => {
      const p = this.#pending.get(reply.id);
      if (!p) return;
      this.#pending.delete(reply.id);
      if (reply.ok) p.resolve({ decoded: reply.decoded, analysis: reply.analysis });
      else if (reply.name === "AudioDecodeError") p.reject(new AudioDecodeError(reply.reason));
      else if (reply.name === "AudioTooLongError") p.reject(new AudioTooLongError(reply.message));
      else p.reject(new Error(`audio analysis failed: ${reply.message}`));
    });
    const failAll = (err: Error) => {
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      this.#worker = undefined; // the next call starts a fresh worker
    };
    worker.on("error", (err) =>
      failAll(new AnalysisWorkerError("audio analysis worker crashed", { cause: err })),
    );
    worker.on("exit", (code) => {
      if (this.#pending.size > 0)
        failAll(new AnalysisWorkerError(`audio analysis worker exited with code ${code}`));
      this.#worker = undefined;
    });
    // Idle worker must not keep the process alive; a pending request re-refs it.
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  analyze(
    bytes: Uint8Array,
    format: AudioFormat | undefined,
    options: { text?: string; maxSeconds?: number; keepSamples?: boolean },
  ): Promise<AnalyzerResult> {
    if (this.#closed) return Promise.reject(new Error("AudioAnalyzer is closed"));
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise<AnalyzerResult>((resolve, reject) => {
      this.#pending.set(id, {
        resolve: (r) => {
          if (this.#pending.size === 0) worker.unref();
          resolve(r);
        },
        reject: (e) => {
          if (this.#pending.size === 0) worker.unref();
          reject(e);
        },
      });
      worker.ref();
      // Copy: the caller keeps its buffer; messages are queued and handled in order by the worker.
      worker.postMessage({
        id,
        bytes: bytes.slice(),
        format,
        text: options.text,
        maxSeconds: options.maxSeconds,
        keepSamples: options.keepSamples,
      });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    for (const p of this.#pending.values()) p.reject(new Error("AudioAnalyzer closed"));
    this.#pending.clear();
    if (worker) await worker.terminate();
  }
}
