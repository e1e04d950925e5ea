import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/audio/signals.ts";
import { countCharacters, countWords } from "../../src/ingest/event.ts";
import { SlidingRatio, SynthesisRecorder } from "../../src/ingest/recorder.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";

function setup(options: Partial<ConstructorParameters<typeof SynthesisRecorder>[1]> = {}) {
  let now = 1_000_000_000_000;
  const registry = new MetricsRegistry();
  const recorder = new SynthesisRecorder(registry, {
    cacheWindowSeconds: 300,
    maxEngines: 3,
    maxVoices: 5,
    now: () => now,
    ...options,
  });
  const advance = (ms: number) => {
    now += ms;
  };
  const sample = async (name: string, labels: Record<string, string> = {}) => {
    const fam = (await registry.families()).find((f) => f.name === name);
    const v = fam?.values.find(
      (x) =>
        Object.entries(labels).every(([k, val]) => x.labels[k] === val) && (x.metricName ?? name) === name,
    );
    return v?.value;
  };
  return { registry, recorder, advance, sample };
}

describe("cache hit rate over a sliding window", () => {
  it("is the exact ratio of a known sequence", async () => {
    const { recorder, sample } = setup();
    const seq = [true, false, true, true, false, true, true, false, true, true]; // 7 of 10
    for (const hit of seq) recorder.record({ engine: "kokoro", latencyMs: 10, cacheHit: hit }, "ingest");
    expect(await sample("tts_cache_hit_rate", { engine: "kokoro" })).toBe(0.7);
    expect(await sample("tts_cache_hits_total", { engine: "kokoro" })).toBe(7);
    expect(await sample("tts_cache_lookups_total", { engine: "kokoro" })).toBe(10);
  });

  it("forgets lookups older than the window, keeps the counters", async () => {
    const { recorder, sample, advance } = setup({ cacheWindowSeconds: 60 });
    for (let i = 0; i < 4; i++) recorder.record({ engine: "e", latencyMs: 1, cacheHit: false }, "ingest");
    advance(30_000);
    for (let i = 0; i < 4; i++) recorder.record({ engine: "e", latencyMs: 1, cacheHit: true }, "ingest");
    expect(await sample("tts_cache_hit_rate", { engine: "e" })).toBe(0.5);
    advance(30_500); // the 4 misses are now 60.5 s old: out of the window
    expect(await sample("tts_cache_hit_rate", { engine: "e" })).toBe(1);
    recorder.record({ engine: "e", latencyMs: 1, cacheHit: false }, "ingest");
    expect(await sample("tts_cache_hit_rate", { engine: "e" })).toBe(0.8);
    advance(120_000); // everything expired: no value rather than a made-up one
    expect(await sample("tts_cache_hit_rate", { engine: "e" })).toBeUndefined();
    expect(await sample("tts_cache_lookups_total", { engine: "e" })).toBe(9);
  });

  it("events without a cache flag are not lookups", async () => {
    const { recorder, sample } = setup();
    recorder.record({ engine: "e", latencyMs: 1 }, "ingest");
    expect(await sample("tts_cache_lookups_total", { engine: "e" })).toBeUndefined();
  });

  it("the overall rate pools every engine's hits and lookups in the window", () => {
    const { recorder, advance } = setup({ cacheWindowSeconds: 60 });
    expect(recorder.cacheHitRate()).toBeUndefined();
    recorder.record({ engine: "a", latencyMs: 1, cacheHit: true }, "ingest");
    advance(30_000);
    for (let i = 0; i < 3; i++) recorder.record({ engine: "b", latencyMs: 1, cacheHit: false }, "ingest");
    expect(recorder.cacheHitRate()).toBe(0.25);
    advance(30_500); // a's hit left the window
    expect(recorder.cacheHitRate()).toBe(0);
    advance(60_000);
    expect(recorder.cacheHitRate()).toBeUndefined();
  });

  it("record() returns the labels it used, after the cardinality guard", () => {
    const { recorder } = setup({ maxEngines: 1, maxVoices: 1 });
    expect(recorder.record({ engine: "a", voice: "x", latencyMs: 1 }, "ingest")).toMatchObject({
      engine: "a",
      voice: "x",
    });
    expect(recorder.record({ engine: "b", voice: "y", latencyMs: 1 }, "ingest")).toMatchObject({
      engine: "other",
      voice: "other",
    });
  });

  it("SlidingRatio survives gaps longer than the window", () => {
    const r = new SlidingRatio(5, 0);
    r.add(0, true);
    r.add(1000, false);
    r.advance(100_000);
    expect(r.lookups).toBe(0);
    r.add(100_000, true);
    expect(r.ratio()).toBe(1);
  });
});

