// AudioAnalyzer runs decode + analysis in a worker thread; under vitest the worker loads .ts
// through the tsx bootstrap, as it does under `npm start`.
import { afterAll, describe, expect, it } from "vitest";
import { AudioAnalyzer } from "../../src/audio/analyzer.ts";
import { encodeWav16 } from "../../src/audio/decode.ts";
import { sine } from "../../src/audio/signals.ts";
import { PROBE_TEXT, synthesizeWav } from "../fixtures/audio/speech.ts";

describe("AudioAnalyzer (worker thread)", () => {
  const analyzer = new AudioAnalyzer();
  afterAll(() => analyzer.close());

  it("analyses real speech off the event loop and returns a plain result", async () => {
    const r = await analyzer.analyze(synthesizeWav("espeak-ng"), undefined, { text: PROBE_TEXT });
    expect(r.decoded.sampleRate).toBe(22050);
    expect(r.analysis.qualityScore.score).toBeGreaterThanOrEqual(0.8);
    expect(r.analysis.truncated).toBe(false);
  });

  it("queues concurrent requests and answers each one", async () => {
    const rates = [8000, 16000, 22050, 44100];
    const results = await Promise.all(
      rates.map((rate) =>
        analyzer.analyze(encodeWav16(sine(220, rate, 0.5, 0.5), rate), { kind: "wav" }, {}),
      ),
    );
    expect(results.map((r) => r.decoded.sampleRate)).toEqual(rates);
    for (const r of results) expect(r.analysis.toneFundamentalHz).toBeCloseTo(220, 0);
  });

  it("rejects bad audio with an AudioDecodeError, and keeps working after", async () => {
    const err = await analyzer.analyze(new Uint8Array([1, 2, 3, 4]), undefined, {}).catch((e: unknown) => e);
    expect((err as Error).name).toBe("AudioDecodeError");
    expect((err as Error).message).toMatch(/WAV/);
    const ok = await analyzer.analyze(encodeWav16(sine(440, 16000, 0.2), 16000), undefined, {});
    expect(ok.decoded.durationSeconds).toBeCloseTo(0.2, 3);
  });

  it("close() rejects later calls", async () => {
    const a = new AudioAnalyzer();
    await a.close();
    await expect(a.analyze(new Uint8Array(4), undefined, {})).rejects.toThrow(/closed/);
  });
});
