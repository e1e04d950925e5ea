// Mains hum: steady lines at 50 or 60 Hz and their first harmonics, heard most in the pauses.
// The clip at 1 kHz, frames of 256 ms (Hann, 3.9 Hz bins); in each, the power of each line (±1 bin around k·mains)
// above the median of its neighbourhood (10-30 Hz away). A hum is there all the time, speech
// harmonics only sometimes on a line: the hum's power is the 10th percentile over frames of the
// summed line power, against the mean power of the clip.

import { resample } from "./decode.ts";
import { hann, nextPow2, powerSpectrum } from "./fft.ts";

const MAINS_HZ = [50, 60] as const;
const HARMONICS = 4;
const FRAME_SECONDS = 0.25;
const PERCENTILE = 0.1;

export interface Hum {
  /** The mains frequency of the stronger line series. */
  mainsHz: number;
  /** Hum power over the clip's mean power, dB (−100 when none). */
  humDb: number;
}

/** The lines and their neighbourhoods lie below 300 Hz: the spectrum is taken at 1 kHz. */
const LINE_RATE = 1000;

/**
 * To 1 kHz in two steps: block means of m samples down to about 4 kHz (a boxcar: it passes the
 * lines, and what folds onto them from around 4 kHz is weak in speech and attenuated), then the
 * windowed-sinc resampler: a fifth of the cost of resampling in one go.
 */
function decimate(x: Float32Array, rate: number): Float32Array {
  const m = Math.floor(rate / (4 * LINE_RATE));
  if (m < 2) return rate === LINE_RATE ? x : resample(x, rate, LINE_RATE);
  const y = new Float32Array(Math.floor(x.length / m));
  for (let i = 0; i < y.length; i++) {
    let sum = 0;
    for (let j = i * m; j < (i + 1) * m; j++) sum += x[j] ?? 0;
    y[i] = sum / m;
  }
  return resample(y, rate / m, LINE_RATE);
}

export function detectHum(input: Float32Array, inputRate: number): Hum | undefined {
  if (inputRate < LINE_RATE || input.length < inputRate * FRAME_SECONDS) return undefined;
  const x = decimate(input, inputRate);
  const rate = LINE_RATE;
  const size = nextPow2(Math.round(rate * FRAME_SECONDS));
  if (x.length < size) return undefined;
  const w = hann(size);
  let wPower = 0;
  for (let i = 0; i < size; i++) wPower += (w[i] ?? 0) ** 2;
  const frame = new Float64Array(size);
  const spec = new Float64Array(size / 2 + 1);
  const binHz = rate / size;
  const lines = new Map<number, number[]>(MAINS_HZ.map((m) => [m, []]));
  for (let t = 0; t + size <= x.length; t += size / 2) {
    for (let i = 0; i < size; i++) frame[i] = (x[t + i] ?? 0) * (w[i] ?? 0);
    powerSpectrum(frame, size, spec);
    for (const mains of MAINS_HZ) {
      let line = 0;
      for (let h = 1; h <= HARMONICS; h++) {
        const k0 = Math.round((mains * h) / binHz);
        const around: number[] = [];
        for (let k = k0 - Math.ceil(30 / binHz); k <= k0 + Math.ceil(30 / binHz); k++)
          if (k > 0 && Math.abs(k - k0) * binHz >= 10) around.push(spec[k] ?? 0);
        around.sort((a, b) => a - b);
        const floor = around[Math.floor(around.length / 2)] ?? 0;
        for (let k = k0 - 1; k <= k0 + 1; k++) line += Math.max(0, (spec[k] ?? 0) - floor);
      }
      // Power per sample of the windowed frame: × 2 (one-sided) / (N · Σw²).
      lines.get(mains)?.push((2 * line) / (size * wPower));
    }
  }
  let total = 0;
  for (let i = 0; i < input.length; i++) total += (input[i] ?? 0) ** 2;
  total /= input.length;
  if (!(total > 0)) return undefined;
  let best: Hum = { mainsHz: MAINS_HZ[0], humDb: -100 };
  for (const [mainsHz, values] of lines) {
    values.sort((a, b) => a - b);
    const p = values[Math.floor(values.length * PERCENTILE)] ?? 0;
    const humDb = p > 0 ? Math.max(-100, 10 * Math.log10(p / total)) : -100;
    if (humDb > best.humDb) best = { mainsHz, humDb };
  }
  return best;
}
