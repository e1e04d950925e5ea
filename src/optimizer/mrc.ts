// LRU miss-ratio curves by stack distance (Mattson et al., "Evaluation techniques for storage
// hierarchies", IBM Systems Journal 1970), in entries and byte-weighted, with an O(N log N) Fenwick
// tree over last-access times (Bennett & Kruskal 1975; Almási et al. 2002), and SHARDS sampling
// (Waldspurger et al., "Efficient MRC Construction with SHARDS", FAST '15) in its fixed-rate and
// fixed-size variants. Formulas and limits: docs/optimization.md.

/** One cacheable reference: a key and the size of the object it names (fixed per key). */
export interface Reference {
  readonly key: string;
  readonly bytes: number;
}

/** Prefix sums over positions 0..n-1 (Fenwick 1994). */
class Fenwick {
  readonly #t: Float64Array;
  constructor(n: number) {
    this.#t = new Float64Array(n + 1);
  }
  add(i: number, v: number): void {
    for (let j = i + 1; j < this.#t.length; j += j & -j) this.#t[j] = (this.#t[j] ?? 0) + v;
  }
  /** Sum of positions 0..i (0 when i < 0). */
  prefix(i: number): number {
    let s = 0;
    for (let j = i + 1; j > 0; j -= j & -j) s += this.#t[j] ?? 0;
    return s;
  }
}

/**
 * A reuse-distance distribution: a reference hits an LRU cache of capacity c exactly when its stack
 * distance is ≤ c. Cold (first) references have an infinite distance and never hit.
 */
export class DistanceCurve {
  readonly #d: Float64Array;
  readonly #cum: Float64Array;
  /** Total weight of all references (cold misses included). */
  readonly total: number;

  constructor(points: readonly (readonly [distance: number, weight: number])[], total: number) {
    const sorted = points.filter(([d]) => Number.isFinite(d)).sort((a, b) => a[0] - b[0]);
    this.#d = new Float64Array(sorted.length);
    this.#cum = new Float64Array(sorted.length);
    let c = 0;
    sorted.forEach(([d, w], i) => {
      c += w;
      this.#d[i] = d;
      this.#cum[i] = c;
    });
    this.total = total;
  }

  /** Hit ratio of an LRU cache of this capacity (0-1). */
  hitRatio(capacity: number): number {
    if (this.total <= 0) return 0;
    let lo = 0;
    let hi = this.#d.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#d[mid] ?? 0) <= capacity) lo = mid + 1;
      else hi = mid;
    }
    const hits = lo === 0 ? 0 : (this.#cum[lo - 1] ?? 0);
    return Math.min(1, Math.max(0, hits / this.total));
  }

  /** The largest finite distance: the capacity at which the curve reaches its ceiling. */
  maxDistance(): number {
    return this.#d.length === 0 ? 0 : (this.#d[this.#d.length - 1] ?? 0);
  }

