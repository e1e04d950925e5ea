// The measures added for quality score v3, on synthetic signals with known answers.
import { describe, expect, it } from "vitest";
import { detectDropouts } from "../../src/audio/dropouts.ts";
import { envelopeSkew } from "../../src/audio/envelope.ts";
import { detectHum } from "../../src/audio/hum.ts";
import { intonation } from "../../src/audio/intonation.ts";
import type { PitchTrack } from "../../src/audio/pitch.ts";
import { detectRepeats } from "../../src/audio/repeats.ts";
import { gaussian, power, seededRandom, sine } from "../../src/audio/signals.ts";

const RATE = 16000;

function noise(seconds: number, sigma: number, seed: number): Float32Array {
  const g = gaussian(seededRandom(seed));
  return Float32Array.from({ length: Math.round(seconds * RATE) }, () => sigma * g());
}

/** A loud "vowel": harmonics of 150 Hz whose pitch drifts slowly, so nothing repeats exactly. */
function vowel(seconds: number): Float32Array {
  const n = Math.round(seconds * RATE);
  const y = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    phase += (2 * Math.PI * (150 + 10 * Math.sin((2 * Math.PI * i) / RATE))) / RATE;
    y[i] = 0.3 * Math.sin(phase) + 0.15 * Math.sin(2 * phase) + 0.1 * Math.sin(3 * phase);
  }
  return y;
}

describe("repeats", () => {
  it("noise and drifting harmonics: none; 20 ms packets replayed: their share; a steady tone: none", () => {
    const x = vowel(2);
    expect(detectRepeats(noise(2, 0.1, 3), RATE)?.share).toBe(0);
    // Below the score's free allowance (REPEATS_FREE): a slow vibrato nearly repeats itself.
    expect(detectRepeats(x, RATE)?.share).toBeLessThan(0.04);
    const y = x.slice();
    const packet = 0.02 * RATE;
    // Every 5th packet replays the one before: 20 % of the audio.
    for (let p = packet; p + packet <= y.length; p += 5 * packet) y.copyWithin(p, p - packet, p);
    const share = detectRepeats(y, RATE)?.share ?? 0;
    expect(share).toBeGreaterThan(0.1);
    expect(share).toBeLessThanOrEqual(0.21);
    // 400 Hz at 16 kHz: 40 samples per period, equal to itself every period (only its first
    // period, with nothing two lags before it, counts).
    expect(detectRepeats(sine(400, RATE, 1, 0.5), RATE)?.share).toBeLessThan(0.02);
    expect(detectRepeats(new Float32Array(100), RATE)).toBeUndefined();
  });
});

describe("dropouts", () => {
  it("40 ms holes every 200 ms in loud audio: 5 per second; none without", () => {
    const x = vowel(2);
    expect(detectDropouts(x, RATE)?.perSecond).toBe(0);
    const p = 0.2 * RATE;
    const g = 0.04 * RATE;
    const y = x.map((v, i) => (i % p >= p - g ? 0 : v));
    const d = detectDropouts(y, RATE);
    expect(d?.count).toBe(9); // the holes inside the span (the last one ends the clip)
    expect(d?.perSecond).toBeGreaterThan(4);
    expect(d?.share).toBeGreaterThan(0.15);
    // A decay into silence (60 dB in 20 ms, as a vowel dies away) is a pause, not a hole.
    const fade = x.map((v, i) => {
      const t = i % p;
      const end = p - g - 0.02 * RATE;
      return t >= p - g ? 0 : t < end ? v : v * 10 ** ((-3 * (t - end)) / (0.02 * RATE));
    });
    expect(detectDropouts(fade, RATE)?.count).toBe(0);
  });
});

describe("hum", () => {
  it("50 Hz and harmonics 20 dB under noise reads ≈ -20 dB at 50 Hz; noise alone ≥ 8 dB below; 60 Hz told apart", () => {
    const n = noise(3, 0.1, 5);
    const hum = (f: number) => {
      const h = Float32Array.from({ length: n.length }, (_, i) => {
        const t = (2 * Math.PI * f * i) / RATE;
        return Math.sin(t) + 0.5 * Math.sin(2 * t);
      });
      const g = Math.sqrt(power(n) / 100 / power(h));
      return n.map((v, i) => v + g * (h[i] ?? 0));
    };
    const h50 = detectHum(hum(50), RATE);
    expect(h50?.mainsHz).toBe(50);
    // It reads up to about 2 dB low in noise (the 10th percentile of noisy line powers).
    expect(Math.abs((h50?.humDb ?? 0) + 20)).toBeLessThan(2.5);
    const h60 = detectHum(hum(60), RATE);
    expect(h60?.mainsHz).toBe(60);
    // White noise alone: the detector's floor (positive excesses of noisy bins), about -31 dB.
    expect(detectHum(n, RATE)?.humDb).toBeLessThan(-28);
    expect(detectHum(n.subarray(0, 100), RATE)).toBeUndefined();
  });
});

describe("intonation and envelope", () => {
  const track = (f0: (t: number) => number, frames = 100): PitchTrack => ({
    hopSeconds: 0.02,
    f0: Float64Array.from({ length: frames }, (_, i) => f0(i * 0.02)),
    amplitude: new Float64Array(frames),
  });

  it("a glide down 2 semitones per second reads -2 st/s; one pitch with octave errors is a monotone", () => {
    const down = intonation(track((t) => 200 * 2 ** ((-2 * t) / 12)));
    expect(down?.f0SlopeSemitonesPerSecond).toBeCloseTo(-2, 6);
    expect(down?.monotoneShare).toBeCloseTo(0.25, 1); // 1 of its 4 semitones is within ±0.5 of the median
    const buzz = intonation(track((t) => (Math.round(t * 50) % 7 === 0 ? 50 : 100)));
    expect(buzz?.monotoneShare).toBe(1);
    expect(intonation(track(() => 0))).toBeUndefined();
  });

  it("bursts with fast attacks and slow decays skew positive; reversed, negative", () => {
    const n = noise(2, 1, 9);
    const period = 0.25 * RATE;
    const bursts = n.map((v, i) => {
      const t = (i % period) / RATE;
      return v * (t < 0.005 ? t / 0.005 : Math.exp(-(t - 0.005) / 0.05)) * 0.3;
    });
    expect(envelopeSkew(bursts, RATE)).toBeGreaterThan(0.5);
    expect(envelopeSkew(bursts.slice().reverse(), RATE)).toBeLessThan(-0.5);
  });
});
