import type { Logger } from "../log.ts";
import { errorMessage } from "../log.ts";
import type { MetricsRegistry, Sample } from "../metrics/registry.ts";
import type { Collector } from "./types.ts";

export interface CollectorState {
  readonly success: boolean;
  readonly durationSeconds: number;
  readonly samples: readonly Sample[];
  readonly error?: string;
  readonly at: number;
}

interface Entry {
  readonly collector: Collector;
  inFlight: boolean;
  timer?: NodeJS.Timeout;
  controller?: AbortController;
  state?: CollectorState;
  failing: boolean;
}

/**
 * Runs each collector on its own schedule with its own timeout. At most one run per collector is in
 * flight; a tick that finds the previous run still going is skipped and counted.
 */
export class CollectorRunner {
  readonly #entries = new Map<string, Entry>();
  #intervalMs: number;
  #timeoutMs: number;
  #stopped = true;
  /** Bumped by stop(): a run that started before it finishes without touching the registry. */
  #generation = 0;

  constructor(
    collectors: readonly Collector[],
    private readonly registry: MetricsRegistry,
    private readonly log: Logger,
    options: { intervalSeconds: number; timeoutSeconds: number },
  ) {
    this.#intervalMs = options.intervalSeconds * 1000;
    this.#timeoutMs = options.timeoutSeconds * 1000;
    for (const collector of collectors) {
      const support = collector.supported();
      if (!support.ok) {
        this.log.warn("collector not supported here; not started", {
          collector: collector.name,
          reason: support.reason,
        });
        continue;
      }
      this.#entries.set(collector.name, { collector, inFlight: false, failing: false });
    }
  }

  get names(): string[] {
    return [...this.#entries.keys()];
  }

  state(name: string): CollectorState | undefined {
    return this.#entries.get(name)?.state;
  }

  /** Starts every collector now (first run at once), then on the interval. */
  start(): void {
    this.#stopped = false;
    for (const entry of this.#entries.values()) this.#schedule(entry, 0);
  }

  /** Runs every collector once and waits for all of them (used at start-up and by the CLI). */
  async runOnce(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => this.#run(e)));
  }

  #schedule(entry: Entry, delayMs: number): void {
    if (this.#stopped) return;
    entry.timer = setTimeout(() => {
      const started = Date.now();
      if (entry.inFlight) {
        this.registry
          .counter("tts_exporter_collector_skipped_total")
          .inc({ collector: entry.collector.name });
      } else {
        void this.#run(entry);
      }
      // Fixed-rate schedule: the next tick is an interval after this one started, whatever the run took.
      this.#schedule(entry, Math.max(0, this.#intervalMs - (Date.now() - started)));
    }, delayMs);
    entry.timer.unref();
  }

  async #run(entry: Entry): Promise<void> {
    const { collector } = entry;
    const generation = this.#generation;
    entry.inFlight = true;
    const controller = new AbortController();
    entry.controller = controller;
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new Error(`timed out after ${this.#timeoutMs / 1000} s`);
          controller.abort(err);
          reject(err);
        }, this.#timeoutMs);
      });
      const samples = await Promise.race([collector.collect(controller.signal, this.log), timeout]);
      // Stopped meanwhile (shutdown, or a reload whose new runner now owns these series): say nothing.
      if (generation !== this.#generation) return;
      const durationSeconds = (performance.now() - start) / 1000;
      this.registry.replace(collector.metrics, samples);
      this.#report(entry, { success: true, durationSeconds, samples, at: Date.now() });
      if (entry.failing) {
        entry.failing = false;
        this.log.info("collector recovered", { collector: collector.name });
      }
    } catch (err) {
      if (generation !== this.#generation) return;
      const durationSeconds = (performance.now() - start) / 1000;
      this.registry.clear(collector.metrics);
      const error = errorMessage(err);
      const previous = entry.state?.error;
      this.#report(entry, { success: false, durationSeconds, samples: [], error, at: Date.now() });
      // One line when a collector starts failing or its reason changes, not one per interval.
      if (!entry.failing || previous !== error) {
        this.log.warn("collector failed", { collector: collector.name, error });
      }
      entry.failing = true;
    } finally {
      clearTimeout(timer);
      entry.inFlight = false;
    }
  }

  #report(entry: Entry, state: CollectorState): void {
    entry.state = state;
    const labels = { collector: entry.collector.name };
    this.registry.gauge("tts_exporter_collector_success").set(labels, state.success ? 1 : 0);
    this.registry.gauge("tts_exporter_collector_duration_seconds").set(labels, state.durationSeconds);
  }

  stop(): void {
    this.#stopped = true;
    this.#generation++;
    for (const entry of this.#entries.values()) {
      clearTimeout(entry.timer);
      entry.controller?.abort(new Error("exporter stopping"));
      entry.collector.stop?.();
    }
  }

  /**
   * Removes every series of this (stopped) runner's collectors that `keep` does not name: after a
   * reload, a collector switched off loses its series instead of freezing at its last values.
   */
  release(keep: readonly string[]): void {
    for (const [name, entry] of this.#entries) {
      if (keep.includes(name)) continue;
      this.registry.clear(entry.collector.metrics);
      const labels = { collector: name };
      this.registry.gauge("tts_exporter_collector_success").remove(labels);
      this.registry.gauge("tts_exporter_collector_duration_seconds").remove(labels);
      this.registry.counter("tts_exporter_collector_skipped_total").remove(labels);
    }
  }
}
