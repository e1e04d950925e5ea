// A real Prometheus (Debian package "prometheus") with the repository's prometheus.yml, its target
// rewritten to the test exporter's loopback port, scraping every second.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startExporter } from "../helpers/exporter.ts";
import { startPrometheus } from "../helpers/prometheus.ts";
import { REPO_ROOT, waitFor } from "../helpers/tools.ts";

/** The repository's prometheus.yml with the compose target and interval replaced; fails if their shape changed. */
function rewrittenConfig(exporterPort: number): string {
  const original = readFileSync(join(REPO_ROOT, "prometheus.yml"), "utf8");
  expect(original).toMatch(/^ {2}scrape_interval: 15s$/m);
  expect(original).toContain('targets: ["exporter:9090"]');
  expect(original).toContain("job_name: tts-monitor");
  return original
    .replace(/^ {2}scrape_interval: 15s$/m, "  scrape_interval: 1s\n  scrape_timeout: 1s")
    .replace(/^ {2}evaluation_interval: 15s$/m, "  evaluation_interval: 1s")
    .replace('targets: ["exporter:9090"]', `targets: ["127.0.0.1:${exporterPort}"]`);
}

function memTotalBytes(): number {
  const kb = /^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
  if (kb === undefined) throw new Error("no MemTotal in /proc/meminfo");
  return Number(kb) * 1024;
}

describe("a real Prometheus scraping the exporter", () => {
  it("up == 1, MemTotal matches /proc/meminfo, the GPU collector reports 0 here", async () => {
    const exporter = await startExporter({ nvidiaSmi: { kind: "none" } });
    const prometheus = await startPrometheus(rewrittenConfig(exporter.port));
    const scalar = async (expr: string) => {
      const result = await prometheus.query(expr);
      return result.length === 1 ? Number(result[0]?.value[1]) : undefined;
    };

    const up = await waitFor(
      'up{job="tts-monitor"} == 1',
      async () => ((await scalar('up{job="tts-monitor"}')) === 1 ? 1 : undefined),
      20_000,
      250,
    );
    expect(up).toBe(1);
    const [target] = await prometheus.targets();
    expect(target?.health).toBe("up");
    expect(target?.lastError).toBe("");
    expect((target?.labels as Record<string, string>).instance).toBe(`127.0.0.1:${exporter.port}`);

    const mem = await waitFor(
      "tts_host_memory_total_bytes",
      () => scalar('tts_host_memory_total_bytes{job="tts-monitor"}'),
      10_000,
      250,
    );
    expect(mem).toBe(memTotalBytes());
    const gpu = await waitFor(
      "the GPU collector's success series",
      () => scalar('tts_exporter_collector_success{collector="gpu"}'),
      10_000,
      250,
    );
    expect(gpu).toBe(0);
    expect(await prometheus.query('{__name__=~"tts_gpu_.+"}')).toEqual([]);
    // Prometheus parsed every sample: none dropped or rejected in the last scrapes.
    expect(await scalar('scrape_samples_scraped{job="tts-monitor"}')).toBeGreaterThan(20);
    expect(await scalar('tts_exporter_collector_success{collector="memory"}')).toBe(1);
    // Counters keep their _total name through OpenMetrics negotiation.
    expect((await prometheus.query("tts_exporter_collector_skipped_total")).length).toBeGreaterThan(0);

    await prometheus.stop();
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
  });
});
