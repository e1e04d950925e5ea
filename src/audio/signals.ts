// Deterministic test signals (seeded PRNG, tones, white noise at a stated SNR). Used by the tests
// and the benchmark so every run sees exactly the same samples.

import { seededRandom } from "../util/random.ts";

export { seededRandom };

/** Standard normal deviates by Box-Muller. */
export function gaussian(rng: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

export function sine(freq: number, rate: number, seconds: number, amplitude = 0.5, phase = 0): Float32Array {
  const n = Math.round(rate * seconds);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = amplitude * Math.sin((2 * Math.PI * freq * i) / rate + phase);
  return out;
}

export function power(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] ?? 0) ** 2;
  return x.length > 0 ? s / x.length : 0;
}

/**
 * Adds white Gaussian noise so that power(signal) / power(noise) = snrDb, both powers taken over
 * the whole signal (the convention of the SNR tests and of WADA-SNR).
 */
export function addWhiteNoise(signal: Float32Array, snrDb: number, seed: number): Float32Array {
  const g = gaussian(seededRandom(seed));
  const sigma = Math.sqrt(power(signal) / 10 ** (snrDb / 10));
  const out = new Float32Array(signal.length);
  for (let i = 0; i < signal.length; i++) out[i] = (signal[i] ?? 0) + sigma * g();
  return out;
}
