import { describe, expect, it } from "vitest";
import { summaryLines } from "../../src/cli/terminal.ts";
import type { CurrentMetrics } from "../../src/monitor.ts";

const base: CurrentMetrics = {
  timestamp: Date.UTC(2026, 10, 25, 12, 0, 0),
  latencyMs: 212,
  qualityScore: 0.93,
  cacheHitRate: 0.75,
  engines: {
    kokoro: {
      requests: 40,
      windowSeconds: 300,
      latencyMs: 212,
      latencyP50Ms: 180,
      latencyP95Ms: 420,
      realTimeFactor: 0.12,
      successRatio: 0.975,
      cacheHitRate: 0.75,
      qualityScore: 0.93,
    },
    embedded: { requests: 3, windowSeconds: 300 },
  },
  gpuUsage: 37,
  gpus: [
    {
      gpu: "0",
      name: "NVIDIA GeForce RTX 3090",
      usagePercent: 37,
      temperatureCelsius: 64,
      memoryUsedBytes: 6 * 1024 ** 3,
      memoryTotalBytes: 24 * 1024 ** 3,
      powerWatts: 212,
    },
  ],
  cpuUsageRatio: 0.25,
  load1: 1.5,
  memoryUsageRatio: 0.5,
  memoryUsedBytes: 8 * 1024 ** 3,
  memoryTotalBytes: 16 * 1024 ** 3,
  swapUsageRatio: 0,
  collectors: { cpu: { success: true }, gpu: { success: true } },
};

describe("terminal summary", () => {
  it("shows host, GPU and one row per engine with p50/p95, RTF, success, cache and quality", () => {
    const lines = summaryLines(base);
    const text = lines.join("\n");
    expect(text).toMatch(/CPU\s+25\.0 %\s+load 1\.50\s+RAM 50\.0 % \(8\.0 GiB \/ 16\.0 GiB\)/);
    expect(text).toContain("GPU0 NVIDIA GeForce RTX 3090: 37 %   64 °C   VRAM 6.0 GiB / 24.0 GiB   212 W");
    const kokoro = lines.find((l) => l.trimStart().startsWith("kokoro"));
    expect(kokoro).toMatch(/kokoro\s+180 ms\s+420 ms\s+0\.12\s+97\.5 %\s+75\.0 %\s+0\.93/);
    // An engine with no successful request yet shows dashes, not zeros.
    expect(lines.find((l) => l.trimStart().startsWith("embedded"))).toMatch(
      /embedded\s+—\s+—\s+—\s+—\s+—\s+—/,
    );
    expect(text).toContain("collectors: 2 running, all ok");
  });

  it("says why there is no GPU, and which collectors fail", () => {
    const lines = summaryLines({
      ...base,
      engines: {},
      gpus: [],
      collectors: { cpu: { success: true }, gpu: { success: false, error: "nvidia-smi not found on PATH" } },
    });
    expect(lines.join("\n")).toContain("GPU  none (nvidia-smi not found on PATH)");
    expect(lines.join("\n")).toContain("failing: gpu");
    expect(lines.join("\n")).not.toContain("engine");
  });
});
