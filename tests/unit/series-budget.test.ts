import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/audio/signals.ts";
import { configSchema } from "../../src/config/schema.ts";
import { FAILURE_REASONS } from "../../src/engines/types.ts";
import { SynthesisRecorder } from "../../src/ingest/recorder.ts";
import {
  BUDGETED_SOURCES,
  type BudgetedSource,
  INGEST_EXPOSITION_BYTES,
  PAIR_SAMPLES,
  RESERVED_SAMPLES,
  SAMPLES_PER_SERIES,
  SeriesBudget,
  seriesBytes,
  seriesSamples,
} from "../../src/ingest/series-budget.ts";
import { catalog, metricNames } from "../../src/metrics/catalog.ts";
import type { Family } from "../../src/metrics/exposition.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";

function setup(maxSeries: number, maxSamples = 1_000_000) {
  const registry = new MetricsRegistry();
  const recorder = new SynthesisRecorder(registry, {
    cacheWindowSeconds: 300,
    maxEngines: 10_000,
    maxVoices: 100_000,
    maxSeries,
    maxSamples,
  });
  const family = async (name: string): Promise<Family> => {
    const f = (await registry.families()).find((x) => x.name === name);
    if (!f) throw new Error(`no family ${name}`);
    return f;
  };
  const counter = async (name: string, labels: Record<string, string>) =>
    (await family(name)).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
      ?.value ?? 0;
  const pairs = async () =>
    new Set(
      (await family("tts_requests_total")).values
        .filter((v) => v.labels.source === "ingest")
        .map((v) => `${v.labels.engine}/${v.labels.voice}`),
    );
  return { registry, recorder, family, counter, pairs };
}

