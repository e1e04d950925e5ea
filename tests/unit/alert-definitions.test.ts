// The alert definition table: one statistic per name in both evaluators, every row rendered everywhere,
// thresholds with one home.
import { spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { describe, expect, it } from "vitest";
import {
  ALERT_DEFINITIONS,
  ALERT_WINDOW_SECONDS,
  type AlertDefinition,
  runbookFile,
} from "../../src/alerts/definitions.ts";
import { AlertEvaluator } from "../../src/alerts/evaluator.ts";
import { ALERT_METRICS } from "../../src/alerts/expression.ts";
import type { AlertEvent } from "../../src/alerts/types.ts";
import { seededRandom } from "../../src/audio/signals.ts";
import { loadConfig, parseConfig } from "../../src/config/load.ts";
import { SynthesisRecorder } from "../../src/ingest/recorder.ts";
import { histogramQuantile } from "../../src/ingest/sliding-histogram.ts";
import { Logger } from "../../src/log.ts";
import { catalog } from "../../src/metrics/catalog.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import type { CurrentMetrics } from "../../src/monitor.ts";
import { alertsReference } from "../../src/monitoring/alerts-doc.ts";
import { productionProfile, promDuration } from "../../src/monitoring/profile.ts";
import { alertSpecs, ruleGroups } from "../../src/monitoring/rules.ts";
import { REPO_ROOT, requireBinary } from "../helpers/tools.ts";

const PROMTOOL = requireBinary("/usr/bin/promtool", "prometheus");
const BOUNDS = catalog.tts_latency_seconds.buckets;
const defs: readonly AlertDefinition[] = ALERT_DEFINITIONS;

function recorderAt(start: number) {
  let now = start;
  const recorder = new SynthesisRecorder(new MetricsRegistry(), {
    cacheWindowSeconds: 300,
    maxEngines: 10,
    maxVoices: 10,
    now: () => now,
  });
  return {
    recorder,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

describe("alert definitions", () => {
  it("every row is a Prometheus rule, a promtool case, a docs/alerts.md row and has a runbook", () => {
    const config = loadConfig(join(REPO_ROOT, "config/config.json"), {});
    const specs = alertSpecs(config, productionProfile);
    expect(specs.map((s) => s.alert)).toEqual(defs.map((d) => d.name));
    const rules = ruleGroups(config, productionProfile).flatMap((g) => g.rules);
    const doc = alertsReference(config, productionProfile);
    for (const d of defs) {
      expect(
        rules.some((r) => "alert" in r && r.alert === d.name),
        d.name,
      ).toBe(true);
      expect(doc).toContain(`[${d.name}](runbooks/${d.name}.md)`);
      expect(existsSync(join(REPO_ROOT, runbookFile(d.name))), d.name).toBe(true);
      const spec = specs.find((s) => s.alert === d.name);
      if (d.statistic !== "always") expect(spec?.test, d.name).toBeDefined();
      // The comparison and the threshold of the row are the rule's.
      if (d.threshold !== undefined)
        expect(spec?.expr, d.name).toContain(
          `${d.op} ${Number.parseFloat((config.thresholds[d.threshold] * d.thresholdScale).toPrecision(12))}`,
        );
      if (d.inProcess !== undefined) expect(ALERT_METRICS[d.inProcess].scope).toBeDefined();
    }
  });

  it("the in-process evaluator runs the rows with a threshold, under their names and operators", () => {
    const config = parseConfig({}, "<test>", {});
    const evaluator = new AlertEvaluator({
      source: { config, getCurrentMetrics: () => ({}) as CurrentMetrics },
      registry: new MetricsRegistry(),
      log: new Logger({ json: true, sink: { write: () => {} } }),
      events: new EventEmitter(),
      env: {},
    });
    evaluator.enable({ thresholds: true });
    const expected = defs
      .filter((d) => d.inProcess !== undefined && d.threshold !== undefined)
      .map((d) => ({
        name: d.name,
        condition: `${d.inProcess} ${d.op} ${config.thresholds[d.threshold as keyof typeof config.thresholds]}`,
      }));
    expect(evaluator.rules().map((r) => ({ name: r.name, condition: r.condition }))).toEqual(expected);
    expect(expected.map((e) => e.name)).toContain("TTSLatencyHigh");
  });

  it("the window is the one the in-process metric's name says (latency_p95_5m)", () => {
    expect(promDuration(ALERT_WINDOW_SECONDS)).toBe("5m");
    expect(productionProfile.rateWindowSeconds).toBe(ALERT_WINDOW_SECONDS);
  });

  it("thresholds have one home: the schema's defaults are config/config.json's", () => {
    const shipped = JSON.parse(readFileSync(join(REPO_ROOT, "config/config.json"), "utf8")) as {
      thresholds: Record<string, number>;
    };
    expect(parseConfig({}, "<defaults>", {}).thresholds).toEqual(shipped.thresholds);
  });

  it("no threshold value is written as a literal in the code that shows or judges it", () => {
    // The shipped thresholds, as they would appear if pasted (0.8, 500 ms, 85 °C ...).
    const t = parseConfig({}, "<defaults>", {}).thresholds;
    const files = ["src/cli/analyze.ts", "src/cli/terminal.ts", "src/web/app.js", "src/web/charts.js"];
    for (const file of files) {
      const text = readFileSync(join(REPO_ROOT, file), "utf8");
      expect(text, file).not.toMatch(
        new RegExp(`[<>] ?${String(t.quality_score_min).replace(".", "\\.")}\\b`),
      );
      expect(text, file).not.toMatch(new RegExp(`\\b${t.latency_max_ms} ?ms\\b`));
    }
  });
});

describe("TTSLatencyHigh: the same statistic in-process and in Prometheus", () => {
  it("histogram_quantile: interpolation within the rank's bucket, +Inf capped at the highest bound", () => {
    const bounds = [0.1, 0.5, 1];
    // 10 observations in (0.1, 0.5], rank 9.5 of 10: 0.1 + 0.4 × 9.5/10.
    expect(histogramQuantile(0.95, bounds, [0, 10, 0, 0])).toBeCloseTo(0.48, 12);
    expect(histogramQuantile(0.5, bounds, [2, 0, 2, 0])).toBeCloseTo(0.1, 12);
    expect(histogramQuantile(0.95, bounds, [0, 0, 0, 3])).toBe(1);
    expect(histogramQuantile(0.95, bounds, [0, 0, 0, 0])).toBeUndefined();
  });

  it("is the p95 over the last 5 minutes, not the last sample, and old samples leave the window", () => {
    const r = recorderAt(1_700_000_000_000);
    for (let i = 0; i < 99; i++) r.recorder.record({ engine: "a", latencyMs: 100 }, "probe");
    r.recorder.record({ engine: "a", latencyMs: 4000 }, "probe");
    const s = r.recorder.summary().get("a");
    expect(s?.latencyMs).toBe(4000);
    // 99 of 100 in (0.075, 0.1]: the p95 is inside that bucket, far below the last sample.
    expect(s?.latencyP95WindowMs).toBeGreaterThan(75);
    expect(s?.latencyP95WindowMs).toBeLessThanOrEqual(100);
    r.advance((ALERT_WINDOW_SECONDS + 10) * 1000);
    expect(r.recorder.summary().get("a")?.latencyP95WindowMs).toBeUndefined();
    r.recorder.record({ engine: "a", latencyMs: 900 }, "probe");
    expect(r.recorder.summary().get("a")?.latencyP95WindowMs).toBeGreaterThan(750);
  });

  it("fires in-process on the windowed p95 (a single slow request among fast ones does not)", () => {
    const r = recorderAt(1_700_000_000_000);
    const config = parseConfig({ engines: [{ name: "a", type: "embedded" }] }, "<test>", {});
    const seen: AlertEvent[] = [];
    const events = new EventEmitter().on("alert", (e: AlertEvent) => seen.push(e));
    const evaluator = new AlertEvaluator({
      source: {
        config,
        getCurrentMetrics: () =>
          ({ engines: Object.fromEntries(r.recorder.summary()), gpus: [] }) as unknown as CurrentMetrics,
      },
      registry: new MetricsRegistry(),
      log: new Logger({ json: true, sink: { write: () => {} } }),
      events,
      env: {},
      now: r.now,
    });
    evaluator.enable({ thresholds: true });
    for (let i = 0; i < 99; i++) r.recorder.record({ engine: "a", latencyMs: 100 }, "probe");
    r.recorder.record({ engine: "a", latencyMs: 4000 }, "probe");
    evaluator.evaluate();
    expect(seen.filter((e) => e.alert === "TTSLatencyHigh")).toEqual([]);
    for (let i = 0; i < 20; i++) r.recorder.record({ engine: "a", latencyMs: 4000 }, "probe");
    evaluator.evaluate();
    const fired = seen.filter((e) => e.alert === "TTSLatencyHigh");
    expect(fired.map((e) => [e.status, e.severity, e.engine])).toEqual([["firing", "warning", "a"]]);
    expect(fired[0]?.condition).toBe("latency_p95_5m > 500");
  });

  it("agrees with Prometheus' histogram_quantile on the same observations (promtool)", () => {
    const r = recorderAt(0);
    const random = seededRandom(7);
    const counts = new Array<number>(BOUNDS.length + 1).fill(0);
    for (let i = 0; i < 500; i++) {
      const ms = 50 + random() * random() * 3000;
      r.recorder.record({ engine: "a", latencyMs: ms }, "probe");
      let b = 0;
      while (b < BOUNDS.length && ms / 1000 > (BOUNDS[b] as number)) b++;
      counts[b] = (counts[b] as number) + 1;
    }
    const inProcess = r.recorder.summary().get("a")?.latencyP95WindowMs;
    expect(inProcess).toBeDefined();
    // The same observations as a scraped histogram: 0 at 0s, all of them by 1m, flat after.
    let acc = 0;
    const les = [...BOUNDS.map(String), "+Inf"];
    const input = les.map((le, i) => {
      acc += counts[i] as number;
      return { series: `tts_latency_seconds_bucket{engine="a", le="${le}"}`, values: `0 ${acc}x10` };
    });
    const dir = mkdtempSync(join(tmpdir(), "tts-quantile-"));
    try {
      writeFileSync(join(dir, "empty.rules.yml"), "groups: []\n");
      const test = {
        rule_files: ["empty.rules.yml"],
        evaluation_interval: "1m",
        tests: [
          {
            interval: "1m",
            input_series: input,
            promql_expr_test: [
              {
                expr: "histogram_quantile(0.95, sum by (engine, le) (increase(tts_latency_seconds_bucket[5m]))) * 1000",
                eval_time: "2m",
                exp_samples: [{ labels: '{engine="a"}', value: inProcess }],
              },
            ],
          },
        ],
      };
      writeFileSync(join(dir, "q.test.yml"), dump(test));
      const out = spawnSync(PROMTOOL, ["test", "rules", "q.test.yml"], { cwd: dir, encoding: "utf8" });
      expect(out.status, `${out.stdout}${out.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
