// The soak (issue 15, item 5), short: 25 s of probes every second, ingestion at 200 events/s with
// audio every 50th, three SSE clients and scrapes. Nothing is lost, and the heap (after a GC) does
// not grow between second 10 and the end by more than a leak would show in that time. `npm run soak`
// is the long run (10,000 probe cycles, 5 MB bound; docs/benchmarks.md).
import { describe, expect, it } from "vitest";
import { runSoak } from "../../scripts/soak.ts";

describe("soak, short", () => {
  it("loses no event, scrape or SSE client; the heap stays flat", { timeout: 120_000 }, async () => {
    const result = await runSoak({
      durationSeconds: 25,
      sampleSeconds: 1,
      compareFromSeconds: 10,
      windowSeconds: 4,
      // 15 s is too short for the 5 MB bound of the long run (it compares the 10th and last minute);
      // a leak of a batch or an SSE frame per event would still pass 10 MB here within seconds.
      maxGrowthMb: 10,
      // RSS still grows while the analysis worker and its arenas warm up.
      maxRssGrowthMb: 120,
      eventsPerSecond: 200,
      sseClients: 3,
    });
    expect(result.problems).toEqual([]);
    expect(result.eventsSent).toBeGreaterThan(2500);
    expect(result.scrapes).toBeGreaterThan(10);
    expect(result.samples.length).toBeGreaterThan(10);
  });
});
