import { Worker } from "node:worker_threads";
import { workerUrl } from "../util/worker-url.ts";
import type { CacheTarget, CacheTargetInput } from "./levers/cache.ts";

type Reply =
  | { readonly id: number; readonly ok: true; readonly result: CacheTarget }
  | { readonly id: number; readonly ok: false; readonly message: string };

/**
 * One worker thread computing the auto-optimiser's curves: a round over 100,000 trace entries takes
 * from a tenth of a second to over a second of CPU, which the gateway's requests must not wait behind.
 * Started on first use, unref'd (it never keeps the process alive), closed with the optimiser.
 */
export class CurveWorker {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (r: CacheTarget) => void; reject: (e: Error) => void }>();

  run(input: CacheTargetInput): Promise<CacheTarget> {
    const worker = this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, input });
    });
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(workerUrl("curve-worker", import.meta.url));
    worker.unref();
    worker.on("message", (r: Reply) => {
      const p = this.#pending.get(r.id);
      if (!p) return;
      this.#pending.delete(r.id);
      if (r.ok) p.resolve(r.result);
      else p.reject(new Error(`miss-ratio curve failed: ${r.message}`));
    });
    const failAll = (err: Error) => {
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      this.#worker = undefined;
    };
    worker.on("error", failAll);
    worker.on("exit", (code) => failAll(new Error(`the curve worker exited (code ${code})`)));
    this.#worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    await w?.terminate();
  }
}
