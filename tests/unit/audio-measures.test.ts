// Ground truth on synthetic signals with a known answer (issue 4 item 3). Seeded noise: every run
// sees the same samples.
import { describe, expect, it } from "vitest";
import { analyzeAudio } from "../../src/audio/analyze.ts";
import { detectClicks } from "../../src/audio/clicks.ts";
import { autocorrelate, crossCorrelate } from "../../src/audio/fft.ts";
import { hnr } from "../../src/audio/hnr.ts";
import { activity, clipping, levels } from "../../src/audio/level.ts";
import { pitchStats, yinTrack } from "../../src/audio/pitch.ts";
import { addWhiteNoise, gaussian, seededRandom, sine } from "../../src/audio/signals.ts";
import { digitalSilenceMask, vadSnr, wadaSnr } from "../../src/audio/snr.ts";
import { spectralShape } from "../../src/audio/spectral.ts";
import { toneAnalysis } from "../../src/audio/tone.ts";
import { truncation } from "../../src/audio/truncation.ts";

describe("SINAD of a sine in white noise", () => {
  for (const snr of [0, 10, 20, 40]) {
    it(`${snr} dB → SINAD ${snr} ± 0.5 dB`, () => {
      const x = addWhiteNoise(sine(997.3, 48000, 2, 0.5), snr, 100 + snr);
      const t = toneAnalysis(x, 48000);
      expect(t?.sinadDb).toBeGreaterThan(snr - 0.5);
      expect(t?.sinadDb).toBeLessThan(snr + 0.5);
    });
  }
});

describe("THD", () => {
  it("sine + 10 % third harmonic → 0.100 ± 0.005", () => {
    const rate = 44100;
    const f = sine(441.7, rate, 1.5, 0.5);
    const h3 = sine(3 * 441.7, rate, 1.5, 0.05, 0.3);
    const t = toneAnalysis(
      f.map((v, i) => v + (h3[i] ?? 0)),
      rate,
    );
    expect(t?.thd).toBeGreaterThan(0.095);
    expect(t?.thd).toBeLessThan(0.105);
  });

  // Closed form for a sine of amplitude A hard-clipped at c = kA, θ0 = asin k:
  // fundamental b1 = (2A/π)(θ0 + sin θ0 cos θ0); total power P = (2/π)[A²(θ0/2 - sin 2θ0/4) + c²(π/2 - θ0)];
  // THD = sqrt(P - b1²/2) / (b1/√2).
  for (const k of [0.3, 0.5, 0.8]) {
    it(`sine hard-clipped at ${k * 100} % of its amplitude → THD within 3 % of the closed form`, () => {
      const A = 0.9;
      const c = k * A;
      const x = sine(123.4, 48000, 2, A).map((v) => Math.max(-c, Math.min(c, v)));
      const th0 = Math.asin(k);
      const b1 = ((2 * A) / Math.PI) * (th0 + Math.sin(th0) * Math.cos(th0));
      const P = (2 / Math.PI) * (A * A * (th0 / 2 - Math.sin(2 * th0) / 4) + c * c * (Math.PI / 2 - th0));
      const closed = Math.sqrt(P - (b1 * b1) / 2) / (b1 / Math.SQRT2);
      const thd = toneAnalysis(x, 48000)?.thd ?? Number.NaN;
      expect(Math.abs(thd - closed) / closed).toBeLessThan(0.03);
    });
  }
});

describe("HNR of a harmonic complex in white noise", () => {
  const rate = 22050;
  function complex(f0: number, seconds: number): Float32Array {
    const n = Math.round(rate * seconds);
    const out = new Float32Array(n);
    for (let h = 1; h * f0 < 5000; h++) {
      for (let i = 0; i < n; i++)
        out[i] = (out[i] ?? 0) + (0.3 / h) * Math.sin((2 * Math.PI * h * f0 * i) / rate + h);
    }
    return out;
  }
  for (const snr of [0, 10, 20]) {
    it(`harmonics/noise = ${snr} dB → HNR ${snr} ± 1 dB`, () => {
      const r = hnr(addWhiteNoise(complex(143.7, 2), snr, 200 + snr), rate);
      expect(r?.hnrDb).toBeGreaterThan(snr - 1);
      expect(r?.hnrDb).toBeLessThan(snr + 1);
    });
  }
});