describe("series budget", () => {
  it("gives new combinations their own series until max_series, then folds them and counts it", async () => {
    const { recorder, counter, pairs } = setup(5);
    // ("other", "other") is reserved: 4 combinations of their own, then folding.
    for (let v = 0; v < 4; v++)
      recorder.record({ engine: "kokoro", voice: `v${v}`, latencyMs: 100 }, "ingest");
    expect(await pairs()).toEqual(new Set(["kokoro/v0", "kokoro/v1", "kokoro/v2", "kokoro/v3"]));
    recorder.record({ engine: "kokoro", voice: "v4", latencyMs: 100 }, "ingest");
    recorder.record({ engine: "piper", voice: "amy", latencyMs: 100 }, "ingest");
    // No room for (kokoro, other) or (piper, other): both go to (other, other).
    expect(await pairs()).toEqual(
      new Set(["kokoro/v0", "kokoro/v1", "kokoro/v2", "kokoro/v3", "other/other"]),
    );
    expect(
      await counter("tts_exporter_series_limit_reached_total", { limit: "series", data: "ingest" }),
    ).toBe(2);
    expect(await counter("tts_ingest_labels_folded_total", { label: "engine" })).toBe(2);
    expect(await counter("tts_ingest_labels_folded_total", { label: "voice" })).toBe(2);
    // Existing series keep their labels and keep counting: nothing is evicted.
    recorder.record({ engine: "kokoro", voice: "v0", latencyMs: 100 }, "ingest");
    expect(await counter("tts_requests_total", { engine: "kokoro", voice: "v0", result: "success" })).toBe(2);
  });

  it("folds a new voice into (engine, other) while that still fits", async () => {
    const { recorder, pairs, counter } = setup(4);
    recorder.record({ engine: "kokoro", voice: "a", latencyMs: 1 }, "ingest");
    recorder.record({ engine: "kokoro", voice: "b", latencyMs: 1 }, "ingest");
    // 3 of 4 used, the last slot: (kokoro, c) fits. Then (kokoro, d) fits nowhere but (other, other).
    recorder.record({ engine: "kokoro", voice: "c", latencyMs: 1 }, "ingest");
    recorder.record({ engine: "kokoro", voice: "d", latencyMs: 1 }, "ingest");
    expect(await pairs()).toEqual(new Set(["kokoro/a", "kokoro/b", "kokoro/c", "other/other"]));

    // Samples bind first: the reserved (other, other) and 4 more.
    const b = setup(10, RESERVED_SAMPLES + 4 * SAMPLES_PER_SERIES);
    for (let v = 0; v < 4; v++) b.recorder.record({ engine: "e", voice: `v${v}`, latencyMs: 1 }, "ingest");
    b.recorder.record({ engine: "e", voice: "late", latencyMs: 1 }, "ingest");
    expect(await b.pairs()).toEqual(new Set(["e/v0", "e/v1", "e/v2", "e/v3", "other/other"]));
    expect(await b.counter("tts_exporter_series_limit_reached_total", { limit: "samples" })).toBe(1);
    expect(await counter("tts_exporter_series_limit_reached_total", { limit: "series" })).toBe(1);
  });

  it("never limits probe series (they are bounded by the config)", async () => {
    const { recorder, family } = setup(1);
    for (let v = 0; v < 5; v++)
      recorder.record({ engine: "embedded", voice: `v${v}`, latencyMs: 1 }, "probe");
    const probe = (await family("tts_requests_total")).values.filter((v) => v.labels.source === "probe");
    expect(new Set(probe.map((v) => v.labels.voice)).size).toBe(5);
  });

  it("merges folded histograms honestly: every count adds up to the events recorded", async () => {
    const { recorder, family } = setup(20);
    const random = seededRandom(7);
    let successes = 0;
    let failures = 0;
    let latencySum = 0;
    for (let i = 0; i < 5000; i++) {
      const engine = `engine-${Math.floor(random() * 30)}`;
      const voice = `voice-${Math.floor(random() * 40)}`;
      const latencyMs = Math.round(random() * 4000);
      if (random() < 0.2) {
        failures++;
        recorder.record({ engine, voice, latencyMs, success: false, errorReason: "timeout" }, "ingest");
      } else {
        successes++;
        latencySum += latencyMs / 1000;
        recorder.record({ engine, voice, latencyMs, ttfaMs: latencyMs / 2 }, "ingest");
      }
    }
    const requests = (await family("tts_requests_total")).values;
    const total = (result: string) =>
      requests.filter((v) => v.labels.result === result).reduce((n, v) => n + v.value, 0);
    expect(total("success")).toBe(successes);
    expect(total("failure")).toBe(failures);
    const failuresTotal = (await family("tts_failures_total")).values.reduce((n, v) => n + v.value, 0);
    expect(failuresTotal).toBe(failures);

    for (const name of ["tts_latency_seconds", "tts_time_to_first_audio_seconds"]) {
      const values = (await family(name)).values;
      const counts = values.filter((v) => v.metricName === `${name}_count`);
      expect(counts.reduce((n, v) => n + v.value, 0)).toBe(successes);
      // Per series: cumulative buckets rise to +Inf, which equals _count.
      for (const c of counts) {
        const same = (v: (typeof values)[number]) =>
          v.labels.engine === c.labels.engine && v.labels.voice === c.labels.voice;
        const buckets = values
          .filter((v) => v.metricName === `${name}_bucket` && same(v))
          .map((v) => v.value);
        expect(buckets.every((v, i) => i === 0 || v >= (buckets[i - 1] as number))).toBe(true);
        expect(buckets.at(-1)).toBe(c.value);
      }
    }
    const sums = (await family("tts_latency_seconds")).values.filter(
      (v) => v.metricName === "tts_latency_seconds_sum",
    );
    expect(sums.reduce((n, v) => n + v.value, 0)).toBeCloseTo(latencySum, 6);
    // 20 series at most, (other, other) among them, which took the rest.
    expect(new Set(requests.map((v) => `${v.labels.engine}/${v.labels.voice}`)).size).toBeLessThanOrEqual(20);
    expect(requests.some((v) => v.labels.engine === "other" && v.labels.voice === "other")).toBe(true);
  });

  it("charges each source of a pair its own series, the gateway's with the inter-chunk families", async () => {
    const { recorder, family } = setup(10, RESERVED_SAMPLES + seriesSamples("ingest") + 50);
    const reserved = recorder.budget.samples;
    expect(reserved).toBe(RESERVED_SAMPLES);
    const a = recorder.record({ engine: "kokoro", voice: "af", latencyMs: 100 }, "ingest");
    expect(a).toMatchObject({ engine: "kokoro", voice: "af" });
    expect(recorder.budget.samples).toBe(reserved + SAMPLES_PER_SERIES);
    // The same pair through the gateway renders a second series (source="gateway"), with its chunk
    // families: 50 samples are not room for it, so it goes to (other, other), reserved for the gateway.
    const g = recorder.record({ engine: "kokoro", voice: "af", latencyMs: 100 }, "gateway");
    expect(g).toMatchObject({ engine: "other", voice: "other" });
    recorder.recordChunkGaps(g, "gateway", [20, 400, 30]);
    const stalls = (await family("tts_stall_seconds")).values.filter((v) => v.metricName?.endsWith("_count"));
    expect(stalls.map((v) => [v.labels.engine, v.labels.voice, v.labels.source, v.value])).toEqual([
      ["other", "other", "gateway", 1],
    ]);
    expect(recorder.budget.samples).toBe(reserved + SAMPLES_PER_SERIES);

    const roomy = setup(10);
    roomy.recorder.record({ engine: "kokoro", voice: "af", latencyMs: 100 }, "ingest");
    const before = roomy.recorder.budget.samples;
    expect(roomy.recorder.record({ engine: "kokoro", voice: "af", latencyMs: 1 }, "gateway")).toMatchObject({
      engine: "kokoro",
      voice: "af",
    });
    // The pair's shared families were charged once; the gateway series adds its own part.
    expect(roomy.recorder.budget.samples - before).toBe(seriesSamples("gateway") - PAIR_SAMPLES);
    expect(seriesSamples("gateway") - seriesSamples("ingest")).toBe(
      2 * (catalog.tts_inter_chunk_gap_seconds.buckets.length + 3),
    );
    expect(roomy.recorder.budget.size).toBe(2);
    expect(seriesBytes("k", "v", "gateway")).toBeGreaterThan(seriesBytes("k", "v", "ingest"));
  });

  it("the README's figures: samples per ingested pair, per further source, reserved", () => {
    expect(SAMPLES_PER_SERIES).toBe(124);
    expect(seriesSamples("stress") - PAIR_SAMPLES).toBe(85);
    expect(seriesSamples("gateway") - PAIR_SAMPLES).toBe(119);
    expect(RESERVED_SAMPLES).toBe(328);
  });

  it("the smallest max_samples the config allows holds the room reserved in every source", () => {
    expect(BUDGETED_SOURCES).toEqual(["ingest", "stress", "gateway"]);
    const valid = (n: number) => configSchema.safeParse({ ingest: { max_samples: n } }).success;
    expect(RESERVED_SAMPLES).toBeLessThanOrEqual(400);
    expect(valid(400)).toBe(true);
    expect(valid(399)).toBe(false);
    // At that minimum the reserved room fits, and nothing else does.
    const { recorder } = setup(10, 400);
    expect(recorder.record({ engine: "e", voice: "v", latencyMs: 1 }, "ingest")).toMatchObject({
      engine: "other",
      voice: "other",
    });
    expect(recorder.budget.samples).toBe(RESERVED_SAMPLES);
  });

  it("release() frees the room of a removed series", () => {
    const budget = new SeriesBudget(new MetricsRegistry(), { maxSeries: 2, maxSamples: 1_000_000 });
    expect(budget.admit("a", "x")).toEqual({ engine: "a", voice: "x" });
    expect(budget.admit("b", "x")).toEqual({ engine: "other", voice: "other" });
    budget.release("a", "x");
    expect(budget.admit("b", "x")).toEqual({ engine: "b", voice: "x" });
    budget.release("other", "other"); // the reserved fold target stays
    expect(budget.size).toBe(2);
  });
});

