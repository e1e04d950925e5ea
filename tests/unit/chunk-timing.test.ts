import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { chunkStats } from "../../src/engines/chunk-stats.ts";
import { SynthesisRecorder } from "../../src/ingest/recorder.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { generationProblems } from "../../src/monitoring/generate.ts";

function setup() {
  const registry = new MetricsRegistry();
  const recorder = new SynthesisRecorder(registry, { cacheWindowSeconds: 300, maxEngines: 5, maxVoices: 5 });
  const lines = async () => (await registry.render(false)).body.split("\n");
  return { registry, recorder, lines };
}

const value = (lines: string[], prefix: string) => {
  const line = lines.find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
};

describe("chunkStats", () => {
  it("gives every gap and the longest one", () => {
    const s = chunkStats({ start: 0, requestSent: 1, end: 900, chunks: [100, 150, 650, 700] });
    expect(s.gapsMs).toEqual([50, 500, 50]);
    expect(s.longestStallMs).toBe(500);
  });

  it("has no stall for an answer in fewer than two chunks", () => {
    expect(chunkStats({ start: 0, requestSent: 1, end: 9, chunks: [5] })).toEqual({ gapsMs: [] });
    expect(chunkStats({ start: 0, requestSent: 1, end: 9 })).toEqual({ gapsMs: [] });
  });
});

describe("inter-chunk gap and stall histograms", () => {
  it("observe each gap, and the longest once per request", async () => {
    const { recorder, lines } = setup();
    for (const gaps of [
      [50, 500, 50],
      [20, 1200],
    ]) {
      const labels = recorder.record({ engine: "riva", voice: "v", latencyMs: 900 }, "probe");
      recorder.recordChunkGaps(labels, "probe", gaps);
    }
    const l = await lines();
    const labels = 'engine="riva",voice="v",source="probe"';
    expect(value(l, `tts_inter_chunk_gap_seconds_count{${labels}}`)).toBe(5);
    expect(value(l, `tts_inter_chunk_gap_seconds_sum{${labels}}`)).toBeCloseTo(1.82, 9);
    expect(value(l, `tts_inter_chunk_gap_seconds_bucket{${labels},le="0.05"}`)).toBe(3);
    expect(value(l, `tts_stall_seconds_count{${labels}}`)).toBe(2);
    expect(value(l, `tts_stall_seconds_sum{${labels}}`)).toBeCloseTo(1.7, 9);
    expect(value(l, `tts_stall_seconds_bucket{${labels},le="0.5"}`)).toBe(1);
    expect(value(l, `tts_stall_seconds_bucket{${labels},le="1"}`)).toBe(1);
    expect(value(l, `tts_stall_seconds_bucket{${labels},le="1.5"}`)).toBe(2);
  });

  it("give the engine's summary the latest stall and the p95 over the window (the web dashboard's)", () => {
    let now = 1_000_000;
    const registry = new MetricsRegistry();
    const recorder = new SynthesisRecorder(registry, {
      cacheWindowSeconds: 300,
      maxEngines: 5,
      maxVoices: 5,
      now: () => now,
    });
    const labels = recorder.record({ engine: "wy", voice: "v", latencyMs: 900 }, "gateway");
    expect(recorder.summary().get("wy")?.stallMs).toBeUndefined();
    // 19 answers stalling 100 ms, then one of 2.5 s: the p95 (rank 19 of 20) is in the 0.05-0.1 s
    // bucket; five more long ones move it into theirs.
    for (let i = 0; i < 19; i++) recorder.recordChunkGaps(labels, "gateway", [10, 100]);
    now += 1000;
    recorder.recordChunkGaps(labels, "gateway", [2500, 20]);
    const s = recorder.summary().get("wy");
    expect(s?.stallMs).toBe(2500);
    expect(s?.stallAt).toBe(now);
    expect(s?.stallP95WindowMs).toBeGreaterThan(50);
    expect(s?.stallP95WindowMs).toBeLessThanOrEqual(100);
    for (let i = 0; i < 5; i++) recorder.recordChunkGaps(labels, "gateway", [2500]);
    expect(recorder.summary().get("wy")?.stallP95WindowMs).toBeGreaterThan(2000);
    // Past the window (300 s by default), the p95 has no observation left.
    now += 301_000;
    expect(recorder.summary().get("wy")?.stallP95WindowMs).toBeUndefined();
    expect(recorder.summary().get("wy")?.stallMs).toBe(2500);
  });

  it("count a failed stream's stalls too, and show nothing for answers that did not stream", async () => {
    const { recorder, lines } = setup();
    recorder.record({ engine: "flat", latencyMs: 100 }, "probe");
    recorder.recordChunkGaps({ engine: "flat", voice: "default" }, "probe", []);
    const broke = recorder.record(
      { engine: "broke", latencyMs: 3000, success: false, errorReason: "protocol" },
      "probe",
    );
    recorder.recordChunkGaps(broke, "probe", [2500]);
    const l = await lines();
    expect(l.some((x) => x.startsWith('tts_stall_seconds_count{engine="flat"'))).toBe(false);
    expect(value(l, 'tts_stall_seconds_count{engine="broke",voice="default",source="probe"}')).toBe(1);
    expect(value(l, 'tts_stall_seconds_bucket{engine="broke",voice="default",source="probe",le="3"}')).toBe(
      1,
    );
  });
});

describe("thresholds.stall_max_ms", () => {
  it("is refused by generate at or above the highest tts_stall_seconds bucket (the alert could never fire)", () => {
    const at = (stall_max_ms: number) =>
      generationProblems(parseConfig({ thresholds: { stall_max_ms } }, "<test>", {})).map((p) => p.path);
    expect(at(9999)).toEqual([]);
    expect(at(10_000)).toEqual(["$.thresholds.stall_max_ms"]);
  });
});