  /** Distinct finite distances, ascending (the curve's steps). */
  steps(): Float64Array {
    const out: number[] = [];
    for (let i = 0; i < this.#d.length; i++) {
      const d = this.#d[i] ?? 0;
      if (out.length === 0 || out[out.length - 1] !== d) out.push(d);
    }
    return Float64Array.from(out);
  }
}

export interface MissRatioCurves {
  /** Capacity in entries. */
  readonly entries: DistanceCurve;
  /** Capacity in bytes (byte-weighted stack distance). */
  readonly bytes: DistanceCurve;
}

/**
 * Exact curves. Entry distance of a reference = distinct keys referenced since the previous reference
 * to its key, plus one; byte distance = their sizes plus its own: the LRU stack prefix that must fit.
 */
export function exactCurves(refs: readonly Reference[]): MissRatioCurves {
  const { entries, bytes } = distances(
    refs,
    () => true,
    () => 1,
  );
  return { entries: new DistanceCurve(entries, refs.length), bytes: new DistanceCurve(bytes, refs.length) };
}

type Points = [number, number][];

/** Stack distances of the references `keep` admits, each scaled by 1/rate() at its time. */
function distances(
  refs: readonly Reference[],
  keep: (ref: Reference) => boolean,
  rate: () => number,
  onNewKey?: (key: string, evict: (key: string) => void) => void,
): { entries: Points; bytes: Points; sampled: number; rates: number[] } {
  const count = new Fenwick(refs.length);
  const size = new Fenwick(refs.length);
  const last = new Map<string, { at: number; bytes: number }>();
  const entries: Points = [];
  const bytes: Points = [];
  const rates: number[] = [];
  const evict = (key: string) => {
    const l = last.get(key);
    if (!l) return;
    count.add(l.at, -1);
    size.add(l.at, -l.bytes);
    last.delete(key);
  };
  let t = 0;
  for (const ref of refs) {
    if (!keep(ref)) continue;
    const prev = last.get(ref.key);
    // The rate this reference was sampled at: before its own admission lowers a fixed-size threshold.
    const r = rate();
    if (prev === undefined) onNewKey?.(ref.key, evict);
    // The key itself may have been dropped from a fixed-size sample just now.
    if (!keep(ref)) continue;
    rates.push(r);
    if (prev === undefined) {
      entries.push([Number.POSITIVE_INFINITY, 1]);
      bytes.push([Number.POSITIVE_INFINITY, 1]);
    } else {
      const between = count.prefix(t - 1) - count.prefix(prev.at);
      const betweenBytes = size.prefix(t - 1) - size.prefix(prev.at);
      entries.push([(between + 1) / r, 1]);
      bytes.push([(betweenBytes + prev.bytes) / r, 1]);
      count.add(prev.at, -1);
      size.add(prev.at, -prev.bytes);
    }
    const b = prev?.bytes ?? ref.bytes;
    count.add(t, 1);
    size.add(t, b);
    last.set(ref.key, { at: t, bytes: b });
    t++;
  }
  return { entries, bytes, sampled: t, rates };
}

/** 32-bit hash of a key with a salt (FNV-1a then a murmur3 finaliser): uniform enough for sampling. */
export function hash32(key: string, salt = 0): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const P = 2 ** 32;

/**
 * SHARDS, fixed rate: keep the references whose key hashes below R·P, scale their distances by 1/R;
 * SHARDS_adj adds the difference between the expected (N·R) and actual number of samples to the
 * smallest-distance bucket, which removes most of the bias of a small sample.
 */
export function shardsFixedRate(refs: readonly Reference[], rate: number, salt = 0): MissRatioCurves {
  const threshold = rate * P;
  const hashes = new Map<string, number>();
  const h = (k: string) => {
    let v = hashes.get(k);
    if (v === undefined) {
      v = hash32(k, salt);
      hashes.set(k, v);
    }
    return v;
  };
  const r = distances(
    refs,
    (ref) => h(ref.key) < threshold,
    () => rate,
  );
  const expected = refs.length * rate;
  const adjust = (points: Points): Points => {
    const finite = points.filter(([d]) => Number.isFinite(d));
    const smallest = finite.reduce((m, [d]) => Math.min(m, d), Number.POSITIVE_INFINITY);
    return Number.isFinite(smallest) ? [...points, [smallest, expected - r.sampled]] : points;
  };
  return {
    entries: new DistanceCurve(adjust(r.entries), expected),
    bytes: new DistanceCurve(adjust(r.bytes), expected),
  };
}

/** A max-heap of (hash, key). */
class MaxHeap {
  readonly #a: { h: number; k: string }[] = [];
  get size(): number {
    return this.#a.length;
  }
  peek(): { h: number; k: string } | undefined {
    return this.#a[0];
  }
  push(h: number, k: string): void {
    const a = this.#a;
    a.push({ h, k });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ai = a[i];
      const ap = a[p];
      if (!ai || !ap || ap.h >= ai.h) break;
      a[i] = ap;
      a[p] = ai;
      i = p;
    }
  }
  pop(): { h: number; k: string } | undefined {
    const a = this.#a;
    const top = a[0];
    const end = a.pop();
    if (a.length > 0 && end) {
      a[0] = end;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if ((a[l]?.h ?? -1) > (a[m]?.h ?? -1)) m = l;
        if ((a[r]?.h ?? -1) > (a[m]?.h ?? -1)) m = r;
        if (m === i) break;
        const am = a[m];
        const ai = a[i];
        if (!am || !ai) break;
        a[m] = ai;
        a[i] = am;
        i = m;
      }
    }
    return top;
  }
}

/**
 * SHARDS, fixed size: at most `maxKeys` sampled keys. When one more would exceed it, the key with the
 * largest hash leaves the sample, the threshold drops to its hash (R = T/P), and every count already
 * in the histogram is rescaled by R_new/R_old (done at the end: a sample taken at rate R_i weighs
 * R_final/R_i). Memory is bounded whatever the trace.
 */
