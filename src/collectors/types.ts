import type { Logger } from "../log.ts";
import type { MetricName } from "../metrics/catalog.ts";
import type { Sample } from "../metrics/registry.ts";

/**
 * A collector reads one part of the system and returns samples for the metric families it owns.
 * It runs in the background on the monitoring interval; the scrape only reads what it last stored.
 * Throwing (or timing out) is how it reports failure: the runner turns that into
 * `tts_exporter_collector_success{collector} 0`, removes its series and logs one line.
 */
export interface Collector {
  readonly name: string;
  /** Families this collector owns: all of them are replaced on success and removed on failure. */
  readonly metrics: readonly MetricName[];
  /** Whether this platform can run it; when not, the runner logs why once and never starts it. */
  supported(): { ok: true } | { ok: false; reason: string };
  /** `log` is for what is worth saying besides success or failure (a field the driver lacks), once. */
  collect(signal: AbortSignal, log?: Logger): Promise<Sample[]>;
  /** Ends what the collector keeps running between runs (the GPU collector's nvidia-smi loop). */
  stop?(): void;
}
