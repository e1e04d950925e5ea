// Spectral shape, averaged over non-silent STFT frames (Hann, ~46 ms, 50 % overlap):
// centroid and 85 % roll-off (Peeters, "A large set of audio features", CUIDADO 2004; librosa
// conventions on the magnitude spectrum) and flatness (Wiener entropy: geometric / arithmetic mean
// of the power spectrum, Johnston 1988).

import { hann, nextPow2, powerSpectrum } from "./fft.ts";

export interface SpectralShape {
  centroidHz: number;
  rolloffHz: number;
  flatness: number;
}

export function spectralShape(
  x: Float32Array,
  rate: number,
  isActive?: (startSample: number, endSample: number) => boolean,
): SpectralShape | undefined {
  const size = nextPow2(Math.round(rate * 0.046));
  if (x.length < size) return undefined;
  const hop = size / 2;
  const w = hann(size);
  const frame = new Float64Array(size);
  const spec = new Float64Array(size / 2 + 1);
  const mag = new Float64Array(size / 2 + 1);
  const binHz = rate / size;
  let frames = 0;
  let centroid = 0;
  let rolloff = 0;
  let flatness = 0;
  for (let t = 0; t + size <= x.length; t += hop) {
    if (isActive && !isActive(t, t + size)) continue;
    for (let i = 0; i < size; i++) frame[i] = (x[t + i] ?? 0) * (w[i] ?? 0);
    powerSpectrum(frame, size, spec);
    let magSum = 0;
    let weighted = 0;
    let powSum = 0;
    let logSum = 0;
    // Σ ln p as ln of products of 8 powers (each in [1e-20, ~1e7]: no underflow or overflow).
    let product = 1;
    for (let k = 1; k < spec.length; k++) {
      const p = spec[k] ?? 0;
      const m = Math.sqrt(p);
      mag[k] = m;
      magSum += m;
      weighted += m * k;
      powSum += p;
      product *= p + 1e-20;
      if ((k & 7) === 0) {
        logSum += Math.log(product);
        product = 1;
      }
    }
    logSum += Math.log(product);
    if (!(magSum > 0)) continue;
    const target = 0.85 * magSum;
    let acc = 0;
    let kr = spec.length - 1;
    for (let k = 1; k < spec.length; k++) {
      acc += mag[k] ?? 0;
      if (acc >= target) {
        kr = k;
        break;
      }
    }
    const bins = spec.length - 1;
    centroid += (weighted / magSum) * binHz;
    rolloff += kr * binHz;
    flatness += Math.exp(logSum / bins) / (powSum / bins);
    frames++;
  }
  if (frames === 0) return undefined;
  return { centroidHz: centroid / frames, rolloffHz: rolloff / frames, flatness: flatness / frames };
}