describe("cardinality guard", () => {
  it("folds engines beyond the limit into 'other' and counts them", async () => {
    const { recorder, sample } = setup({ maxEngines: 2, knownEngines: ["configured"] });
    for (const engine of ["configured", "a", "b", "c", "d"])
      recorder.record({ engine, latencyMs: 5 }, "ingest");
    const names = new Set(
      (await setupFamilies(recorder))
        .filter((l) => l.startsWith("tts_latency_seconds_count"))
        .map((l) => /engine="([^"]+)"/.exec(l)?.[1]),
    );
    expect(names).toEqual(new Set(["configured", "a", "b", "other"]));
    expect(await sample("tts_ingest_labels_folded_total", { label: "engine" })).toBe(2);
  });

  it("folds voices beyond the limit", async () => {
    const { recorder, sample } = setup({ maxVoices: 2 });
    for (const voice of ["v1", "v2", "v3", "v1"])
      recorder.record({ engine: "e", voice, latencyMs: 5 }, "ingest");
    expect(await sample("tts_ingest_labels_folded_total", { label: "voice" })).toBe(1);
  });

  async function setupFamilies(recorder: SynthesisRecorder) {
    const registry = (recorder as unknown as { registry: MetricsRegistry }).registry;
    return (await registry.render(false)).body.split("\n");
  }
});

describe("derived TTS measures", () => {
  it("computes RTF, throughput, speaking rate and cold/warm from one event", async () => {
    const { recorder, sample } = setup();
    const labels = { engine: "e", voice: "v", source: "ingest" };
    recorder.record(
      {
        engine: "e",
        voice: "v",
        text: "one two three four",
        latencyMs: 500,
        audioDurationMs: 2000,
        ttfaMs: 100,
      },
      "ingest",
    );
    expect(await sample("tts_real_time_factor", labels)).toBe(0.25);
    expect(await sample("tts_throughput_characters_per_second", labels)).toBe(18 / 0.5);
    expect(await sample("tts_throughput_words_per_minute", labels)).toBe(4 / (0.5 / 60));
    expect(await sample("tts_speaking_rate_words_per_minute", labels)).toBe(4 / (2 / 60));
    expect(
      await sample("tts_request_temperature_latency_seconds", { engine: "e", temperature: "cold" }),
    ).toBe(0.5);
    recorder.record({ engine: "e", voice: "v", latencyMs: 200 }, "ingest");
    expect(
      await sample("tts_request_temperature_latency_seconds", { engine: "e", temperature: "warm" }),
    ).toBe(0.2);
    expect(
      await sample("tts_request_temperature_latency_seconds", { engine: "e", temperature: "cold" }),
    ).toBe(0.5);
  });

  it("counts failures by reason and keeps them out of the latency histogram", async () => {
    const { recorder, registry } = setup();
    recorder.record({ engine: "e", latencyMs: 9000, success: false, errorReason: "timeout" }, "probe");
    recorder.record({ engine: "e", latencyMs: 100 }, "probe");
    const body = (await registry.render(false)).body;
    expect(body).toContain(
      'tts_failures_total{engine="e",voice="default",source="probe",reason="timeout"} 1',
    );
    expect(body).toContain(
      'tts_requests_total{engine="e",voice="default",source="probe",result="failure"} 1',
    );
    expect(body).toContain('tts_latency_seconds_count{engine="e",voice="default",source="probe"} 1');
    expect(body).toContain(
      'tts_latency_seconds_bucket{engine="e",voice="default",source="probe",le="0.1"} 1',
    );
    expect(body).toContain(
      'tts_latency_seconds_bucket{engine="e",voice="default",source="probe",le="0.05"} 0',
    );
  });
});

