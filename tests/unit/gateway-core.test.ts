import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createConverter, streamingWavHeader } from "../../src/gateway/audio-out.ts";
import { AudioCache, type CacheEntry } from "../../src/gateway/cache.ts";
import { TRACE_VERSION, type TraceEntry } from "../../src/gateway/contract.ts";
import { AdaptiveLimiter, LimitRejected } from "../../src/gateway/limiter.ts";
import { normaliseText, parseSpeechRequest } from "../../src/gateway/openai-api.ts";
import { Router } from "../../src/gateway/router.ts";
import { RequestTrace } from "../../src/gateway/trace.ts";

const entry = (bytes: number, storedAt = 0): CacheEntry => ({
  engine: "e",
  audio: Buffer.alloc(bytes, 1),
  contentType: "audio/wav",
  storedAt,
});

describe("AudioCache", () => {
  it("evicts the least recently used entries past its capacity in bytes", () => {
    const evicted: string[] = [];
    const cache = new AudioCache(250, undefined, { evicted: (reason) => evicted.push(reason) });
    cache.set("a", entry(100));
    cache.set("b", entry(100));
    expect(cache.get("a")).toBeDefined(); // a is now more recent than b
    cache.set("c", entry(100));
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBeDefined();
    expect(cache.get("c")).toBeDefined();
    expect(cache.bytes).toBe(200);
    expect(evicted).toEqual(["capacity"]);
  });

  it("does not store an answer larger than the whole cache, and shrinking evicts at once", () => {
    const cache = new AudioCache(100, undefined, { evicted: () => {} });
    expect(cache.set("big", entry(101))).toBe(false);
    cache.set("a", entry(60));
    cache.set("b", entry(40));
    cache.setCapacity(50);
    expect(cache.size).toBe(1);
    expect(cache.get("b")).toBeDefined();
    expect(() => cache.setCapacity(-1)).toThrow(RangeError);
  });

  it("does not serve an entry past its TTL", () => {
    let now = 0;
    const reasons: string[] = [];
    const cache = new AudioCache(1000, 5000, { evicted: (r) => reasons.push(r) }, () => now);
    cache.set("a", entry(10, 0));
    now = 4999;
    expect(cache.get("a")).toBeDefined();
    now = 5000;
    expect(cache.get("a")).toBeUndefined();
    expect(cache.bytes).toBe(0);
    expect(reasons).toEqual(["expired"]);
  });
});

