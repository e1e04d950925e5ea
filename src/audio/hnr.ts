// Harmonics-to-noise ratio by the autocorrelation method of Boersma ("Accurate short-term
// analysis of the fundamental frequency and the harmonics-to-noise ratio of a sampled sound",
// IFA Proceedings 17, 1993): per frame, the Hann-windowed autocorrelation divided by the window's
// own autocorrelation, its highest normalised peak r in the pitch lag range (interpolated with a
// windowed sinc), and HNR = 10·log10(r / (1 - r)).

import { autocorrelate, hann, nextPow2 } from "./fft.ts";

export interface HnrOptions {
  minPitch?: number;
  maxPitch?: number;
  /** Praat's default: 4.5 periods of the lowest pitch per window. */
  periodsPerWindow?: number;
  hopSeconds?: number;
  /** Frames whose peak r is below this are unvoiced and left out of the mean. */
  voicingThreshold?: number;
  /** Frames whose peak amplitude is below this share of the global peak are silent. */
  silenceThreshold?: number;
  /** Analyse only the frames centred where this says true (e.g. YIN found voicing): saves time. */
  include?: (centreSample: number) => boolean;
}

export interface HnrResult {
  /** Mean HNR over voiced frames, dB. */
  hnrDb: number;
  voicedFrames: number;
}

const SINC_HALF = 8;

/** Windowed-sinc weights for taps j = i0-7 … i0+8 at fractional position d = at - i0 (memoised: the
 * refinement below only ever asks for the same 20 fractions, so no trigonometry per frame). */
const weightCache = new Map<number, Float64Array>();
function sincWeights(d: number): Float64Array {
  const key = Math.round(d * 1e6);
  let w = weightCache.get(key);
  if (!w) {
    w = new Float64Array(2 * SINC_HALF);
    for (let k = 0; k < 2 * SINC_HALF; k++) {
      const u = d + SINC_HALF - 1 - k; // at - j with j = i0 - SINC_HALF + 1 + k
      const s = u === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u);
      w[k] = s * (0.5 + 0.5 * Math.cos((Math.PI * u) / SINC_HALF));
    }
    weightCache.set(key, w);
  }
  return w;
}

function sincInterp(r: Float64Array, at: number): number {
  const i0 = Math.floor(at);
  const w = sincWeights(at - i0);
  let acc = 0;
  for (let k = 0; k < 2 * SINC_HALF; k++) {
    const j = i0 - SINC_HALF + 1 + k;
    if (j < 0 || j >= r.length) continue;
    acc += (r[j] ?? 0) * (w[k] ?? 0);
  }
  return acc;
}

export function hnr(x: Float32Array, rate: number, options: HnrOptions = {}): HnrResult | undefined {
  const minPitch = options.minPitch ?? 75;
  const maxPitch = options.maxPitch ?? 600;
  const periods = options.periodsPerWindow ?? 4.5;
  const hop = Math.max(1, Math.round(rate * (options.hopSeconds ?? 0.01)));
  const voicing = options.voicingThreshold ?? 0.45;
  const silence = options.silenceThreshold ?? 0.1;
  const w = Math.round((periods / minPitch) * rate);
  const maxLag = Math.min(Math.ceil(rate / minPitch), Math.floor(w / 2));
  const minLag = Math.max(2, Math.floor(rate / maxPitch));
  if (x.length < w || maxLag <= minLag + 1) return undefined;
  const size = nextPow2(w + maxLag + SINC_HALF + 1);
  const window = hann(w);
  const rw = autocorrelate(window, maxLag + SINC_HALF, size);
  const rw0 = rw[0] ?? 1;
  let globalPeak = 0;
  for (let i = 0; i < x.length; i++) globalPeak = Math.max(globalPeak, Math.abs(x[i] ?? 0));
  if (globalPeak === 0) return undefined;
  const frame = new Float64Array(w);
  const norm = new Float64Array(maxLag + SINC_HALF + 1);
  let sumDb = 0;
  let voiced = 0;
  for (let t = 0; t + w <= x.length; t += hop) {
    if (options.include && !options.include(t + (w >> 1))) continue;
    let mean = 0;
    let localPeak = 0;
    for (let i = 0; i < w; i++) {
      const v = x[t + i] ?? 0;
      mean += v;
      if (Math.abs(v) > localPeak) localPeak = Math.abs(v);
    }
    if (localPeak < silence * globalPeak) continue;
    mean /= w;
    for (let i = 0; i < w; i++) frame[i] = ((x[t + i] ?? 0) - mean) * (window[i] ?? 0);
    const ra = autocorrelate(frame, maxLag + SINC_HALF, size);
    const ra0 = ra[0] ?? 0;
    if (!(ra0 > 0)) continue;
    for (let k = 0; k < norm.length; k++) norm[k] = (ra[k] ?? 0) / ra0 / ((rw[k] ?? 0) / rw0 || 1);
    let best = -1;
    let bestLag = -1;
    for (let k = minLag; k <= maxLag; k++) {
      const v = norm[k] ?? 0;
      if (v > best && v >= (norm[k - 1] ?? 0) && v >= (norm[k + 1] ?? 0)) {
        best = v;
        bestLag = k;
      }
    }
    if (bestLag < 0) continue;
    // Refine between lags: the peak of a band-limited autocorrelation rarely falls on a sample.
    let peak = best;
    for (let s = -10; s <= 10; s++) {
      const v = sincInterp(norm, bestLag + s / 20);
      if (v > peak) peak = v;
    }
    const r = Math.min(peak, 1 - 1e-6);
    if (r < voicing) continue;
    sumDb += 10 * Math.log10(r / (1 - r));
    voiced++;
  }
  if (voiced === 0) return undefined;
  return { hnrDb: sumDb / voiced, voicedFrames: voiced };
}
