import { afterEach, describe, expect, it } from "vitest";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";

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
        await new Promise((r) => setTimeout(r, 60));
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
    expect(sum * 1000).toBeLessThan(inner + 20);
  });
});
