import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EngineConfig } from "../../src/config/schema.ts";
import { createEngine } from "../../src/engines/index.ts";
import { type AudioChunk, chunkGapsSeconds } from "../../src/engines/types.ts";
import { runProbe } from "../../src/probes/probe.ts";
import {
  context,
  expectEngineError,
  expectOrderedTimings,
  TEXT,
  timeout,
} from "../helpers/tts-servers/expect-engine.ts";
import { fliteWav, wavToPcm } from "../helpers/tts-servers/real-audio.ts";
import { type RivaTestServer, selfSignedCert, startRivaServer } from "../helpers/tts-servers/riva-server.ts";

// Riva over gRPC against a server built from the vendored protos, serving flite's real speech,
// with timing injected: bounds as in engines-timing.test.ts.
const SLACK_MS = 1000;
let server: RivaTestServer;
type RivaConfig = Extract<EngineConfig, { type: "riva" }>;
const FLITE = wavToPcm(fliteWav(TEXT));

const riva = (extra: Partial<RivaConfig> = {}, env: Record<string, string> = {}) =>
  createEngine(
    {
      name: "riva",
      type: "riva",
      enabled: true,
      url: `grpc://${server.address}`,
      language_code: "en-US",
      sample_rate: FLITE.rate,
      streaming: false,
      voice: "English-US.Female-1",
      ...extra,
    },
    { ...context, env },
  );

beforeAll(async () => {
  server = await startRivaServer();
  await riva().synthesize({ text: TEXT, signal: timeout(10_000) }); // warm
});
afterAll(() => server.close());
beforeEach(() => {
  server.behaviour = {};
  server.requests.length = 0;
  delete server.token;
});

