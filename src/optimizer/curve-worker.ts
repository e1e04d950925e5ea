import { parentPort } from "node:worker_threads";
import { type CacheTargetInput, cacheTarget } from "./levers/cache.ts";

// The auto-optimiser's miss-ratio curve, off the gateway's event loop (src/optimizer/curve-runner.ts).
parentPort?.on("message", (m: { readonly id: number; readonly input: CacheTargetInput }) => {
  try {
    parentPort?.postMessage({ id: m.id, ok: true, result: cacheTarget(m.input) });
  } catch (err) {
    parentPort?.postMessage({ id: m.id, ok: false, message: (err as Error).message });
  }
});
