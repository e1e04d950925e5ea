// Tone analysis (IEEE 1241 style): SINAD and THD from one Blackman-Harris windowed FFT.
// Meaningful for periodic test signals, not for speech (analyzeAudio only reports them when the
// spectrum is dominated by one harmonic series).

import { blackmanHarris, powerSpectrum } from "./fft.ts";

const LOBE = 5; // Blackman-Harris main lobe is ±4 bins; one more for the tone's leakage skirt.
const DC_BINS = 6;
const MAX_FFT = 1 << 17;

export interface ToneAnalysis {
  /** Fundamental frequency (Hz), interpolated between bins. */
  fundamentalHz: number;
  /** Fundamental power / power of everything else except DC (noise + distortion), in dB. */
  sinadDb: number;
  /** sqrt(Σ harmonic powers, h = 2..Nyquist) / sqrt(fundamental power). */
  thd: number;
  /** Share of the (non-DC) power in the fundamental and its harmonics, 0-1. */
  harmonicShare: number;
}

function bandPower(spec: Float64Array, centre: number): number {
  let s = 0;
  const lo = Math.max(0, centre - LOBE);
  const hi = Math.min(spec.length - 1, centre + LOBE);
  for (let k = lo; k <= hi; k++) s += spec[k] ?? 0;
  return s;
}

/** Largest bin within ±radius of k. */
function localPeak(spec: Float64Array, k: number, radius: number): number {
  let best = k;
  let bestV = -1;
  for (let j = Math.max(0, k - radius); j <= Math.min(spec.length - 1, k + radius); j++) {
    const v = spec[j] ?? 0;
    if (v > bestV) {
      bestV = v;
      best = j;
    }
  }
  return best;
}

export function toneAnalysis(x: Float32Array, rate: number): ToneAnalysis | undefined {
  // The largest power of two that fits: no zero padding, so the noise floor is not smeared.
  let size = 1;
  while (size * 2 <= Math.min(x.length, MAX_FFT)) size *= 2;
  if (size < 1024) return undefined;
  const offset = Math.floor((x.length - size) / 2);
  const w = blackmanHarris(size);
  const frame = new Float64Array(size);
  let mean = 0;
  for (let i = 0; i < size; i++) mean += x[offset + i] ?? 0;
  mean /= size;
  for (let i = 0; i < size; i++) frame[i] = ((x[offset + i] ?? 0) - mean) * (w[i] ?? 0);
  const spec = powerSpectrum(frame, size);
  let total = 0;
  for (let k = DC_BINS; k < spec.length; k++) total += spec[k] ?? 0;
  if (!(total > 0)) return undefined;
  let k0 = DC_BINS;
  for (let k = DC_BINS; k < spec.length; k++) if ((spec[k] ?? 0) > (spec[k0] ?? 0)) k0 = k;
  // Parabolic interpolation on log power locates the fundamental between bins.
  const a = Math.log((spec[k0 - 1] ?? 1e-300) + 1e-300);
  const b = Math.log((spec[k0] ?? 1e-300) + 1e-300);
  const c = Math.log((spec[k0 + 1] ?? 1e-300) + 1e-300);
  const denom = a - 2 * b + c;
  const delta = denom !== 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / denom)) : 0;
  const f0Bins = k0 + delta;
  // The second harmonic must fall clear of the fundamental's lobe, or THD would read 0 for any
  // distortion: a tone of fewer than ~11 bins (123 Hz in 0.1 s) cannot be analysed at this length.
  if (2 * f0Bins < spec.length - LOBE && f0Bins <= 2 * LOBE + 2) return undefined;
  const fundamental = bandPower(spec, k0);
  let harmonics = 0;
  let lastHarmonicBin = k0;
  for (let h = 2; h * f0Bins < spec.length - LOBE; h++) {
    const kh = localPeak(spec, Math.round(h * f0Bins), 2);
    // Stop when lobes would overlap (fundamental too low for this resolution).
    if (kh - lastHarmonicBin <= 2 * LOBE) break;
    harmonics += bandPower(spec, kh);
    lastHarmonicBin = kh;
  }
  const rest = Math.max(total - fundamental, 1e-300);
  return {
    fundamentalHz: (f0Bins * rate) / size,
    sinadDb: 10 * Math.log10(fundamental / rest),
    thd: Math.sqrt(harmonics / fundamental),
    harmonicShare: Math.min(1, (fundamental + harmonics) / total),
  };
}
