// Thin wrapper over fft.js: one cached instance and scratch buffers per size (the analysis runs
// thousands of same-size transforms; allocating per frame would dominate the cost).
import FFT from "fft.js";

interface Plan {
  fft: FFT;
  out: number[];
  input: number[];
}

const plans = new Map<number, Plan>();

function plan(size: number): Plan {
  let p = plans.get(size);
  if (!p) {
    const fft = new FFT(size);
    p = { fft, out: fft.createComplexArray() as number[], input: new Array<number>(size).fill(0) };
    plans.set(size, p);
  }
  return p;
}

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Power spectrum |X_k|^2 for k = 0..size/2 of frame (zero-padded to size), into `into`.
 * The frame is read as is: apply any window before.
 */
export function powerSpectrum(frame: ArrayLike<number>, size: number, into?: Float64Array): Float64Array {
  const p = plan(size);
  const input = p.input;
  const n = Math.min(frame.length, size);
  for (let i = 0; i < n; i++) input[i] = frame[i] ?? 0;
  for (let i = n; i < size; i++) input[i] = 0;
  p.fft.realTransform(p.out, input);
  const half = size / 2;
  const spec = into ?? new Float64Array(half + 1);
  const out = p.out;
  for (let k = 0; k <= half; k++) {
    const re = out[2 * k] ?? 0;
    const im = out[2 * k + 1] ?? 0;
    spec[k] = re * re + im * im;
  }
  return spec;
}

/**
 * Cross-correlation c[τ] = Σ_j a[j]·b[j+τ] for τ = 0..maxLag (maxLag < size/2), by FFT (size must
 * hold a.length + b.length without wrap-around).
 *
 * Three real transforms: A and B forward, then the inverse of the Hermitian P = conj(A)·B as one
 * more real forward transform. With Q = conj(P) = U + iV (U even, V odd), N·c[t] = Re Σ Q_k e^{-2πikt/N}
 * = Σ U_k cos + V_k sin; the transform of the real W = U + V has real part Σ U_k cos and imaginary
 * part -Σ V_k sin (the Hartley trick), so N·c[t] = Re W̃[t] - Im W̃[t].
 */
export function crossCorrelate(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  maxLag: number,
  size: number,
): Float64Array {
  const pa = plan(size);
  const fa = pa.fft;
  const A = scratch(size, 1);
  const B = scratch(size, 2);
  const inA = pa.input;
  const na = Math.min(a.length, size);
  for (let i = 0; i < na; i++) inA[i] = a[i] ?? 0;
  for (let i = na; i < size; i++) inA[i] = 0;
  fa.realTransform(A, inA);
  const nb = Math.min(b.length, size);
  for (let i = 0; i < nb; i++) inA[i] = b[i] ?? 0;
  for (let i = nb; i < size; i++) inA[i] = 0;
  fa.realTransform(B, inA);
  // W_k = Re P_k - Im P_k for k ≤ N/2, and (P_{N-k} = conj P_k) W_{N-k} = Re P_k + Im P_k.
  const W = realScratch(size);
  const half = size >> 1;
  for (let k = 0; k <= half; k++) {
    const ar = A[2 * k] ?? 0;
    const ai = A[2 * k + 1] ?? 0;
    const br = B[2 * k] ?? 0;
    const bi = B[2 * k + 1] ?? 0;
    const re = ar * br + ai * bi;
    const im = ar * bi - ai * br;
    W[k] = re - im;
    if (k > 0 && k < half) W[size - k] = re + im;
  }
  const C = scratch(size, 3);
  fa.realTransform(C, W);
  const out = new Float64Array(maxLag + 1);
  for (let t = 0; t <= maxLag; t++) out[t] = ((C[2 * t] ?? 0) - (C[2 * t + 1] ?? 0)) / size;
  return out;
}

/** Autocorrelation r[τ] = Σ_j x[j]·x[j+τ], τ = 0..maxLag, by FFT (size ≥ x.length + maxLag). */
export function autocorrelate(x: ArrayLike<number>, maxLag: number, size: number): Float64Array {
  const p = plan(size);
  const input = p.input;
  const n = Math.min(x.length, size);
  for (let i = 0; i < n; i++) input[i] = x[i] ?? 0;
  for (let i = n; i < size; i++) input[i] = 0;
  const spec = p.out;
  p.fft.realTransform(spec, input);
  // The power spectrum is real and even, so its inverse transform is a real forward transform
  // divided by the size: half the work of completing the spectrum and inverting it as complex.
  const power = realScratch(size);
  const half = size >> 1;
  for (let k = 0; k <= half; k++) {
    const re = spec[2 * k] ?? 0;
    const im = spec[2 * k + 1] ?? 0;
    const pk = re * re + im * im;
    power[k] = pk;
    if (k > 0 && k < half) power[size - k] = pk;
  }
  const back = scratch(size);
  p.fft.realTransform(back, power);
  const out = new Float64Array(maxLag + 1);
  for (let t = 0; t <= maxLag; t++) out[t] = (back[2 * t] ?? 0) / size;
  return out;
}

const realScratches = new Map<number, number[]>();
/** A reusable real array of exactly `size` entries. */
function realScratch(size: number): number[] {
  let a = realScratches.get(size);
  if (!a) {
    a = new Array<number>(size).fill(0);
    realScratches.set(size, a);
  }
  return a;
}

const scratches = new Map<number, number[][]>();
/** Reusable complex scratch arrays for a size (index picks one of several). */
function scratch(size: number, index = 0): number[] {
  let list = scratches.get(size);
  if (!list) {
    list = [];
    scratches.set(size, list);
  }
  let a = list[index];
  if (!a) {
    a = plan(size).fft.createComplexArray() as number[];
    list[index] = a;
  }
  return a;
}

export function hann(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/** 4-term Blackman-Harris: -92 dB side lobes, main lobe ±4 bins (for tone/harmonic analysis). */
export function blackmanHarris(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = (2 * Math.PI * i) / n;
    w[i] = 0.35875 - 0.48829 * Math.cos(x) + 0.14128 * Math.cos(2 * x) - 0.01168 * Math.cos(3 * x);
  }
  return w;
}
