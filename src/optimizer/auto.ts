import type { EventEmitter } from "node:events";
import type { Config } from "../config/schema.ts";
import type { GatewayControls, TraceEntry } from "../gateway/contract.ts";
import type { Logger } from "../log.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { CurveWorker } from "./curve-runner.ts";
import { type CacheTarget, type CacheTargetInput, cacheReferences, cacheTarget } from "./levers/cache.ts";
import { concurrencyAtArrival, concurrencyLever } from "./levers/concurrency.ts";
import { engineRow } from "./levers/engines.ts";
import { byArrival, engineServed, round } from "./stats.ts";

// `--auto-optimize`: every optimizer.interval_seconds, the same levers as the report, read from the
// gateway's live trace and applied through GatewayControls within bounds, with hysteresis. Each
// decision is a log line, an "optimizer-decision" event (the web dashboard's event log) and a count in
// tts_optimizer_decisions_total{lever,action}; the settings are gauges. Formulas: docs/optimization.md.

export type Lever = "cache" | "limit" | "route";

export interface Decision {
  readonly lever: Lever;
  readonly action: "grow" | "shrink" | "raise" | "lower";
  /** The engine of a limit or route decision. */
  readonly engine?: string;
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  /** False in --dry-run: reported, not applied. */
  readonly applied: boolean;
}

type OptimizerSettings = Pick<Config, "optimizer" | "thresholds">;

export interface AutoOptimizerOptions {
  readonly controls: GatewayControls;
  /** The settings, or a function returning the current ones (a reload then applies at the next round). */
  readonly config: OptimizerSettings | (() => OptimizerSettings);
  readonly log: Logger;
  readonly registry?: MetricsRegistry;
  readonly events?: EventEmitter;
  readonly dryRun?: boolean;
  /** Where the curve is computed: a worker thread (default, off the gateway's event loop) or inline. */
  readonly curves?: "worker" | "inline";
}

/** Ticks in a row a shrink must be wanted before it is made: growing is cheap to undo, evicting is not. */
const SHRINK_AFTER_TICKS = 3;
/** Requests an engine needs in the recent window for its route weight to be judged. */
const ROUTE_MIN_REQUESTS = 5;
/** Latency and error figures of limits and routes read the newest 3 intervals only: they must be fresh. */
const RECENT_INTERVALS = 3;

export class AutoOptimizer {
  readonly #o: AutoOptimizerOptions;
  #timer: NodeJS.Timeout | undefined;
  #shrinkWanted = 0;
  #busy = false;
  readonly #worker: CurveWorker | undefined;

  constructor(options: AutoOptimizerOptions) {
    this.#o = options;
    this.#worker = options.curves === "inline" ? undefined : new CurveWorker();
  }