describe("F0 by YIN", () => {
  for (const f of [110, 200, 317.3]) {
    it(`sine at ${f} Hz → F0 within 0.5 %`, () => {
      const st = pitchStats(yinTrack(sine(f, 22050, 1, 0.5), 22050));
      expect(Math.abs((st?.f0MeanHz ?? 0) - f) / f).toBeLessThan(0.005);
      expect(st?.jitter).toBeLessThan(0.001);
      expect(st?.f0SpreadSemitones).toBeLessThan(0.05);
    });
  }
  it("white noise has no F0", () => {
    const g = gaussian(seededRandom(3));
    const x = Float32Array.from({ length: 22050 }, () => 0.1 * g());
    expect(pitchStats(yinTrack(x, 22050))).toBeUndefined();
  });
  it("a vibrato of ±1 semitone shows as spread, not jitter", () => {
    const rate = 22050;
    const x = new Float32Array(rate * 2);
    let phase = 0;
    for (let i = 0; i < x.length; i++) {
      const f = 150 * 2 ** (Math.sin((2 * Math.PI * 2 * i) / rate) / 12);
      phase += (2 * Math.PI * f) / rate;
      x[i] = 0.5 * Math.sin(phase);
    }
    const st = pitchStats(yinTrack(x, rate));
    expect(st?.f0SpreadSemitones).toBeGreaterThan(0.6);
    expect(st?.f0SpreadSemitones).toBeLessThan(0.8); // sine of amplitude 1 st: RMS 0.707
    expect(st?.jitter).toBeLessThan(0.002);
  });
});

describe("clicks", () => {
  it("impulses in low-level noise: every one found at its place, nothing else", () => {
    const rate = 16000;
    const x = new Float32Array(rate * 10);
    const g = gaussian(seededRandom(5));
    for (let i = 0; i < x.length; i++) x[i] = 0.003 * g();
    const places = [1234, 20000, 40001, 77777, 100000, 150000];
    for (const p of places) x[p] = (x[p] ?? 0) + 0.5;
    const c = detectClicks(x, rate);
    expect(c.positions.length).toBe(places.length);
    for (const p of places) expect(c.positions.some((q) => Math.abs(q - p) <= 1)).toBe(true);
    expect(c.perMinute).toBeCloseTo(places.length * 6, 5);
  });
  it("a clean sine has none", () => {
    expect(detectClicks(sine(440, 22050, 2, 0.8), 22050).count).toBe(0);
  });
});

describe("levels, clipping, silence", () => {
  it("peak, RMS (a full-scale sine is -3.01 dBFS) and DC offset", () => {
    const x = sine(1000, 48000, 1, 1).map((v) => v * 0.5 + 0.1);
    const l = levels(x);
    expect(l.peakDbfs).toBeCloseTo(20 * Math.log10(0.6), 2);
    expect(l.dcOffset).toBeCloseTo(0.1, 4);
    const full = levels(sine(1000, 48000, 1, 1));
    expect(full.rmsDbfs).toBeCloseTo(-3.01, 2);
  });
  it("hard clipping shows as runs stuck at the extreme; a clean sine has none", () => {
    expect(clipping(sine(440, 48000, 1, 0.9)).clippingRatio).toBe(0);
    const k = 0.5;
    const x = sine(440, 48000, 1, 0.9).map((v) => Math.max(-0.9 * k, Math.min(0.9 * k, v)));
    // Share of a sine's period above k·A in magnitude: 1 - (2/π)·asin(k).
    const expected = 1 - (2 / Math.PI) * Math.asin(k);
    const c = clipping(x);
    expect(c.clippingRatio).toBeGreaterThan(expected - 0.01);
    expect(c.clippingRatio).toBeLessThan(expected + 0.01);
    expect(c.clippedRuns).toBeGreaterThanOrEqual(2 * 440 - 2);
  });
  it("silence ratio and leading silence", () => {
    const rate = 16000;
    const x = new Float32Array(rate * 2);
    x.set(sine(300, rate, 1, 0.5), rate / 2); // 0.5 s silence, 1 s tone, 0.5 s silence
    const a = activity(x, rate);
    expect(a.leadingSilenceSeconds).toBeCloseTo(0.5, 2);
    expect(a.silenceRatio).toBeCloseTo(0.5, 2);
    expect(a.activeSpanSeconds).toBeCloseTo(1, 2);
  });
});

