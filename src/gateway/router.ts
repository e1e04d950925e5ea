// Which engine serves a request: the one named (then its fallbacks), or for `model: "auto"` the best
// of the routes by measured latency, error rate, quality score and predicted MOS, within the SLO.
// A circuit breaker takes an engine out after consecutive failures and lets one request probe it
// back after `openMs`.

export interface Slo {
  readonly latencyMs: number;
  readonly maxErrorRate: number;
  readonly minQuality?: number;
  readonly minMos?: number;
}

/** What the snapshot knows of an engine's audio (absent when not analysed). */
export interface EngineQuality {
  readonly qualityScore?: number;
  readonly predictedMos?: number;
}

export type RouteReason = "requested" | "auto" | "fallback";

type CircuitState = "closed" | "open" | "half_open";

const ALPHA = 0.2;

class EngineHealth {
  /** Exponentially weighted latency (ms) and failure share of the gateway's own syntheses. */
  latencyMs: number | undefined;
  errorRate = 0;
  consecutiveFailures = 0;
  state: CircuitState = "closed";
  openedAt = 0;
  /** A half-open circuit lets exactly one request through. */
  probing = false;
}

export interface CircuitEvents {
  opened(engine: string, failures: number): void;
  closed(engine: string): void;
}

export class Router {
  readonly #health = new Map<string, EngineHealth>();
  readonly #weights = new Map<string, number>();

  constructor(
    private readonly options: {
      readonly failures: number;
      readonly openMs: number;
      readonly slo: Slo;
      readonly quality: (engine: string) => EngineQuality | undefined;
      readonly events: CircuitEvents;
      readonly now?: () => number;
    },
  ) {}

  #of(engine: string): EngineHealth {
    let h = this.#health.get(engine);
    if (!h) {
      h = new EngineHealth();
      this.#health.set(engine, h);
    }
    return h;
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }

  weights(): Record<string, number> {
    return Object.fromEntries(this.#weights);
  }

  setWeight(engine: string, weight: number): void {
    if (!(Number.isFinite(weight) && weight >= 0))
      throw new RangeError(`route weight must be ≥ 0, got ${weight}`);
    this.#weights.set(engine, weight);
  }

  isOpen(engine: string): boolean {
    return this.#health.get(engine)?.state === "open";
  }

  /** An open circuit whose wait is over: the next request should probe the engine. */
  #probeDue(engine: string): boolean {
    const h = this.#health.get(engine);
    return (
      h !== undefined &&
      !h.probing &&
      (h.state === "half_open" || (h.state === "open" && this.#now() - h.openedAt >= this.options.openMs))
    );
  }

  /**
   * May a request go to the engine now? A closed circuit: yes. An open one past its wait turns
   * half-open and admits one probe; the others are refused until that probe's answer.
   */
  admit(engine: string): boolean {
    const h = this.#of(engine);
    if (h.state === "closed") return true;
    if (h.state === "open" && this.#now() - h.openedAt >= this.options.openMs) h.state = "half_open";
    if (h.state === "half_open" && !h.probing) {
      h.probing = true;
      return true;
    }
    return false;
  }

  /** The answer of a synthesis that `admit` let through. */
  result(engine: string, ok: boolean, latencyMs: number | undefined): void {
    const h = this.#of(engine);
    h.probing = false;
    h.errorRate = h.errorRate * (1 - ALPHA) + (ok ? 0 : ALPHA);
    if (ok) {
      if (latencyMs !== undefined)
        h.latencyMs = h.latencyMs === undefined ? latencyMs : h.latencyMs * (1 - ALPHA) + latencyMs * ALPHA;
      h.consecutiveFailures = 0;
      if (h.state !== "closed") {
        // Back in service with a clean record: its past errors would otherwise keep `auto` away.
        h.state = "closed";
        h.errorRate = 0;
        this.options.events.closed(engine);
      }
      return;
    }
    h.consecutiveFailures++;
    if (h.state === "half_open" || (h.state === "closed" && h.consecutiveFailures >= this.options.failures)) {
      h.state = "open";
      h.openedAt = this.#now();
      this.options.events.opened(engine, h.consecutiveFailures);
    }
  }

  /** A request that `admit` let through ended without an answer from the engine (cancelled). */
  abandoned(engine: string): void {
    this.#of(engine).probing = false;
  }

  /**
   * The engines `auto` tries, best first: those within the SLO before those outside it, each group
   * by weighted score (weight 0 takes an engine out). An engine not yet measured comes first, so
   * that it gets measured, and one whose open circuit is due for its probe before all.
   */
  rank(candidates: readonly string[]): string[] {
    const slo = this.options.slo;
    const scored = candidates
      .filter((e) => (this.#weights.get(e) ?? 1) > 0)
      .map((engine) => {
        const h = this.#health.get(engine);
        const q = this.options.quality(engine);
        const latency = h?.latencyMs;
        const inSlo =
          (latency === undefined || latency <= slo.latencyMs) &&
          (h?.errorRate ?? 0) <= slo.maxErrorRate &&
          (slo.minQuality === undefined ||
            q?.qualityScore === undefined ||
            q.qualityScore >= slo.minQuality) &&
          (slo.minMos === undefined || q?.predictedMos === undefined || q.predictedMos >= slo.minMos);
        // Faster, more reliable, better sounding: higher. Quality and MOS count only where measured.
        const quality = (q?.qualityScore ?? 1) * ((q?.predictedMos ?? 5) / 5);
        const score =
          latency === undefined
            ? Number.POSITIVE_INFINITY
            : ((this.#weights.get(engine) ?? 1) * quality * (1 - (h?.errorRate ?? 0))) / Math.max(1, latency);
        const probe = this.#probeDue(engine);
        return { engine, inSlo, score, probe, out: !probe && h !== undefined && h.state !== "closed" };
      });
    // An engine due for its probe goes first (one request), or it could never come back.
    scored.sort(
      (a, b) =>
        Number(b.probe) - Number(a.probe) ||
        Number(a.out) - Number(b.out) ||
        Number(b.inSlo) - Number(a.inSlo) ||
        b.score - a.score,
    );
    return scored.map((s) => s.engine);
  }

  /** Per-engine view for the dashboards and controls. */
  circuit(engine: string): CircuitState {
    return this.#health.get(engine)?.state ?? "closed";
  }
}
