import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/engines/index.ts";
import { type SimServer, startSimServer } from "../helpers/sim-server.ts";
import { wavStats } from "../helpers/tts-servers/real-audio.ts";

// The simulated server the stress tests (and the gateway's) measure against: its known answer must
// hold, or a stress verdict "within 10 % of c/s" would prove nothing. Only lower bounds on time here:
// a loaded machine makes everything slower, never faster.
let sim: SimServer | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const speak = (url: string, input = "Hello.") =>
  fetch(`${url}/v1/audio/speech`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: "sim", input, voice: "sim" }),
  });

describe("simulated TTS server", () => {
  it("serves at most `workers` at once from a FIFO queue, with real WAV audio", async () => {
    sim = await startSimServer({ workers: 2, serviceTimeMs: 100 });
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: 10 }, () => speak((sim as SimServer).url)));
    const elapsed = performance.now() - t0;
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.headers.get("content-type")).toBe("audio/wav");
      const stats = wavStats(new Uint8Array(await a.arrayBuffer()));
      expect(stats.seconds).toBeGreaterThan(0.5);
      expect(stats.peak).toBeGreaterThan(1000);
    }
    // 10 requests, 2 at a time, 100 ms each: five rounds.
    expect(elapsed).toBeGreaterThanOrEqual(490);
    expect(sim.stats()).toMatchObject({ requests: 10, served: 10, errors: 0, maxInFlight: 2 });
    expect(sim.stats().maxQueued).toBeGreaterThanOrEqual(1);
  });

  it("answers errorStatus for an even share of requests", async () => {
    sim = await startSimServer({ workers: 4, serviceTimeMs: 1, errorRate: 0.25, errorStatus: 503 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await speak(sim.url)).status);
    expect(statuses.filter((s) => s === 503)).toHaveLength(2);
    expect(statuses.filter((s) => s === 200)).toHaveLength(6);
    expect(sim.stats()).toMatchObject({ served: 6, errors: 2 });
  });

  it("freezes during a stall: a request arriving in it waits for its end", async () => {
    sim = await startSimServer({ workers: 8, serviceTimeMs: 5, stallEveryMs: 600, stallMs: 450 });
    const latencies: number[] = [];
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    while (performance.now() - t0 < 1300) {
      const sent = performance.now();
      pending.push(
        speak(sim.url).then(async (r) => {
          await r.arrayBuffer();
          latencies.push(performance.now() - sent);
        }),
      );
      await new Promise((r) => setTimeout(r, 40));
    }
    await Promise.all(pending);
    // Requests sent in the first 200 ms of the stall [600, 1050) wait at least 250 ms.
    expect(Math.max(...latencies)).toBeGreaterThanOrEqual(250);
  });

  it("streams the clip in chunks spaced by gapMs, and its engineConfig drives the openai engine", async () => {
    sim = await startSimServer({ workers: 1, serviceTimeMs: 10, stream: { chunks: 4, gapMs: 60 } });
    const engine = createEngine(sim.engineConfig("sim"), { defaultTimeoutSeconds: 10, env: {} });
    const result = await engine.synthesize({ text: "Hello.", signal: new AbortController().signal });
    expect(result.audio.length).toBe(sim.wav.length);
    // Chunks leave on a plan (10 ms, then three gaps of 60 ms from the request's arrival), so a late
    // first chunk shortens the gap after it: the whole answer still takes at least 190 ms.
    expect(result.timings.end - result.timings.start).toBeGreaterThanOrEqual(185);
    expect(result.timings.chunks?.length).toBeGreaterThanOrEqual(4);
    expect(sim.stats().served).toBe(1);
  });
});
