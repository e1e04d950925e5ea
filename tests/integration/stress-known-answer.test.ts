import { afterEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/engines/index.ts";
import type { Engine } from "../../src/engines/types.ts";
import { runStress, type StressPlan } from "../../src/stress/run.ts";
import { parseSlo } from "../../src/stress/slo.ts";
import { type SimServer, type SimServerOptions, startSimServer } from "../helpers/sim-server.ts";

// Known answers (issue 12 §6). Capacities are kept low (tens of req/s) so that the generator is not
// the bottleneck. These tests check the verdict, not the generator's punctuality: on a loaded box a
// send may leave late, which only adds to the latency measured from its intended time (the verdict
// gets more cautious, never rosier), so they lift the late-send limit. The self-check has its own test.
let sim: SimServer | undefined;
let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close?.();
  await sim?.close();
  sim = undefined;
  engine = undefined;
});

async function target(options: SimServerOptions): Promise<Engine> {
  sim = await startSimServer(options);
  engine = createEngine(sim.engineConfig("sim"), { defaultTimeoutSeconds: 10, env: {} });
  return engine;
}

const plan = (over: Partial<StressPlan>): StressPlan => ({
  arrival: "constant",
  stepDurationMs: 3000,
  warmupMs: 500,
  slo: parseSlo("p99_latency<500ms,error_rate<1%"),
  texts: ["The quick brown fox jumps over the lazy dog."],
  textsSource: "test",
  timeoutMs: 10_000,
  maxRequests: 100_000,
  maxDurationMs: 120_000,
  maxRate: 1000,
  stopAfterFailures: 1,
  seed: 1,
  lateSendMs: 10,
  maxLateRatio: 1,
  ...over,
});

