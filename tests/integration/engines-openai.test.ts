import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decodeAudio } from "../../src/audio/decode.ts";
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

  it("Kokoro-FastAPI's default stream: chunked WAV with 0xFFFFFFFF sizes and a LIST chunk, read to the end", async () => {
    server.behaviour = { kokoro: true };
    const result = await openai().synthesize({ text: TEXT, signal: timeout(5000) });
    const decoded = decodeAudio(result.audio, result.format);
    const { pcm, rate } = wavToPcm(fliteWav(TEXT));
    expect(decoded.sampleRate).toBe(rate);
    expect(decoded.samples.length).toBe(pcm.length / 2);
    expectOrderedTimings(result);
  });

  it("sends Accept-Encoding: identity, and still decodes a body a server or proxy gzipped anyway", async () => {
    server.behaviour = { contentEncoding: "gzip" };
    const result = await openai().synthesize({ text: TEXT, signal: timeout(5000) });
    expect(server.requests[0]?.headers["accept-encoding"]).toBe("identity");
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    expectOrderedTimings(result);
  });

  it("follows FastAPI's 307 for a URL with a trailing slash, re-sending the POST body", async () => {
    const result = await openai({ url: `${server.url}/v1/audio/speech/` }).synthesize({
      text: TEXT,
      signal: timeout(5000),
    });
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /v1/audio/speech/",
      "POST /v1/audio/speech",
    ]);
    expect(JSON.parse(server.requests[1]?.body ?? "").input).toBe(TEXT);
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    expect(result.timings.start).toBeLessThan(server.requests[0]?.arrivedAt ?? 0);
  });

  it("a redirect to another origin does not carry the credentials", async () => {
    const other = await startHttpTtsServer();
    try {
      server.behaviour = { redirect: { status: 308, location: `${other.url}/v1/audio/speech` } };
      const result = await openai({ api_key_env: "K" }, { K: "sk-secret" }).synthesize({
        text: TEXT,
        signal: timeout(5000),
      });
      expect(server.requests[0]?.headers.authorization).toBe("Bearer sk-secret");
      expect(other.requests[0]?.headers.authorization).toBeUndefined();
      expect(other.requests[0]?.headers["content-type"]).toBe("application/json");
      expect(wavStats(result.audio).seconds).toBeGreaterThan(2);
    } finally {
      await other.close();
    }
  });

  it("streamed body: TTFA is the first chunk past the WAV header, not the end", async () => {
    server.behaviour = { stream: { firstMs: 50, restMs: 200 } };
    const result = await openai().synthesize({ text: TEXT, signal: timeout(5000) });
    expectOrderedTimings(result);
    const t = result.timings;
    expect((t.firstAudio ?? 0) - t.start).toBeGreaterThanOrEqual(50);
    expect(t.firstAudio).toBeLessThan(t.end); // the rest came 200 ms after it
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

  it("a key Node cannot send as a header (a newline in it) is an engine failure, not a crash", async () => {
    const error = await expectEngineError(
      openai({ api_key_env: "K" }, { K: "sk-one\nsk-two" }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "other",
    );
    expect(error.message).not.toContain("sk-one");
    expect(server.requests).toHaveLength(0);
  });

  it("a 301/302/303 answer to the POST → `http_status` naming the URL to configure", async () => {
    server.behaviour = { redirect: { status: 301, location: "/api/v1/audio/speech" } };
    const error = await expectEngineError(
      openai().synthesize({ text: TEXT, signal: timeout(5000) }),
      "http_status",
    );
    expect(error.message).toContain(`${server.url}/api/v1/audio/speech`);
    expect(server.requests).toHaveLength(1);
  });

  it("a redirect loop → `http_status` after a bounded number of hops", async () => {
    server.behaviour = { redirect: { status: 307, location: "/v1/audio/speech" } };
    const error = await expectEngineError(
      openai().synthesize({ text: TEXT, signal: timeout(5000) }),
      "http_status",
    );
    expect(error.message).toMatch(/redirects/);
    expect(server.requests.length).toBeLessThanOrEqual(6);
  });

  it("a server that ignores response_format (Ogg, FLAC: real audio, not WAV nor PCM) → `bad_audio` (wav and pcm)", async () => {
    for (const compressed of ["ogg", "flac"] as const) {
      server.behaviour = { compressed };
      const name = compressed === "ogg" ? "Ogg" : "FLAC";
      const wav = await expectEngineError(
        openai().synthesize({ text: TEXT, signal: timeout(5000) }),
        "bad_audio",
      );
      expect(wav.message).toContain(`${name} audio`);
      const pcm = await expectEngineError(
        openai({ response_format: "pcm" }).synthesize({ text: TEXT, signal: timeout(5000) }),
        "bad_audio",
      );
      expect(pcm.message).toContain(`${name} audio`);
    }
  });

  it("the connection dropped mid-body → `connection`", async () => {
    server.behaviour = { body: "reset-mid-body" };
    await expectEngineError(openai().synthesize({ text: TEXT, signal: timeout(5000) }), "connection");
  });
});
