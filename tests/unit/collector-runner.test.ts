import { describe, expect, it } from "vitest";
import { CollectorRunner } from "../../src/collectors/runner.ts";
import type { Collector } from "../../src/collectors/types.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";

/** A GPU-like collector whose runs end when the test says (or when aborted, like a killed nvidia-smi). */
function slowCollector() {
  const runs: Array<{ finish: () => void }> = [];
  const collector: Collector = {
    name: "gpu",
    metrics: ["tts_gpu_usage_percent"],
    supported: () => ({ ok: true }),
    collect: (signal) =>
      new Promise((resolve, reject) => {
        signal.addEventListener("abort", () => reject(new Error("nvidia-smi: aborted")), { once: true });
        runs.push({
          finish: () => resolve([{ metric: "tts_gpu_usage_percent", labels: { gpu: "0" }, value: 42 }]),
        });
      }),
  };
  return { collector, runs };
}

function setup() {
  const registry = new MetricsRegistry();
  const lines: string[] = [];
  const log = new Logger({ json: true, sink: { write: (l) => lines.push(l) } });
  return { registry, lines, log };
}

const body = async (registry: MetricsRegistry) => (await registry.render(false)).body;

describe("collector runner", () => {
  it("a run in flight when the runner stops (shutdown, SIGHUP) changes nothing and logs nothing", async () => {
    const { registry, lines, log } = setup();
    const { collector, runs } = slowCollector();
    const runner = new CollectorRunner([collector], registry, log, {
      intervalSeconds: 60,
      timeoutSeconds: 10,
    });
    const first = runner.runOnce();
    runs[0]?.finish();
    await first;
    expect(await body(registry)).toContain('tts_exporter_collector_success{collector="gpu"} 1');
    expect(await body(registry)).toContain('tts_gpu_usage_percent{gpu="0"} 42');

    runner.start(); // the first scheduled run starts at once and hangs
    await new Promise((r) => setTimeout(r, 10));
    expect(runs).toHaveLength(2);
    runner.stop(); // aborts it
    await new Promise((r) => setTimeout(r, 10));
    // The series stay as they were (a reload's new runner takes over), no "collector failed" line.
    expect(await body(registry)).toContain('tts_exporter_collector_success{collector="gpu"} 1');
    expect(await body(registry)).toContain('tts_gpu_usage_percent{gpu="0"} 42');
    expect(lines).toEqual([]);
  });

  it("release(): the series of a collector that the next runner lacks are removed, the others kept", async () => {
    const { registry, log } = setup();
    const { collector, runs } = slowCollector();
    const cpu: Collector = {
      name: "cpu",
      metrics: ["tts_host_cpu_cores"],
      supported: () => ({ ok: true }),
      collect: async () => [{ metric: "tts_host_cpu_cores", labels: {}, value: 8 }],
    };
    const runner = new CollectorRunner([collector, cpu], registry, log, {
      intervalSeconds: 60,
      timeoutSeconds: 10,
    });
    const once = runner.runOnce();
    runs[0]?.finish();
    await once;
    runner.stop();
    runner.release(["cpu"]);
    const text = await body(registry);
    expect(text).not.toContain("tts_gpu_usage_percent{");
    expect(text).not.toContain('collector="gpu"');
    expect(text).toContain("tts_host_cpu_cores 8");
    expect(text).toContain('tts_exporter_collector_success{collector="cpu"} 1');
  });
});
