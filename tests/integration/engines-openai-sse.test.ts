import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EngineConfig } from "../../src/config/schema.ts";
import { createEngine } from "../../src/engines/index.ts";
import { type AudioChunk, chunkGapsSeconds } from "../../src/engines/types.ts";
import { SynthesisRecorder } from "../../src/ingest/recorder.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { runProbe } from "../../src/probes/probe.ts";
import { recordProbe } from "../../src/probes/record.ts";
import {
  context,
  expectEngineError,
  expectOrderedTimings,
  TEXT,
  timeout,
} from "../helpers/tts-servers/expect-engine.ts";
import { fliteWav, wavToPcm } from "../helpers/tts-servers/real-audio.ts";
import { type SseSpeechServer, startSseSpeechServer } from "../helpers/tts-servers/sse-speech-server.ts";

// OpenAI's streamed speech (stream_format "sse") against a server written from the API reference,
// serving flite's real speech; timing bounds as in engines-timing.test.ts (never below the injected
// delay, under a second above it).
const SLACK_MS = 1000;

let server: SseSpeechServer;
type OpenAiConfig = Extract<EngineConfig, { type: "openai" }>;
const sse = (extra: Partial<OpenAiConfig> = {}) =>
  createEngine(
    {
      name: "gpt",
      type: "openai",
      enabled: true,
      url: `${server.url}/v1/audio/speech`,
      model: "gpt-4o-mini-tts",
      voice: "alloy",
      response_format: "wav",
      stream_format: "sse",
      ...extra,
    },
    context,
  );

beforeAll(async () => {
  server = await startSseSpeechServer();
  fliteWav(TEXT);
  await sse().synthesize({ text: TEXT, signal: timeout(5000) }); // warm
});
afterAll(() => server.close());
beforeEach(() => {
  server.behaviour = {};
  server.requests.length = 0;
});

const within = (measured: number, injected: number) => {
  expect(measured).toBeGreaterThanOrEqual(injected);
  expect(measured).toBeLessThan(injected + SLACK_MS);
};

describe("openai engine, stream_format sse", () => {
  it("asks for SSE and joins the deltas into flite's WAV, one chunk per delta", async () => {
    const chunks: AudioChunk[] = [];
    const result = await sse().synthesize({
      text: TEXT,
      signal: timeout(5000),
      onChunk: (c) => chunks.push(c),
    });
    expect(server.requests[0]).toEqual({
      model: "gpt-4o-mini-tts",
      input: TEXT,
      voice: "alloy",
      response_format: "wav",
      stream_format: "sse",
    });
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    expect(result.format).toEqual({ kind: "wav" });
    expect(chunks).toHaveLength(4);
    expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(fliteWav(TEXT))).toBe(true);
    expect(result.timings.chunks).toHaveLength(4);
    expectOrderedTimings(result);
  });

  it("reads pcm deltas at the configured sample rate", async () => {
    const { pcm, rate } = wavToPcm(fliteWav(TEXT));
    const result = await sse({ response_format: "pcm", sample_rate: rate }).synthesize({
      text: TEXT,
      signal: timeout(5000),
    });
    expect(Buffer.from(result.audio).equals(pcm)).toBe(true);
    expect(result.format).toEqual({ kind: "pcm", sampleRate: rate, channels: 1, encoding: "s16le" });
  });

  for (const framing of ["crlf-comments-multiline", "cr", "dribble"] as const) {
    it(`reads the same audio framed as ${framing}`, async () => {
      server.behaviour = { framing, pieces: 9 };
      const result = await sse().synthesize({ text: TEXT, signal: timeout(10_000) });
      expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    });
  }

  for (const delayMs of [50, 300, 1500]) {
    it(`a ${delayMs} ms delay: latency and TTFA in [${delayMs}, ${delayMs} + ${SLACK_MS}) ms`, async () => {
      server.behaviour = { delayMs };
      const { timings: t } = await sse().synthesize({ text: TEXT, signal: timeout(5000) });
      within(t.end - t.start, delayMs);
      within((t.firstAudio ?? Number.NaN) - t.start, delayMs);
    });
  }

  it("first delta after 100 ms, the rest 400 ms later: TTFA, latency and the stall as injected, in the probe's histograms", async () => {
    server.behaviour = { stream: { firstMs: 100, restMs: 400 } };
    const engine = sse();
    const { timings: t } = await engine.synthesize({ text: TEXT, signal: timeout(5000) });
    within((t.firstAudio ?? Number.NaN) - t.start, 100);
    within(t.end - t.start, 500);
    // The rest leaves the server 400 ms after the first delta; a first delta read late shortens the gap
    // by as much, so what holds on any machine is TTFA + stall ≥ 500 ms.
    const ttfa = (t.firstAudio ?? Number.NaN) - t.start;
    const stall = Math.max(...chunkGapsSeconds(t)) * 1000;
    expect(ttfa + stall).toBeGreaterThanOrEqual(500);
    expect(stall).toBeLessThan(400 + SLACK_MS);

    const registry = new MetricsRegistry();
    const recorder = new SynthesisRecorder(registry, {
      cacheWindowSeconds: 300,
      maxEngines: 5,
      maxVoices: 5,
    });
    const result = await runProbe(engine, TEXT, 5000);
    expect(result.success, result.error).toBe(true);
    recordProbe(result, registry, recorder);
    const body = (await registry.render(false)).body;
    const labels = 'engine="gpt",voice="alloy",source="probe"';
    expect(body).toContain(`tts_stall_seconds_count{${labels}} 1`);
    expect(body).toContain(`tts_inter_chunk_gap_seconds_count{${labels}} 3`);
    const recorded = Number(new RegExp(`tts_stall_seconds_sum\\{${labels}\\} (\\S+)`).exec(body)?.[1]);
    expect(recorded * 1000 + (result.ttfaMs ?? Number.NaN)).toBeGreaterThanOrEqual(500);
    expect(recorded * 1000).toBeLessThan(400 + SLACK_MS);
  });
});

describe("openai sse: every broken answer has a bounded reason", () => {
  for (const [fault, reason] of [
    ["malformed-json", "protocol"],
    ["bad-base64", "bad_audio"],
    ["no-done", "protocol"],
    ["error-event", "protocol"],
    ["not-sse", "protocol"],
    ["http-500", "http_status"],
    ["no-audio", "empty_audio"],
  ] as const) {
    it(`${fault} → ${reason}, and the probe reports it without throwing`, async () => {
      server.behaviour = { fault };
      const error = await expectEngineError(sse().synthesize({ text: TEXT, signal: timeout(5000) }), reason);
      expect(error.message).toMatch(/^engine gpt \(openai /);
      const probe = await runProbe(sse(), TEXT, 5000);
      expect(probe.success).toBe(false);
      expect(probe.reason).toBe(reason);
    });
  }
});
