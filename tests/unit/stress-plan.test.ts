import { describe, expect, it } from "vitest";
import { fitUsl, type KneeStep, kneedle, sloRuleStep, uslThroughput } from "../../src/stress/knee.ts";
import {
  arrivals,
  parseConcurrency,
  parseDuration,
  parseRamp,
  parseRates,
  seededRandom,
} from "../../src/stress/schedule.ts";
import { parseSlo, requestMeetsSlo, sloBreaches } from "../../src/stress/slo.ts";

const none = { p50: null, p90: null, p99: null, p999: null };

describe("--slo", () => {
  it("parses latency, ttfa and error-rate clauses in their units", () => {
    const slo = parseSlo("p99_latency<1.5s, p50_ttfa<=200ms ,error_rate<1%");
    expect(slo.thresholds.map((t) => [t.metric, t.op, t.value])).toEqual([
      [{ kind: "latency", percentile: "p99" }, "<", 1.5],
      [{ kind: "ttfa", percentile: "p50" }, "<=", 0.2],
      [{ kind: "error_rate" }, "<", 0.01],
    ]);
    expect(parseSlo("error_rate<0.05").thresholds[0]?.value).toBe(0.05);
  });

  it.each([
    ["", "empty"],
    ["p99_latency<fast", "p99_latency<fast"],
    ["p98_latency<1s", "unknown metric"],
    ["p99_latency<1", "needs a unit"],
    ["error_rate<2s", "ratio"],
    ["error_rate<150%", "between 0 and 100%"],
    ["p99_latency>1s", "p99_latency>1s"],
  ])("refuses %j naming the clause", (text, message) => {
    expect(() => parseSlo(text)).toThrow(message);
  });

  it("breaks on the observed values, and on a latency never measured", () => {
    const slo = parseSlo("p99_latency<1s,error_rate<1%");
    const at = (p99: number | null, errorRate: number) =>
      sloBreaches(slo, { latencySeconds: { ...none, p99 }, ttfaSeconds: none, errorRate }).map(
        (b) => b.threshold,
      );
    expect(at(0.9, 0)).toEqual([]);
    expect(at(1, 0)).toEqual(["p99_latency<1s"]);
    expect(at(0.5, 0.01)).toEqual(["error_rate<1%"]);
    expect(at(null, 1)).toEqual(["p99_latency<1s", "error_rate<1%"]);
    expect(requestMeetsSlo(slo, 0.99, undefined)).toBe(true);
    expect(requestMeetsSlo(slo, 1.01, undefined)).toBe(false);
  });
});

describe("load plan", () => {
  it("reads rates, ramps, durations and worker lists", () => {
    expect(parseRates("1, 2.5,4")).toEqual([1, 2.5, 4]);
    expect(parseRamp("1:32:x2")).toEqual([1, 2, 4, 8, 16, 32]);
    expect(parseRamp("1:20:x3")).toEqual([1, 3, 9]);
    expect(parseRamp("0.1:0.3:+0.1")).toEqual([0.1, 0.2, 0.3]);
    expect(parseDuration("30s", "--step-duration")).toBe(30_000);
    expect(parseDuration("500ms", "--warmup")).toBe(500);
    expect(parseDuration("2m", "--max-duration")).toBe(120_000);
    expect(parseConcurrency("1,2,8")).toEqual([1, 2, 8]);
  });

  it.each([
    [() => parseRates("1,two"), '--rates: "two"'],
    [() => parseRates("0"), "--rates"],
    [() => parseRates("-3"), "--rates"],
    [() => parseRamp("1:32:x1"), "never reaches"],
    [() => parseRamp("8:1:x2"), "must be ≥"],
    [() => parseRamp("1:1000000:+1"), "more than 64 steps"],
    [() => parseRamp("1-32-x2"), "from:to:xK"],
    [() => parseDuration("soon", "--step-duration"), "--step-duration"],
    [() => parseConcurrency("1.5"), "--concurrency"],
  ])("refuses bad input naming the argument (%#)", (f, message) => {
    expect(f).toThrow(message);
  });

  it("spaces constant arrivals evenly and Poisson arrivals at the asked mean rate, the same for one seed", () => {
    const take = (g: Generator<number>, n: number) =>
      Array.from({ length: n }, () => g.next().value as number);
    expect(take(arrivals(4, "constant", Math.random), 4)).toEqual([0, 250, 500, 750]);
    const a = take(arrivals(10, "poisson", seededRandom(7)), 20_000);
    const b = take(arrivals(10, "poisson", seededRandom(7)), 20_000);
    expect(a).toEqual(b);
    const rate = (a.length - 1) / ((a.at(-1) as number) / 1000);
    expect(rate).toBeGreaterThan(9.7);
    expect(rate).toBeLessThan(10.3);
  });
});

