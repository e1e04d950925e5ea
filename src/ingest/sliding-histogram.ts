// Observations of the last `windowSeconds` in histogram buckets, so that the in-process TTSLatencyHigh
// computes the statistic Prometheus computes: histogram_quantile(0.95) of the bucket increases over
// the rule's window, interpolated within a bucket. O(1) per observation, in slots of `slotSeconds`.

export class SlidingHistogram {
  readonly #slots: Float64Array[];
  readonly #slotMs: number;
  /** Absolute slot number of the newest slot. */
  #slot: number;

  constructor(
    readonly bounds: readonly number[],
    readonly windowSeconds: number,
    now: number,
    slotSeconds = 5,
  ) {
    this.#slotMs = slotSeconds * 1000;
    const n = Math.max(1, Math.ceil(windowSeconds / slotSeconds));
    // One count per bucket bound, plus +Inf.
    this.#slots = Array.from({ length: n }, () => new Float64Array(bounds.length + 1));
    this.#slot = Math.floor(now / this.#slotMs);
  }

  #advance(now: number): void {
    const slot = Math.floor(now / this.#slotMs);
    const steps = Math.min(slot - this.#slot, this.#slots.length);
    for (let s = 1; s <= steps; s++) this.#slots[(this.#slot + s) % this.#slots.length]?.fill(0);
    if (slot > this.#slot) this.#slot = slot;
  }

  observe(now: number, value: number): void {
    this.#advance(now);
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > (b[i] as number)) i++;
    const counts = this.#slots[this.#slot % this.#slots.length] as Float64Array;
    counts[i] = (counts[i] as number) + 1;
  }

  /** The q-quantile of the observations in the window (undefined when there are none). */
  quantile(now: number, q: number): number | undefined {
    this.#advance(now);
    const counts = new Float64Array(this.bounds.length + 1);
    for (const slot of this.#slots)
      for (let i = 0; i < counts.length; i++) counts[i] = (counts[i] as number) + (slot[i] as number);
    return histogramQuantile(q, this.bounds, counts);
  }
}

/**
 * Prometheus' histogram_quantile over non-cumulative bucket counts (`counts[i]` for `bounds[i]`, the
 * last one for +Inf): the rank's bucket, linear interpolation inside it, the lowest bucket starting
 * at 0, and the highest finite bound when the rank falls in +Inf. Undefined without observations.
 */
export function histogramQuantile(
  q: number,
  bounds: readonly number[],
  counts: ArrayLike<number>,
): number | undefined {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i] as number;
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const count = counts[i] as number;
    if (below + count >= rank && count > 0) {
      const upper = bounds[i] as number;
      const lower = i === 0 ? (upper <= 0 ? upper : 0) : (bounds[i - 1] as number);
      if (i === 0 && upper <= 0) return upper;
      return lower + (upper - lower) * ((rank - below) / count);
    }
    below += count;
  }
  return bounds.at(-1);
}