describe("stress against simulated servers with a known answer", () => {
  it("finds the capacity c/s of a server with c workers and service time s within 10 %", async () => {
    // 4 workers × 100 ms = 40 req/s.
    const e = await target({ workers: 4, serviceTimeMs: 100 });
    // The late-send limit at 20 % of sends more than 50 ms late, not lifted: a loaded box's jitter stays
    // under it (at 10 ms, with another process on a core, every step past the capacity was voided and the
    // run had no next failure), while a step in which the whole process stalled (hundreds of ms: its p99
    // is the stall's) is voided and skipped, as designed.
    const report = await runStress(
      e,
      plan({ rates: [28, 36, 40, 44, 48, 56], maxLateRatio: 0.2, lateSendMs: 50 }),
    );
    const rps = report.max_sustainable_rps;
    expect(rps, report.verdict.summary).not.toBeNull();
    expect(rps as number).toBeGreaterThanOrEqual(36);
    expect(rps as number).toBeLessThanOrEqual(44);
    expect(report.verdict.next_failure?.breaches.map((b) => b.threshold)).toContain("p99_latency<500ms");
    // Past the capacity the throughput stays at c/s while the queue (requests in flight) grows.
    const last = report.steps.at(-1);
    expect(last?.achieved_rps).toBeLessThanOrEqual(44);
    expect(last?.max_in_flight).toBeGreaterThan(4);
    expect(sim?.stats().maxInFlight).toBe(4);
    // The other two knees, side by side: Kneedle's bend of p99 against throughput sits at the capacity,
    // and the USL fit (from the in-flight counts) peaks near it.
    expect(report.knee.kneedle_rps as number).toBeGreaterThanOrEqual(32);
    expect(report.knee.kneedle_rps as number).toBeLessThanOrEqual(44);
    expect(report.knee.usl?.from).toBe("in_flight");
    expect(report.knee.usl?.max_rps as number).toBeGreaterThan(30);
    expect(report.knee.usl?.max_rps as number).toBeLessThan(60);
    // Characters per second: the verdict's requests times the text's length.
    expect(report.max_sustainable_cps).toBeCloseTo((rps as number) * 44, 0);
  }, 60_000);

  it("a 1 s stall every 5 s at 50 req/s shows in the open model's p99 and hides in the closed model's", async () => {
    const stalling: SimServerOptions = { workers: 16, serviceTimeMs: 20, stallEveryMs: 5000, stallMs: 1000 };
    // Each run starts with its own server, so its 7 s step holds the stall at 5–6 s.
    const open = await runStress(
      await target(stalling),
      plan({ rates: [50], warmupMs: 0, stepDurationMs: 7000, slo: parseSlo("p99_latency<500ms") }),
    );
    await engine?.close?.();
    await sim?.close();
    // One worker back to back with a 20 ms service time: the closed model's 50 req/s.
    const closed = await runStress(
      await target(stalling),
      plan({ concurrency: [1], warmupMs: 0, stepDurationMs: 7000, slo: parseSlo("p99_latency<500ms") }),
    );
    const o = open.steps[0];
    const c = closed.steps[0];
    expect(o?.latency_seconds.p99).toBeGreaterThanOrEqual(0.9);
    expect(o?.meets_slo).toBe(false);
    // The closed loop sends nothing while its one request waits out the stall: one slow sample.
    expect(c?.latency_seconds.max).toBeGreaterThanOrEqual(0.9);
    expect(c?.latency_seconds.p99).toBeLessThan(0.5);
    expect(closed.model).toBe("closed");
  }, 60_000);

  it("an erroring server: errors by reason and a failed SLO", async () => {
    const e = await target({ workers: 4, serviceTimeMs: 10, errorRate: 0.2, errorStatus: 503 });
    const report = await runStress(e, plan({ rates: [10], warmupMs: 0, stepDurationMs: 2000 }));
    const step = report.steps[0];
    expect(step?.errors).toEqual({ http_status: step?.failed });
    expect(step?.error_rate).toBeCloseTo(0.2, 1);
    expect(step?.slo_breaches.map((b) => b.threshold)).toEqual(["error_rate<1%"]);
    expect(report.max_sustainable_rps).toBeNull();
    expect(report.verdict.passed).toBe(false);
    expect(report.verdict.summary).toContain("error_rate<1%");
  }, 30_000);

  it("the late-send self-check voids a step whose sends left late (a blocked event loop) and the verdict skips it", async () => {
    const e = await target({ workers: 8, serviceTimeMs: 5 });
    // 30 ms of busy CPU every 60 ms: sends due meanwhile leave up to 30 ms late.
    const hog = setInterval(() => {
      const until = performance.now() + 30;
      while (performance.now() < until) {}
    }, 60);
    let report: Awaited<ReturnType<typeof runStress>>;
    try {
      report = await runStress(
        e,
        plan({
          rates: [20],
          warmupMs: 0,
          stepDurationMs: 2000,
          slo: parseSlo("p99_latency<5s"),
          maxLateRatio: 0.01,
        }),
      );
    } finally {
      clearInterval(hog);
    }
    const step = report.steps[0];
    expect(step?.late_send_ratio).toBeGreaterThan(0.1);
    expect(step?.max_send_lag_seconds).toBeGreaterThan(0.01);
    expect(step?.valid).toBe(false);
    expect(step?.invalid_reason).toContain("late");
    // Its latency met the SLO, but an invalid step is not counted.
    expect(step?.slo_breaches).toEqual([]);
    expect(step?.meets_slo).toBe(false);
    expect(report.max_sustainable_rps).toBeNull();
  }, 30_000);

  it("a streaming engine: inter-chunk gaps, time to first audio before the end, and the real-time factor", async () => {
    // Headers and the first chunk after 10 ms, then 3 more chunks 60 ms apart.
    const e = await target({ workers: 4, serviceTimeMs: 10, stream: { chunks: 4, gapMs: 60 } });
    const report = await runStress(
      e,
      plan({ rates: [5], warmupMs: 0, stepDurationMs: 1500, slo: parseSlo("p99_latency<5s") }),
    );
    const step = report.steps[0];
    expect(step?.succeeded).toBeGreaterThanOrEqual(5);
    expect(step?.chunk_gap_seconds.count).toBeGreaterThanOrEqual(3 * 5);
    // Lower bounds only: a loaded machine delays chunks, never hurries them.
    expect(step?.chunk_gap_seconds.p99).toBeGreaterThanOrEqual(0.055);
    expect(step?.latency_seconds.p50).toBeGreaterThanOrEqual(0.18);
    expect(step?.ttfa_seconds.p50 as number).toBeLessThan(step?.latency_seconds.p50 as number);
    expect(step?.real_time_factor.count).toBe(step?.succeeded);
    expect(step?.real_time_factor.p50).toBeGreaterThan(0);
  }, 30_000);
});
