import { EventEmitter } from "node:events";
import { describe, expect, it, onTestFinished } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import type { GatewayControls, LimitSettings, TraceEntry } from "../../src/gateway/contract.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { AutoOptimizer, type Decision } from "../../src/optimizer/auto.ts";
import { seededRandom as rng } from "../../src/util/random.ts";

const OBJECT_BYTES = 10_000;

/**
 * An in-memory gateway: a byte-bounded LRU audio cache, `auto` routing by weight, engines with a
 * service time the test sets, and the trace it keeps. Requests arrive evenly over each interval.
 */
class SimGateway implements GatewayControls {
  capacity: number;
  readonly #cache = new Map<string, number>();
  #used = 0;
  readonly #limits: Record<string, LimitSettings>;
  readonly #weights: Record<string, number> = {};
  readonly #trace: TraceEntry[] = [];
  readonly serviceMs: Record<string, number>;
  readonly #rand = rng(7);
  now = 1_800_000_000_000;

  constructor(capacity: number, serviceMs: Record<string, number>) {
    this.capacity = capacity;
    this.serviceMs = serviceMs;
    this.#limits = Object.fromEntries(Object.keys(serviceMs).map((e) => [e, { limit: 4, min: 1, max: 8 }]));
  }

  trace(max?: number): readonly TraceEntry[] {
    return max === undefined ? this.#trace : this.#trace.slice(-max);
  }
  cacheCapacityBytes(): number {
    return this.capacity;
  }
  setCacheCapacityBytes(bytes: number): void {
    this.capacity = bytes;
    this.#evict();
  }
  limits(): Readonly<Record<string, LimitSettings>> {
    return this.#limits;
  }
  setLimitBounds(engine: string, b: { min: number; max: number }): void {
    const l = this.#limits[engine];
    if (l) this.#limits[engine] = { limit: Math.min(Math.max(l.limit, b.min), b.max), ...b };
  }
  routeWeights(): Readonly<Record<string, number>> {
    return this.#weights;
  }
  setRouteWeight(engine: string, weight: number): void {
    this.#weights[engine] = weight;
  }

  #evict(): void {
    while (this.#used > this.capacity) {
      const first = this.#cache.entries().next().value;
      if (!first) break;
      this.#cache.delete(first[0]);
      this.#used -= first[1];
    }
  }

  #pickEngine(): string {
    const names = Object.keys(this.serviceMs);
    const w = names.map((n) => this.#weights[n] ?? 1);
    let u = this.#rand() * w.reduce((a, b) => a + b, 0);
    for (let i = 0; i < names.length; i++) {
      u -= w[i] ?? 0;
      if (u <= 0) return names[i] ?? "";
    }
    return names[names.length - 1] ?? "";
  }

  /** Serves `n` requests over `seconds`, keys drawn uniformly from a popular set of `popular` keys. */
  run(n: number, seconds: number, popular: number): Record<string, number> {
    const served: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const start = this.now + Math.round((i * seconds * 1000) / n);
      const key = `key-${Math.floor(this.#rand() * popular)}`;
      const engine = this.#pickEngine();
      const hit = this.#cache.has(key);
      const ms = hit ? 1 : (this.serviceMs[engine] ?? 100) * (0.9 + 0.2 * this.#rand());
      if (hit) {
        this.#cache.delete(key);
        this.#cache.set(key, OBJECT_BYTES);
      } else {
        served[engine] = (served[engine] ?? 0) + 1;
        this.#cache.set(key, OBJECT_BYTES);
        this.#used += OBJECT_BYTES;
        this.#evict();
      }
      this.#trace.push({
        v: 1,
        key,
        engine,
        voice: "v1",
        chars: 40,
        bytes: OBJECT_BYTES,
        start_ms: start,
        first_byte_ms: start + ms / 2,
        end_ms: start + Math.round(ms),
        cache_hit: hit,
        coalesced: false,
        result: "success",
        status: 200,
        ...(hit ? {} : { engine_ms: Math.round(ms) }),
      });
    }
    this.now += seconds * 1000;
    if (this.#trace.length > 50_000) this.#trace.splice(0, this.#trace.length - 50_000);
    return served;
  }
}

const config = parseConfig(
  {
    optimizer: {
      interval_seconds: 60,
      cache_budget_bytes: 50_000_000,
      cache_floor_bytes: 100_000,
      window_requests: 1200,
      min_requests: 100,
    },
    thresholds: { latency_max_ms: 500 },
  },
  "optimizer-auto.test.ts",
);

const quiet = () => new Logger({ json: true, level: "error", sink: { write: () => {} } });

