// The web dashboard's history carries the predicted MOS (OVRL) per engine, for its chart.
import { describe, expect, it } from "vitest";
import type { CurrentMetrics } from "../../src/monitor.ts";
import { newMeasurements } from "../../src/server/dashboard-history.ts";

describe("predicted MOS on the web dashboard", () => {
  it("is one row per prediction, engine.<name>.predicted_mos at the time of its audio, absent when unknown", () => {
    const m = {
      timestamp: 1000,
      engines: {
        a: { predictedMos: 2.91234, predictedMosAt: 900, qualityScore: 0.99, qualityScoreAt: 900 },
        b: { qualityScore: 0.5, qualityScoreAt: 800 },
      },
      gpus: [],
    } as unknown as CurrentMetrics;
    const seen = new Map<string, number>();
    const rows = newMeasurements(m, seen, () => true);
    const mos = rows.filter((r) => r.source.startsWith("mos:"));
    expect(mos).toEqual([{ t: 900, source: "mos:a", v: { "engine.a.predicted_mos": 2.9123 } }]);
    expect(rows.some((r) => "engine.b.predicted_mos" in r.v)).toBe(false);
    // The same prediction is not recorded twice.
    expect(newMeasurements(m, seen, () => true)).toEqual([]);
  });
});