/**
 * Every family a series can fill: all failure reasons, TTFA, throughput, cache and the audio
 * measures; a gateway series also every bucket of the inter-chunk families.
 */
function fill(
  recorder: SynthesisRecorder,
  registry: MetricsRegistry,
  engine: string,
  voice: string,
  source: BudgetedSource = "ingest",
): void {
  const labels = recorder.record(
    {
      engine,
      voice,
      latencyMs: 123.456789,
      ttfaMs: 45.678901,
      audioDurationMs: 2345.678,
      text: "The quick brown fox jumps over the lazy dog.",
      cacheHit: false,
    },
    source,
  );
  if (source === "gateway")
    recorder.recordChunkGaps(labels, "gateway", [
      ...catalog.tts_stall_seconds.buckets.map((b) => b * 1000 - 0.123456789),
      98765.4321,
    ]);
  recorder.record({ engine, voice, latencyMs: 98.7654321, cacheHit: true }, source);
  for (const reason of FAILURE_REASONS)
    recorder.record({ engine, voice, latencyMs: 1, success: false, errorReason: reason }, source);
  for (const f of metricNames.filter(
    (n) => catalog[n].area === "audio" && catalog[n].type === "gauge" && n !== "tts_intelligibility_ratio",
  ))
    registry.gauge(f).set({ engine: labels.engine, voice: labels.voice }, -0.123456789012345);
  registry
    .gauge("tts_intelligibility_ratio")
    .set({ engine: labels.engine, voice: labels.voice, asr: "pocketsphinx" }, 0.123456789012345);
}