describe("AdaptiveLimiter", () => {
  const settings = {
    initial: 4,
    min: 1,
    max: 64,
    queue: 1000,
    queueTimeoutMs: 60_000,
    minRttIntervalMs: 10_000,
    sampleSize: 8,
    tolerance: 0.25,
  };

  it("converges near a server's capacity (4 workers, 100 ms) under demand above it", async () => {
    // A simulated clock and server: latency is 100 ms up to 4 at once, then grows with the queue.
    let now = 0;
    const limiter = new AdaptiveLimiter(settings, () => now);
    const rtt = (inFlight: number) => 100 * Math.max(1, inFlight / 4);
    const seen: number[] = [];
    for (let step = 0; step < 3000; step++) {
      // 32 clients always waiting: take every slot the limit allows, complete them all.
      const permits = [];
      for (let i = 0; i < 32 && limiter.inFlight < limiter.limit; i++) permits.push(await limiter.acquire());
      const n = permits.length;
      now += rtt(n);
      for (const p of permits) p.release(rtt(n));
      if (step > 2000) seen.push(limiter.estimate);
    }
    const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
    expect(mean).toBeGreaterThan(3);
    expect(mean).toBeLessThan(8);
    expect(limiter.minRttMs).toBeGreaterThanOrEqual(100);
    expect(limiter.minRttMs).toBeLessThan(130);
  });

  it("grows toward max while latency stays at its minimum and demand fills it", async () => {
    let now = 0;
    const limiter = new AdaptiveLimiter({ ...settings, max: 20 }, () => now);
    for (let step = 0; step < 500; step++) {
      const permits = [];
      while (limiter.inFlight < limiter.limit) permits.push(await limiter.acquire());
      now += 100;
      for (const p of permits) p.release(100);
    }
    expect(limiter.limit).toBe(20);
  });

  it("queues up to its bound, rejects past it, times out waiters, and pins with min = max", async () => {
    const limiter = new AdaptiveLimiter({ ...settings, initial: 1, queue: 1, queueTimeoutMs: 200 });
    // Still measuring its minimum RTT: one at a time.
    const first = await limiter.acquire();
    const queued = limiter.acquire();
    await expect(limiter.acquire()).rejects.toMatchObject({ reason: "queue_full" });
    await expect(queued).rejects.toBeInstanceOf(LimitRejected);
    await expect(queued).rejects.toMatchObject({ reason: "queue_timeout" });
    first.release();
    limiter.setBounds(3, 3);
    expect(limiter.estimate).toBe(3);
    expect(() => limiter.setBounds(4, 2)).toThrow(RangeError);
  });

  it("a waiter whose client left leaves the queue", async () => {
    const limiter = new AdaptiveLimiter({ ...settings, initial: 1 });
    const p = await limiter.acquire();
    const ac = new AbortController();
    const waiting = limiter.acquire(ac.signal);
    expect(limiter.queueLength).toBe(1);
    ac.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    expect(limiter.queueLength).toBe(0);
    p.release();
    expect(limiter.inFlight).toBe(0);
  });
});

describe("Router", () => {
  it("opens a circuit after consecutive failures, probes it once after the wait, closes on success", () => {
    let now = 0;
    const events: string[] = [];
    const router = new Router({
      failures: 3,
      openMs: 1000,
      slo: { latencyMs: 1000, maxErrorRate: 0.5 },
      quality: () => undefined,
      events: { opened: (e) => events.push(`open ${e}`), closed: (e) => events.push(`closed ${e}`) },
      now: () => now,
    });
    for (let i = 0; i < 3; i++) {
      expect(router.admit("a")).toBe(true);
      router.result("a", false, undefined);
    }
    expect(router.isOpen("a")).toBe(true);
    expect(router.admit("a")).toBe(false);
    router.result("b", true, 50);
    expect(router.rank(["a", "b"])).toEqual(["b", "a"]);
    now = 1000;
    expect(router.rank(["a", "b"])[0]).toBe("a"); // due for its probe
    expect(router.admit("a")).toBe(true);
    expect(router.admit("a")).toBe(false); // one probe at a time
    router.result("a", true, 80);
    expect(router.isOpen("a")).toBe(false);
    expect(events).toEqual(["open a", "closed a"]);
  });

  it("ranks engines within the SLO first, faster first; weight 0 removes one", () => {
    const router = new Router({
      failures: 5,
      openMs: 1000,
      slo: { latencyMs: 500, maxErrorRate: 0.1, minQuality: 0.8 },
      quality: (e) => (e === "poor" ? { qualityScore: 0.5 } : { qualityScore: 0.9 }),
      events: { opened: () => {}, closed: () => {} },
    });
    router.result("fast", true, 100);
    router.result("slow", true, 400);
    router.result("poor", true, 50);
    router.result("over", true, 900);
    expect(router.rank(["over", "poor", "slow", "fast"])).toEqual(["fast", "slow", "poor", "over"]);
    router.setWeight("fast", 0);
    expect(router.rank(["slow", "fast"])).toEqual(["slow"]);
  });
});

