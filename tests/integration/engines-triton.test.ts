import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decodeAudio } from "../../src/audio/decode.ts";
import type { EngineConfig } from "../../src/config/schema.ts";
import { createEngine } from "../../src/engines/index.ts";
import { runProbe } from "../../src/probes/probe.ts";
import {
  context,
  expectEngineError,
  expectOrderedTimings,
  TEXT,
  timeout,
} from "../helpers/tts-servers/expect-engine.ts";
import { type KServeServer, startKServeServer } from "../helpers/tts-servers/kserve-server.ts";
import { fliteWav, wavToPcm } from "../helpers/tts-servers/real-audio.ts";

const SLACK_MS = 1000;
let server: KServeServer;
type TritonConfig = Extract<EngineConfig, { type: "triton" }>;
const { pcm, rate } = { ...wavToPcm(fliteWav(TEXT)) };
const flite = new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.length));

const triton = (extra: Partial<TritonConfig> = {}) =>
  createEngine(
    {
      name: "cosyvoice",
      type: "triton",
      enabled: true,
      url: server.url,
      model: "tts",
      input_name: "target_text",
      input_shape: [1, 1],
      voice_input: "reference_voice",
      output_name: "waveform",
      output_datatype: "FP32",
      sample_rate: rate,
      binary_output: false,
      voice: "zh_female",
      ...extra,
    },
    context,
  );

beforeAll(async () => {
  server = await startKServeServer({
    name: "tts",
    version: "1",
    textInput: "target_text",
    voiceInput: "reference_voice",
    output: "waveform",
    datatype: "FP32",
  });
});
afterAll(() => server.close());
beforeEach(() => {
  server.behaviour = {};
  server.requests.length = 0;
  server.model = { ...server.model, datatype: "FP32" };
});

describe("triton engine (KServe v2 HTTP)", () => {
  for (const binary_output of [false, true]) {
    it(`sends the text and voice as BYTES tensors and reads flite's FP32 waveform (binary_output ${binary_output})`, async () => {
      const result = await triton({ binary_output }).synthesize({ text: TEXT, signal: timeout(10_000) });
      const req = server.requests[0];
      expect(req?.path).toBe("/v2/models/tts/infer");
      expect(req?.body).toEqual({
        inputs: [
          { name: "target_text", shape: [1, 1], datatype: "BYTES", data: [TEXT] },
          { name: "reference_voice", shape: [1, 1], datatype: "BYTES", data: ["zh_female"] },
        ],
        outputs: [{ name: "waveform", ...(binary_output ? { parameters: { binary_data: true } } : {}) }],
      });
      expect(result.format).toEqual({ kind: "pcm", sampleRate: rate, channels: 1, encoding: "f32le" });
      const decoded = decodeAudio(result.audio, result.format);
      expect(decoded.samples.length).toBe(flite.length);
      for (const i of [100, 5000, 20000]) expect(decoded.samples[i]).toBeCloseTo((flite[i] ?? 0) / 32768, 6);
      expectOrderedTimings(result);
    });
  }

  it("reads an INT16 output and addresses a model version", async () => {
    server.model = { ...server.model, datatype: "INT16" };
    const result = await triton({ output_datatype: "INT16", model_version: "1" }).synthesize({
      text: TEXT,
      signal: timeout(10_000),
    });
    expect(server.requests[0]?.path).toBe("/v2/models/tts/versions/1/infer");
    expect(Buffer.from(result.audio).equals(pcm)).toBe(true);
  });

  for (const delayMs of [50, 300, 1500]) {
    it(`a ${delayMs} ms delay: latency and TTFA in [${delayMs}, ${delayMs} + ${SLACK_MS}) ms`, async () => {
      server.behaviour = { delayMs };
      const { timings: t } = await triton().synthesize({ text: TEXT, signal: timeout(10_000) });
      for (const measured of [t.end - t.start, (t.firstAudio ?? Number.NaN) - t.start]) {
        expect(measured).toBeGreaterThanOrEqual(delayMs);
        expect(measured).toBeLessThan(delayMs + SLACK_MS);
      }
    });
  }
});

describe("triton: KServe error bodies and broken answers have bounded reasons", () => {
  it("an error body: http_status with the server's message", async () => {
    server.behaviour = { fault: "http-500" };
    const e = await expectEngineError(
      triton().synthesize({ text: TEXT, signal: timeout(5000) }),
      "http_status",
    );
    expect(e.message).toContain("CUDA out of memory");
    expect(e.status).toBe(500);
  });

  it("an unknown model (404) and a wrong input name (400): http_status naming the problem", async () => {
    const missing = await expectEngineError(
      triton({ model: "nope" }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "http_status",
    );
    expect(missing.message).toContain("unknown model");
    const input = await expectEngineError(
      triton({ input_name: "text" }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "http_status",
    );
    expect(input.message).toContain("unexpected inference input");
  });

  for (const [fault, reason, extra] of [
    ["no-output", "protocol", {}],
    ["not-json", "protocol", {}],
    ["shape-mismatch", "protocol", {}],
    ["string-values", "bad_audio", {}],
    ["cut-binary", "protocol", { binary_output: true }],
  ] as const) {
    it(`${fault} → ${reason}, and the probe reports it without throwing`, async () => {
      server.behaviour = { fault };
      await expectEngineError(triton(extra).synthesize({ text: TEXT, signal: timeout(5000) }), reason);
      const probe = await runProbe(triton(extra), TEXT, 5000);
      expect(probe.reason).toBe(reason);
    });
  }

  it("a datatype other than the configured one: protocol", async () => {
    server.model = { ...server.model, datatype: "INT16" };
    const e = await expectEngineError(triton().synthesize({ text: TEXT, signal: timeout(5000) }), "protocol");
    expect(e.message).toContain('"INT16", configured FP32');
  });
});
