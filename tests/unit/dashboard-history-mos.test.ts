// The web dashboard's history carries the predicted MOS (OVRL) per engine, for its chart.
import { describe, expect, it } from "vitest";
import type { CurrentMetrics } from "../../src/monitor.ts";
import { takeSample } from "../../src/server/dashboard-history.ts";

describe("predicted MOS on the web dashboard", () => {
  it("is sampled per engine as engine.<name>.predicted_mos absent when unknown", () => {
    const m = {
      timestamp: 1000,
      engines: { a: { predictedMos: 2.91234, qualityScore: 0.99 }, b: { qualityScore: 0.5 } },
      gpus: [],
    } as unknown as CurrentMetrics;
    const s = takeSample(m, new Map(), () => true);
    expect(s.v["engine.a.predicted_mos"]).toBe(2.9123);
    expect(s.v).not.toHaveProperty("engine.b.predicted_mos");
  });
});
