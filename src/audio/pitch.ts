// F0 by YIN (de Cheveigné & Kawahara, "YIN, a fundamental frequency estimator for speech and
// music", JASA 2002), steps 1-5: difference function (by FFT), cumulative mean normalisation,
// absolute threshold, parabolic interpolation. Then F0 statistics and the stability measures.

import { crossCorrelate, nextPow2 } from "./fft.ts";

export interface PitchOptions {
  minF0?: number;
  maxF0?: number;
  /** YIN absolute threshold on the normalised difference (paper: 0.10-0.15). */
  threshold?: number;
  hopSeconds?: number;
  /** Per-frame activity (1 = analyse) on `activityFrameSeconds` frames; silent frames are skipped. */
  active?: Uint8Array;
  activityFrameSeconds?: number;
}

export interface PitchTrack {
  hopSeconds: number;
  /** F0 per frame in Hz, 0 where unvoiced or silent. */
  f0: Float64Array;
  /** RMS per frame over the analysis window (for shimmer). */
  amplitude: Float64Array;
}

export function yinTrack(x: Float32Array, rate: number, options: PitchOptions = {}): PitchTrack {
  const minF0 = options.minF0 ?? 60;
  const maxF0 = options.maxF0 ?? 500;
  const threshold = options.threshold ?? 0.15;
  const hopSeconds = options.hopSeconds ?? 0.01;
  const hop = Math.max(1, Math.round(rate * hopSeconds));
  const tauMax = Math.ceil(rate / minF0);
  const tauMin = Math.max(2, Math.floor(rate / maxF0));
  const w = tauMax; // integration window: one longest period
  const size = nextPow2(w + tauMax + 1);
  const frames = Math.max(0, Math.floor((x.length - w - tauMax) / hop) + 1);
  const f0 = new Float64Array(frames);
  const amplitude = new Float64Array(frames);
  // Prefix sums of x² give each window's energy in O(1).
  const cum = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) cum[i + 1] = (cum[i] ?? 0) + (x[i] ?? 0) ** 2;
  const d = new Float64Array(tauMax + 1);
  const act = options.active;
  const actLen = options.activityFrameSeconds ?? 0.01;
  for (let f = 0; f < frames; f++) {
    const t = f * hop;
    const ea = (cum[t + w] ?? 0) - (cum[t] ?? 0);
    amplitude[f] = Math.sqrt(ea / w);
    if (act) {
      const centre = Math.floor((t + w / 2) / rate / actLen);
      if (!act[Math.min(act.length - 1, centre)]) continue;
    }
    if (ea <= 1e-12) continue;
    const a = x.subarray(t, t + w);
    const b = x.subarray(t, t + w + tauMax);
    const c = crossCorrelate(a, b, tauMax, size);
    d[0] = 0;
    let running = 0;
    let chosen = -1;
    for (let tau = 1; tau <= tauMax; tau++) {
      const eb = (cum[t + tau + w] ?? 0) - (cum[t + tau] ?? 0);
      // The FFT's rounding leaves ~1e-13 of the energies where the difference is exactly 0 (a
      // constant or DC signal): that residue must not look like a periodicity.
      const raw = ea + eb - 2 * (c[tau] ?? 0);
      const diff = raw > 1e-10 * (ea + eb) ? raw : 0;
      running += diff;
      d[tau] = running > 0 ? (diff * tau) / running : 1;
    }
    for (let tau = tauMin; tau <= tauMax; tau++) {
      if ((d[tau] ?? 1) < threshold) {
        while (tau + 1 <= tauMax && (d[tau + 1] ?? 1) < (d[tau] ?? 1)) tau++;
        chosen = tau;
        break;
      }
    }
    if (chosen < 0) continue;
    // A tone above maxF0 also dips at 2, 3, ... times its period, inside the range: YIN's own rule
    // (the first lag that dips) over all lags would pick the short period, so when a sub-multiple
    // of the chosen lag below tauMin fits about as well, the F0 is out of range: unvoiced, rather
    // than a sub-harmonic (a 1 kHz sine must not read 500 Hz).
    if (outOfRange(d, chosen, tauMin, threshold)) continue;
    let period = chosen;
    if (chosen > 1 && chosen < tauMax) {
      const p = d[chosen - 1] ?? 0;
      const q = d[chosen] ?? 0;
      const r = d[chosen + 1] ?? 0;
      const den = p - 2 * q + r;
      if (den > 0) period = chosen + (0.5 * (p - r)) / den;
    }
    f0[f] = rate / period;
  }
  return { hopSeconds: hop / rate, f0, amplitude };
}

/** Whether d′ dips at chosen/k (k ≥ 2, below tauMin) about as low as at chosen. */
function outOfRange(d: Float64Array, chosen: number, tauMin: number, threshold: number): boolean {
  const at = d[chosen] ?? 1;
  for (let k = 2; chosen / k >= 2; k++) {
    const t = chosen / k;
    if (t >= tauMin) continue;
    const lo = Math.max(1, Math.floor(t));
    const v = Math.min(d[lo] ?? 1, d[lo + 1] ?? 1);
    if (v < threshold && v <= at + 0.05) return true;
  }
  return false;
}

export interface PitchStats {
  f0MeanHz: number;
  /** Standard deviation of F0 in semitones around its geometric mean (intonation range). */
  f0SpreadSemitones: number;
  /** Frame-level relative average perturbation of the period (3-point, like Praat's RAP), 0-1. */
  jitter: number;
  /** Frame-level 3-point amplitude perturbation quotient (like Praat's APQ3), 0-1. */
  shimmer: number;
  voicedRatio: number;
  voicedFrames: number;
}

export function pitchStats(track: PitchTrack, analysedFrames?: number): PitchStats | undefined {
  const { f0, amplitude } = track;
  let n = 0;
  let sum = 0;
  let logSum = 0;
  for (const v of f0) {
    if (v > 0) {
      n++;
      sum += v;
      logSum += Math.log2(v);
    }
  }
  if (n < 3) return undefined;
  const logMean = logSum / n;
  let spread = 0;
  for (const v of f0) if (v > 0) spread += (12 * (Math.log2(v) - logMean)) ** 2;
  // 3-point perturbation over runs of consecutive voiced frames: removes the slow intonation
  // contour (a straight line between neighbours), leaving frame-to-frame irregularity.
  let jSum = 0;
  let pSum = 0;
  let sSum = 0;
  let aSum = 0;
  let triples = 0;
  for (let i = 1; i + 1 < f0.length; i++) {
    const a = f0[i - 1] ?? 0;
    const b = f0[i] ?? 0;
    const c = f0[i + 1] ?? 0;
    if (a <= 0 || b <= 0 || c <= 0) continue;
    const ta = 1 / a;
    const tb = 1 / b;
    const tc = 1 / c;
    jSum += Math.abs(tb - (ta + tb + tc) / 3);
    pSum += tb;
    const aa = amplitude[i - 1] ?? 0;
    const ab = amplitude[i] ?? 0;
    const ac = amplitude[i + 1] ?? 0;
    sSum += Math.abs(ab - (aa + ab + ac) / 3);
    aSum += ab;
    triples++;
  }
  return {
    f0MeanHz: sum / n,
    f0SpreadSemitones: Math.sqrt(spread / n),
    jitter: triples > 0 && pSum > 0 ? jSum / pSum : 0,
    shimmer: triples > 0 && aSum > 0 ? sSum / aSum : 0,
    voicedRatio: n / Math.max(1, analysedFrames ?? f0.length),
    voicedFrames: n,
  };
}
