import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/log.ts";
import { labelValueProblem } from "../../src/metrics/labels.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { newMeasurements } from "../../src/server/dashboard-history.ts";
import { sampleValue } from "../helpers/http.ts";

// Label values are well-formed: one validator (src/metrics/labels.ts) for ingested events, the
// TypeScript API and the config; and names that are also Object.prototype's keys are plain names.

const monitors: TTSPerformanceMonitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});

async function start(config: Record<string, unknown> = {}) {
  const monitor = new TTSPerformanceMonitor({
    config: {
      engines: [],
      monitoring: {
        audio_analysis: false,
        collectors: { gpu: false, process: false, disk: false, filesystem: false },
      },
      ...config,
    },
    listenAddress: "127.0.0.1:0",
    logger: new Logger({ json: true, sink: { write: () => {} } }),
  });
  monitors.push(monitor);
  await monitor.startMonitoring();
  const base = `http://${monitor.address}`;
  const post = (body: string) =>
    fetch(`${base}/api/v1/syntheses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
  const metrics = async () => (await fetch(`${base}/metrics`)).text();
  return { monitor, post, metrics };
}

describe("label values that are not well-formed UTF-16", () => {
  it("the validator refuses lone surrogates and keeps pairs", () => {
    for (const bad of ["a\ud800", "a\udc00", "\udc00\ud800", "x\ud83dy"])
      expect(labelValueProblem(bad), JSON.stringify(bad)).toMatch(/lone UTF-16 surrogate/);
    for (const good of ["kokoro", "😀", "日本語", "a-b_c.d", "__proto__"])
      expect(labelValueProblem(good), good).toBeUndefined();
  });

  it("ingestion answers 400 with each item's path and records nothing", async () => {
    const { post, metrics } = await start();
    // JSON escapes carry the lone surrogates: the body itself is valid UTF-8.
    const res = await post(
      '[{"engine":"ok","latency_ms":1},{"engine":"a\\ud800","latency_ms":1},{"engine":"b","voice":"v\\udc00","latency_ms":1}]',
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: Array<{ path: string; message: string }> };
    expect(body.errors.map((e) => e.path)).toEqual(["$[1].engine", "$[2].voice"]);
    for (const e of body.errors) expect(e.message).toMatch(/well-formed Unicode/);
    const text = await metrics();
    expect(text).not.toContain('engine="ok"');
    expect(text).not.toContain("\ufffd");
  });

  it("the TypeScript API throws a TypeError naming the field", async () => {
    const { monitor } = await start();
    expect(() => monitor.recordSynthesis({ engine: "a\ud800", latencyMs: 1 })).toThrow(
      /engine must be .*well-formed Unicode/,
    );
    expect(() => monitor.recordSynthesis({ engine: "a", voice: "\udc00", latencyMs: 1 })).toThrow(
      /voice must be/,
    );
  });

  it("a config voice with a lone surrogate is a config error at its path", () => {
    const parse = () =>
      parseConfig({ engines: [{ name: "e", type: "embedded", voice: "sl\ud800t" }] }, "test.json");
    expect(parse).toThrow(ConfigError);
    try {
      parse();
    } catch (err) {
      const problems = (err as ConfigError).problems;
      expect(problems.map((p) => p.path)).toEqual(["$.engines[0].voice"]);
      expect(problems[0]?.got).toMatch(/lone UTF-16 surrogate/);
    }
  });
});

describe("names that are also Object.prototype's keys are plain names", () => {
  const NAMES = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"] as const;

  it("ingested, they reach /metrics, getCurrentMetrics, the web dashboard's samples and in-process alerts", async () => {
    const { monitor, post, metrics } = await start();
    monitor.addAlert({ name: "slow", condition: "latency > 100" });
    const res = await post(JSON.stringify(NAMES.map((engine, i) => ({ engine, latency_ms: 200 + i }))));
    expect(res.status).toBe(202);

    const text = await metrics();
    for (const name of NAMES)
      expect(
        sampleValue(text, `tts_latency_seconds_count{engine="${name}",voice="default",source="ingest"}`),
        name,
      ).toBe(1);

    const current = monitor.getCurrentMetrics();
    expect(Object.keys(current.engines).sort()).toEqual([...NAMES].sort());
    NAMES.forEach((name, i) => {
      expect(Object.hasOwn(current.engines, name), name).toBe(true);
      expect(current.engines[name]?.latencyMs, name).toBe(200 + i);
    });

    const rows = newMeasurements(current, new Map(), () => true);
    NAMES.forEach((name, i) => {
      const row = rows.find((r) => r.source === `engine:${name}`);
      expect(row?.v[`engine.${name}.latency_ms`], name).toBe(200 + i);
    });

    monitor.alerts.evaluate();
    const firing = monitor.alerts
      .firing()
      .filter((e) => e.alert === "slow")
      .map((e) => e.engine)
      .sort();
    expect(firing).toEqual([...NAMES].sort());
  });

  it("as configured engine names, they are accepted and probed like any other", async () => {
    const { monitor, metrics } = await start({
      engines: NAMES.slice(0, 3).map((name) => ({ name, type: "embedded", voice: "slt" })),
      probes: { interval_seconds: 3600, timeout_seconds: 10, texts: ["Hi."] },
    });
    for (const name of NAMES.slice(0, 3)) {
      const r = await monitor.probe(name);
      expect(r.success, `${name}: ${r.error}`).toBe(true);
    }
    const text = await metrics();
    for (const name of NAMES.slice(0, 3)) expect(text).toContain(`tts_probe_success{engine="${name}"} 1`);
    expect(Object.keys(monitor.getCurrentMetrics().engines).sort()).toEqual(NAMES.slice(0, 3).sort());
  }, 30_000);
});
