import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/engines/index.ts";
import { probeWavHeader } from "../../src/engines/wav-header.ts";
import { findFfmpeg } from "../../src/gateway/audio-out.ts";
import { sample, speech, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { type SimServer, startSimServer } from "../helpers/sim-server.ts";

// The gateway against local OpenAI-shaped engines: the stress helper's simulated server
// (tests/helpers/sim-server.ts, known capacity) and, for failover, a small one that can be broken.

let n = 0;
const text = (what: string) => `Gateway test ${what} number ${++n}.`;

describe("gateway pass-through, cache and coalescing", () => {
  let sim: SimServer;
  let gw: TestGateway;
  beforeAll(async () => {
    sim = await startSimServer({ workers: 4, serviceTimeMs: 300 });
    gw = await startTestGateway([sim.engineConfig("sim")]);
  });
  afterAll(async () => {
    await gw?.close();
    await sim?.close();
  });

  it("serves an OpenAI SDK-shaped request, then the same one from the cache byte-identical, without the engine", async () => {
    const body = { model: "sim", input: text("cache"), voice: "alloy", response_format: "wav" };
    const before = sim.stats().requests;
    const first = await speech(gw.url, body);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("audio/wav");
    expect(first.headers.get("x-tts-gateway-cache")).toBe("miss");
    expect(first.body.equals(sim.wav)).toBe(true);
    const second = await speech(gw.url, { ...body, input: `  ${body.input}\n` });
    expect(second.status).toBe(200);
    expect(second.headers.get("x-tts-gateway-cache")).toBe("hit");
    expect(second.headers.get("content-type")).toBe("audio/wav");
    expect(second.body.equals(first.body)).toBe(true);
    expect(sim.stats().requests).toBe(before + 1);
    expect(await sample(gw.registry, "tts_gateway_cache_hits_total", { engine: "sim" })).toBe(1);
    expect(await sample(gw.registry, "tts_gateway_cache_lookups_total", { engine: "sim" })).toBe(2);
    expect(await sample(gw.registry, "tts_cache_hit_rate", { engine: "sim" })).toBe(0.5);
    expect(await sample(gw.registry, "tts_gateway_cache_bytes")).toBe(sim.wav.length);
    expect(
      await sample(gw.registry, "tts_requests_total", {
        engine: "sim",
        source: "gateway",
        result: "success",
      }),
    ).toBe(2);
    // The trace: hashed key, no text anywhere.
    const trace = gw.gateway.trace(2);
    expect(trace.map((t) => t.cache_hit)).toEqual([false, true]);
    expect(trace[0]?.key).toMatch(/^[0-9a-f]{64}$/);
    expect(trace[0]?.key).toBe(trace[1]?.key);
    expect(trace[0]?.engine_ms).toBeGreaterThan(0);
    expect(JSON.stringify(trace)).not.toContain("Gateway test");
    expect(gw.logs.join("")).not.toContain("Gateway test");
  });

  it("streams OpenAI's SSE events to a client that asks (stream_format sse), from the engine and from the cache", async () => {
    // Our own openai engine in SSE mode (src/engines/sse.ts, written from OpenAI's event format)
    // is the client: what it decodes must be the engine's audio, byte for byte.
    const client = createEngine(
      {
        name: "via-gateway",
        type: "openai",
        enabled: true,
        url: `${gw.url}/v1/audio/speech`,
        model: "sim",
        voice: "alloy",
        response_format: "wav",
        stream_format: "sse",
      },
      { defaultTimeoutSeconds: 10, env: {} },
    );
    const input = text("sse");
    const raw = await fetch(`${gw.url}/v1/audio/speech`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: "sim",
        input,
        voice: "alloy",
        response_format: "wav",
        stream_format: "sse",
      }),
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = await raw.text();
    expect(events).toMatch(/^event: speech\.audio\.delta\ndata: \{"type":"speech\.audio\.delta","audio":"/);
    expect(events).toMatch(/event: speech\.audio\.done\ndata: \{"type":"speech\.audio\.done","usage":\{/);
    const before = sim.stats().requests;
    const hit = await client.synthesize({ text: input, signal: AbortSignal.timeout(10_000) });
    expect(Buffer.from(hit.audio).equals(sim.wav)).toBe(true);
    expect(sim.stats().requests).toBe(before);
    const miss = await client.synthesize({ text: text("sse miss"), signal: AbortSignal.timeout(10_000) });
    expect(Buffer.from(miss.audio).equals(sim.wav)).toBe(true);
    expect(sim.stats().requests).toBe(before + 1);
    const bad = await speech(gw.url, { model: "sim", input: text("sse bad"), stream_format: "chunks" });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString()).error.param).toBe("stream_format");
  });

  it("20 identical concurrent requests reach the engine once, and every client gets the full audio", async () => {
    const body = { model: "sim", input: text("coalesce"), response_format: "wav" };
    const before = sim.stats().requests;
    const coalescedBefore = await sample(gw.registry, "tts_gateway_coalesced_total", { engine: "sim" });
    const answers = await Promise.all(Array.from({ length: 20 }, () => speech(gw.url, body)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    for (const a of answers) expect(a.body.equals(sim.wav)).toBe(true);
    expect(sim.stats().requests).toBe(before + 1);
    const coalesced = answers.filter((a) => a.headers.get("x-tts-gateway-cache") === "coalesced").length;
    const hits = answers.filter((a) => a.headers.get("x-tts-gateway-cache") === "hit").length;
    expect(coalesced + hits).toBe(19);
    expect(await sample(gw.registry, "tts_gateway_coalesced_total", { engine: "sim" })).toBe(
      coalescedBefore + coalesced,
    );
  });

  it("converts only where the engine cannot: pcm strips the WAV header, mp3 goes through ffmpeg", async () => {
    const pcm = await speech(gw.url, { model: "sim", input: text("pcm"), response_format: "pcm" });
    expect(pcm.status).toBe(200);
    expect(pcm.headers.get("content-type")).toBe("audio/pcm");
    const probe = probeWavHeader(sim.wav);
    if (probe.state !== "ok") throw new Error("the simulated server's clip is not WAV");
    expect(pcm.body.equals(sim.wav.subarray(probe.layout.dataOffset))).toBe(true);
    expect(findFfmpeg(), "ffmpeg is not on PATH: install the Debian package ffmpeg").toBeDefined();
    const mp3 = await speech(gw.url, { model: "sim", input: text("mp3"), response_format: "mp3" });
    expect(mp3.status).toBe(200);
    expect(mp3.headers.get("content-type")).toBe("audio/mpeg");
    // An ID3 tag or an MPEG frame sync.
    const head = mp3.body;
    expect(
      head.subarray(0, 3).toString("latin1") === "ID3" ||
        (head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0),
    ).toBe(true);
    // Default format without response_format: mp3 when ffmpeg is here, as OpenAI's default.
    const dflt = await speech(gw.url, { model: "sim", input: text("default") });
    expect(dflt.headers.get("content-type")).toBe("audio/mpeg");
  });

  it("lists the models, and answers bad input with OpenAI-style errors, caching nothing", async () => {
    const models = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(["auto", "sim"]);
    const bytes = gw.gateway.cache.bytes;
    const cases: [Record<string, unknown>, number, string][] = [
      [{ model: "sim" }, 400, "input"],
      [{ model: "nope", input: "hi" }, 404, "model"],
      [{ model: "sim", input: "x".repeat(5000) }, 400, "input"],
      [{ model: "sim", input: "hi", response_format: "ogg" }, 400, "response_format"],
      [{ model: "sim", input: "hi", speed: 9 }, 400, "speed"],
    ];
    for (const [body, status, param] of cases) {
      const r = await speech(gw.url, body);
      expect(r.status).toBe(status);
      const err = JSON.parse(r.body.toString()) as {
        error: { param: string; type: string; message: string };
      };
      expect(err.error.param).toBe(param);
      expect(err.error.type).toBe("invalid_request_error");
    }
    const big = await speech(gw.url, { model: "sim", input: "y".repeat(100_000) });
    expect(big.status).toBe(413);
    const notJson = await fetch(`${gw.url}/v1/audio/speech`, { method: "POST", body: "{" });
    expect(notJson.status).toBe(400);
    expect(gw.gateway.cache.bytes).toBe(bytes);
  });

  it("a client that disconnects mid-request cancels the engine request nobody else shares", async () => {
    const slow = await startSimServer({ workers: 1, serviceTimeMs: 3000 });
    const g = await startTestGateway([slow.engineConfig("slow")], { limits: { initial: 2, min: 2, max: 4 } });
    try {
      const busy = speech(g.url, { model: "slow", input: text("busy"), response_format: "wav" });
      await new Promise((r) => setTimeout(r, 200));
      const ac = new AbortController();
      const gone = speech(
        g.url,
        { model: "slow", input: text("gone"), response_format: "wav" },
        { signal: ac.signal },
      );
      // Aborted once the engine holds it in its queue (behind the busy one).
      await expect.poll(() => slow.stats().requests, { timeout: 10_000 }).toBe(2);
      ac.abort();
      await expect(gone).rejects.toThrow();
      expect((await busy).status).toBe(200);
      // The queued engine request was dropped by the server: its client (the gateway) went away.
      await expect.poll(() => slow.stats().abandoned, { timeout: 10_000 }).toBe(1);
      expect(slow.stats().served).toBe(1);
      await expect.poll(() => g.gateway.trace().map((t) => t.result)).toContain("client_closed");
      expect(g.gateway.cache.size).toBe(1);
    } finally {
      await g.close();
      await slow.close();
    }
  });
});

describe("gateway streaming, sampling and controls", () => {
  it("streams: the client's first bytes arrive long before the engine's last", async () => {
    const sim = await startSimServer({ workers: 2, serviceTimeMs: 50, stream: { chunks: 5, gapMs: 300 } });
    const g = await startTestGateway([sim.engineConfig("sim")]);
    try {
      const t0 = performance.now();
      const res = await fetch(`${g.url}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model: "sim", input: "Streamed.", response_format: "wav" }),
      });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const parts: Uint8Array[] = [];
      let first: number | undefined;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        first ??= performance.now() - t0;
        parts.push(value);
      }
      const total = performance.now() - t0;
      expect(Buffer.concat(parts).equals(sim.wav)).toBe(true);
      // Four 300 ms gaps after the first chunk: the first bytes came at least 600 ms before the end.
      expect(total - (first as number)).toBeGreaterThan(600);
    } finally {
      await g.close();
      await sim.close();
    }
  });

  it("a body cut short after audio went out: the client's stream is cut, nothing cached", async () => {
    const sim = await startSimServer({ workers: 1, serviceTimeMs: 10 });
    const cut = await breakable(sim.wav);
    cut.mode.value = "truncated";
    const g = await startTestGateway([
      {
        name: "cut",
        type: "openai",
        enabled: true,
        url: cut.url,
        model: "m",
        voice: "v",
        response_format: "wav",
      },
    ]);
    try {
      await expect(
        speech(g.url, { model: "cut", input: "Cut short.", response_format: "wav" }),
      ).rejects.toThrow();
      expect(g.gateway.cache.size).toBe(0);
      await expect.poll(() => g.gateway.trace().at(-1)?.result).toBe("bad_audio");
      // The gateway keeps serving.
      const models = await fetch(`${g.url}/v1/models`);
      expect(models.status).toBe(200);
    } finally {
      await g.close();
      await cut.close();
      await sim.close();
    }
  });

  it("samples audio into the analysis and applies the run-time controls", async () => {
    const sim = await startSimServer({ workers: 2, serviceTimeMs: 20 });
    const jobs: { engine: string; voice: string; audio: Uint8Array; text: string }[] = [];
    const g = await startTestGateway(
      [sim.engineConfig("sim"), sim.engineConfig("second")],
      { analysis_sample_ratio: 1 },
      { analyse: (job) => jobs.push(job) },
    );
    try {
      await speech(g.url, { model: "sim", input: "Sampled.", response_format: "wav" });
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({ engine: "sim", voice: "sim", text: "Sampled." });
      expect(Buffer.from(jobs[0]?.audio ?? []).equals(sim.wav)).toBe(true);
      // Controls: shrink the cache (evicts at once), pin a limit, take an engine out of auto.
      expect(g.gateway.cache.size).toBe(1);
      g.gateway.setCacheCapacityBytes(10);
      expect(g.gateway.cacheCapacityBytes()).toBe(10);
      expect(g.gateway.cache.size).toBe(0);
      g.gateway.setLimitBounds("sim", { min: 3, max: 3 });
      expect(g.gateway.limits().sim).toMatchObject({ min: 3, max: 3 });
      expect(() => g.gateway.setLimitBounds("nope", { min: 1, max: 2 })).toThrow(RangeError);
      g.gateway.setRouteWeight("sim", 0);
      expect(g.gateway.routeWeights()).toEqual({ sim: 0 });
      const r = await speech(g.url, { model: "auto", input: "Routed.", response_format: "wav" });
      expect(r.headers.get("x-tts-gateway-engine")).toBe("second");
    } finally {
      await g.close();
      await sim.close();
    }
  });
});

describe("gateway without ffmpeg, with a token", () => {
  it("names the formats it has, and refuses a client without the token", async () => {
    const sim = await startSimServer({ workers: 2, serviceTimeMs: 50 });
    const g = await startTestGateway([sim.engineConfig("sim")], {}, { ffmpeg: "none", token: "s3cret" });
    try {
      const noToken = await speech(g.url, { model: "sim", input: "hi" });
      expect(noToken.status).toBe(401);
      expect(JSON.parse(noToken.body.toString()).error.type).toBe("authentication_error");
      const mp3 = await speech(
        g.url,
        { model: "sim", input: "hi", response_format: "mp3" },
        { token: "s3cret" },
      );
      expect(mp3.status).toBe(400);
      expect(mp3.body.toString()).toContain("available: wav, pcm");
      const dflt = await speech(g.url, { model: "sim", input: "hi" }, { token: "s3cret" });
      expect(dflt.status).toBe(200);
      expect(dflt.headers.get("content-type")).toBe("audio/wav");
    } finally {
      await g.close();
      await sim.close();
    }
  });
});

/** An OpenAI-shaped engine that answers 500 while broken, a WAV otherwise; or garbage. */
async function breakable(wav: Buffer): Promise<{
  url: string;
  mode: { value: "ok" | "broken" | "garbage" | "truncated" };
  requests: () => number;
  close: () => Promise<void>;
}> {
  const mode = { value: "broken" as "ok" | "broken" | "garbage" | "truncated" };
  let requests = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      requests++;
      if (mode.value === "broken") {
        res.writeHead(500, { "Content-Type": "application/json" });
        res.end('{"error":"down"}');
      } else if (mode.value === "truncated") {
        // A WAV whose header promises more samples than come: the engine finds out at the end.
        const cut = Buffer.from(wav.subarray(0, Math.floor(wav.length / 2)));
        res.writeHead(200, { "Content-Type": "audio/wav" });
        res.end(cut);
      } else if (mode.value === "garbage") {
        res.writeHead(200, { "Content-Type": "audio/wav" });
        res.end("<html>this is not audio</html>");
      } else {
        res.writeHead(200, { "Content-Type": "audio/wav" });
        res.end(wav);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1/audio/speech`,
    mode,
    requests: () => requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe("gateway failover", () => {
  it("a failing engine is bypassed (fallback, then its open circuit), and comes back once it answers", async () => {
    const sim = await startSimServer({ workers: 4, serviceTimeMs: 50 });
    const flaky = await breakable(sim.wav);
    const g = await startTestGateway(
      [
        {
          name: "flaky",
          type: "openai",
          enabled: true,
          url: flaky.url,
          model: "m",
          voice: "v",
          response_format: "wav",
        },
        sim.engineConfig("sim"),
      ],
      { routes: ["flaky", "sim"], fallback: { flaky: ["sim"] }, breaker: { failures: 2, open_seconds: 4 } },
    );
    try {
      for (const model of ["flaky", "flaky", "flaky", "auto", "auto"]) {
        const r = await speech(g.url, { model, input: text("failover"), response_format: "wav" });
        expect(r.status).toBe(200);
        expect(r.headers.get("x-tts-gateway-engine")).toBe("sim");
        expect(r.body.equals(sim.wav)).toBe(true);
      }
      // Open after two consecutive failures: the rest went straight to sim.
      expect(flaky.requests()).toBe(2);
      expect(await sample(g.registry, "tts_gateway_circuit_open", { engine: "flaky" })).toBe(1);
      expect(await sample(g.registry, "tts_gateway_route_total", { engine: "sim", reason: "fallback" })).toBe(
        3,
      );
      expect(
        await sample(g.registry, "tts_requests_total", {
          engine: "flaky",
          source: "gateway",
          result: "failure",
        }),
      ).toBe(2);
      expect(g.logs.join("")).toContain("circuit opened");
      flaky.mode.value = "ok";
      // The circuit's wait (4 s: long enough that the first phase ends inside it on a loaded machine).
      await new Promise((r) => setTimeout(r, 4100));
      const back = await speech(g.url, { model: "auto", input: text("back"), response_format: "wav" });
      expect(back.status).toBe(200);
      expect(back.headers.get("x-tts-gateway-engine")).toBe("flaky");
      expect(await sample(g.registry, "tts_gateway_circuit_open", { engine: "flaky" })).toBe(0);
      expect(g.logs.join("")).toContain("circuit closed");
    } finally {
      await g.close();
      await flaky.close();
      await sim.close();
    }
  });

  it("an engine that sends garbage: a clear 502, nothing cached, a named fallback serves the next", async () => {
    const sim = await startSimServer({ workers: 2, serviceTimeMs: 50 });
    const bad = await breakable(sim.wav);
    bad.mode.value = "garbage";
    const only = await startTestGateway([
      {
        name: "bad",
        type: "openai",
        enabled: true,
        url: bad.url,
        model: "m",
        voice: "v",
        response_format: "wav",
      },
    ]);
    const withFallback = await startTestGateway(
      [
        {
          name: "bad",
          type: "openai",
          enabled: true,
          url: bad.url,
          model: "m",
          voice: "v",
          response_format: "wav",
        },
        sim.engineConfig("sim"),
      ],
      { fallback: { bad: ["sim"] } },
    );
    try {
      const r = await speech(only.url, { model: "bad", input: "hello", response_format: "wav" });
      // Nothing goes out before the first bytes prove to be WAV: a 502 in OpenAI's shape.
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body.toString()).error.type).toBe("server_error");
      expect(only.gateway.cache.size).toBe(0);
      const f = await speech(withFallback.url, { model: "bad", input: "hello", response_format: "wav" });
      expect(f.status).toBe(200);
      expect(f.headers.get("x-tts-gateway-engine")).toBe("sim");
      expect(withFallback.gateway.cache.size).toBe(1);
    } finally {
      await only.close();
      await withFallback.close();
      await bad.close();
      await sim.close();
    }
  });
});