describe("spectral shape", () => {
  it("a 1 kHz sine: centroid and roll-off at 1 kHz, flatness near 0", () => {
    const s = spectralShape(sine(1000, 16000, 1, 0.5), 16000);
    expect(s?.centroidHz).toBeGreaterThan(950);
    expect(s?.centroidHz).toBeLessThan(1050);
    expect(Math.abs((s?.rolloffHz ?? 0) - 1000)).toBeLessThan(20);
    expect(s?.flatness).toBeLessThan(0.01);
  });
  it("white noise: centroid at a quarter of the rate, roll-off at 85 % of Nyquist, flatness ≈ e^-γ", () => {
    const g = gaussian(seededRandom(8));
    const x = Float32Array.from({ length: 16000 * 2 }, () => 0.1 * g());
    const s = spectralShape(x, 16000);
    expect(Math.abs((s?.centroidHz ?? 0) - 4000)).toBeLessThan(100);
    expect(Math.abs((s?.rolloffHz ?? 0) - 6800)).toBeLessThan(150);
    // Periodogram bins are χ²(2): geometric/arithmetic mean → e^(-0.5772) = 0.561.
    expect(Math.abs((s?.flatness ?? 0) - 0.561)).toBeLessThan(0.03);
  });
});

describe("truncation", () => {
  it("flags audio too short for its text, not audio long enough", () => {
    const text = "The quick brown fox jumps over the lazy dog.";
    expect(truncation(text, 0.5)?.truncated).toBe(true);
    expect(truncation(text, 2.5)?.truncated).toBe(false);
    expect(truncation("", 1)).toBeUndefined();
  });
});

describe("analyzeAudio on a tone", () => {
  it("reports tone measures, omits what does not apply, and is JSON-serialisable", () => {
    const x = sine(440, 16000, 1, 0.5);
    const a = analyzeAudio({ samples: x, sampleRate: 16000, channels: 1, durationSeconds: 1 });
    expect(a.toneFundamentalHz).toBeCloseTo(440, 0);
    expect(a.thd).toBeLessThan(0.001);
    expect(a.truncated).toBeUndefined();
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });
  it("digital silence: no F0, no SNR, score 0", () => {
    const a = analyzeAudio({
      samples: new Float32Array(16000),
      sampleRate: 16000,
      channels: 1,
      durationSeconds: 1,
    });
    expect(a.f0MeanHz).toBeUndefined();
    expect(a.snrDb).toBeUndefined();
    expect(a.qualityScore.score).toBe(0);
  });
});

