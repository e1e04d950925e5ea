import { afterAll, describe, expect, it } from "vitest";
import { createEngine, EMBEDDED_VOICES } from "../../src/engines/index.ts";
import type { Engine } from "../../src/engines/types.ts";
import {
  context,
  expectEngineError,
  expectOrderedTimings,
  TEXT,
  timeout,
} from "../helpers/tts-servers/expect-engine.ts";
import { wavStats } from "../helpers/tts-servers/real-audio.ts";

const engines: Engine[] = [];
const make = (voice?: string) => {
  const engine = createEngine(
    { name: "embedded", type: "embedded", enabled: true, ...(voice ? { voice } : {}) },
    context,
  );
  engines.push(engine);
  return engine;
};
afterAll(async () => {
  for (const e of engines) await e.close?.();
});

describe("embedded engine (flite WASI in a worker)", () => {
  it("speaks the text as a real 16 kHz WAV with the default voice slt, timings ordered", async () => {
    const engine = make();
    expect(engine.voice).toBe("slt");
    const result = await engine.synthesize({ text: TEXT, signal: timeout(10_000) });
    expect(result.format).toEqual({ kind: "wav" });
    expect(result.voice).toBe("slt");
    const stats = wavStats(result.audio);
    expect(stats.rate).toBe(16_000);
    expect(stats.seconds).toBeGreaterThan(2);
    expect(stats.seconds).toBeLessThan(5);
    expect(stats.peak).toBeGreaterThan(3000); // speech, not silence
    expectOrderedTimings(result);
  });

  it("has every bundled voice, and a request can pick another", async () => {
    const engine = make("slt");
    for (const voice of EMBEDDED_VOICES) {
      const result = await engine.synthesize({ text: "Hello.", voice, signal: timeout(10_000) });
      expect(result.voice).toBe(voice);
      expect(wavStats(result.audio).seconds).toBeGreaterThan(0.3);
    }
  });

  it("rejects an unknown voice at creation instead of silently speaking another one", () => {
    expect(() => make("nosuchvoice")).toThrow(/unknown embedded voice "nosuchvoice".*slt/);
  });

  // Generous deadlines: the worker runs at nice 10, so on a loaded 2-core machine (test files beside
  // it, another process on a core) its synthesis waits for CPU far longer than on an idle one.
  it("keeps the event loop free while it synthesises (worker thread)", { timeout: 180_000 }, async () => {
    const engine = make();
    await engine.synthesize({ text: "Warm up.", signal: timeout(60_000) });
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 2);
    const long = `${TEXT} `.repeat(8);
    const result = await engine.synthesize({ text: long, signal: timeout(100_000) });
    clearInterval(timer);
    const busy = result.timings.end - result.timings.start;
    expect(busy).toBeGreaterThan(100); // long enough that a block on the main thread would show
    // Synthesis on the main thread would stall the timer for about the whole synthesis; a loaded
    // machine's scheduling pauses are much shorter than that.
    expect(maxGap).toBeLessThan(busy / 2);
  });

  it("stops at once on abort (timeout reason) and works again afterwards", async () => {
    const engine = make();
    const long = `${TEXT} `.repeat(40);
    const t0 = performance.now();
    await expectEngineError(engine.synthesize({ text: long, signal: AbortSignal.timeout(30) }), "timeout");
    expect(performance.now() - t0).toBeLessThan(1500); // the whole text would take many seconds
    const controller = new AbortController();
    const pending = engine.synthesize({ text: long, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expectEngineError(pending, "other");
    const again = await engine.synthesize({ text: "Still alive.", signal: timeout(10_000) });
    expect(wavStats(again.audio).seconds).toBeGreaterThan(0.5);
  });

  it("serialises concurrent requests on its one worker", async () => {
    const engine = make();
    const results = await Promise.all(
      ["One.", "Two.", "Three."].map((text) => engine.synthesize({ text, signal: timeout(10_000) })),
    );
    for (const r of results) expect(wavStats(r.audio).seconds).toBeGreaterThan(0.3);
  });
});
