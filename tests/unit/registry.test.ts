import { describe, expect, it } from "vitest";
import { MetricsRegistry } from "../../src/metrics/registry.ts";

const sample = async (r: MetricsRegistry, name: string) =>
  (await r.render(false)).body
    .split("\n")
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));

describe("metrics registry", () => {
  it("an unlabelled gauge is absent until measured, never a fake 0 (a collector switched off or not run yet)", async () => {
    const r = new MetricsRegistry();
    expect(await sample(r, "tts_host_memory_total_bytes")).toEqual([]);
    r.replace(
      ["tts_host_memory_total_bytes"],
      [{ metric: "tts_host_memory_total_bytes", labels: {}, value: 42 }],
    );
    expect(await sample(r, "tts_host_memory_total_bytes")).toEqual(["tts_host_memory_total_bytes 42"]);
    // A collection that no longer yields it (or a failing collector clearing its families) removes it.
    r.replace(["tts_host_memory_total_bytes"], []);
    expect(await sample(r, "tts_host_memory_total_bytes")).toEqual([]);
    r.gauge("tts_host_memory_total_bytes").set(7);
    r.clear(["tts_host_memory_total_bytes"]);
    expect(await sample(r, "tts_host_memory_total_bytes")).toEqual([]);
    r.gauge("tts_host_memory_total_bytes").set(8);
    expect(await sample(r, "tts_host_memory_total_bytes")).toEqual(["tts_host_memory_total_bytes 8"]);
  });
});
