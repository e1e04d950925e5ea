import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
import { type HttpTtsServer, startHttpTtsServer } from "../helpers/tts-servers/http-tts-server.ts";
import { fliteWav, wavStats, wavToPcm } from "../helpers/tts-servers/real-audio.ts";

let server: HttpTtsServer;
type OpenAiConfig = Extract<EngineConfig, { type: "openai" }>;
const openai = (extra: Partial<OpenAiConfig> = {}, env: Record<string, string> = {}) =>
  createEngine(
    {
      name: "kokoro",
      type: "openai",
      enabled: true,
      url: `${server.url}/v1/audio/speech`,
      model: "kokoro",
      voice: "af_heart",
      response_format: "wav",
      ...extra,
    },
    { ...context, env },
  );

beforeAll(async () => {
  server = await startHttpTtsServer();
  fliteWav(TEXT);
});
afterAll(() => server.close());
beforeEach(() => {
  server.behaviour = {};
  server.requests.length = 0;
});

describe("openai engine", () => {
  it("POSTs {model, input, voice, response_format} and reads a real WAV", async () => {
    const result = await openai().synthesize({ text: TEXT, signal: timeout(5000) });
    const req = server.requests[0];
    expect(req?.method).toBe("POST");
    expect(JSON.parse(req?.body ?? "")).toEqual({
      model: "kokoro",
      input: TEXT,
      voice: "af_heart",
      response_format: "wav",
    });
    expect(result.voice).toBe("af_heart");
    expect(result.format).toEqual({ kind: "wav" });
    expect(wavStats(result.audio).seconds).toBeGreaterThan(2);
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    expectOrderedTimings(result);
  });

  it("pcm: sample rate from the Content-Type (audio/pcm;rate=16000)", async () => {
    const result = await openai({ response_format: "pcm" }).synthesize({ text: TEXT, signal: timeout(5000) });
    expect(result.format).toEqual({ kind: "pcm", sampleRate: 16_000, channels: 1, encoding: "s16le" });
    expect(Buffer.from(result.audio).equals(wavToPcm(fliteWav(TEXT)).pcm)).toBe(true);
  });

  it("pcm: sample rate from config when the Content-Type says nothing, 24 kHz by default", async () => {
    server.behaviour = { contentType: "application/octet-stream" };
    const configured = await openai({ response_format: "pcm", sample_rate: 16_000 }).synthesize({
      text: TEXT,
      signal: timeout(5000),
    });
    expect(configured.format).toMatchObject({ kind: "pcm", sampleRate: 16_000 });
    const defaulted = await openai({ response_format: "pcm" }).synthesize({
      text: TEXT,
      signal: timeout(5000),
    });
    expect(defaulted.format).toMatchObject({ kind: "pcm", sampleRate: 24_000 });
  });

  it("sends the API key from api_key_env as a bearer token, and auth_header from a file", async () => {
    const keyFile = join(tmpdir(), `tts-test-key-${process.pid}`);
    writeFileSync(keyFile, "file-secret\n");
    await openai(
      { api_key_env: "TEST_OPENAI_KEY", auth_header: { name: "X-Api-Key", value_file: keyFile } },
      { TEST_OPENAI_KEY: "sk-test" },
    ).synthesize({ text: TEXT, signal: timeout(5000) });
    expect(server.requests[0]?.headers.authorization).toBe("Bearer sk-test");
    expect(server.requests[0]?.headers["x-api-key"]).toBe("file-secret");
  });

  it("a missing API key variable is an `auth` failure before any request", async () => {
    await expectEngineError(
      openai({ api_key_env: "NOT_SET_ANYWHERE" }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "auth",
    );
    expect(server.requests).toHaveLength(0);
  });

  it("streamed body: TTFA is the first chunk past the WAV header, not the end", async () => {
    server.behaviour = { stream: { firstMs: 50, restMs: 200 } };
    const result = await openai().synthesize({ text: TEXT, signal: timeout(5000) });
    expectOrderedTimings(result);
    const t = result.timings;
    expect((t.firstAudio ?? 0) - t.start).toBeGreaterThanOrEqual(50);
    expect(t.end - (t.firstAudio ?? 0)).toBeGreaterThanOrEqual(190);
  });
});

describe("openai engine failures", () => {
  it("connection refused → `connection`", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    await expectEngineError(
      openai({ url: `http://127.0.0.1:${port}/v1/audio/speech` }).synthesize({
        text: TEXT,
        signal: timeout(5000),
      }),
      "connection",
    );
  });

  it("a hung server → `timeout` within timeout + 1 s (engine timeout_seconds)", async () => {
    server.behaviour = { body: "hang" };
    const t0 = performance.now();
    await expectEngineError(
      openai({ timeout_seconds: 0.5 }).synthesize({ text: TEXT, signal: timeout(60_000) }),
      "timeout",
    );
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it("the caller's abort: TimeoutError → `timeout`, any other abort → `other`", async () => {
    server.behaviour = { body: "hang" };
    await expectEngineError(openai().synthesize({ text: TEXT, signal: timeout(200) }), "timeout");
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expectEngineError(openai().synthesize({ text: TEXT, signal: controller.signal }), "other");
  });

  it("HTTP 500 → `http_status` with the status kept", async () => {
    server.behaviour = { status: 500 };
    const error = await expectEngineError(
      openai().synthesize({ text: TEXT, signal: timeout(5000) }),
      "http_status",
    );
    expect(error.status).toBe(500);
    expect(error.message).toMatch(/HTTP 500.*synthesis failed/);
  });

  it("HTTP 401 (and 403) → `auth`", async () => {
    server.behaviour = { status: 401 };
    expect(
      (await expectEngineError(openai().synthesize({ text: TEXT, signal: timeout(5000) }), "auth")).status,
    ).toBe(401);
    server.behaviour = { status: 403 };
    await expectEngineError(openai().synthesize({ text: TEXT, signal: timeout(5000) }), "auth");
  });

  it("empty body → `empty_audio` (wav and pcm)", async () => {
    server.behaviour = { body: "empty" };
    await expectEngineError(openai().synthesize({ text: TEXT, signal: timeout(5000) }), "empty_audio");
    await expectEngineError(
      openai({ response_format: "pcm" }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "empty_audio",
    );
  });

  it("an HTML page or a JSON error with status 200 → `bad_audio` (wav and pcm)", async () => {
    for (const body of ["html", "json"] as const) {
      server.behaviour = { body };
      await expectEngineError(openai().synthesize({ text: TEXT, signal: timeout(5000) }), "bad_audio");
      await expectEngineError(
        openai({ response_format: "pcm" }).synthesize({ text: TEXT, signal: timeout(5000) }),
        "bad_audio",
      );
    }
  });

  it("a truncated WAV (header promises more samples than sent) → `bad_audio`", async () => {
    server.behaviour = { body: "truncated-wav" };
    const error = await expectEngineError(
      openai().synthesize({ text: TEXT, signal: timeout(5000) }),
      "bad_audio",
    );
    expect(error.message).toMatch(/truncated/);
  });

  it("the connection dropped mid-body → `connection`", async () => {
    server.behaviour = { body: "reset-mid-body" };
    await expectEngineError(openai().synthesize({ text: TEXT, signal: timeout(5000) }), "connection");
  });
});