// Robustness beyond the rates and lengths of the examples (8 kHz telephony to 96 kHz).
describe("ground truth at other sample rates and lengths", () => {
  const rates = [8000, 16000, 44100, 48000];
  for (const rate of rates) {
    it(`${rate} Hz: SINAD ±0.5 dB at 10/40 dB, THD of 10 % third harmonic, F0 within 0.5 %, HNR ±1 dB at 10 dB, clicks found`, () => {
      for (const snr of [10, 40]) {
        const t = toneAnalysis(
          addWhiteNoise(sine(997.3 * Math.min(1, rate / 16000), rate, 1, 0.5), snr, 7 + snr),
          rate,
        );
        expect(Math.abs((t?.sinadDb ?? Number.NaN) - snr)).toBeLessThan(0.5);
      }
      const f = 441.7 * Math.min(1, rate / 16000);
      const h3 = sine(3 * f, rate, 0.5, 0.05, 0.3);
      const thd = toneAnalysis(
        sine(f, rate, 0.5, 0.5).map((v, i) => v + (h3[i] ?? 0)),
        rate,
      )?.thd;
      expect(Math.abs((thd ?? Number.NaN) - 0.1)).toBeLessThan(0.005);
      for (const f0 of [65, 200, 480]) {
        const st = pitchStats(yinTrack(sine(f0, rate, 0.25, 0.5), rate));
        expect(Math.abs((st?.f0MeanHz ?? 0) - f0) / f0).toBeLessThan(0.005);
      }
      const n = Math.round(rate * 1);
      const complex = new Float32Array(n);
      for (let h = 1; h * 143.7 < Math.min(5000, rate / 2 - 200); h++) {
        for (let i = 0; i < n; i++)
          complex[i] = (complex[i] ?? 0) + (0.3 / h) * Math.sin((2 * Math.PI * h * 143.7 * i) / rate + h);
      }
      const hn = hnr(addWhiteNoise(complex, 10, 210), rate)?.hnrDb;
      expect(Math.abs((hn ?? Number.NaN) - 10)).toBeLessThan(1);
      const x = new Float32Array(rate * 5);
      const g = gaussian(seededRandom(5));
      for (let i = 0; i < x.length; i++) x[i] = 0.003 * g();
      const places = [0.1, 1.3, 2.5, 3.7, 4.9].map((s) => Math.round(s * rate));
      for (const p of places) x[p] = (x[p] ?? 0) + 0.5;
      const c = detectClicks(x, rate);
      expect(c.count).toBe(places.length);
    });
  }

  it("a tone above the F0 range reads no F0, not a sub-harmonic (1 kHz is not 500 Hz)", () => {
    for (const rate of [8000, 16000, 48000]) {
      for (const f of [600, 1000, 3000]) {
        expect(pitchStats(yinTrack(sine(f, rate, 0.5, 0.5), rate))).toBeUndefined();
        expect(
          analyzeAudio({ samples: sine(f, rate, 1, 0.5), sampleRate: rate, channels: 1, durationSeconds: 1 })
            .f0MeanHz,
        ).toBeUndefined();
      }
    }
  });

  it("DC (a constant signal) has no F0: the FFT's rounding is not a periodicity", () => {
    for (const level of [0.5, 1, -0.3]) {
      const x = new Float32Array(16000).fill(level);
      expect(pitchStats(yinTrack(x, 16000))).toBeUndefined();
      const a = analyzeAudio({ samples: x, sampleRate: 16000, channels: 1, durationSeconds: 1 });
      expect(a.f0MeanHz).toBeUndefined();
      expect(a.qualityScore.score).toBeLessThan(0.1);
    }
  });

  it("a tone too short to resolve its harmonics gives no THD, never a false 0", () => {
    const A = 0.9;
    const clipped = (seconds: number) =>
      sine(123.4, 48000, seconds, A).map((v) => Math.max(-0.45, Math.min(0.45, v)));
    // 0.1 s at 48 kHz: 4096-point FFT, 11.7 Hz bins, the fundamental 10.5 bins from its harmonics.
    expect(toneAnalysis(clipped(0.1), 48000)).toBeUndefined();
    expect(toneAnalysis(clipped(0.25), 48000)?.thd).toBeGreaterThan(0.2);
  });
});

describe("blind SNR and digital silence", () => {
  it("the digital-silence mask covers runs ≥ minRun within one 16-bit step, and isolated exact zeros", () => {
    const x = new Float32Array(100).fill(0.1);
    x.fill(0, 10, 40); // 30-sample run of zeros
    x.fill(1 / 65536, 50, 60); // 10 samples below one LSB: shorter than minRun
    x[70] = 0; // isolated zero crossing
    x.fill(0, 80, 85); // 5 zeros: a short gap, kept
    const m = digitalSilenceMask(x, 20);
    expect(Array.from(m.subarray(10, 40)).every((v) => v === 1)).toBe(true);
    expect(Array.from(m.subarray(50, 60)).every((v) => v === 0)).toBe(true);
    expect(m[70]).toBe(1);
    expect(Array.from(m.subarray(80, 85)).every((v) => v === 0)).toBe(true);
    expect(m.reduce((a, b) => a + b, 0)).toBe(31);
  });

  it("only digital silence: no SNR at all", () => {
    const x = new Float32Array(16000);
    for (let i = 0; i < x.length; i++) x[i] = ((i % 3) - 1) / 32768; // ±1 LSB dither
    expect(wadaSnr(x, 16000)).toBeUndefined();
    expect(vadSnr(x, 16000)).toBeUndefined();
  });

  it("exact zeros do not read as infinitely clean: a tone sampled in phase reads like one off phase", () => {
    // At fs/8 every 4th sample of sin is exactly 0 (WADA's log floor used to make that 100 dB).
    for (const rate of [8000, 16000]) {
      const inPhase = sine(rate / 8, rate, 1, 0.5);
      const offPhase = sine(rate / 8, rate, 1, 0.5, 0.3);
      expect(wadaSnr(inPhase, rate)).toBeCloseTo(wadaSnr(offPhase, rate) ?? Number.NaN, 0);
    }
  });
});

