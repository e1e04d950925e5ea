import type { Engine } from "../engines/types.ts";
import { type ProbeResult, runProbe } from "./probe.ts";

export interface ProbeSchedule {
  /** Read at every scheduling decision, so run-time changes apply at the next probe. */
  intervalSeconds(): number;
  texts(): readonly string[];
  timeoutMs(engine: Engine): number;
  enabled(engine: Engine): boolean;
}

interface Slot {
  readonly engine: Engine;
  timer?: NodeJS.Timeout;
  inFlight?: Promise<ProbeResult> | undefined;
  next: number; // index of the next probe text
}

/**
 * Probes every engine on the interval with ±10 % jitter (so engines sharing a host do not fire in
 * step), first probe at start, at most one probe in flight per engine.
 */
export class ProbeRunner {
  readonly #slots = new Map<string, Slot>();
  #stopped = true;
  readonly #controller = new AbortController();

  constructor(
    engines: readonly Engine[],
    private readonly schedule: ProbeSchedule,
    private readonly onResult: (result: ProbeResult) => void,
  ) {
    for (const engine of engines) this.#slots.set(engine.name, { engine, next: 0 });
  }

  get engines(): Engine[] {
    return [...this.#slots.values()].map((s) => s.engine);
  }

  engine(name: string): Engine | undefined {
    return this.#slots.get(name)?.engine;
  }

  start(): void {
    this.#stopped = false;
    for (const slot of this.#slots.values()) this.#schedule(slot, 0);
  }

  /** Probes an engine now; if a probe of it is already in flight, returns that one's result. */
  probeNow(name: string): Promise<ProbeResult> {
    const slot = this.#slots.get(name);
    if (!slot) return Promise.reject(new Error(`unknown engine ${name}`));
    return this.#run(slot);
  }

  /**
   * Replaces the probed engines (config reload). An engine kept by identity keeps its schedule; a
   * new one is probed at once; a removed one is no longer scheduled and is closed once its probe in
   * flight, if any, has ended.
   */
  setEngines(engines: readonly Engine[]): void {
    const next = new Map(engines.map((e) => [e.name, e] as const));
    for (const [name, slot] of this.#slots) {
      if (next.get(name) === slot.engine) continue;
      clearTimeout(slot.timer);
      this.#slots.delete(name);
      void Promise.resolve(slot.inFlight).then(() => slot.engine.close?.());
    }
    for (const engine of engines) {
      if (this.#slots.has(engine.name)) continue;
      const slot: Slot = { engine, next: 0 };
      this.#slots.set(engine.name, slot);
      this.#schedule(slot, 0);
    }
  }

  /** Re-plans every engine's next probe (after an interval change or an engine being enabled). */
  reschedule(): void {
    for (const slot of this.#slots.values()) {
      clearTimeout(slot.timer);
      this.#schedule(slot, slot.inFlight ? this.#delay() : 0);
    }
  }

  #delay(): number {
    const base = this.schedule.intervalSeconds() * 1000;
    return Math.max(100, base * (0.9 + Math.random() * 0.2));
  }

  #schedule(slot: Slot, delayMs: number): void {
    if (this.#stopped) return;
    slot.timer = setTimeout(() => {
      if (this.#stopped || this.#slots.get(slot.engine.name) !== slot) return;
      if (this.schedule.enabled(slot.engine) && !slot.inFlight) void this.#run(slot);
      this.#schedule(slot, this.#delay());
    }, delayMs);
    slot.timer.unref();
  }

  #run(slot: Slot): Promise<ProbeResult> {
    if (slot.inFlight) return slot.inFlight;
    const texts = this.schedule.texts();
    const text = texts[slot.next % texts.length] ?? "Hello.";
    slot.next++;
    const p = runProbe(slot.engine, text, this.schedule.timeoutMs(slot.engine), this.#controller.signal).then(
      (result) => {
        slot.inFlight = undefined;
        if (!this.#stopped || result.success) this.onResult(result);
        return result;
      },
    );
    slot.inFlight = p;
    return p;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const slot of this.#slots.values()) clearTimeout(slot.timer);
    this.#controller.abort(new Error("exporter stopping"));
    await Promise.all([...this.#slots.values()].map((s) => s.inFlight));
    await Promise.all([...this.#slots.values()].map((s) => s.engine.close?.()));
  }
}
