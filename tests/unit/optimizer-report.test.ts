import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { runOptimizationReport } from "../../src/optimizer/command.ts";
import type { OptimizationReport } from "../../src/optimizer/report.ts";
import { buildReport } from "../../src/optimizer/report.ts";
import { parseTrace, traceFromArray } from "../../src/optimizer/trace.ts";
import { syntheticTrace, toJsonl } from "../helpers/optimizer-trace.ts";

const dir = mkdtempSync(join(tmpdir(), "tts-optimizer-report-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const config = parseConfig({ optimizer: { batching: { engines: ["fast"] } } }, "<test>", {});
const trace = syntheticTrace({
  requests: 4000,
  keys: 300,
  gapMs: 20,
  engines: { fast: 80, slow: 700 },
  errorRate: 0.002,
});

async function report(files: { trace?: string; stress?: string[] }, out?: { json?: string; dir?: string }) {
  let printed = "";
  const r = await runOptimizationReport({
    config,
    configFile: "<test>",
    ...(files.trace !== undefined && { traceFile: files.trace }),
    stressFiles: files.stress ?? [],
    ...(out?.json !== undefined && { jsonFile: out.json }),
    ...(out?.dir !== undefined && { reportDir: out.dir }),
    env: {},
    out: { write: (t: string) => (printed += t) },
  });
  return { r, printed };
}

const stressReport = {
  engine: "fast",
  slo: "p99_latency<1.5s",
  steps: [
    {
      offered_rps: 10,
      achieved_rps: 10,
      goodput_rps: 10,
      valid: true,
      late_send_ratio: 0,
      latency_seconds: { p50: 0.08, p90: 0.1, p99: 0.12, p999: 0.2 },
      ttfa_seconds: { p50: 0.03, p90: 0.04, p99: 0.05, p999: 0.06 },
      errors: {},
      max_in_flight: 2,
    },
    {
      offered_rps: 40,
      achieved_rps: 39.5,
      goodput_rps: 39,
      valid: true,
      late_send_ratio: 0,
      latency_seconds: { p50: 0.1, p90: 0.15, p99: 0.3, p999: 0.4 },
      ttfa_seconds: { p50: 0.03, p90: 0.04, p99: 0.05, p999: 0.06 },
      errors: {},
      max_in_flight: 6,
    },
    {
      offered_rps: 80,
      achieved_rps: 50,
      goodput_rps: 20,
      valid: true,
      late_send_ratio: 0,
      latency_seconds: { p50: 1.2, p90: 2, p99: 3, p999: 4 },
      ttfa_seconds: { p50: 0.5, p90: 1, p99: 2, p999: 3 },
      errors: { timeout: 30 },
      max_in_flight: 64,
    },
  ],
  max_sustainable_rps: 39.5,
  knee: { slo_rule_rps: 39.5, kneedle_rps: 40, usl: { sigma: 0.1, kappa: 0.01, lambda: 12, max_rps: 45 } },
};

describe("--optimization-report from files", () => {
  const traceFile = join(dir, "trace.jsonl");
  writeFileSync(traceFile, toJsonl(trace));
  const stressFile = join(dir, "stress.json");
  writeFileSync(stressFile, JSON.stringify(stressReport));

  it("has the issue's JSON fields, a chart per lever with data, and is byte-identical for the same trace", async () => {
    const a = join(dir, "a.json");
    const b = join(dir, "b.json");
    const out = join(dir, "report");
    const { r, printed } = await report({ trace: traceFile, stress: [stressFile] }, { json: a, dir: out });
    await report({ trace: traceFile, stress: [stressFile] }, { json: b });
    expect(readFileSync(a, "utf8")).toBe(readFileSync(b, "utf8"));
    const j = JSON.parse(readFileSync(a, "utf8")) as OptimizationReport;
    if (j.cache.status !== "ok") throw new Error("cache lever skipped");
    expect(j.cache.mrc.length).toBeGreaterThan(10);
    for (const p of j.cache.mrc)
      expect(Object.keys(p).sort()).toEqual(["capacity_bytes", "capacity_entries", "hit_ratio"]);
    const unique = new Set(trace.filter((e) => e.result === "success").map((e) => e.key)).size;
    const ok = trace.filter((e) => e.result === "success").length;
    expect(j.cache.infinite_hit_ratio).toBeCloseTo(1 - unique / ok, 5);
    expect(j.cache.recommended_bytes).toBeGreaterThan(0);
    expect(j.cache.recommended_bytes).toBeLessThanOrEqual(j.cache.unique_bytes);
    expect(j.cache.hit_ratio_at_recommended).toBeGreaterThanOrEqual(j.cache.infinite_hit_ratio - 0.01 - 1e-9);
    if (j.coalescing.status !== "ok") throw new Error("coalescing skipped");
    expect(j.coalescing.share).toBeGreaterThanOrEqual(0);
    const fast = j.concurrency.fast;
    if (fast?.status !== "ok") throw new Error("concurrency of fast skipped");
    // The stress knee (39.5 req/s, 6 in flight at that step) and live data both bound it.
    expect(fast.stress_limit).toBe(6);
    expect(fast.suggested_limit).toBeLessThanOrEqual(6);
    expect(fast.basis).toBe("live_and_stress");
    expect(j.engines.map((e) => e.name)).toEqual(["fast", "slow"]);
    const [f, s] = j.engines;
    expect(f?.meets_slo).toBe(true);
    // 700 ms ± 25 % is past the 500 ms SLO: not recommended for its voice.
    expect(s?.meets_slo).toBe(false);
    expect(s?.latency.p95_ms).toBeGreaterThan(500);
    expect(f?.cost).toBeGreaterThan(0);
    expect(j.route).toEqual({ "fast-voice": "fast", "slow-voice": null });
    expect(j.auto_route).toBe("fast");
    if (j.batching.status !== "ok") throw new Error("batching skipped");
    const bf = j.batching.engines.fast;
    if (bf?.status !== "ok") throw new Error("batching of fast skipped");
    // λ·d + 1, capped at the batch size: the fill rises with the delay.
    const fills = bf.points.map((p) => p.expected_batch_fill);
    expect([...fills].sort((x, y) => x - y)).toEqual(fills);
    expect(bf.points[0]?.expected_batch_fill).toBeCloseTo(
      1 + (bf.arrival_rps * (bf.points[0]?.max_queue_delay_ms ?? 0)) / 1000,
      3,
    );
    expect(j.gpu.status).toBe("skipped");
    // The Markdown names each lever and embeds the charts written beside it.
    for (const h of [
      "## Cache size",
      "## Coalescing",
      "## Concurrency",
      "## Engine choice",
      "## Batching",
      "## GPU headroom",
    ])
      expect(printed).toContain(h);
    for (const svg of ["cache-mrc.svg", "concurrency.svg", "engines.svg", "batching.svg", "coalescing.svg"]) {
      expect(readFileSync(join(out, svg), "utf8")).toMatch(/^<svg /);
      expect(readFileSync(join(out, "optimization-report.md"), "utf8")).toContain(`](${svg})`);
    }
    expect(r.lacks.some((l) => l.includes("GPU"))).toBe(false);
    expect(printed).toContain("GPU series from the exporter");
  });

  it("an empty trace and no stress report: every lever says what it lacks, no error", async () => {
    const empty = join(dir, "empty.jsonl");
    writeFileSync(empty, "");
    const { r, printed } = await report({ trace: empty });
    expect(r.cache.status).toBe("skipped");
    expect(r.coalescing.status).toBe("skipped");
    expect(r.concurrency).toEqual({});
    expect(r.engines).toEqual([]);
    expect(r.lacks.join("\n")).toMatch(/no entries[\s\S]*stress report/);
    expect(printed).toContain("Skipped: this lever lacks");
  });

  it("counts and skips corrupt lines, older and newer versions, and a cut last line", async () => {
    const lines = toJsonl(trace.slice(0, 200));
    const { v: _v, ...older } = trace[0] ?? {};
    const text = `${lines}{oops\n${JSON.stringify({ ...trace[1], chars: "many" })}\n${JSON.stringify(older)}\n${JSON.stringify({ ...trace[2], v: 2 })}\n{"v":1,"key":"ab`;
    const t = parseTrace(text);
    expect(t).toMatchObject({ corrupt: 2, olderVersion: 1, newerVersion: 1, truncated: true, lines: 205 });
    expect(t.entries).toHaveLength(200);
    const file = join(dir, "bad.jsonl");
    writeFileSync(file, text);
    const { r } = await report({ trace: file });
    expect(r.trace).toMatchObject({
      requests: 200,
      corrupt_lines: 2,
      older_version: 1,
      newer_version: 1,
      truncated: true,
    });
    expect(r.cache.status).toBe("ok");
  });

  it("a stress report without the fields it needs is named, and concurrency falls back to live data", async () => {
    const bad = join(dir, "bad-stress.json");
    writeFileSync(bad, JSON.stringify({ engine: "fast", steps: [{ offered_rps: 1 }] }));
    const { r } = await report({ trace: traceFile, stress: [bad] });
    expect(r.lacks.join("\n")).toContain(`${bad}: no step with achieved_rps`);
    const fast = r.concurrency.fast;
    expect(fast?.status === "ok" && fast.basis).toBe("live");
  });
});

describe("a trace above optimizer.exact_max_requests", () => {
  it("gets SHARDS (fixed size) with its error stated, near the exact curve's recommendation", () => {
    const big = syntheticTrace({ requests: 30_000, keys: 20_000, gapMs: 5, engines: { e: 50 }, seed: 9 });
    const inputs = {
      source: "test",
      trace: traceFromArray(big),
      stress: [],
      stressProblems: [],
      engines: {},
      gpus: [],
    };
    const exact = buildReport(inputs, config).cache;
    const sampled = buildReport(
      inputs,
      parseConfig({ optimizer: { exact_max_requests: 1000, shards_sample_keys: 2048 } }, "<test>", {}),
    ).cache;
    if (exact.status !== "ok" || sampled.status !== "ok") throw new Error("cache lever skipped");
    expect(exact.method).toBe("exact");
    expect(sampled.method).toBe("shards_fixed_size");
    expect(sampled.sample_keys).toBe(2048);
    expect(sampled.error_estimate).toBeGreaterThan(0);
    expect(sampled.error_estimate).toBeLessThan(0.05);
    const mae =
      sampled.mrc.reduce((sum, p) => {
        const e = exact.mrc.reduce((best, q) =>
          Math.abs(q.capacity_bytes - p.capacity_bytes) < Math.abs(best.capacity_bytes - p.capacity_bytes)
            ? q
            : best,
        );
        return sum + Math.abs(e.hit_ratio - p.hit_ratio);
      }, 0) / sampled.mrc.length;
    expect(mae).toBeLessThan(0.03);
    expect(sampled.infinite_hit_ratio).toBe(exact.infinite_hit_ratio);
    expect(Math.abs(sampled.hit_ratio_at_recommended - exact.hit_ratio_at_recommended)).toBeLessThan(0.05);
  });
});