describe("words and characters of a text", () => {
  const segmenter = new Intl.Segmenter("und", { granularity: "word" });
  const unicodeWords = (text: string) =>
    [...segmenter.segment(text)].filter((s) => s.isWordLike && /[\p{L}\p{N}]/u.test(s.segment)).length;

  it("counts words by the Unicode rules: punctuation and emoji are not words, CJK has words", () => {
    expect(countWords("The quick brown fox jumps over the lazy dog.")).toBe(9);
    expect(countWords("Hello — world - ok ...")).toBe(3);
    expect(countWords("don't stop: 3.14, 1,000 e.g. state-of-the-art")).toBe(9);
    expect(countWords("你好，世界。今天天气很好。")).toBe(5);
    expect(countWords("Hi 👋 there")).toBe(2);
    expect(countWords("one\u3000two\u2003three")).toBe(3);
    expect(countWords("")).toBe(0);
    expect(countWords(" \t\n")).toBe(0);
  });

  it("the ASCII fast path agrees with Intl.Segmenter", () => {
    const alphabet = "ab1Z9 _'.:,;-!?\"()\t\n/@#";
    const random = seededRandom(42);
    for (let i = 0; i < 5000; i++) {
      let text = "";
      const length = 1 + Math.floor(random() * 16);
      for (let k = 0; k < length; k++) text += alphabet[Math.floor(random() * alphabet.length)];
      expect(countWords(text), JSON.stringify(text)).toBe(unicodeWords(text));
    }
  });

  it("counts characters as graphemes", () => {
    expect(countCharacters("Hello")).toBe(5);
    expect(countCharacters("a\r\nb")).toBe(3);
    expect(countCharacters("cafe\u0301")).toBe(4);
    expect(countCharacters("👨‍👩‍👧🇫🇷")).toBe(2);
    expect(countCharacters("日本語")).toBe(3);
  });
});

describe("failures count where users look", () => {
  it("the success ratio is over the window: 100 timeouts after 10,000 successes show", () => {
    const { recorder, advance } = setup({ successWindowSeconds: 60 });
    for (let i = 0; i < 10_000; i++) recorder.record({ engine: "e", latencyMs: 100 }, "ingest");
    expect(recorder.summary().get("e")?.successRatio).toBe(1);
    advance(61_000); // the successes leave the window
    for (let i = 0; i < 100; i++)
      recorder.record({ engine: "e", latencyMs: 10_000, success: false, errorReason: "timeout" }, "ingest");
    const s = recorder.summary().get("e");
    expect(s?.successRatio).toBe(0);
    expect(s?.windowSeconds).toBe(60);
    expect(s?.requests).toBe(10_100);
    advance(61_000);
    expect(recorder.summary().get("e")?.successRatio).toBeUndefined(); // nothing in the window
  });

  it("pairs the latest successful latency with the time of that success", () => {
    const { recorder, advance } = setup();
    recorder.record({ engine: "e", latencyMs: 120 }, "ingest");
    const okAt = 1_000_000_000_000;
    advance(5000);
    recorder.record({ engine: "e", latencyMs: 9000, success: false, errorReason: "timeout" }, "ingest");
    const s = recorder.summary().get("e");
    expect(s).toMatchObject({
      latencyMs: 120,
      lastSuccessAt: okAt,
      lastAttemptAt: okAt + 5000,
      lastAt: okAt + 5000,
      lastSuccess: false,
    });
  });

  it("tts_request_duration_seconds holds failures' durations; tts_latency_seconds successes only", async () => {
    const { recorder, registry } = setup();
    recorder.record({ engine: "e", latencyMs: 150 }, "probe");
    for (let i = 0; i < 3; i++)
      recorder.record({ engine: "e", latencyMs: 10_000, success: false, errorReason: "timeout" }, "probe");
    const families = await registry.families();
    const bucket = (family: string, le: string, result?: string) =>
      families
        .find((f) => f.name === family)
        ?.values.find((v) => v.labels.le === le && (result === undefined || v.labels.result === result))
        ?.value;
    expect(bucket("tts_request_duration_seconds", "+Inf", "failure")).toBe(3);
    expect(bucket("tts_request_duration_seconds", "+Inf", "success")).toBe(1);
    expect(bucket("tts_request_duration_seconds", "5", "failure")).toBe(0);
    expect(bucket("tts_request_duration_seconds", "10", "failure")).toBe(3);
    expect(bucket("tts_latency_seconds", "+Inf")).toBe(1);
  });

  it("timestamps the last-observation gauges; forget() removes them and keeps the counters", async () => {
    const { recorder, sample, advance } = setup();
    recorder.record({ engine: "e", voice: "v", latencyMs: 100, audioDurationMs: 1000 }, "ingest");
    advance(2000);
    recorder.record({ engine: "e", voice: "v", latencyMs: 1, success: false }, "ingest");
    expect(await sample("tts_last_success_timestamp_seconds", { engine: "e" })).toBe(1_000_000_000);
    expect(await sample("tts_last_request_timestamp_seconds", { engine: "e" })).toBe(1_000_000_002);
    recorder.forget("e");
    expect(await sample("tts_real_time_factor", { engine: "e" })).toBeUndefined();
    expect(await sample("tts_last_request_timestamp_seconds", { engine: "e" })).toBeUndefined();
    expect(await sample("tts_requests_total", { engine: "e", result: "failure" })).toBe(1);
    expect(recorder.summary().has("e")).toBe(false);
  });
});
