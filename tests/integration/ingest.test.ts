import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { encodeWav16 } from "../../src/audio/decode.ts";
import { sine } from "../../src/audio/signals.ts";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { waitFor } from "../helpers/tools.ts";

const quiet = new Logger({ json: true, sink: { write: () => {} } });
const monitors: TTSPerformanceMonitor[] = [];

async function start(config: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  const monitor = new TTSPerformanceMonitor({
    config: {
      engines: [],
      monitoring: { collectors: { gpu: false, process: false, disk: false, filesystem: false } },
      ...config,
    },
    listenAddress: "127.0.0.1:0",
    logger: quiet,
    env,
  });
  monitors.push(monitor);
  await monitor.startMonitoring();
  const base = `http://${monitor.address}`;
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/api/v1/syntheses`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const metrics = async () => (await fetch(`${base}/metrics`)).text();
  return { monitor, post, metrics };
}

afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});

/** A 16-bit mono WAV of a 220 Hz tone. */
function toneWav(seconds = 0.5, rate = 16_000): Buffer {
  return Buffer.from(encodeWav16(sine(220, rate, seconds, 8000 / 32768), rate));
}

/** The label sets of one family's samples in an exposition. */
function labelSets(body: string, family: string): string[] {
  return [...body.matchAll(new RegExp(`^${family}\\{([^}]*)\\}`, "gm"))].map((m) => m[1] ?? "");
}

describe("POST /api/v1/syntheses", () => {
  it("accepts one event and an array, 202", async () => {
    const { post, metrics } = await start();
    const one = await post({
      engine: "kokoro",
      voice: "af_heart",
      text: "Hello there.",
      latency_ms: 212,
      ttfa_ms: 80,
      audio_duration_ms: 2400,
      cache_hit: false,
    });
    expect(one.status).toBe(202);
    expect(await one.json()).toEqual({ accepted: 1 });
    const many = await post([
      { engine: "kokoro", voice: "af_heart", latency_ms: 15, cache_hit: true },
      { engine: "kokoro", voice: "af_heart", latency_ms: 30, cache_hit: true },
      { engine: "kokoro", voice: "af_heart", latency_ms: 9000, success: false, error_reason: "timeout" },
    ]);
    expect(many.status).toBe(202);
    const body = await metrics();
    expect(body).toContain('tts_latency_seconds_count{engine="kokoro",voice="af_heart",source="ingest"} 3');
    expect(body).toContain(
      'tts_failures_total{engine="kokoro",voice="af_heart",source="ingest",reason="timeout"} 1',
    );
    expect(body).toContain('tts_cache_hit_rate{engine="kokoro"} 0.6666666666666666');
    expect(body).toContain(
      'tts_time_to_first_audio_seconds_count{engine="kokoro",voice="af_heart",source="ingest"} 1',
    );
    expect(body).toContain('tts_ingest_events_total{outcome="accepted"} 4');
    expect(body).not.toContain("Hello there");
  });

  it("rejects a batch with an invalid item: 400, per-item errors, nothing applied", async () => {
    const { post, metrics } = await start();
    const res = await post([
      { engine: "a", latency_ms: 10 },
      { engine: "a", latency_ms: -1 },
      { latency_ms: 3, bogus: 1 },
      { engine: "a", latency_ms: 1, error_reason: "meteor" },
    ]);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { index: number; path: string }[] };
    const byIndex = (i: number) => body.errors.filter((e) => e.index === i).map((e) => e.path);
    expect(byIndex(0)).toEqual([]);
    expect(byIndex(1)).toContain("$[1].latency_ms");
    expect(byIndex(2)).toEqual(expect.arrayContaining(["$[2].engine", "$[2].bogus"]));
    expect(byIndex(3)).toContain("$[3].error_reason");
    const m = await metrics();
    expect(m).not.toContain('engine="a"');
    expect(m).toContain('tts_ingest_events_total{outcome="rejected"} 4');
  });

  it("rejects malformed JSON with 400 and a body over the limit with 413", async () => {
    const { post } = await start({ ingest: { max_body_bytes: 2048 } });
    const bad = await post("{not json");
    expect(bad.status).toBe(400);
    const big = await post(
      [...Array(100)].map(() => ({ engine: "kokoro", latency_ms: 1, text: "x".repeat(50) })),
    );
    expect(big.status).toBe(413);
  });

  it("answers a body it cannot read with a 4xx and a clear message, never a 500", async () => {
    const { monitor, metrics } = await start({ ingest: { max_body_bytes: 2048 } });
    const url = `http://${monitor.address}/api/v1/syntheses`;
    const send = async (body: BodyInit, headers: Record<string, string>, init: RequestInit = {}) => {
      const res = await fetch(url, { method: "POST", body, headers, ...init });
      return { status: res.status, body: (await res.json()) as { error: string } };
    };
    const event = JSON.stringify({ engine: "gz", latency_ms: 5 });
    const json = { "content-type": "application/json" };

    // Compressed bodies are read (the limit applies to the inflated bytes).
    expect((await send(gzipSync(event), { ...json, "content-encoding": "gzip" })).status).toBe(202);
    const bomb = await send(gzipSync(" ".repeat(1_000_000)), { ...json, "content-encoding": "gzip" });
    expect(bomb.status).toBe(413);
    // An encoding or a charset we cannot read is 415 and says why; a corrupt gzip body is 400.
    const zstd = await send(event, { ...json, "content-encoding": "x-unknown" });
    expect(zstd.status).toBe(415);
    expect(zstd.body.error).toMatch(/content encoding/);
    const latin1 = await send(event, { "content-type": "application/json; charset=latin1" });
    expect(latin1.status).toBe(415);
    expect(latin1.body.error).toMatch(/charset.*UTF-8/);
    const corrupt = await send("not gzip at all", { ...json, "content-encoding": "gzip" });
    expect(corrupt.status).toBe(400);
    expect(corrupt.body.error).toMatch(/cannot read the body/);
    // A chunked body (no Content-Length) over the limit is 413 as well.
    const chunks = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(" ".repeat(500)));
        controller.close();
      },
    });
    const chunked = await send(chunks, json, { duplex: "half" } as RequestInit);
    expect(chunked.status).toBe(413);
    // Without a JSON Content-Type the body is not read (a web page can post text/plain cross-site).
    const plain = await send(event, { "content-type": "text/plain" });
    expect(plain.status).toBe(415);
    expect(plain.body.error).toMatch(/not application\/json/);
    expect(await metrics()).toContain(
      'tts_latency_seconds_count{engine="gz",voice="default",source="ingest"} 1',
    );
  });

  it("rejects audio_wav_base64 that is not base64, and label values with control characters", async () => {
    const { post, metrics } = await start();
    const res = await post([
      { engine: "a", latency_ms: 1, audio_wav_base64: "!!! not base64 ***" },
      { engine: "a", latency_ms: 1, audio_wav_base64: "" },
      { engine: "a\u0000b", latency_ms: 1 },
      { engine: "a", voice: "v\nw", latency_ms: 1 },
      { engine: "a", latency_ms: 1, audio_wav_base64: toneWav(0.1).toString("base64") },
    ]);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { index: number; path: string }[] };
    expect(body.errors.map((e) => e.path)).toEqual([
      "$[0].audio_wav_base64",
      "$[1].audio_wav_base64",
      "$[2].engine",
      "$[3].voice",
    ]);
    expect(await metrics()).not.toContain('engine="a"');
  });

  it("derives characters and words from Unicode text: CJK words, emoji and accents as one character", async () => {
    const { post, metrics } = await start();
    const events = [
      // 5 words by the Unicode word rules (你好 / 世界 / 今天 / 天气 / 很好), 13 characters.
      { engine: "zh", text: "你好，世界。今天天气很好。", latency_ms: 1000 },
      // Emoji are not words; a ZWJ family and a flag are one character each: 2 words, 14 characters.
      { engine: "emoji", text: "Hi 👋 there 👨‍👩‍👧 🇫🇷", latency_ms: 1000 },
      // "e" + combining acute is one character; a lone dash is not a word: 2 words, 11 characters.
      { engine: "accent", text: "cafe\u0301 - bien", latency_ms: 1000 },
      // Ideographic and em spaces separate words.
      { engine: "spaces", text: "one\u3000two\u2003three", latency_ms: 1000 },
    ];
    expect((await post(events)).status).toBe(202);
    const body = await metrics();
    const value = (family: string, engine: string) =>
      Number(new RegExp(`^${family}\\{engine="${engine}"[^}]*\\} (\\S+)`, "m").exec(body)?.[1]);
    expect(value("tts_throughput_words_per_minute", "zh")).toBe(5 * 60);
    expect(value("tts_throughput_characters_per_second", "zh")).toBe(13);
    expect(value("tts_throughput_words_per_minute", "emoji")).toBe(2 * 60);
    expect(value("tts_throughput_characters_per_second", "emoji")).toBe(14);
    expect(value("tts_throughput_words_per_minute", "accent")).toBe(2 * 60);
    expect(value("tts_throughput_characters_per_second", "accent")).toBe(11);
    expect(value("tts_throughput_words_per_minute", "spaces")).toBe(3 * 60);
  });

  it("the cardinality guard holds for the audio analysis series of ingested audio too", async () => {
    const { post, metrics } = await start({ ingest: { max_engines: 1, max_voices: 1 } });
    const audio = toneWav().toString("base64");
    const res = await post([
      { engine: "e1", voice: "v1", latency_ms: 10, audio_wav_base64: audio },
      { engine: "e2", voice: "v2", latency_ms: 10, audio_wav_base64: audio },
      { engine: "e3", voice: "v3", latency_ms: 10, audio_wav_base64: audio },
    ]);
    expect(res.status).toBe(202);
    const body = await waitFor(
      "quality scores of the ingested audio",
      async () => {
        const b = await metrics();
        return labelSets(b, "tts_quality_score").length >= 2 ? b : undefined;
      },
      60_000, // a deadline for a loaded machine (the analysis runs in a worker), not a speed
      100,
    );
    expect(labelSets(body, "tts_latency_seconds_count").sort()).toEqual([
      'engine="e1",voice="v1",source="ingest"',
      'engine="other",voice="other",source="ingest"',
    ]);
    for (const family of ["tts_quality_score", "tts_audio_rms_dbfs"])
      expect(new Set(labelSets(body, family))).toEqual(
        new Set(['engine="e1",voice="v1"', 'engine="other",voice="other"']),
      );
  });

  it("requires the bearer token when one is configured", async () => {
    const { post } = await start({}, { TTS_MONITOR_INGEST_TOKEN: "s3cret-token" });
    expect((await post({ engine: "a", latency_ms: 1 })).status).toBe(401);
    expect((await post({ engine: "a", latency_ms: 1 }, { authorization: "Bearer wrong" })).status).toBe(401);
    expect(
      (await post({ engine: "a", latency_ms: 1 }, { authorization: "Bearer s3cret-token" })).status,
    ).toBe(202);
  });

  it("keeps /-/healthy and /-/ready open when a token is configured", async () => {
    const { monitor } = await start({}, { TTS_MONITOR_INGEST_TOKEN: "s3cret-token" });
    expect((await fetch(`http://${monitor.address}/-/healthy`)).status).toBe(200);
    expect((await fetch(`http://${monitor.address}/-/ready`)).status).toBe(200);
  });
});

