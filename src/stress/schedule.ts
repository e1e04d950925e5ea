/** The load plan: which rates, for how long, with which arrivals. Parsers throw PlanError naming the argument. */

import { seededRandom } from "../util/random.ts";

/** Poisson arrivals are the same from run to run for one seed. */
export { seededRandom };

export class PlanError extends Error {
  override readonly name = "PlanError";
}

/** Most steps a ramp may make: a ramp that needs more never ends in practice. */
export const MAX_STEPS = 64;

/** `30s`, `500ms`, `2m`, `1h`; a bare number is seconds. */
export function parseDuration(text: string, argument: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new PlanError(`${argument} ${JSON.stringify(text)} is not a duration (e.g. 30s, 500ms, 2m)`);
  const n = Number(m[1]);
  const ms = n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
  if (!Number.isFinite(ms)) throw new PlanError(`${argument} ${JSON.stringify(text)} is too large`);
  return ms;
}

function positiveRate(text: string, argument: string): number {
  const t = text.trim();
  const n = /^[0-9]*\.?[0-9]+$/.test(t) ? Number(t) : Number.NaN;
  if (!(n > 0) || !Number.isFinite(n))
    throw new PlanError(
      `${argument}: ${JSON.stringify(text)} is not a positive number of requests per second`,
    );
  return n;
}

/** `1,2,4,8`: requests per second, in the order given. */
export function parseRates(text: string): number[] {
  const parts = text.split(",");
  if (parts.length > MAX_STEPS)
    throw new PlanError(`--rates: at most ${MAX_STEPS} steps, got ${parts.length}`);
  return parts.map((p) => positiveRate(p, "--rates"));
}

/** `1:32:x2` (multiply) or `5:50:+5` (add): from `from` up to and including `to`, never past it. */
export function parseRamp(text: string): number[] {
  const m = /^([^:]+):([^:]+):([x+])([^:]+)$/.exec(text.trim());
  if (!m)
    throw new PlanError(`--ramp ${JSON.stringify(text)} is not from:to:xK or from:to:+K (e.g. 1:32:x2)`);
  const from = positiveRate(m[1] ?? "", "--ramp from");
  const to = positiveRate(m[2] ?? "", "--ramp to");
  const kind = m[3];
  const k = positiveRate(m[4] ?? "", "--ramp step");
  if (to < from)
    throw new PlanError(
      `--ramp ${JSON.stringify(text)}: it goes up, so "to" (${to}) must be ≥ "from" (${from})`,
    );
  if (kind === "x" && k <= 1 && to > from)
    throw new PlanError(
      `--ramp ${JSON.stringify(text)}: a factor of ${k} never reaches ${to}; use a factor above 1`,
    );
  const rates: number[] = [];
  // Rounded to 1e-9 so that 0.1+0.2-style drift does not add or lose the last step.
  for (let r = from; r <= to * (1 + 1e-9); r = kind === "x" ? r * k : r + k) {
    rates.push(Math.round(r * 1e9) / 1e9);
    if (rates.length > MAX_STEPS)
      throw new PlanError(
        `--ramp ${JSON.stringify(text)} makes more than ${MAX_STEPS} steps; take a larger step`,
      );
  }
  return rates;
}

/** Integer list for `--concurrency 1,2,4,8` (closed model). */
export function parseConcurrency(text: string): number[] {
  const parts = text.split(",");
  if (parts.length > MAX_STEPS) throw new PlanError(`--concurrency: at most ${MAX_STEPS} steps`);
  return parts.map((p) => {
    const t = p.trim();
    const n = /^[0-9]+$/.test(t) ? Number(t) : Number.NaN;
    if (!(n >= 1 && n <= 10_000))
      throw new PlanError(
        `--concurrency: ${JSON.stringify(p)} is not a whole number of workers from 1 to 10000`,
      );
    return n;
  });
}

export type Arrival = "constant" | "poisson";

/**
 * Intended send times (ms from the step's start) at `rate` per second: evenly spaced, or a Poisson
 * process (exponential gaps of mean 1/rate). Open model: they do not depend on the answers.
 */
export function* arrivals(rate: number, arrival: Arrival, random: () => number): Generator<number> {
  const mean = 1000 / rate;
  if (arrival === "constant") {
    for (let i = 0; ; i++) yield i * mean;
  }
  let t = 0;
  for (;;) {
    yield t;
    t += -Math.log(1 - random()) * mean;
  }
}
