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
import { fliteWav } from "../helpers/tts-servers/real-audio.ts";

// Coqui (`/api/tts`), Piper HTTP (`/synthesize`, older `POST /`) and MaryTTS (`/process`) against a
// local server that reads each request as the project's docs describe and answers real flite audio.

let server: HttpTtsServer;
beforeAll(async () => {
  server = await startHttpTtsServer();
  fliteWav(TEXT);
});
afterAll(() => server.close());
beforeEach(() => {
  server.behaviour = {};
  server.requests.length = 0;
  server.piperDialect = "synthesize";
  server.coqui = {};
});

const configs = {
  coqui: (): EngineConfig => ({
    name: "coqui",
    type: "coqui",
    enabled: true,
    url: server.url,
    speaker_id: "p225",
    language_id: "en",
  }),
  piper: (): EngineConfig => ({
    name: "piper",
    type: "piper",
    enabled: true,
    url: server.url,
    voice: "en_US-lessac-medium",
  }),
  marytts: (): EngineConfig => ({
    name: "mary",
    type: "marytts",
    enabled: true,
    url: server.url,
    voice: "cmu-slt-hsmm",
    locale: "en_US",
  }),
};

describe("coqui engine", () => {
  it("GET /api/tts?text=&speaker_id=&language_id= → WAV", async () => {
    const result = await createEngine(configs.coqui(), context).synthesize({
      text: TEXT,
      signal: timeout(5000),
    });
    const req = server.requests[0];
    expect(req?.method).toBe("GET");
    expect(req?.path).toBe("/api/tts");
    expect(req?.query.get("text")).toBe(TEXT);
    expect(req?.query.get("speaker_id")).toBe("p225");
    expect(req?.query.get("language_id")).toBe("en");
    expect(result.voice).toBe("p225");
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    expectOrderedTimings(result);
  });

  it("sends no speaker_id / language_id it was not given: the server's --speaker_idx / --language_idx apply", async () => {
    // idiap/coqui-ai-TTS reads an empty speaker_id or language_id as none, which XTTS or VCTK refuse
    server.coqui = { defaultSpeaker: "p225", defaultLanguage: "en" };
    const result = await createEngine(
      { name: "xtts", type: "coqui", enabled: true, url: server.url },
      context,
    ).synthesize({ text: TEXT, signal: timeout(5000) });
    const q = server.requests[0]?.query;
    expect([...(q?.keys() ?? [])]).toEqual(["text"]);
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
  });
});

describe("marytts engine", () => {
  it("GET /process with INPUT_TEXT, INPUT_TYPE=TEXT, OUTPUT_TYPE=AUDIO, AUDIO=WAVE_FILE, LOCALE, VOICE → WAV", async () => {
    const result = await createEngine(configs.marytts(), context).synthesize({
      text: TEXT,
      signal: timeout(5000),
    });
    const q = server.requests[0]?.query;
    expect(server.requests[0]?.path).toBe("/process");
    expect(Object.fromEntries(q ?? [])).toEqual({
      INPUT_TEXT: TEXT,
      INPUT_TYPE: "TEXT",
      OUTPUT_TYPE: "AUDIO",
      AUDIO: "WAVE_FILE",
      LOCALE: "en_US",
      VOICE: "cmu-slt-hsmm",
    });
    expect(result.voice).toBe("cmu-slt-hsmm");
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    expectOrderedTimings(result);
  });
});

describe("piper engine", () => {
  it("POST /synthesize with JSON {text, voice} → WAV", async () => {
    const result = await createEngine(configs.piper(), context).synthesize({
      text: TEXT,
      signal: timeout(5000),
    });
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /synthesize"]);
    expect(JSON.parse(server.requests[0]?.body ?? "")).toEqual({ text: TEXT, voice: "en_US-lessac-medium" });
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    expectOrderedTimings(result);
  });

  it("reads the WAV whatever the Content-Type (Flask sends piper's bytes as text/html)", async () => {
    server.piperDialect = "root-json";
    const result = await createEngine(configs.piper(), context).synthesize({
      text: TEXT,
      signal: timeout(5000),
    });
    expect(result.format).toEqual({ kind: "wav" });
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
  });

  it("older server: /synthesize is 404 → POST / with the text as body, remembered for the next calls", async () => {
    server.piperDialect = "root-text";
    const engine = createEngine(configs.piper(), context);
    const result = await engine.synthesize({ text: TEXT, signal: timeout(5000) });
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /synthesize", "POST /"]);
    expect(server.requests[1]?.body).toBe(TEXT);
    await engine.synthesize({ text: TEXT, signal: timeout(5000) });
    expect(server.requests.map((r) => `${r.method} ${r.path}`).slice(2)).toEqual(["POST /"]);
  });

  it("a server that only parses JSON on POST /: falls through to JSON", async () => {
    server.piperDialect = "root-json";
    const result = await createEngine(configs.piper(), context).synthesize({
      text: TEXT,
      signal: timeout(5000),
    });
    expect(Buffer.from(result.audio).equals(fliteWav(TEXT))).toBe(true);
    expect(JSON.parse(server.requests.at(-1)?.body ?? "")).toEqual({
      text: TEXT,
      voice: "en_US-lessac-medium",
    });
  });
});

describe.each(["coqui", "piper", "marytts"] as const)("%s engine failures", (type) => {
  const engine = (extra: object = {}) =>
    createEngine({ ...configs[type](), ...extra } as EngineConfig, context);

  it("connection refused → `connection`", async () => {
    await expectEngineError(
      engine({ url: "http://127.0.0.1:1" }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "connection",
    );
  });
  it("hang → `timeout` within timeout + 1 s", async () => {
    server.behaviour = { body: "hang" };
    const t0 = performance.now();
    await expectEngineError(
      engine({ timeout_seconds: 0.5 }).synthesize({ text: TEXT, signal: timeout(60_000) }),
      "timeout",
    );
    expect(performance.now() - t0).toBeLessThan(1500);
  });
  it("HTTP 500 → `http_status`, 401 → `auth`", async () => {
    server.behaviour = { status: 500 };
    expect(
      (await expectEngineError(engine().synthesize({ text: TEXT, signal: timeout(5000) }), "http_status"))
        .status,
    ).toBe(500);
    server.behaviour = { status: 401 };
    await expectEngineError(engine().synthesize({ text: TEXT, signal: timeout(5000) }), "auth");
  });
  it("empty body → `empty_audio`; HTML → `bad_audio`; truncated WAV → `bad_audio`", async () => {
    server.behaviour = { body: "empty" };
    await expectEngineError(engine().synthesize({ text: TEXT, signal: timeout(5000) }), "empty_audio");
    server.behaviour = { body: "html" };
    await expectEngineError(engine().synthesize({ text: TEXT, signal: timeout(5000) }), "bad_audio");
    server.behaviour = { body: "truncated-wav" };
    await expectEngineError(engine().synthesize({ text: TEXT, signal: timeout(5000) }), "bad_audio");
  });
  it("sends auth_header from the environment", async () => {
    const e = createEngine(
      { ...configs[type](), auth_header: { name: "Authorization", value_env: "TTS_TOKEN" } } as EngineConfig,
      { ...context, env: { TTS_TOKEN: "Bearer abc" } },
    );
    await e.synthesize({ text: TEXT, signal: timeout(5000) });
    expect(server.requests[0]?.headers.authorization).toBe("Bearer abc");
  });
});
