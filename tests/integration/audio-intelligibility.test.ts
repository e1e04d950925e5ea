// Intelligibility with the real recogniser (Debian pocketsphinx + pocketsphinx-en-us): a missing
// package fails the test with its name.
import { describe, expect, it } from "vitest";
import { resample } from "../../src/audio/decode.ts";
import { Intelligibility } from "../../src/audio/intelligibility.ts";
import { addWhiteNoise } from "../../src/audio/signals.ts";
import { PROBE_TEXT, speech, withSamples } from "../fixtures/audio/speech.ts";

const TEXT = "The quick brown fox jumps over the lazy dog.";

describe("Intelligibility (pocketsphinx closed-set test)", () => {
  it("the recogniser is installed", () => {
    expect(
      Intelligibility.available(),
      "install the Debian packages pocketsphinx and pocketsphinx-en-us (apt-get install pocketsphinx pocketsphinx-en-us)",
    ).toBe(true);
  });

  const asr = new Intelligibility({ timeoutMs: 20_000 });
  for (const engine of ["flite", "festival"] as const) {
    it(`clean ${engine} probe audio scores ≥ 0.9; at 0 dB SNR clearly lower`, async () => {
      const clean = speech(engine, TEXT);
      const good = await asr.score(clean, TEXT);
      expect(good?.ratio).toBeGreaterThanOrEqual(0.9);
      const noisy = await asr.score(withSamples(clean, addWhiteNoise(clean.samples, 0, 4)), TEXT);
      expect(noisy?.ratio).toBeLessThanOrEqual((good?.ratio ?? 1) - 0.3);
    });
  }

  // Narrowband audio upsampled to 16 kHz has an empty 4-8 kHz band; without the recogniser's noise
  // floor, clean espeak-ng at 8 and 11.025 kHz matched no sentence at all (ratio 0).
  it("every sample rate is resampled to 16 kHz and scores: espeak-ng at 8, 11.025, 24 and 48 kHz ≥ 0.9", async () => {
    const clean = speech("espeak-ng", TEXT);
    for (const rate of [8000, 11025, 24000, 48000]) {
      const y = resample(clean.samples, clean.sampleRate, rate);
      const r = await asr.score(
        { samples: y, sampleRate: rate, channels: 1, durationSeconds: y.length / rate },
        TEXT,
      );
      expect(r?.ratio, `espeak-ng at ${rate} Hz heard "${r?.recognised}"`).toBeGreaterThanOrEqual(0.9);
    }
  });

  it("texts with numbers, contractions, accents and typographic quotes are spelled as spoken", async () => {
    const texts = [
      "The meeting starts at 7:30 and costs 3.5 dollars, said ‘Bob’.",
      "Café naïve résumé: it’s 42 degrees, isn't it?",
    ];
    for (const engine of ["espeak-ng", "festival"] as const) {
      for (const text of texts) {
        const r = await asr.score(speech(engine, text), text);
        expect(r?.ratio, `${engine}: "${text}" heard "${r?.recognised}"`).toBeGreaterThanOrEqual(0.9);
      }
    }
  });

  it("texts without a dictionary word give undefined, never a throw", async () => {
    const clean = speech("flite", TEXT);
    for (const text of ["", "   ", "日本語のテキスト", "Zyxqvbnm!", "?!…"]) {
      expect(await asr.score(clean, text)).toBeUndefined();
    }
    // Words missing from the dictionary are left out; the rest is still scored.
    const r = await asr.score(
      speech("festival", "The zyxqvbnm fox jumps over the lazy dog."),
      "The zyxqvbnm fox jumps over the lazy dog.",
    );
    expect(r?.ratio).toBeGreaterThanOrEqual(0);
    expect(r?.ratio).toBeLessThanOrEqual(1);
  });

  it("a missing recogniser gives undefined and exactly one log line with the reason", async () => {
    const lines: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
    const none = new Intelligibility({
      binary: "/nonexistent/pocketsphinx_continuous",
      logger: { warn: (msg, fields) => lines.push({ msg, ...(fields ? { fields } : {}) }) },
    });
    expect(none.available()).toBe(false);
    const clean = speech("flite", TEXT);
    expect(await none.score(clean, TEXT)).toBeUndefined();
    expect(await none.score(clean, PROBE_TEXT)).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(String(lines[0]?.fields?.reason)).toMatch(/pocketsphinx/);
  });

  it("a timeout kills the recogniser and rejects; the next call still works", async () => {
    const slow = new Intelligibility({ timeoutMs: 1 });
    const clean = speech("flite", TEXT);
    await expect(slow.score(clean, TEXT)).rejects.toThrow(/killed/);
    const ok = await asr.score(clean, TEXT);
    expect(ok?.ratio).toBeGreaterThanOrEqual(0.9);
  });
});

describe("Intelligibility result labels", () => {
  it("asr is the recogniser's name (a bounded label), the sentence is in `recognised`", async () => {
    const r = await new Intelligibility().score(speech("flite", TEXT), TEXT);
    expect(r?.asr).toBe("pocketsphinx");
    expect(r?.recognised).toBe("the quick brown fox jumps over the lazy dog");
  });
});