describe.each([false, true])("riva engine, streaming %s", (streaming) => {
  it("sends text, language, LINEAR_PCM, rate and voice, and reads flite's speech", async () => {
    const chunks: AudioChunk[] = [];
    const result = await riva({ streaming }).synthesize({
      text: TEXT,
      signal: timeout(10_000),
      onChunk: (c) => chunks.push(c),
    });
    expect(server.requests[0]?.rpc).toBe(streaming ? "SynthesizeOnline" : "Synthesize");
    expect(server.requests[0]?.request).toMatchObject({
      text: TEXT,
      language_code: "en-US",
      encoding: 1,
      sample_rate_hz: FLITE.rate,
      voice_name: "English-US.Female-1",
    });
    expect(Buffer.from(result.audio).equals(FLITE.pcm)).toBe(true);
    expect(result.format).toEqual({ kind: "pcm", sampleRate: FLITE.rate, channels: 1, encoding: "s16le" });
    expect(chunks).toHaveLength(streaming ? 4 : 1);
    expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(FLITE.pcm)).toBe(true);
    expect(result.timings.chunks).toEqual(chunks.map((c) => c.at));
    expectOrderedTimings(result);
  });

  for (const delayMs of [50, 300, 1500]) {
    it(`a ${delayMs} ms delay: latency and TTFA in [${delayMs}, ${delayMs} + ${SLACK_MS}) ms`, async () => {
      server.behaviour = { delayMs };
      const { timings: t } = await riva({ streaming }).synthesize({ text: TEXT, signal: timeout(10_000) });
      for (const measured of [t.end - t.start, (t.firstAudio ?? Number.NaN) - t.start]) {
        expect(measured).toBeGreaterThanOrEqual(delayMs);
        expect(measured).toBeLessThan(delayMs + SLACK_MS);
      }
    });
  }

  it("a voice the server does not have: INVALID_ARGUMENT → http_status with its details", async () => {
    const e = await expectEngineError(
      riva({ streaming, voice: "Klingon.Male-1" }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "http_status",
    );
    expect(e.message).toContain(
      "gRPC status 3 INVALID_ARGUMENT: Model for voice Klingon.Male-1 is not available",
    );
  });

  it("metadata auth: refused without the key (auth), served with it from auth_header and metadata", async () => {
    server.token = "s3cret";
    await expectEngineError(riva({ streaming }).synthesize({ text: TEXT, signal: timeout(5000) }), "auth");
    const engine = riva(
      {
        streaming,
        auth_header: { name: "Authorization", value_env: "RIVA_KEY" },
        metadata: { "function-id": "0149dedb" },
      },
      { RIVA_KEY: "Bearer s3cret" },
    );
    await engine.synthesize({ text: TEXT, signal: timeout(10_000) });
    expect(server.requests.at(-1)?.metadata).toMatchObject({ "function-id": "0149dedb" });
  });

  for (const [status, reason] of [
    [grpc.status.RESOURCE_EXHAUSTED, "http_status"],
    [grpc.status.UNAVAILABLE, "connection"],
    [grpc.status.PERMISSION_DENIED, "auth"],
    [grpc.status.UNIMPLEMENTED, "protocol"],
    [grpc.status.INTERNAL, "http_status"],
  ] as const) {
    it(`gRPC status ${grpc.status[status]} → ${reason}; the probe reports it without throwing`, async () => {
      server.behaviour = { status: { code: status, details: "injected" } };
      await expectEngineError(riva({ streaming }).synthesize({ text: TEXT, signal: timeout(5000) }), reason);
      expect((await runProbe(riva({ streaming }), TEXT, 5000)).reason).toBe(reason);
    });
  }

  it("no audio → empty_audio; half a sample → bad_audio; no answer → timeout", async () => {
    server.behaviour = { audio: "empty" };
    await expectEngineError(
      riva({ streaming }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "empty_audio",
    );
    server.behaviour = { audio: "odd-bytes", pieces: 1 };
    await expectEngineError(
      riva({ streaming }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "bad_audio",
    );
    server.behaviour = { hang: true };
    await expectEngineError(
      riva({ streaming, timeout_seconds: 0.5 }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "timeout",
    );
  });
});

describe("riva streaming timing", () => {
  it("first piece after 100 ms, the rest 400 ms later: TTFA from 100 ms, latency from 500 ms, the stall seen", async () => {
    server.behaviour = { stream: { firstMs: 100, restMs: 400 } };
    const { timings: t } = await riva({ streaming: true }).synthesize({
      text: TEXT,
      signal: timeout(10_000),
    });
    const ttfa = (t.firstAudio ?? Number.NaN) - t.start;
    expect(ttfa).toBeGreaterThanOrEqual(100);
    expect(ttfa).toBeLessThan(100 + SLACK_MS);
    expect(t.end - t.start).toBeGreaterThanOrEqual(500);
    expect(t.end - t.start).toBeLessThan(500 + SLACK_MS);
    const stall = Math.max(...chunkGapsSeconds(t)) * 1000;
    expect(ttfa + stall).toBeGreaterThanOrEqual(500);
    expect(stall).toBeLessThan(400 + SLACK_MS);
  });
});

describe("riva over TLS", () => {
  it("grpcs with ca_file and tls_server_name; without the CA the handshake fails as connection", async () => {
    const cert = selfSignedCert();
    const tlsServer = await startRivaServer({ key: cert.key, cert: cert.cert });
    try {
      const port = tlsServer.address.split(":")[1];
      const config = {
        name: "riva-tls",
        type: "riva",
        enabled: true,
        url: `grpcs://127.0.0.1:${port}`,
        language_code: "en-US",
        sample_rate: FLITE.rate,
        streaming: true,
      } as const;
      const ok = await createEngine(
        { ...config, ca_file: cert.certFile, tls_server_name: "localhost" },
        context,
      ).synthesize({ text: TEXT, signal: timeout(10_000) });
      expect(Buffer.from(ok.audio).equals(FLITE.pcm)).toBe(true);
      await expectEngineError(
        createEngine(config, context).synthesize({ text: TEXT, signal: timeout(10_000) }),
        "connection",
      );
    } finally {
      await tlsServer.close();
      cert.dispose();
    }
  });

  it("nothing listening: connection", async () => {
    const closed = await startRivaServer();
    const address = closed.address;
    await closed.close();
    await expectEngineError(
      riva({ url: `grpc://${address}` }).synthesize({ text: TEXT, signal: timeout(5000) }),
      "connection",
    );
  });
});
