import { describe, expect, it } from "vitest";
import { HistoryRing, newMeasurements } from "../../src/server/dashboard-history.ts";
import type { CurrentMetrics } from "../../src/state/snapshot.ts";

const base: CurrentMetrics = {
  timestamp: 10_000,
  latencyMs: 200,
  latencyAt: 9000,
  qualityScore: undefined,
  qualityScoreAt: undefined,
  cacheHitRate: undefined,
  engines: {
    a: {
      requests: 2,
      latencyMs: 200,
      latencyP50Ms: 200,
      latencyP95Ms: 200,
      successRatio: 0.5,
      lastSuccessAt: 9000,
      lastAttemptAt: 9500,
      windowSeconds: 300,
      probe: { success: false, at: 9500 },
    },
    off: { requests: 1, latencyMs: 50, lastSuccessAt: 9000, lastAttemptAt: 9000, windowSeconds: 300 },
  },
  gpuUsage: undefined,
  gpus: [],
  cpuUsageRatio: 0.25,
  load1: 1,
  cpuAt: 8000,
  memoryUsageRatio: undefined,
  memoryUsedBytes: undefined,
  memoryTotalBytes: undefined,
  swapUsageRatio: undefined,
  memoryAt: undefined,
  collectors: {},
};

describe("dashboard history", () => {
  it("records a streamed answer's stall as its own row, at the answer's time", () => {
    const seen = new Map<string, number>();
    const engines = {
      ...base.engines,
      s: { requests: 1, windowSeconds: 300, stallMs: 812.5, stallAt: 9700, stallP95WindowMs: 950 },
    };
    const rows = newMeasurements({ ...base, engines }, seen, () => true);
    expect(rows.filter((r) => r.source === "stall:s")).toEqual([
      { t: 9700, source: "stall:s", v: { "engine.s.stall_ms": 812.5, "engine.s.stall_p95_ms": 950 } },
    ]);
    expect(rows.some((r) => r.source === "stall:a")).toBe(false);
    expect(newMeasurements({ ...base, engines }, seen, () => true)).toEqual([]);
  });

  it("records each measurement once, at its own time, with only what it measured", () => {
    const seen = new Map<string, number>();
    const enabled = (e: string) => e !== "off";
    const rows = newMeasurements(base, seen, enabled);
    expect(rows).toEqual([
      { t: 8000, source: "collector:cpu", v: { "host.cpu_percent": 25 } },
      // The newest attempt failed: the row has the statistics, not the older success's latency.
      {
        t: 9500,
        source: "engine:a",
        v: { "engine.a.latency_p50_ms": 200, "engine.a.latency_p95_ms": 200, "engine.a.success_ratio": 0.5 },
      },
      { t: 9500, source: "probe:a", v: { "engine.a.probe_success": 0 } },
    ]);
    // Looked at again with nothing measured since: nothing new.
    expect(newMeasurements({ ...base, timestamp: 11_000 }, seen, enabled)).toEqual([]);
    // A new collector run only.
    expect(newMeasurements({ ...base, cpuUsageRatio: 0.5, cpuAt: 9900 }, seen, enabled)).toEqual([
      { t: 9900, source: "collector:cpu", v: { "host.cpu_percent": 50 } },
    ]);
  });

  it("keeps history_seconds of measurements, counts rows the capacity drops early, and numbers rows across a resize", () => {
    const ring = new HistoryRing(3, 1000);
    for (const t of [0, 100, 200]) ring.push({ t, source: "x", v: {} });
    ring.push({ t: 300, source: "x", v: {} });
    expect(ring.evictedEarly).toBe(1);
    ring.push({ t: 1250, source: "x", v: {} });
    // 100 is more than 1 s before 1250: gone by age, not by capacity.
    expect(ring.samples().map((s) => s.t)).toEqual([300, 1250]);
    expect(ring.evictedEarly).toBe(1);
    const next = ring.resized(10, 5000);
    expect(next.push({ t: 1300, source: "x", v: {} }).seq).toBe(6);
    expect(next.samplesAfter(4).map((s) => s.seq)).toEqual([5, 6]);
  });
});
