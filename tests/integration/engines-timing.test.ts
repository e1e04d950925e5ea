import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/engines/index.ts";
import type { Engine } from "../../src/engines/types.ts";
import { context, TEXT, timeout } from "../helpers/tts-servers/expect-engine.ts";
import { type HttpTtsServer, startHttpTtsServer } from "../helpers/tts-servers/http-tts-server.ts";
import { fliteWav } from "../helpers/tts-servers/real-audio.ts";
import { startWyomingServer, type WyomingTestServer } from "../helpers/tts-servers/wyoming-server.ts";

// Issue 3 item 3: measured latency and TTFA are never below the delay the server injects (that holds
// on any machine: the server answers no earlier than the delay), and they are that delay, not some
// other span (a second request, the whole stream): under a second above it, however loaded the
// machine. How close to the delay they are (connect + transfer + timer lateness) is a figure for a
// benchmark, not a test that a busy CI machine would fail.
const SLACK_MS = 1000;

let http: HttpTtsServer;
let wyoming: WyomingTestServer;
let openai: Engine;
let openaiPcm: Engine;
let wyomingEngine: Engine;

beforeAll(async () => {
  http = await startHttpTtsServer();
  wyoming = await startWyomingServer();
  fliteWav(TEXT);
  const url = `${http.url}/v1/audio/speech`;
  const base = { type: "openai", enabled: true, url, model: "m", voice: "v" } as const;
  openai = createEngine({ ...base, name: "openai-wav", response_format: "wav" }, context);
  openaiPcm = createEngine({ ...base, name: "openai-pcm", response_format: "pcm" }, context);
  wyomingEngine = createEngine({ name: "wy", type: "wyoming", enabled: true, url: wyoming.url }, context);
  // Warm the code paths (JIT, first connection) so that the first measured case is not a cold one.
  for (const e of [openai, openaiPcm, wyomingEngine])
    await e.synthesize({ text: TEXT, signal: timeout(5000) });
});
afterAll(async () => {
  await http.close();
  await wyoming.close();
});

const within = (measured: number, injected: number) => {
  expect(measured).toBeGreaterThanOrEqual(injected);
  expect(measured).toBeLessThan(injected + SLACK_MS);
};

describe.each([
  ["openai wav", () => openai, (b: object) => (http.behaviour = b)],
  ["openai pcm", () => openaiPcm, (b: object) => (http.behaviour = b)],
  ["wyoming", () => wyomingEngine, (b: object) => (wyoming.behaviour = b)],
] as const)("timing accuracy: %s", (_name, engine, setBehaviour) => {
  for (const delayMs of [50, 300, 1500]) {
    it(`a ${delayMs} ms delay before answering: latency and TTFA in [${delayMs}, ${delayMs} + ${SLACK_MS}) ms`, async () => {
      setBehaviour({ delayMs });
      const { timings: t } = await engine().synthesize({ text: TEXT, signal: timeout(5000) });
      within(t.end - t.start, delayMs);
      within((t.firstAudio ?? Number.NaN) - t.start, delayMs);
    });
  }

  it("streaming, first chunk after 100 ms and the rest 400 ms later: TTFA from 100 ms, latency from 500 ms, TTFA first", async () => {
    setBehaviour({ stream: { firstMs: 100, restMs: 400 } });
    const { timings: t } = await engine().synthesize({ text: TEXT, signal: timeout(5000) });
    within((t.firstAudio ?? Number.NaN) - t.start, 100);
    within(t.end - t.start, 500);
    // The first audio is the first chunk's, not the end of the stream's.
    expect(t.firstAudio).toBeLessThan(t.end);
  });
});
