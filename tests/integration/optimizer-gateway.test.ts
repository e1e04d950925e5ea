import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import type { Decision } from "../../src/optimizer/auto.ts";
import { speech } from "../helpers/gateway.ts";
import { type SimServer, startSimServer } from "../helpers/sim-server.ts";
import { waitFor } from "../helpers/tools.ts";

// `tts-monitor gateway --auto-optimize` wired to the real gateway: decisions read its live trace and
// change its settings through GatewayControls; each is an event, a log line and a metric.

describe("auto-optimiser on the real gateway", () => {
  let sim: SimServer;
  beforeAll(async () => {
    sim = await startSimServer({ workers: 2, serviceTimeMs: 20 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("shrinks the 256 MiB default cache to the working set after three rounds, and says so", async () => {
    const lines: string[] = [];
    const monitor = new TTSPerformanceMonitor({
      config: {
        engines: [sim.engineConfig("sim")],
        probes: { interval_seconds: 3600 },
        monitoring: { collectors: { gpu: false, process: false, disk: false, filesystem: false } },
        optimizer: { interval_seconds: 1, min_requests: 20, cache_floor_bytes: 1024 },
      },
      listenAddress: "127.0.0.1:0",
      gateway: true,
      gatewayListenAddress: "127.0.0.1:0",
      autoOptimize: { dryRun: false },
      logger: new Logger({ json: true, sink: { write: (l) => lines.push(l) } }),
      env: {},
    });
    const decisions: Decision[] = [];
    monitor.events.on("optimizer-decision", (d: Decision) => decisions.push(d));
    await monitor.startMonitoring();
    try {
      const gateway = monitor.gateway;
      if (!gateway || !monitor.gatewayAddress) throw new Error("the gateway did not start");
      const url = `http://${monitor.gatewayAddress}`;
      const before = gateway.cacheCapacityBytes();
      expect(before).toBe(256 * 1024 * 1024);
      // Five distinct texts, each asked eight times: a working set of five clips.
      for (let round = 0; round < 8; round++)
        for (let i = 0; i < 5; i++) {
          const r = await speech(url, {
            model: "sim",
            input: `Sentence number ${i}.`,
            response_format: "wav",
          });
          expect(r.status).toBe(200);
        }
      const shrink = await waitFor(
        "a cache shrink decision",
        () => decisions.find((d) => d.lever === "cache" && d.action === "shrink"),
        30_000,
      );
      expect(shrink.applied).toBe(true);
      expect(shrink.from).toBe(before);
      // The working set: five clips (the floor is 1 kB), at most a clip's worth of slack.
      expect(shrink.to).toBeGreaterThanOrEqual(5 * sim.wav.length);
      expect(shrink.to).toBeLessThan(6 * sim.wav.length);
      expect(gateway.cacheCapacityBytes()).toBe(shrink.to);
      // The cache still serves the working set from memory after the resize.
      const again = await speech(url, { model: "sim", input: "Sentence number 3.", response_format: "wav" });
      expect(again.headers.get("x-tts-gateway-cache")).toBe("hit");
      const metrics = await (await fetch(`http://${monitor.address}/metrics`)).text();
      expect(metrics).toContain('tts_optimizer_decisions_total{lever="cache",action="shrink"} 1');
      await waitFor(
        "the capacity gauge",
        async () =>
          (await (await fetch(`http://${monitor.address}/metrics`)).text()).includes(
            `tts_optimizer_cache_capacity_bytes ${shrink.to}`,
          ) || undefined,
        10_000,
      );
      expect(
        lines.some((l) => l.includes("optimizer changed a setting") && l.includes('"lever":"cache"')),
      ).toBe(true);
      // The evidence endpoint serves the same gateway's trace.
      const evidence = await (await fetch(`http://${monitor.address}/api/v1/optimizer/evidence`)).json();
      expect(evidence.trace_source).toBe("gateway");
      expect(evidence.trace.length).toBeGreaterThanOrEqual(41);
      expect(evidence.gateway.cache_capacity_bytes).toBe(shrink.to);
    } finally {
      await monitor.stop();
    }
  }, 90_000);
});
