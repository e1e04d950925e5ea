import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/engines/index.ts";
import { type AudioChunk, chunkGapsSeconds, type Engine } from "../../src/engines/types.ts";
import { context, TEXT, timeout } from "../helpers/tts-servers/expect-engine.ts";
import { type HttpTtsServer, startHttpTtsServer } from "../helpers/tts-servers/http-tts-server.ts";
import { fliteWav } from "../helpers/tts-servers/real-audio.ts";
import { startWyomingServer, type WyomingTestServer } from "../helpers/tts-servers/wyoming-server.ts";

// The engine's audio as it arrives (SynthesisRequest.onChunk), for the gateway to stream on and for
// inter-chunk timing: the chunks, in order, are the result's audio, each arrives before the
// synthesis settles, and a stall the server injects between chunks shows as a gap at least that long.

let http: HttpTtsServer;
let wyoming: WyomingTestServer;
let openai: Engine;
let openaiPcm: Engine;
let wyomingEngine: Engine;
let command: Engine;

beforeAll(async () => {
  http = await startHttpTtsServer();
  wyoming = await startWyomingServer();
  fliteWav(TEXT);
  const url = `${http.url}/v1/audio/speech`;
  const base = { type: "openai", enabled: true, url, model: "m", voice: "v" } as const;
  openai = createEngine({ ...base, name: "openai-wav", response_format: "wav" }, context);
  openaiPcm = createEngine({ ...base, name: "openai-pcm", response_format: "pcm" }, context);
  wyomingEngine = createEngine({ name: "wy", type: "wyoming", enabled: true, url: wyoming.url }, context);
  command = createEngine(
    {
      name: "espeak-stdout",
      type: "command",
      enabled: true,
      command: ["espeak-ng", "--stdout", "{text}"],
      output: "stdout",
    },
    context,
  );
});
afterAll(async () => {
  await http.close();
  await wyoming.close();
});

async function collect(engine: Engine) {
  const chunks: AudioChunk[] = [];
  let settledAt: number | undefined;
  const result = await engine
    .synthesize({ text: TEXT, signal: timeout(10_000), onChunk: (c) => chunks.push(c) })
    .finally(() => {
      settledAt = performance.now();
    });
  return { result, chunks, settledAt: settledAt ?? Number.NaN };
}

describe.each([
  ["openai wav", () => openai, (b: object) => (http.behaviour = b), "wav"],
  ["openai pcm", () => openaiPcm, (b: object) => (http.behaviour = b), "pcm"],
  ["wyoming", () => wyomingEngine, (b: object) => (wyoming.behaviour = b), "pcm"],
] as const)("onChunk: %s", (_name, engine, setBehaviour, kind) => {
  it("the chunks, in order, are the result's audio, all before it settles, in the result's format", async () => {
    setBehaviour({});
    const { result, chunks, settledAt } = await collect(engine());
    expect(chunks.length).toBeGreaterThan(0);
    expect(Buffer.concat(chunks.map((c) => c.bytes))).toEqual(Buffer.from(result.audio));
    for (const c of chunks) {
      expect(c.format.kind).toBe(kind);
      expect(c.at).toBeLessThanOrEqual(settledAt);
    }
    if (kind === "pcm") expect(chunks[0]?.format).toEqual(result.format);
    expect(result.timings.chunks).toEqual(chunks.map((c) => c.at));
  });

  it("a 400 ms stall between the first chunk and the rest is a gap of at least 400 ms", async () => {
    setBehaviour({ stream: { firstMs: 50, restMs: 400 } });
    const { result } = await collect(engine());
    const gaps = chunkGapsSeconds(result.timings);
    expect(gaps.length).toBeGreaterThan(0);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(0.4 - 0.005);
  });
});

it("an HTTP error answer calls onChunk for none of its body", async () => {
  http.behaviour = { status: 500 };
  const chunks: AudioChunk[] = [];
  await expect(
    openai.synthesize({ text: TEXT, signal: timeout(10_000), onChunk: (c) => chunks.push(c) }),
  ).rejects.toThrow(/HTTP 500/);
  expect(chunks).toEqual([]);
  http.behaviour = {};
});

it("a command writing WAV to stdout: chunks as the program writes them, together the result's audio", async () => {
  const { result, chunks } = await collect(command);
  expect(chunks.length).toBeGreaterThan(0);
  expect(Buffer.concat(chunks.map((c) => c.bytes))).toEqual(Buffer.from(result.audio));
  expect(chunks.every((c) => c.format.kind === "wav")).toBe(true);
});
