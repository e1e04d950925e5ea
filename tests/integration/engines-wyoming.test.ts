import { createServer } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EngineConfig } from "../../src/config/schema.ts";
import { createEngine } from "../../src/engines/index.ts";
import {
  context,
  expectEngineError,
  expectOrderedTimings,
  TEXT,
  timeout,
} from "../helpers/tts-servers/expect-engine.ts";
import { fliteWav, wavToPcm } from "../helpers/tts-servers/real-audio.ts";
import { startWyomingServer, type WyomingTestServer } from "../helpers/tts-servers/wyoming-server.ts";

let server: WyomingTestServer;
type WyomingConfig = Extract<EngineConfig, { type: "wyoming" }>;
const wyoming = (extra: Partial<WyomingConfig> = {}) =>
  createEngine(
    { name: "piper-wyoming", type: "wyoming", enabled: true, url: server.url, voice: "slt", ...extra },
    context,
  );

beforeAll(async () => {
  server = await startWyomingServer();
  fliteWav(TEXT);
});
afterAll(() => server.close());
beforeEach(() => {
  server.behaviour = {};
  server.connections.length = 0;
});

describe("wyoming engine", () => {
  it("synthesize → audio-start, audio-chunks, audio-stop: real PCM in the audio-start format", async () => {
    const result = await wyoming().synthesize({ text: TEXT, signal: timeout(5000) });
    expect(server.connections[0]?.[0]).toMatchObject({
      type: "synthesize",
      data: { text: TEXT, voice: { name: "slt" } },
    });
    expect(result.format).toEqual({ kind: "pcm", sampleRate: 16_000, channels: 1, encoding: "s16le" });
    expect(Buffer.from(result.audio).equals(wavToPcm(fliteWav(TEXT)).pcm)).toBe(true);
    expect(result.voice).toBe("slt");
    expectOrderedTimings(result);
  });

  it("reads older servers that put data inline in the header line", async () => {
    server.behaviour = { inlineData: true };
    const result = await wyoming().synthesize({ text: TEXT, signal: timeout(5000) });
    expect(Buffer.from(result.audio).equals(wavToPcm(fliteWav(TEXT)).pcm)).toBe(true);
  });

  it("streaming where info says so: describe once, then synthesize-start/-chunk/-stop → synthesize-stopped", async () => {
    server.behaviour = { supportsStreaming: true };
    const engine = wyoming({ streaming: true });
    const text = "First sentence here. And a second one.";
    const result = await engine.synthesize({ text, signal: timeout(5000) });
    expect(server.connections[0]?.map((e) => e.type)).toEqual(["describe"]);
    expect(server.connections[1]?.map((e) => e.type)).toEqual([
      "synthesize-start",
      "synthesize-chunk",
      "synthesize",
      "synthesize-stop",
    ]);
    const expected = Buffer.concat(
      ["First sentence here.", "And a second one."].map((s) => wavToPcm(fliteWav(s)).pcm),
    );
    expect(Buffer.from(result.audio).equals(expected)).toBe(true);
    expectOrderedTimings(result);
    await engine.synthesize({ text, signal: timeout(5000) });
    expect(server.connections.filter((c) => c[0]?.type === "describe")).toHaveLength(1);
  });

  it("a server that sends no audio-start: the format comes from the audio-chunks, as Home Assistant reads it", async () => {
    server.behaviour = { noAudioStart: true };
    const result = await wyoming().synthesize({ text: TEXT, signal: timeout(5000) });
    expect(result.format).toEqual({ kind: "pcm", sampleRate: 16_000, channels: 1, encoding: "s16le" });
    expect(Buffer.from(result.audio).equals(wavToPcm(fliteWav(TEXT)).pcm)).toBe(true);
  });

  it("skips events of a type it does not know (a newer server's extras)", async () => {
    server.behaviour = { unknownEvent: true };
    const result = await wyoming().synthesize({ text: TEXT, signal: timeout(5000) });
    expect(Buffer.from(result.audio).equals(wavToPcm(fliteWav(TEXT)).pcm)).toBe(true);
  });

  it("streaming asked but not supported by the server: one-shot synthesize", async () => {
    server.behaviour = { supportsStreaming: false };
    await wyoming({ streaming: true }).synthesize({ text: TEXT, signal: timeout(5000) });
    expect(server.connections[1]?.map((e) => e.type)).toEqual(["synthesize"]);
  });
});

describe("wyoming engine failures", () => {
  it("connection refused → `connection`", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    await expectEngineError(
      wyoming({ url: `tcp://127.0.0.1:${port}` }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "connection",
    );
  });

  it("a silent server → `timeout` within timeout + 1 s", async () => {
    server.behaviour = { hang: true };
    const t0 = performance.now();
    await expectEngineError(
      wyoming({ timeout_seconds: 0.5 }).synthesize({ text: TEXT, signal: timeout(60_000) }),
      "timeout",
    );
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it("an error event → `protocol` with the server's text and code", async () => {
    server.behaviour = { error: { text: "Voice not found: slt", code: "voice-not-found" } };
    const error = await expectEngineError(
      wyoming().synthesize({ text: TEXT, signal: timeout(5000) }),
      "protocol",
    );
    expect(error.message).toMatch(/voice-not-found.*Voice not found: slt/);
  });

  it("only audio-stop (wyoming-piper's answer to a text with nothing to say) → `empty_audio`", async () => {
    await expectEngineError(wyoming().synthesize({ text: "  ", signal: timeout(5000) }), "empty_audio");
  });

  for (const broken of [
    "garbage-header",
    "bad-data-json",
    "close-mid-payload",
    "close-before-stop",
    "chunk-before-start",
  ] as const) {
    it(`broken framing (${broken}) → \`protocol\``, async () => {
      server.behaviour = { broken };
      await expectEngineError(wyoming().synthesize({ text: TEXT, signal: timeout(5000) }), "protocol");
    });
  }
});
