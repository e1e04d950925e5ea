// npm run fuzz [-- --inputs N --seed S]: feeds every parser (tests/fuzz/targets.ts) N inputs in
// all (default 1,000,000, shared by weight), in batches with their own seeds, and prints per target
// the inputs run, the failures (each shrunk to a small input), the slowest input and the heap after.
// Exit 1 when anything failed. Results of a run are recorded in docs/benchmarks.md.
import { parseArgs } from "node:util";
import { runTarget, TARGETS } from "../tests/fuzz/targets.ts";

const { values } = parseArgs({
  options: {
    inputs: { type: "string", default: "1000000" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    batch: { type: "string", default: "10000" },
  },
});
const total = Number(values.inputs);
const seed = Number(values.seed);
const batch = Number(values.batch);
const weights = TARGETS.reduce((s, t) => s + t.weight, 0);
const gc = (globalThis as { gc?: () => void }).gc;
const MAX_HEAP_GROWTH_BYTES = 64 * 1024 * 1024;

console.log(`fuzzing ${TARGETS.length} targets, ${total} inputs in all, seed ${seed}`);
let failures = 0;
let ran = 0;
const started = performance.now();
for (const [i, t] of TARGETS.entries()) {
  const want = Math.ceil((total * t.weight) / weights);
  const heapBefore = process.memoryUsage().heapUsed;
  let runs = 0;
  let slowest = 0;
  const found: string[] = [];
  const t0 = performance.now();
  for (let b = 0; runs < want; b++) {
    const n = Math.min(batch, want - runs);
    const outcome = runTarget(t, n, seed + i * 100_003 + b);
    runs += outcome.runs;
    slowest = Math.max(slowest, outcome.slowestMs);
    if (outcome.failure !== undefined) {
      found.push(outcome.failure);
      // Enough to fix: the same bug found again is noise.
      if (found.length >= 5) break;
    }
  }
  gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  // Bounded memory: what a target leaves on the heap after a GC is its parsers' leak.
  if (gc && heapAfter - heapBefore > MAX_HEAP_GROWTH_BYTES)
    found.push(`heap grew by ${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB over ${runs} inputs`);
  ran += runs;
  failures += found.length;
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `${t.name.padEnd(36)} ${String(runs).padStart(8)} inputs  ${String(found.length).padStart(2)} failures  ` +
      `${Math.round(runs / seconds)
        .toString()
        .padStart(
          7,
        )}/s  slowest ${slowest.toFixed(1)} ms  heap ${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB`,
  );
  for (const f of found) console.log(`    FAIL ${f.slice(0, 600)}`);
}
const rss = process.memoryUsage().rss / 1e6;
console.log(
  `total ${ran} inputs, ${failures} failures, ${((performance.now() - started) / 1000).toFixed(0)} s, peak-ish RSS ${rss.toFixed(0)} MB`,
);
process.exit(failures > 0 ? 1 : 0);