describe("analyzeAudio never returns NaN or Infinity", () => {
  it("NaN, Infinity and huge samples handed in directly are made finite; overs are measured", () => {
    const x = sine(200, 16000, 1, 0.5);
    x[100] = Number.NaN;
    x[200] = Number.POSITIVE_INFINITY;
    x[300] = 1e30;
    x[400] = -3e38;
    const a = analyzeAudio(
      { samples: x, sampleRate: 16000, channels: 1, durationSeconds: 1 },
      { text: "a b c" },
    );
    const json = JSON.stringify(a);
    expect(json).not.toMatch(/null|NaN|Infinity/);
    expect(a.oversRatio).toBeCloseTo(2 / 16000, 8);
    expect(Number.isFinite(a.qualityScore.score)).toBe(true);
  });

  it("a float file written at integer scale (±32768) is all overs and scores low", () => {
    const g = gaussian(seededRandom(12));
    const x = Float32Array.from({ length: 16000 }, (_, i) => 32768 * 0.3 * Math.sin(i / 5) * (1 + 0.1 * g()));
    const a = analyzeAudio({ samples: x, sampleRate: 16000, channels: 1, durationSeconds: 1 });
    expect(a.oversRatio).toBeGreaterThan(0.5);
    expect(a.qualityScore.components.overs).toBeLessThan(0.01);
    expect(a.qualityScore.score).toBeLessThan(0.8);
  });

  it("clips of 0 to a few samples: finite values, no throw", () => {
    for (const n of [1, 2, 3, 10, 100, 1000]) {
      const x = sine(300, 16000, n / 16000, 0.5, 0.7);
      const a = analyzeAudio(
        { samples: x, sampleRate: 16000, channels: 1, durationSeconds: n / 16000 },
        { text: "hello world" },
      );
      expect(JSON.stringify(a)).not.toMatch(/null|NaN|Infinity/);
      expect(a.qualityScore.score).toBeGreaterThanOrEqual(0);
      expect(a.qualityScore.score).toBeLessThanOrEqual(1);
    }
  });
});

describe("FFT correlations", () => {
  it("crossCorrelate and autocorrelate equal the direct sums for every lag", () => {
    const random = seededRandom(7);
    for (const [la, lb, size] of [
      [5, 9, 16],
      [368, 737, 1024],
      [100, 100, 256],
    ] as const) {
      const a = Array.from({ length: la }, () => random() - 0.5);
      const b = Array.from({ length: lb }, () => random() - 0.5);
      const maxLag = Math.min(lb, size / 2 - 1);
      const c = crossCorrelate(a, b, maxLag, size);
      const r = autocorrelate(a, Math.min(la - 1, maxLag), size);
      for (let t = 0; t <= maxLag; t++) {
        let direct = 0;
        for (let j = 0; j < la; j++) direct += (a[j] ?? 0) * (b[j + t] ?? 0);
        expect(c[t] ?? Number.NaN).toBeCloseTo(direct, 10);
      }
      for (let t = 0; t < r.length; t++) {
        let direct = 0;
        for (let j = 0; j + t < la; j++) direct += (a[j] ?? 0) * (a[j + t] ?? 0);
        expect(r[t] ?? Number.NaN).toBeCloseTo(direct, 10);
      }
    }
  });
});
