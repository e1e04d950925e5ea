// DNSMOS P.835 (Reddy, Gopal, Cutler, ICASSP 2022): a CNN trained on P.835 ratings of
// noise-suppressed speech that predicts SIG (speech signal), BAK (background) and OVRL (overall)
// on the 1-5 scale. Windowing and the polynomial mapping follow Microsoft's reference scoring
// script (DNS-Challenge DNSMOS/dnsmos_local.py, non-personalised branch), written anew here.
// It predicts perceived quality of speech in noise; it was never trained on TTS naturalness.

import type { MosModel, MosSession } from "./model.ts";

export const DNSMOS_RATE = 16000;
/** The reference's INPUT_LENGTH: 9.01 s per window. */
export const DNSMOS_WINDOW_SECONDS = 9.01;
/** int(INPUT_LENGTH * fs) = 144160 samples, the model's input length. */
export const DNSMOS_WINDOW_SAMPLES = Math.trunc(DNSMOS_WINDOW_SECONDS * DNSMOS_RATE);

/**
 * The reference's windows over 16 kHz mono audio, as start/end sample offsets into `extended`:
 * audio shorter than one window is appended to itself until it fills one (np.append(audio, audio),
 * so it doubles); windows start every second; their count is int(floor(len / fs) - 9.01) + 1; a
 * window whose end int((idx + 9.01) * fs) leaves it short of 144160 samples is skipped, as the
 * reference's `continue` does (floating point makes that happen, e.g. idx 7 ends at 256159).
 */
export function dnsmosWindows(samples: Float32Array): {
  extended: Float32Array;
  windows: Array<{ start: number; end: number }>;
} {
  if (samples.length === 0) throw new RangeError("no samples");
  let extended = samples;
  while (extended.length < DNSMOS_WINDOW_SAMPLES) {
    const doubled = new Float32Array(extended.length * 2);
    doubled.set(extended, 0);
    doubled.set(extended, extended.length);
    extended = doubled;
  }
  const hops = Math.trunc(Math.floor(extended.length / DNSMOS_RATE) - DNSMOS_WINDOW_SECONDS) + 1;
  const windows: Array<{ start: number; end: number }> = [];
  for (let idx = 0; idx < hops; idx++) {
    const start = Math.trunc(idx * DNSMOS_RATE);
    const end = Math.min(extended.length, Math.trunc((idx + DNSMOS_WINDOW_SECONDS) * DNSMOS_RATE));
    if (end - start < DNSMOS_WINDOW_SAMPLES) continue;
    windows.push({ start, end });
  }
  return { extended, windows };
}

/**
 * At most `max` of the windows, spread evenly from the first to the last (all of them when there
 * are no more than `max`): bounds the cost of a long clip while still covering its whole span.
 */
export function capWindows<T>(windows: readonly T[], max: number): T[] {
  if (windows.length <= max) return [...windows];
  if (max <= 1) return windows.slice(0, 1);
  const out: T[] = [];
  for (let i = 0; i < max; i++) {
    const w = windows[Math.round((i * (windows.length - 1)) / (max - 1))];
    if (w !== undefined) out.push(w);
  }
  return out;
}

/** np.poly1d([a, b, c])(x) = a x² + b x + c: the reference's non-personalised mapping to 1-5. */
const poly2 = (p: readonly [number, number, number], x: number): number => p[0] * x * x + p[1] * x + p[2];
export const DNSMOS_P835_POLY = {
  sig: [-0.08397278, 1.22083953, 0.0052439],
  bak: [-0.13166888, 1.60915514, -0.39604546],
  ovrl: [-0.06766283, 1.11546468, 0.04602535],
} as const;

/** Maps the model's raw outputs (SIG, BAK, OVRL in that order) to the 1-5 scale. */
export function mapDnsmosP835(raw: { sig: number; bak: number; ovrl: number }): {
  sig: number;
  bak: number;
  ovrl: number;
} {
  return {
    sig: poly2(DNSMOS_P835_POLY.sig, raw.sig),
    bak: poly2(DNSMOS_P835_POLY.bak, raw.bak),
    ovrl: poly2(DNSMOS_P835_POLY.ovrl, raw.ovrl),
  };
}

export const dnsmosP835: MosModel = {
  name: "dnsmos_p835",
  file: "dnsmos/sig_bak_ovr.onnx",
  sampleRate: DNSMOS_RATE,
  dimensions: ["sig", "bak", "ovrl"],
  async score(samples: Float32Array, session: MosSession, maxWindows: number) {
    const { extended, windows } = dnsmosWindows(samples);
    const used = capWindows(windows, maxWindows);
    const sums = { sig: 0, bak: 0, ovrl: 0 };
    for (const w of used) {
      const input = extended.slice(w.start, w.end);
      const out = await session.run("input_1", input, [1, input.length]);
      const [sig, bak, ovrl] = out;
      if (sig === undefined || bak === undefined || ovrl === undefined || out.length !== 3)
        throw new Error(`dnsmos_p835: expected 3 outputs, got ${out.length}`);
      // The reference maps each window, then averages the mapped values.
      const m = mapDnsmosP835({ sig, bak, ovrl });
      sums.sig += m.sig;
      sums.bak += m.bak;
      sums.ovrl += m.ovrl;
    }
    const n = used.length;
    return {
      values: { sig: sums.sig / n, bak: sums.bak / n, ovrl: sums.ovrl / n },
      windows: n,
      windowsAvailable: windows.length,
    };
  },
};
