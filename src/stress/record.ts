import * as hdr from "hdr-histogram-js";
import type { Percentile } from "./slo.ts";

/** Percentiles in seconds; null where nothing was recorded. */
export type Percentiles = { readonly [P in Percentile]: number | null } & {
  readonly mean: number | null;
  readonly max: number | null;
  readonly count: number;
};

/** An HDR histogram of seconds, kept in microseconds with 3 significant digits (1 µs to 1 h, resizing above). */
export class SecondsHistogram {
  readonly #h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });

  record(seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    this.#h.recordValue(Math.max(1, Math.round(seconds * 1e6)));
  }

  get count(): number {
    return this.#h.totalCount;
  }

  percentile(p: number): number | null {
    return this.#h.totalCount === 0 ? null : this.#h.getValueAtPercentile(p) / 1e6;
  }

  summary(): Percentiles {
    const n = this.#h.totalCount;
    const at = (p: number) => (n === 0 ? null : round6(this.#h.getValueAtPercentile(p) / 1e6));
    return {
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      mean: n === 0 ? null : round6(this.#h.mean / 1e6),
      max: n === 0 ? null : round6(this.#h.maxValue / 1e6),
      count: n,
    };
  }
}

export const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
