import { describe, expect, it } from "vitest";
import type { CollectorState } from "../../src/collectors/runner.ts";
import { SynthesisRecorder } from "../../src/ingest/recorder.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import {
  ageSeconds,
  buildSnapshot,
  type ProbeReading,
  type SnapshotSources,
} from "../../src/state/snapshot.ts";

function sources(over: Partial<SnapshotSources> & { states?: Record<string, CollectorState> } = {}) {
  const states = over.states ?? {};
  const { states: _, ...rest } = over;
  return {
    now: 10_000,
    collectors: { names: Object.keys(states), state: (n: string) => states[n] },
    engines: new Map(),
    cacheHitRate: undefined,
    probes: new Map<string, ProbeReading>(),
    ...rest,
  } satisfies SnapshotSources;
}

describe("the state snapshot", () => {
  it("pairs the newest success's latency with the time it was measured, not with a later failure", () => {
    let now = 1000;
    const recorder = new SynthesisRecorder(new MetricsRegistry(), {
      cacheWindowSeconds: 300,
      maxEngines: 10,
      maxVoices: 10,
      now: () => now,
    });
    recorder.record({ engine: "a", latencyMs: 100 }, "ingest");
    now = 2000;
    recorder.record({ engine: "b", latencyMs: 200 }, "ingest");
    now = 3000;
    // The newest attempt of all is a failure of "a": its latency is still the one measured at 1000.
    recorder.record({ engine: "a", latencyMs: 5000, success: false, errorReason: "timeout" }, "ingest");
    const m = buildSnapshot(sources({ now: 4000, engines: recorder.summary() }));
    expect(m.latencyMs).toBe(200);
    expect(m.latencyAt).toBe(2000);
    expect(m.engines.a).toMatchObject({
      latencyMs: 100,
      lastSuccessAt: 1000,
      lastAttemptAt: 3000,
      lastSuccess: false,
    });
    expect(ageSeconds(m.latencyAt, m.timestamp)).toBe(2);
  });

  it("reads collector values by catalog name, with the time of the run that measured them", () => {
    const m = buildSnapshot(
      sources({
        states: {
          cpu: {
            success: true,
            durationSeconds: 0.01,
            at: 9000,
            samples: [
              { metric: "tts_host_cpu_usage_ratio", labels: {}, value: 0.25 },
              { metric: "tts_host_load1", labels: {}, value: 1.5 },
            ],
          },
          memory: { success: false, durationSeconds: 1, at: 9500, samples: [], error: "timed out" },
          gpu: {
            success: true,
            durationSeconds: 0.2,
            at: 8000,
            samples: [
              { metric: "tts_gpu_usage_percent", labels: { gpu: "0", name: "H200" }, value: 40 },
              { metric: "tts_gpu_usage_percent", labels: { gpu: "1", name: "H200" }, value: 60 },
              { metric: "tts_gpu_memory_usage_ratio", labels: { gpu: "0", name: "H200" }, value: 0.5 },
            ],
          },
        },
      }),
    );
    expect(m).toMatchObject({ cpuUsageRatio: 0.25, load1: 1.5, cpuAt: 9000, gpuUsage: 50 });
    // A failed run gives no values and no time for them; the collector's own entry says why.
    expect(m.memoryUsageRatio).toBeUndefined();
    expect(m.memoryAt).toBeUndefined();
    expect(m.collectors.memory).toEqual({ success: false, error: "timed out", at: 9500 });
    expect(m.gpus).toEqual([
      { gpu: "0", name: "H200", at: 8000, usagePercent: 40, memoryUsageRatio: 0.5 },
      { gpu: "1", name: "H200", at: 8000, usagePercent: 60 },
    ]);
  });

  it("derives a probe's throughput once and keeps the probe's time; a failed probe has no values", () => {
    const recorder = new SynthesisRecorder(new MetricsRegistry(), {
      cacheWindowSeconds: 300,
      maxEngines: 10,
      maxVoices: 10,
      now: () => 5000,
    });
    recorder.record({ engine: "ok", latencyMs: 500 }, "probe");
    recorder.record({ engine: "bad", latencyMs: 2000, success: false }, "probe");
    const m = buildSnapshot(
      sources({
        engines: recorder.summary(),
        quality: new Map([["ok", { score: 0.9, at: 6000 }]]),
        probes: new Map<string, ProbeReading>([
          ["ok", { success: true, finishedAt: 5000, characters: 50, latencyMs: 500, ttfaMs: 120 }],
          ["bad", { success: false, finishedAt: 5000, characters: 50, latencyMs: 2000 }],
        ]),
      }),
    );
    expect(m.engines.ok?.probe).toEqual({
      success: true,
      at: 5000,
      latencyMs: 500,
      ttfaMs: 120,
      throughputCharsPerSecond: 100,
    });
    expect(m.engines.ok).toMatchObject({ qualityScore: 0.9, qualityScoreAt: 6000 });
    expect(m.engines.bad?.probe).toEqual({ success: false, at: 5000 });
    expect(m).toMatchObject({ qualityScore: 0.9, qualityScoreAt: 6000 });
  });
});
