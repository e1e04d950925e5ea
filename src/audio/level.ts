// Level, DC offset, clipping and silence: time-domain measures in one or two passes.

export const toDb = (ratio: number): number => 10 * Math.log10(ratio);
/** dBFS of an amplitude; -Infinity is replaced by a floor so JSON never carries it. */
export const amplitudeDbfs = (a: number): number => Math.max(-200, 20 * Math.log10(a));

export interface Levels {
  peak: number;
  peakDbfs: number;
  rms: number;
  /** RMS relative to a full-scale square wave (a full-scale sine reads -3.01 dBFS). */
  rmsDbfs: number;
  dcOffset: number;
  /**
   * Share of samples beyond full scale (|x| > 1), 0-1. Only float sources can hold them; any
   * fixed-point output (a sound card, a 16-bit re-encode) clips them. A float writer that forgot to
   * scale (samples of ±32768) shows here as most of the samples.
   */
  oversRatio: number;
}

export function levels(x: Float32Array): Levels {
  let peak = 0;
  let sum = 0;
  let sq = 0;
  let overs = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] ?? 0;
    const a = Math.abs(v);
    if (a > peak) peak = a;
    if (a > 1) overs++;
    sum += v;
    sq += v * v;
  }
  const n = Math.max(1, x.length);
  const rms = Math.sqrt(sq / n);
  return {
    peak,
    peakDbfs: amplitudeDbfs(peak),
    rms,
    rmsDbfs: amplitudeDbfs(rms),
    dcOffset: sum / n,
    oversRatio: overs / n,
  };
}

export interface Clipping {
  /** Share of samples inside runs stuck at the signal's extreme (clipped), 0-1. */
  clippingRatio: number;
  /** Number of such runs. */
  clippedRuns: number;
  /** Longest run, in samples. */
  longestClippedRun: number;
  /** The level the runs sit at (absolute amplitude), or undefined when nothing is clipped. */
  clipLevel?: number;
}

/**
 * Clipping shows as runs of consecutive samples stuck at the extreme value. The extreme is taken
 * from the signal itself (a clipper may sit anywhere below full scale); a run counts when it is at
 * least `minRun` samples long, which a band-limited signal almost never does at its peak.
 */
export function clipping(x: Float32Array, minRun = 3): Clipping {
  let peak = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i] ?? 0);
    if (a > peak) peak = a;
  }
  if (peak === 0) return { clippingRatio: 0, clippedRuns: 0, longestClippedRun: 0 };
  // Within half a 16-bit step of the peak: quantisation makes clipped samples equal, not close.
  const level = peak - Math.max(peak * 1e-4, 0.5 / 32768);
  let clipped = 0;
  let runs = 0;
  let longest = 0;
  let run = 0;
  let sign = 0;
  const close = () => {
    if (run >= minRun) {
      clipped += run;
      runs++;
      if (run > longest) longest = run;
    }
    run = 0;
  };
  for (let i = 0; i < x.length; i++) {
    const v = x[i] ?? 0;
    const s = v >= level ? 1 : v <= -level ? -1 : 0;
    if (s !== 0 && s === sign) run++;
    else {
      close();
      if (s !== 0) run = 1;
    }
    sign = s;
  }
  close();
  const result: Clipping = {
    clippingRatio: clipped / x.length,
    clippedRuns: runs,
    longestClippedRun: longest,
  };
  if (runs > 0) result.clipLevel = peak;
  return result;
}

export interface Activity {
  frameSeconds: number;
  /** Per-frame RMS in dBFS. */
  frameDb: Float64Array;
  /** Per-frame: true when above the silence threshold. */
  active: Uint8Array;
  thresholdDbfs: number;
  silenceRatio: number;
  /** Time to the first non-silent frame; the whole duration when everything is silent. */
  leadingSilenceSeconds: number;
  trailingSilenceSeconds: number;
  /** From the first to the last non-silent frame (0 when all silent). */
  activeSpanSeconds: number;
}

/**
 * Energy-based silence detection on 10 ms frames. A frame is silent when its RMS is below
 * max(-60 dBFS, loud level - 40 dB), the loud level being the 95th percentile of frame levels:
 * relative, so a quiet engine is not all "silence", with an absolute floor for digital silence.
 */
export function activity(x: Float32Array, rate: number, frameSeconds = 0.01): Activity {
  const len = Math.max(1, Math.round(rate * frameSeconds));
  const frames = Math.max(1, Math.floor(x.length / len));
  const frameDb = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let sq = 0;
    const start = f * len;
    const end = Math.min(x.length, start + len);
    for (let i = start; i < end; i++) sq += (x[i] ?? 0) ** 2;
    frameDb[f] = amplitudeDbfs(Math.sqrt(sq / Math.max(1, end - start)));
  }
  const sorted = Float64Array.from(frameDb).sort();
  const loud = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? -200;
  const thresholdDbfs = Math.max(-60, loud - 40);
  const active = new Uint8Array(frames);
  let first = -1;
  let last = -1;
  let silent = 0;
  for (let f = 0; f < frames; f++) {
    if ((frameDb[f] ?? -200) > thresholdDbfs) {
      active[f] = 1;
      if (first < 0) first = f;
      last = f;
    } else silent++;
  }
  const frameDur = len / rate;
  const duration = x.length / rate;
  return {
    frameSeconds: frameDur,
    frameDb,
    active,
    thresholdDbfs,
    silenceRatio: silent / frames,
    leadingSilenceSeconds: first < 0 ? duration : first * frameDur,
    trailingSilenceSeconds: last < 0 ? duration : Math.max(0, duration - (last + 1) * frameDur),
    activeSpanSeconds: first < 0 ? 0 : (last - first + 1) * frameDur,
  };
}
