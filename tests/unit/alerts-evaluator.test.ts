import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { AlertEvaluator, type AlertSource } from "../../src/alerts/evaluator.ts";
import { AlertExpressionError } from "../../src/alerts/expression.ts";
import type { AlertEvent } from "../../src/alerts/types.ts";
import { parseConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import type { CurrentMetrics } from "../../src/monitor.ts";

function setup(configInput: Record<string, unknown> = {}) {
  let now = 1_000_000;
  const config = parseConfig(
    {
      engines: [
        { name: "a", type: "embedded" },
        { name: "b", type: "embedded" },
      ],
      ...configInput,
    },
    "test",
  );
  const engines: Record<
    string,
    {
      requests: number;
      latencyMs?: number;
      latencyP95WindowMs?: number;
      qualityScore?: number;
      lastAttemptAt?: number;
    }
  > = {};
  let gpus: CurrentMetrics["gpus"] = [];
  let memoryUsageRatio: number | undefined = 0.5;
  const source: AlertSource & { config: typeof config } = {
    config,
    getCurrentMetrics: () =>
      ({
        timestamp: now,
        engines,
        gpus,
        memoryUsageRatio,
        cpuUsageRatio: 0.1,
        swapUsageRatio: 0,
      }) as unknown as CurrentMetrics,
  };
  const lines: string[] = [];
  const events = new EventEmitter();
  const seen: AlertEvent[] = [];
  const notified: AlertEvent[] = [];
  events.on("alert", (e: AlertEvent) => seen.push(e));
  events.on("alert-notification", (e: AlertEvent) => notified.push(e));
  const registry = new MetricsRegistry();
  const evaluator = new AlertEvaluator({
    source,
    registry,
    log: new Logger({ json: true, sink: { write: (l) => lines.push(l) } }),
    events,
    env: {},
    now: () => now,
  });
  return {
    evaluator,
    source,
    engines,
    seen,
    notified,
    lines,
    registry,
    setGpus: (g: CurrentMetrics["gpus"]) => {
      gpus = g;
    },
    setMemory: (r: number | undefined) => {
      memoryUsageRatio = r;
    },
    advance: (ms: number) => {
      now += ms;
      evaluator.evaluate();
    },
    now: () => now,
  };
}

async function firingGauge(registry: MetricsRegistry, alert: string): Promise<number | undefined> {
  const m = await registry.gauge("tts_exporter_alerts_firing").get();
  return m.values.find((v) => v.labels.alert === alert)?.value;
}

describe("alert evaluator", () => {
  it("fires once per engine when a threshold is crossed, and resolves once (deduplication)", async () => {
    const t = setup();
    t.evaluator.enable({ thresholds: true });
    t.engines.a = { requests: 1, latencyP95WindowMs: 200 };
    t.engines.b = { requests: 1, latencyP95WindowMs: 900 };
    t.advance(1000);
    t.advance(1000);
    t.advance(1000);
    expect(t.seen.map((e) => [e.status, e.id])).toEqual([["firing", 'TTSLatencyHigh{engine="b"}']]);
    expect(t.seen[0]).toMatchObject({
      engine: "b",
      value: 900,
      threshold: 500,
      condition: "latency_p95_5m > 500",
    });
    expect(t.seen[0]?.summary).toBe("TTSLatencyHigh: latency_p95_5m of engine b is 900 ms (> 500 ms)");
    expect(await firingGauge(t.registry, "TTSLatencyHigh")).toBe(1);
    t.engines.b = { requests: 2, latencyP95WindowMs: 300 };
    t.advance(1000);
    t.advance(1000);
    expect(t.seen.map((e) => e.status)).toEqual(["firing", "resolved"]);
    expect(t.seen[1]).toMatchObject({ id: 'TTSLatencyHigh{engine="b"}', value: 300 });
    expect(await firingGauge(t.registry, "TTSLatencyHigh")).toBe(0);
    // The dashboard channel got both transitions.
    expect(t.notified.map((e) => e.status)).toEqual(["firing", "resolved"]);
  });

  it("applies a threshold changed at run time on the next evaluation", () => {
    const t = setup();
    t.evaluator.enable({ thresholds: true });
    t.engines.a = { requests: 1, latencyP95WindowMs: 200 };
    t.advance(1000);
    expect(t.seen).toHaveLength(0);
    (t.source as { config: unknown }).config = {
      ...t.source.config,
      thresholds: { ...t.source.config.thresholds, latency_max_ms: 100 },
    };
    t.advance(1000);
    expect(t.seen[0]).toMatchObject({ status: "firing", condition: "latency_p95_5m > 100", threshold: 100 });
  });

  it("waits for the `for` duration, and a dip resets it", () => {
    const t = setup();
    t.evaluator.add({ condition: "latency > 300 for 3s", name: "slow" });
    t.engines.a = { requests: 1, latencyMs: 400 };
    t.advance(0);
    t.advance(2000);
    expect(t.seen).toHaveLength(0);
    t.engines.a = { requests: 1, latencyMs: 100 };
    t.advance(500);
    t.engines.a = { requests: 1, latencyMs: 400 };
    t.advance(500);
    t.advance(2500);
    expect(t.seen).toHaveLength(0);
    t.advance(600);
    expect(t.seen.map((e) => e.status)).toEqual(["firing"]);
  });

  it("holds notifications back during the cooldown but still shows the alert", () => {
    const t = setup({ alerts: { cooldown_seconds: 60 } });
    t.evaluator.add({ condition: 'latency{engine="a"} > 300', name: "slow_a", notification: "dashboard" });
    const flap = (ms: number) => {
      t.engines.a = { requests: 1, latencyMs: 400 };
      t.advance(ms);
      t.engines.a = { requests: 1, latencyMs: 100 };
      t.advance(ms);
    };
    flap(1000); // notified
    flap(1000); // within 60 s of the last notification: shown, not notified
    t.advance(60_000);
    flap(1000); // cooldown over: notified again
    expect(t.seen.map((e) => e.status)).toEqual([
      "firing",
      "resolved",
      "firing",
      "resolved",
      "firing",
      "resolved",
    ]);
    expect(t.notified.map((e) => e.status)).toEqual(["firing", "resolved", "firing", "resolved"]);
    expect(t.lines.join("")).toContain("held back by the cooldown");
  });

  it("evaluates GPU and host metrics, and resolves a series that vanished", () => {
    const t = setup();
    t.evaluator.enable({ thresholds: true });
    t.setGpus([{ gpu: "0", name: "RTX 3090", temperatureCelsius: 91, at: 0 }]);
    t.setMemory(0.95);
    t.advance(1000);
    expect(t.seen.map((e) => e.id).sort()).toEqual(['TTSGpuTemperatureHigh{gpu="0"}', "TTSHostMemoryHigh"]);
    expect(t.seen.find((e) => e.alert === "TTSHostMemoryHigh")?.summary).toBe(
      "TTSHostMemoryHigh: memory is 95 % (> 90 %)",
    );
    t.setGpus([]);
    t.advance(1000);
    expect(t.seen.filter((e) => e.status === "resolved").map((e) => e.id)).toEqual([
      'TTSGpuTemperatureHigh{gpu="0"}',
    ]);
  });

  it("threshold rules stay off until enabled; addAlert rules always run", () => {
    const t = setup();
    t.engines.a = { requests: 1, latencyMs: 900, qualityScore: 0.5 };
    t.advance(1000);
    expect(t.seen).toHaveLength(0);
    t.evaluator.add({ condition: "quality < 0.8" });
    t.advance(1000);
    expect(t.seen.map((e) => e.alert)).toEqual(["alert_1"]);
  });

  it("addAlert throws on a bad condition, an unknown action or channel, a duplicate name", () => {
    const t = setup({ alerts: { actions: { optimize_cache: { url: "http://127.0.0.1:1/x" } } } });
    expect(() => t.evaluator.add({ condition: "latency >" })).toThrow(AlertExpressionError);
    expect(() => t.evaluator.add({ condition: "latency >" })).toThrow(/column 10/);
    expect(() => t.evaluator.add({ condition: "latency > 1", action: "nope" })).toThrow(
      /no action named "nope"/,
    );
    expect(() =>
      t.evaluator.add({ condition: "latency > 1", notification: "pager" as unknown as "slack" }),
    ).toThrow(/unknown notification channel "pager"/);
    t.evaluator.add({ condition: "latency > 1", name: "x", action: "optimize_cache", notification: "slack" });
    expect(() => t.evaluator.add({ condition: "latency > 2", name: "x" })).toThrow(/already exists/);
  });

  it("an episode held back by the cooldown still notifies once the cooldown is over, if it is still firing", () => {
    const t = setup({ alerts: { cooldown_seconds: 60 } });
    t.evaluator.add({ condition: 'latency{engine="a"} > 300', name: "slow_a", notification: "dashboard" });
    t.engines.a = { requests: 1, latencyMs: 400 };
    t.advance(1000); // fires, notified
    t.engines.a = { requests: 1, latencyMs: 100 };
    t.advance(1000); // resolves, notified
    t.engines.a = { requests: 1, latencyMs: 900 };
    t.advance(1000); // fires again within the cooldown: held back
    expect(t.notified.map((e) => e.status)).toEqual(["firing", "resolved"]);
    // A lasting problem that began during a flap: it must page once the cooldown ends, not never.
    for (let i = 0; i < 65; i++) t.advance(1000);
    expect(t.notified.map((e) => e.status)).toEqual(["firing", "resolved", "firing"]);
    expect(t.notified[2]).toMatchObject({ id: 'slow_a{engine="a"}', value: 900 });
    expect(t.lines.join("")).toContain("alert still firing after the cooldown; notifying");
    // ... once: staying on fires nothing more, and its resolution is sent.
    for (let i = 0; i < 120; i++) t.advance(1000);
    expect(t.notified).toHaveLength(3);
    t.engines.a = { requests: 1, latencyMs: 100 };
    t.advance(1000);
    expect(t.notified.map((e) => e.status)).toEqual(["firing", "resolved", "firing", "resolved"]);
  });

  it("the cooldown runs from the last notification, the resolution included", () => {
    const t = setup({ alerts: { cooldown_seconds: 60 } });
    t.evaluator.add({ condition: 'latency{engine="a"} > 300', name: "slow_a", notification: "dashboard" });
    t.engines.a = { requests: 1, latencyMs: 400 };
    t.advance(1000);
    for (let i = 0; i < 10; i++) t.advance(60_000); // ten minutes on fire
    t.engines.a = { requests: 1, latencyMs: 100 };
    t.advance(1000); // resolved, notified
    t.engines.a = { requests: 1, latencyMs: 400 };
    t.advance(1000); // a flap one second after the resolution: held back
    t.engines.a = { requests: 1, latencyMs: 100 };
    t.advance(1000);
    expect(t.seen.map((e) => e.status)).toEqual(["firing", "resolved", "firing", "resolved"]);
    expect(t.notified.map((e) => e.status)).toEqual(["firing", "resolved"]);
  });

  it("an engine known only from ingestion that goes quiet leaves the evaluation: its alert resolves", () => {
    const t = setup({ alerts: { stale_after_seconds: 300 } });
    t.evaluator.enable({ thresholds: true });
    // "gone" reports through the ingestion API only; "a" is in the config (probed).
    t.engines.gone = { requests: 1, latencyP95WindowMs: 900, lastAttemptAt: t.now() };
    t.engines.a = { requests: 1, latencyP95WindowMs: 900, lastAttemptAt: t.now() };
    t.advance(1000);
    expect(t.seen.map((e) => e.id).sort()).toEqual([
      'TTSLatencyHigh{engine="a"}',
      'TTSLatencyHigh{engine="gone"}',
    ]);
    t.advance(299_000);
    expect(t.seen.filter((e) => e.status === "resolved")).toHaveLength(0);
    t.advance(2000);
    const resolved = t.seen.filter((e) => e.status === "resolved");
    expect(resolved.map((e) => e.id)).toEqual(['TTSLatencyHigh{engine="gone"}']);
    expect(resolved[0]?.value).toBeUndefined();
    expect(resolved[0]?.summary).toBe(
      "TTSLatencyHigh on engine gone resolved: no current latency_p95_5m value",
    );
    expect(t.evaluator.firing().map((e) => e.id)).toEqual(['TTSLatencyHigh{engine="a"}']);
    // It reports again: back in the evaluation.
    t.engines.gone = { requests: 2, latencyP95WindowMs: 950, lastAttemptAt: t.now() };
    t.advance(1000);
    expect(
      t.evaluator
        .firing()
        .map((e) => e.id)
        .sort(),
    ).toEqual(['TTSLatencyHigh{engine="a"}', 'TTSLatencyHigh{engine="gone"}']);
  });

  it("default names: a call that throws uses no number up, a hand-given alert_N is skipped", () => {
    const t = setup();
    expect(() => t.evaluator.add({ condition: "latency >" })).toThrow(AlertExpressionError);
    expect(t.evaluator.add({ condition: "latency > 1" })).toEqual({ name: "alert_1" });
    t.evaluator.add({ condition: "latency > 2", name: "alert_2" });
    expect(t.evaluator.add({ condition: "latency > 3" })).toEqual({ name: "alert_3" });
  });
});