describe("TypeScript API", () => {
  it("recordSynthesis records, getCurrentMetrics reports per engine", async () => {
    const { monitor, metrics } = await start();
    monitor.recordSynthesis({
      engine: "kokoro",
      voice: "af_heart",
      text: "Hi there",
      latencyMs: 212,
      cacheHit: false,
    });
    monitor.recordSynthesis({
      engine: "kokoro",
      voice: "af_heart",
      latencyMs: 100,
      cacheHit: true,
      audioDurationMs: 1000,
    });
    const m = monitor.getCurrentMetrics();
    expect(m.latencyMs).toBe(100);
    expect(m.cacheHitRate).toBe(0.5);
    expect(m.engines.kokoro?.requests).toBe(2);
    expect(m.engines.kokoro?.realTimeFactor).toBe(0.1);
    expect(await metrics()).toContain(
      'tts_latency_seconds_count{engine="kokoro",voice="af_heart",source="ingest"} 2',
    );
  });

  it("getCurrentMetrics().cacheHitRate pools hits and lookups across engines", async () => {
    const { monitor } = await start();
    monitor.recordSynthesis({ engine: "small", latencyMs: 1, cacheHit: true });
    for (let i = 0; i < 3; i++) monitor.recordSynthesis({ engine: "big", latencyMs: 1, cacheHit: false });
    const m = monitor.getCurrentMetrics();
    expect(m.engines.small?.cacheHitRate).toBe(1);
    expect(m.engines.big?.cacheHitRate).toBe(0);
    expect(m.cacheHitRate).toBe(0.25); // 1 hit in 4 lookups, not the mean of 1 and 0
  });

  it("recordSynthesis rejects what the HTTP API rejects, and records nothing then", async () => {
    const { monitor, metrics } = await start();
    const bad: unknown[] = [
      { engine: "a", latencyMs: 1, text: 42 },
      { engine: "a", latencyMs: 1, errorReason: "timeout" },
      { engine: "a", latencyMs: 1, audio: "UklGRiQAAABXQVZF" },
      { engine: "a\u0000", latencyMs: 1 },
    ];
    for (const event of bad)
      expect(() => monitor.recordSynthesis(event as Parameters<typeof monitor.recordSynthesis>[0])).toThrow(
        TypeError,
      );
    expect(() =>
      monitor.recordSynthesis({ engine: "a", latency_ms: 5 } as unknown as Parameters<
        typeof monitor.recordSynthesis
      >[0]),
    ).toThrow(/camelCase/);
    expect(() => monitor.recordSynthesis({ engine: "a", latencyMs: "5" as unknown as number })).toThrow(
      /got "5"/,
    );
    expect(monitor.getCurrentMetrics().engines.a).toBeUndefined();
    expect(await metrics()).not.toContain('engine="a');
    monitor.recordSynthesis({ engine: "a", latencyMs: 1, success: false, errorReason: "timeout" });
    expect(monitor.getCurrentMetrics().engines.a?.requests).toBe(1);
  });

  it("recordSynthesis throws a TypeError naming the field", async () => {
    const { monitor } = await start();
    expect(() => monitor.recordSynthesis({ engine: "", latencyMs: 1 })).toThrow(/engine/);
    expect(() => monitor.recordSynthesis({ engine: "a", latencyMs: Number.NaN })).toThrow(/latencyMs/);
    expect(() => monitor.recordSynthesis({ engine: "a", latencyMs: 1, errorReason: "x" as "other" })).toThrow(
      /errorReason/,
    );
  });

  it("instrument times calls and records failures with a reason", async () => {
    const { monitor, metrics } = await start();
    // The time each call really took, measured inside it: timers may fire a little early against
    // performance.now() (libuv rounds to whole milliseconds), so 60 ms of setTimeout is not a bound.
    let inner = 0;
    const synth = monitor.instrument(
      async (text: string) => {
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, text === "fail" ? 1500 : 60));
        if (text !== "fail") inner += performance.now() - t0;
        if (text === "fail") throw Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
        return { cached: text === "cached" };
      },
      { engine: "mine", voice: "v1", cacheHit: (r) => r.cached },
    );
    await synth("hello world");
    await synth("cached");
    await expect(synth("fail")).rejects.toThrow("refused");
    const body = await metrics();
    expect(body).toContain('tts_latency_seconds_count{engine="mine",voice="v1",source="ingest"} 2');
    expect(body).toContain(
      'tts_failures_total{engine="mine",voice="v1",source="ingest",reason="connection"} 1',
    );
    expect(body).toContain('tts_cache_hit_rate{engine="mine"} 0.5');
    const sum = Number(/tts_latency_seconds_sum\{engine="mine"[^}]*\} ([\d.]+)/.exec(body)?.[1]);
    expect(inner).toBeGreaterThan(100);
    expect(sum * 1000).toBeGreaterThanOrEqual(inner);
    // The failed call (1.5 s) is not in the sum; nothing else of a loaded machine's delays comes near.
    expect(sum * 1000).toBeLessThan(inner + 1000);
  });
});