describe("the worst case the config allows", () => {
  it("stays under 1 MB of /metrics with the longest labels escaped at every byte, in every source", async () => {
    const { registry, recorder } = setup(10_000, 1_000_000); // the schema's maxima
    // 128 characters (the longest label value), each one escaped in the exposition; each pair
    // ingested, stress-leased and served by the gateway (with its inter-chunk families).
    for (let i = 0; i < 2000; i++) {
      const id = String(i).padStart(6, "0");
      for (const source of BUDGETED_SOURCES)
        fill(recorder, registry, `${id}${'"'.repeat(122)}`, `${id}${"\\".repeat(122)}`, source);
    }
    const { body } = await registry.render(false);
    const ingestLines = body.split("\n").filter((l) => l.includes('engine="'));
    expect(body).toMatch(/^tts_stall_seconds_bucket\{engine="000000/m);
    expect(body).toMatch(
      /^tts_inter_chunk_gap_seconds_bucket\{engine="other",voice="other",source="gateway"/m,
    );
    expect(Buffer.byteLength(body)).toBeLessThan(1024 * 1024);
    expect(recorder.budget.size).toBeGreaterThan(1);
    expect(ingestLines.length).toBeLessThanOrEqual(recorder.budget.samples);
    // What the ingested series render stays within their share of the megabyte.
    expect(Buffer.byteLength(ingestLines.join("\n"))).toBeLessThanOrEqual(INGEST_EXPOSITION_BYTES);
  });

  it("with short labels holds max_series and bounds the samples of a 50 × 200 flood", async () => {
    const { registry, recorder } = setup(50, 10_000); // the defaults
    for (let e = 0; e < 50; e++)
      for (let v = 0; v < 200; v++) fill(recorder, registry, `engine-${e}`, `voice-${v}`);
    const { body } = await registry.render(false);
    const samples = body.split("\n").filter((l) => l.length > 0 && !l.startsWith("#")).length;
    // max_series, or the byte ceiling first (each pair is charged every family it could fill).
    expect(recorder.budget.size).toBeLessThanOrEqual(50);
    expect(recorder.budget.size).toBeGreaterThanOrEqual(40);
    expect(samples).toBeLessThanOrEqual(recorder.budget.samples + 100);
    expect(Buffer.byteLength(body)).toBeLessThan(1024 * 1024);
  });

  it("the gateway's series within the defaults: every sample it renders was charged", async () => {
    const { registry, recorder } = setup(50, 10_000);
    for (let v = 0; v < 200; v++) {
      fill(recorder, registry, "kokoro", `voice-${v}`, "ingest");
      fill(recorder, registry, "kokoro", `voice-${v}`, "gateway");
    }
    const { body } = await registry.render(false);
    const lines = body.split("\n").filter((l) => l.includes('engine="'));
    const gateway = lines.filter((l) => l.includes('source="gateway"'));
    expect(gateway.some((l) => l.startsWith("tts_inter_chunk_gap_seconds_bucket"))).toBe(true);
    expect(lines.length).toBeLessThanOrEqual(recorder.budget.samples);
    expect(recorder.budget.samples).toBeLessThanOrEqual(10_000);
    expect(Buffer.byteLength(lines.join("\n"))).toBeLessThanOrEqual(recorder.budget.bytes);
  });
});