const step = (
  offeredRps: number,
  achievedRps: number,
  p99: number,
  extra: Partial<KneeStep> = {},
): KneeStep => ({
  offeredRps,
  achievedRps,
  p99Seconds: p99,
  meanInFlight: achievedRps * p99,
  valid: true,
  meetsSlo: p99 < 1,
  ...extra,
});

describe("the knee", () => {
  it("SLO rule: the last valid step meeting the SLO below the first valid one breaking it; invalid steps skipped", () => {
    const steps = [
      step(10, 10, 0.1),
      step(20, 20, 0.2),
      step(30, 30, 0.3, { valid: false, meetsSlo: false }),
      step(40, 38, 0.6),
      step(50, 40, 2),
      step(60, 40, 0.5), // a lucky step after the break does not count
    ];
    expect(sloRuleStep(steps)).toBe(3);
    expect(sloRuleStep([step(10, 5, 3)])).toBeUndefined();
  });

  it("Kneedle finds where p99 starts to climb against throughput (a hockey stick with its bend at 40)", () => {
    const steps = [10, 20, 30, 40, 44, 46].map((x, i) =>
      step(x, Math.min(x, 40 + i), [0.1, 0.1, 0.11, 0.13, 0.8, 2.5][i] as number),
    );
    expect(kneedle(steps)).toBe(40);
    expect(kneedle(steps.slice(0, 2))).toBeUndefined();
  });

  it("USL fit recovers σ, κ, λ from closed-model points and their peak throughput", () => {
    const truth = { sigma: 0.05, kappa: 0.002, lambda: 10 };
    const steps = [1, 2, 4, 8, 16, 32, 64].map((n) =>
      step(n, uslThroughput(n, truth), 0.1, { concurrency: n }),
    );
    const fit = fitUsl(steps);
    expect(fit?.from).toBe("closed");
    expect(fit?.sigma).toBeCloseTo(0.05, 4);
    expect(fit?.kappa).toBeCloseTo(0.002, 5);
    expect(fit?.lambda).toBeCloseTo(10, 3);
    const peak = Math.sqrt((1 - 0.05) / 0.002);
    expect(fit?.peak_concurrency).toBeCloseTo(peak, 2);
    expect(fit?.max_rps).toBeCloseTo(uslThroughput(peak, truth), 3);
  });

  it("USL fit of a saturating server from its in-flight counts: κ pinned at 0, the asymptote at its capacity", () => {
    // c = 4 workers of 100 ms: X = min(N, 4) / 0.1 with N the mean in flight, Little's law.
    const steps = [1, 2, 3, 4, 6, 10, 20].map((n) => step(n, Math.min(n, 4) * 10, 0.1, { meanInFlight: n }));
    const fit = fitUsl(steps);
    expect(fit?.from).toBe("in_flight");
    expect(fit?.max_rps).not.toBeNull();
    expect(fit?.max_rps as number).toBeGreaterThan(30);
    expect(fit?.max_rps as number).toBeLessThan(60);
  });
});