describe("request parsing", () => {
  const opts = { maxInputChars: 10, defaultFormat: "wav" as const };
  it("normalises the text it hashes and speaks", () => {
    expect(normaliseText("  Hello\n\t world  ")).toBe("Hello world");
    expect(normaliseText("e\u0301")).toBe("\u00e9");
  });
  it("names the bad field", () => {
    expect(() => parseSpeechRequest({ model: "m" }, opts)).toThrow(/'input' is required/);
    expect(() => parseSpeechRequest({ model: "m", input: "x".repeat(11) }, opts)).toThrow(/longer than 10/);
    expect(() => parseSpeechRequest({ model: "m", input: "hi", response_format: "ogg" }, opts)).toThrow(
      /response_format/,
    );
    expect(() => parseSpeechRequest({ model: "m", input: "hi", speed: 5 }, opts)).toThrow(/speed/);
    expect(() => parseSpeechRequest({ input: "hi" }, opts)).toThrow(/'model' is required/);
    expect(parseSpeechRequest({ model: "m", input: " hi " }, opts)).toMatchObject({
      input: "hi",
      format: "wav",
      speed: 1,
    });
  });
});

describe("audio out", () => {
  const pcm = { kind: "pcm", sampleRate: 24000, channels: 1, encoding: "s16le" } as const;
  it("pcm from a WAV engine: the header is dropped, even when it arrives in pieces", async () => {
    const header = streamingWavHeader(pcm);
    const samples = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const out: Uint8Array[] = [];
    const c = createConverter("pcm", 1, undefined, (b) => out.push(b));
    c.write(header.subarray(0, 10), { kind: "wav" });
    c.write(Buffer.concat([header.subarray(10), samples.subarray(0, 2)]), { kind: "wav" });
    c.write(samples.subarray(2), { kind: "wav" });
    await c.end();
    expect(Buffer.concat(out)).toEqual(Buffer.from(samples));
  });
  it("wav from a PCM engine: a streaming header first", async () => {
    const out: Uint8Array[] = [];
    const c = createConverter("wav", 1, undefined, (b) => out.push(b));
    c.write(Uint8Array.from([9, 9]), pcm);
    await c.end();
    const body = Buffer.concat(out);
    expect(body.subarray(0, 4).toString("ascii")).toBe("RIFF");
    expect(body.readUInt32LE(24)).toBe(24000);
    expect([...body.subarray(44)]).toEqual([9, 9]);
  });
  it("garbage instead of WAV fails at the end", async () => {
    const c = createConverter("pcm", 1, undefined, () => {});
    c.write(Buffer.from("<html>error page</html>"), { kind: "wav" });
    await expect(c.end()).rejects.toThrow(/RIFF/);
  });
  it("mp3 needs an encoder", () => {
    expect(() => createConverter("mp3", 1, undefined, () => {})).toThrow(/ffmpeg/);
  });
});

describe("RequestTrace", () => {
  const e = (i: number): TraceEntry => ({
    v: TRACE_VERSION,
    key: String(i),
    engine: "e",
    voice: "v",
    chars: 1,
    bytes: 1,
    start_ms: i,
    end_ms: i,
    cache_hit: false,
    coalesced: false,
    result: "success",
    status: 200,
  });
  it("keeps the newest N in order", () => {
    const t = new RequestTrace(3);
    for (let i = 0; i < 5; i++) t.add(e(i));
    expect(t.entries().map((x) => x.key)).toEqual(["2", "3", "4"]);
    expect(t.entries(2).map((x) => x.key)).toEqual(["3", "4"]);
  });
  it("appends JSON lines to a file and rotates it past its size", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-trace-"));
    try {
      const path = join(dir, "trace.jsonl");
      const line = `${JSON.stringify(e(0))}\n`.length;
      const t = new RequestTrace(10, { path, maxFileBytes: line * 3 });
      for (let i = 0; i < 5; i++) t.add(e(i));
      await t.close();
      await new Promise((r) => setTimeout(r, 50));
      const keys = (f: string) =>
        readFileSync(f, "utf8")
          .trim()
          .split("\n")
          .map((l) => (JSON.parse(l) as TraceEntry).key);
      expect(keys(`${path}.1`)).toEqual(["0", "1", "2"]);
      expect(keys(path)).toEqual(["3", "4"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
