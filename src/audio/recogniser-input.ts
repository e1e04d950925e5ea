// RecogniserInput: writes the recogniser's 16 kHz WAV from decoded samples in a worker thread (one
// at a time, FIFO), so a long clip never holds the event loop that answers scrapes.

import { Worker } from "node:worker_threads";
import { workerUrl } from "../util/worker-url.ts";

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class RecogniserInput {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(workerUrl("recogniser-input-worker", import.meta.url));
    worker.on("message", (reply: { id: number; ok: boolean; message?: string }) => {
      const p = this.#pending.get(reply.id);
      if (!p) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if (reply.ok) p.resolve();
      else p.reject(new Error(`recogniser input failed: ${reply.message ?? "unknown error"}`));
    });
    const failAll = (err: Error) => {
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      this.#worker = undefined;
    };
    worker.on("error", (err) => failAll(new Error("recogniser input worker crashed", { cause: err })));
    worker.on("exit", (code) => {
      if (this.#pending.size > 0) failAll(new Error(`recogniser input worker exited with code ${code}`));
      this.#worker = undefined;
    });
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  /**
   * Writes the conditioned 16 kHz WAV of the samples to path. transfer: hand the samples' buffer to
   * the worker (the caller's array is emptied) instead of copying it.
   */
  write(samples: Float32Array, sampleRate: number, path: string, transfer = false): Promise<void> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      const owned = transfer && samples.byteOffset === 0 && samples.byteLength === samples.buffer.byteLength;
      const message = { id, samples, sampleRate, path };
      if (owned) worker.postMessage(message, [samples.buffer as ArrayBuffer]);
      else worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    for (const p of this.#pending.values()) p.reject(new Error("recogniser input closed"));
    this.#pending.clear();
    if (worker) await worker.terminate();
  }
}