  get #config(): OptimizerSettings {
    const c = this.#o.config;
    return typeof c === "function" ? c() : c;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // A round still running when the next is due: that one is skipped.
      if (this.#busy) return;
      this.tick().catch((err: unknown) =>
        this.#o.log.error("optimizer round failed", { error: (err as Error).message }),
      );
    }, this.#config.optimizer.interval_seconds * 1000);
    this.#timer.unref();
    this.#gauges();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#worker?.close();
  }

  /** One round: reads the trace, decides, applies (unless dry-run), and returns what it decided. */
  async tick(): Promise<Decision[]> {
    this.#busy = true;
    try {
      return await this.#round();
    } finally {
      this.#busy = false;
    }
  }

  async #round(): Promise<Decision[]> {
    const o = this.#config.optimizer;
    const trace = this.#o.controls.trace(o.window_requests);
    const newest = trace.reduce((m, e) => Math.max(m, e.end_ms), Number.NEGATIVE_INFINITY);
    const recent = trace.filter((e) => e.end_ms >= newest - RECENT_INTERVALS * o.interval_seconds * 1000);
    const decisions = [...(await this.#cache(trace)), ...this.#limits(recent), ...this.#routes(recent)];
    for (const d of decisions) this.#record(d);
    this.#gauges();
    return decisions;
  }

  async #cache(trace: readonly TraceEntry[]): Promise<Decision[]> {
    const o = this.#config.optimizer;
    const refs = cacheReferences(trace);
    if (refs.length < o.min_requests) return [];
    const input: CacheTargetInput = {
      refs,
      exactMaxRequests: o.exact_max_requests,
      sampleKeys: o.shards_sample_keys,
      budgetBytes: o.cache_budget_bytes,
      floorBytes: o.cache_floor_bytes,
      tolerance: o.cache_hit_tolerance,
    };
    const { target, hitRatio }: CacheTarget = this.#worker
      ? await this.#worker.run(input)
      : cacheTarget(input);
    const reason = `end of the knee of the live miss-ratio curve over ${refs.length} requests at ${target} bytes (hit ratio ${round(hitRatio, 4)}), within [${o.cache_floor_bytes}, ${o.cache_budget_bytes}]`;
    const current = this.#o.controls.cacheCapacityBytes();
    const band = o.hysteresis_ratio * current;
    if (target > current + band) {
      this.#shrinkWanted = 0;
      return [this.#apply({ lever: "cache", action: "grow", from: current, to: target, reason })];
    }
    if (target < current - band) {
      this.#shrinkWanted++;
      if (this.#shrinkWanted < SHRINK_AFTER_TICKS) return [];
      this.#shrinkWanted = 0;
      return [this.#apply({ lever: "cache", action: "shrink", from: current, to: target, reason })];
    }
    this.#shrinkWanted = 0;
    return [];
  }

  #limits(recent: readonly TraceEntry[]): Decision[] {
    const o = this.#config.optimizer;
    const sloP95Ms = o.slo.latency_p95_ms ?? this.#config.thresholds.latency_max_ms;
    const out: Decision[] = [];
    for (const [engine, now] of Object.entries(this.#o.controls.limits()).sort(([a], [b]) =>
      a < b ? -1 : 1,
    )) {
      const lever = concurrencyLever(recent, engine, { sloP95Ms, minRequests: o.min_requests });
      if (lever.status !== "ok" || lever.live_limit === null) continue;
      let target: number;
      let reason: string;
      if (lever.saturation_seen) {
        target = lever.live_limit;
        reason = `latency rises past concurrency ${lever.live_limit} (p90 over ${sloP95Ms} ms or p50 over twice the no-load p50; gradient ${lever.gradient})`;
      } else {
        const served = byArrival(recent).filter((e) => e.engine === engine && engineServed(e));
        const peak = Math.max(0, ...concurrencyAtArrival(served));
        // The limit was reached and latency held: there is room above it, probed step by step.
        if (peak < now.max || lever.gradient < 0.5) continue;
        target = Math.ceil(now.max * 1.5);
        reason = `concurrency reached the limit ${now.max} with latency within the SLO (gradient ${lever.gradient})`;
      }
      target = Math.min(o.limit_ceiling, Math.max(o.limit_floor, target));
      if (Math.abs(target - now.max) < Math.max(1, o.hysteresis_ratio * now.max)) continue;
      const d = this.#apply({
        lever: "limit",
        action: target > now.max ? "raise" : "lower",
        engine,
        from: now.max,
        to: target,
        reason,
      });
      out.push(d);
    }
    return out;
  }

  #routes(recent: readonly TraceEntry[]): Decision[] {
    const o = this.#config.optimizer;
    const sloP95Ms = o.slo.latency_p95_ms ?? this.#config.thresholds.latency_max_ms;
    const weights = this.#o.controls.routeWeights();
    const names = [...new Set([...Object.keys(weights), ...Object.keys(this.#o.controls.limits())])].sort();
    if (names.length < 2) return [];
    const rows = names.map((name) =>
      engineRow(recent, name, {
        sloP95Ms,
        errorRateMax: o.slo.error_rate_max,
        qualityMin: this.#config.thresholds.quality_score_min,
        minRequests: ROUTE_MIN_REQUESTS,
        evidence: {},
        kneeRps: {},
      }),
    );
    const judged = rows.filter((r) => r.requests >= ROUTE_MIN_REQUESTS && r.latency.p50_ms !== null);
    const good = judged.filter(
      (r) =>
        (r.latency.p95_ms ?? Number.POSITIVE_INFINITY) <= sloP95Ms &&
        (r.error_rate ?? 1) <= o.slo.error_rate_max,
    );
    const best = Math.min(...good.map((r) => r.latency.p50_ms ?? Number.POSITIVE_INFINITY));
    const out: Decision[] = [];
    for (const r of rows) {
      const now = weights[r.name] ?? 1;
      let target: number;
      let reason: string;
      if (r.requests < ROUTE_MIN_REQUESTS || r.latency.p50_ms === null) {
        // Too little recent traffic to judge: the weight climbs back (doubling) so that it can be measured.
        target = Math.min(1, now * 2);
        reason = `only ${r.requests} recent requests: weight restored step by step to measure it again`;
      } else if (!good.includes(r)) {
        target = o.route_weight_floor;
        reason = `outside the SLO (p95 ${r.latency.p95_ms} ms, error rate ${r.error_rate}): kept at the floor`;
      } else {
        target = Math.max(o.route_weight_floor, Math.min(1, best / r.latency.p50_ms));
        reason = `p50 ${r.latency.p50_ms} ms vs the best engine's ${best} ms`;
      }
      target = round(target, 4);
      if (Math.abs(target - now) < Math.max(0.05, o.hysteresis_ratio * now)) continue;
      out.push(
        this.#apply({
          lever: "route",
          action: target > now ? "raise" : "lower",
          engine: r.name,
          from: now,
          to: target,
          reason,
        }),
      );
    }
    return out;
  }

  #apply(d: Omit<Decision, "applied">): Decision {
    const applied = !this.#o.dryRun;
    if (applied) {
      const c = this.#o.controls;
      if (d.lever === "cache") c.setCacheCapacityBytes(d.to);
      else if (d.lever === "limit" && d.engine !== undefined) {
        const now = c.limits()[d.engine];
        c.setLimitBounds(d.engine, {
          min: Math.min(now?.min ?? this.#config.optimizer.limit_floor, d.to),
          max: d.to,
        });
      } else if (d.lever === "route" && d.engine !== undefined) c.setRouteWeight(d.engine, d.to);
    }
    return { ...d, applied };
  }

  #record(d: Decision): void {
    this.#o.log.info(
      d.applied ? "optimizer changed a setting" : "optimizer would change a setting (dry run)",
      {
        lever: d.lever,
        action: d.action,
        ...(d.engine !== undefined && { engine: d.engine }),
        from: d.from,
        to: d.to,
        reason: d.reason,
      },
    );
    this.#o.events?.emit("optimizer-decision", { ...d, at: Date.now() });
    this.#o.registry?.counter("tts_optimizer_decisions_total").inc({ lever: d.lever, action: d.action });
  }

  #gauges(): void {
    const r = this.#o.registry;
    if (!r) return;
    const c = this.#o.controls;
    r.gauge("tts_optimizer_cache_capacity_bytes").set(c.cacheCapacityBytes());
    for (const [engine, l] of Object.entries(c.limits()))
      r.gauge("tts_optimizer_concurrency_limit_max").set({ engine }, l.max);
    const weights = c.routeWeights();
    for (const engine of new Set([...Object.keys(weights), ...Object.keys(c.limits())]))
      r.gauge("tts_optimizer_route_weight").set({ engine }, weights[engine] ?? 1);
  }
}