export function shardsFixedSize(refs: readonly Reference[], maxKeys: number, salt = 0): MissRatioCurves {
  let threshold = P;
  const heap = new MaxHeap();
  const inSample = new Set<string>();
  const hashes = new Map<string, number>();
  const h = (k: string) => {
    let v = hashes.get(k);
    if (v === undefined) {
      v = hash32(k, salt);
      hashes.set(k, v);
    }
    return v;
  };
  const r = distances(
    refs,
    (ref) => h(ref.key) < threshold,
    () => threshold / P,
    (key, evict) => {
      inSample.add(key);
      heap.push(h(key), key);
      while (heap.size > maxKeys) {
        const top = heap.pop();
        if (!top) break;
        inSample.delete(top.k);
        evict(top.k);
        threshold = top.h;
        // Keys with the same hash leave together: the sample is exactly the keys hashing below T.
        while ((heap.peek()?.h ?? -1) >= threshold) {
          const same = heap.pop();
          if (!same) break;
          inSample.delete(same.k);
          evict(same.k);
        }
      }
    },
  );
  const finalRate = threshold / P;
  // SHARDS_adj carried over: the total weight N·R_final is what an unbiased sample would hold; the
  // difference from the weight sampled goes to the smallest-distance bucket.
  const expected = refs.length * finalRate;
  const weigh = (points: Points): Points => {
    const out: Points = points.map(([d], i) => [d, finalRate / (r.rates[i] ?? 1)]);
    const sampled = out.reduce((s, [, w]) => s + w, 0);
    const smallest = out.reduce((m, [d]) => Math.min(m, d), Number.POSITIVE_INFINITY);
    if (Number.isFinite(smallest)) out.push([smallest, expected - sampled]);
    return out;
  };
  return {
    entries: new DistanceCurve(weigh(r.entries), expected),
    bytes: new DistanceCurve(weigh(r.bytes), expected),
  };
}

/** Mean absolute difference of two curves over a grid of capacities. */
export function meanAbsoluteError(a: DistanceCurve, b: DistanceCurve, grid: readonly number[]): number {
  if (grid.length === 0) return 0;
  return grid.reduce((s, c) => s + Math.abs(a.hitRatio(c) - b.hitRatio(c)), 0) / grid.length;
}

/** `n + 1` evenly spaced capacities from 0 to max (integers when `integer`), without repeats. */
export function linearGrid(max: number, n: number, integer = false): number[] {
  const out: number[] = [];
  for (let i = 0; i <= n; i++) {
    const v = integer ? Math.round((max * i) / n) : (max * i) / n;
    if (out.length === 0 || out[out.length - 1] !== v) out.push(v);
  }
  return out;
}

/**
 * The knee of a rising, flattening curve by Kneedle (Satopää et al., ICDCSW 2011): on the curve
 * normalised to the unit square, the point farthest above the chord from its first to its last point.
 * Evaluated at every step of the curve up to `max`. When the curve is nearly straight there (the
 * largest gap below 0.05), there is no knee: it still pays at `max`, which is returned.
 */
export function kneeCapacity(curve: DistanceCurve, max: number): { capacity: number; clear: boolean } {
  const y0 = curve.hitRatio(0);
  const yn = curve.hitRatio(max);
  if (max <= 0 || yn - y0 <= 1e-12) return { capacity: 0, clear: false };
  let best = 0;
  let bestGap = 0;
  for (const d of curve.steps()) {
    if (d > max) break;
    const gap = (curve.hitRatio(d) - y0) / (yn - y0) - d / max;
    if (gap > bestGap) {
      bestGap = gap;
      best = d;
    }
  }
  return bestGap < 0.05 ? { capacity: max, clear: false } : { capacity: best, clear: true };
}

/**
 * The smallest capacity whose hit ratio is within `tolerance` of the hit ratio at `max`: beyond it,
 * the rest of the budget buys less than `tolerance` of the requests.
 */
export function toleranceCapacity(curve: DistanceCurve, max: number, tolerance: number): number {
  const target = curve.hitRatio(max) - tolerance;
  if (curve.hitRatio(0) >= target) return 0;
  for (const d of curve.steps()) if (curve.hitRatio(d) >= target) return Math.min(d, max);
  return max;
}