describe("auto-optimiser against a changing workload", () => {
  it("grows the cache when the popular set grows and then holds; moves traffic off a slow engine and back", async () => {
    const gw = new SimGateway(100_000, { fast: 100, other: 110 });
    const registry = new MetricsRegistry();
    const events = new EventEmitter();
    const seen: unknown[] = [];
    events.on("optimizer-decision", (d) => seen.push(d));
    const opt = new AutoOptimizer({ controls: gw, config, log: quiet(), registry, events, curves: "inline" });
    const all: Decision[][] = [];
    const capacity: number[] = [];
    const otherShare: number[] = [];
    const tick = async (popular: number) => {
      const served = gw.run(600, 60, popular);
      otherShare.push((served.other ?? 0) / ((served.other ?? 0) + (served.fast ?? 0) || 1));
      all.push(await opt.tick());
      capacity.push(gw.cacheCapacityBytes());
    };

    // Phase 1: 100 popular keys of 10 kB: the cache grows to about 1 MB and holds.
    for (let i = 0; i < 5; i++) await tick(100);
    expect(capacity[0]).toBeGreaterThan(100_000);
    expect(capacity[4]).toBeGreaterThanOrEqual(0.8 * 100 * OBJECT_BYTES);
    expect(capacity[4]).toBeLessThanOrEqual(1.2 * 100 * OBJECT_BYTES);
    expect(all[4]?.filter((d) => d.lever === "cache")).toEqual([]);

    // Phase 2: the popular set grows to 400 keys; the "other" engine slows far past the SLO.
    gw.serviceMs.other = 1500;
    for (let i = 0; i < 6; i++) await tick(400);
    const grownTo = capacity[capacity.length - 1] ?? 0;
    expect(grownTo).toBeGreaterThanOrEqual(0.8 * 400 * OBJECT_BYTES);
    expect(grownTo).toBeLessThanOrEqual(1.2 * 400 * OBJECT_BYTES);
    // It held for the last rounds: no cache decision once the curve settled.
    expect(
      all
        .slice(-2)
        .flat()
        .filter((d) => d.lever === "cache"),
    ).toEqual([]);
    // Every cache change made so far was a growth, within the budget.
    const cacheDecisions = all.flat().filter((d) => d.lever === "cache");
    expect(cacheDecisions.every((d) => d.action === "grow" && d.to <= 50_000_000)).toBe(true);
    // Traffic moved away from the slow engine, down to the floor, never below.
    expect(gw.routeWeights().other).toBe(config.optimizer.route_weight_floor);
    expect(otherShare[otherShare.length - 1]).toBeLessThan(0.15);

    // Phase 3: the engine recovers; once its recent window is clean, the weight comes back.
    gw.serviceMs.other = 110;
    for (let i = 0; i < 6; i++) await tick(400);
    expect(gw.routeWeights().other).toBeGreaterThan(0.8);
    expect(otherShare[otherShare.length - 1]).toBeGreaterThan(0.35);
    expect(capacity[capacity.length - 1]).toBe(grownTo);

    // Each decision is an event and a count.
    const decisions = all.flat();
    expect(seen).toHaveLength(decisions.length);
    const { body } = await registry.render(false);
    const grows = decisions.filter((d) => d.lever === "cache" && d.action === "grow").length;
    expect(body).toContain(`tts_optimizer_decisions_total{lever="cache",action="grow"} ${grows}`);
    expect(body).toContain(`tts_optimizer_cache_capacity_bytes ${grownTo}`);
    expect(body).toMatch(/tts_optimizer_route_weight\{engine="other"\} 0\.[89]/);
  });

  it("in --dry-run reports the same decisions and changes nothing (curve in the worker thread)", async () => {
    const gw = new SimGateway(100_000, { fast: 100, other: 1500 });
    const opt = new AutoOptimizer({ controls: gw, config, log: quiet(), dryRun: true });
    onTestFinished(() => opt.stop());
    gw.run(600, 60, 100);
    const d = await opt.tick();
    expect(d.some((x) => x.lever === "cache" && x.action === "grow")).toBe(true);
    expect(d.some((x) => x.lever === "route" && x.engine === "other" && x.action === "lower")).toBe(true);
    expect(d.every((x) => !x.applied)).toBe(true);
    expect(gw.cacheCapacityBytes()).toBe(100_000);
    expect(gw.routeWeights()).toEqual({});
  });

  it("shrinks the cache only after the smaller size was wanted three rounds in a row, never below the floor", async () => {
    const gw = new SimGateway(20_000_000, { fast: 100 });
    const opt = new AutoOptimizer({ controls: gw, config, log: quiet(), curves: "inline" });
    const sizes: number[] = [];
    for (let i = 0; i < 4; i++) {
      gw.run(600, 60, 5);
      await opt.tick();
      sizes.push(gw.cacheCapacityBytes());
    }
    expect(sizes.slice(0, 2)).toEqual([20_000_000, 20_000_000]);
    expect(sizes[2]).toBe(config.optimizer.cache_floor_bytes);
  });
});
