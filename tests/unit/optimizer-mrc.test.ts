import { describe, expect, it } from "vitest";
import {
  exactCurves,
  kneeCapacity,
  linearGrid,
  meanAbsoluteError,
  type Reference,
  shardsFixedRate,
  shardsFixedSize,
} from "../../src/optimizer/mrc.ts";
import { seededRandom as rng } from "../../src/util/random.ts";

/** Zipf(s) over `keys` keys by inverse CDF; each key has a fixed size drawn once. */
function zipfTrace(n: number, keys: number, s: number, seed: number): Reference[] {
  const rand = rng(seed);
  const cdf = new Float64Array(keys);
  let sum = 0;
  for (let i = 0; i < keys; i++) {
    sum += 1 / (i + 1) ** s;
    cdf[i] = sum;
  }
  const sizes = Array.from({ length: keys }, () => 2000 + Math.floor(rand() * 200_000));
  const out: Reference[] = [];
  for (let i = 0; i < n; i++) {
    const u = rand() * sum;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] ?? 0) < u) lo = mid + 1;
      else hi = mid;
    }
    out.push({ key: `k${lo}`, bytes: sizes[lo] ?? 0 });
  }
  return out;
}

/** Hit ratio of a real LRU of `capacity` entries. */
function lruEntries(refs: readonly Reference[], capacity: number): number {
  const cache = new Map<string, true>();
  let hits = 0;
  for (const { key } of refs) {
    if (cache.has(key)) {
      hits++;
      cache.delete(key);
      cache.set(key, true);
      continue;
    }
    cache.set(key, true);
    while (cache.size > capacity) cache.delete(cache.keys().next().value as string);
  }
  return hits / refs.length;
}

/** Hit ratio of a real LRU bounded in bytes: insert, then evict the least recent until it fits. */
function lruBytes(refs: readonly Reference[], capacity: number): number {
  const cache = new Map<string, number>();
  let used = 0;
  let hits = 0;
  for (const { key, bytes } of refs) {
    const held = cache.get(key);
    if (held !== undefined) {
      hits++;
      cache.delete(key);
      cache.set(key, held);
      continue;
    }
    cache.set(key, bytes);
    used += bytes;
    while (used > capacity) {
      const [k, b] = cache.entries().next().value as [string, number];
      cache.delete(k);
      used -= b;
    }
  }
  return hits / refs.length;
}

describe("exact miss-ratio curve", () => {
  it("equals a brute-force LRU simulation, in entries and in bytes, on seeded random traces", () => {
    for (let seed = 1; seed <= 25; seed++) {
      const rand = rng(seed * 7919);
      const keys = 1 + Math.floor(rand() * 40);
      const n = 1 + Math.floor(rand() * 400);
      const sizes = Array.from({ length: keys }, () => 1 + Math.floor(rand() * 1000));
      const refs: Reference[] = Array.from({ length: n }, () => {
        // Skewed popularity: some keys far more often than others.
        const k = Math.floor(rand() ** 2 * keys);
        return { key: `key-${k}`, bytes: sizes[k] ?? 1 };
      });
      const { entries, bytes } = exactCurves(refs);
      for (let c = 0; c <= keys + 1; c++) expect(entries.hitRatio(c)).toBeCloseTo(lruEntries(refs, c), 12);
      const totalBytes = sizes.reduce((a, b) => a + b, 0);
      for (const b of linearGrid(totalBytes + 10, 37, true))
        expect(bytes.hitRatio(b)).toBeCloseTo(lruBytes(refs, b), 12);
      // Objects larger than the capacity: the brute force inserts then evicts them, as the model does.
      expect(bytes.hitRatio(0)).toBe(lruBytes(refs, 0));
    }
  });

  it("reaches the infinite-cache ceiling 1 − unique/total and is 0 at capacity 0", () => {
    const refs = zipfTrace(5000, 500, 0.9, 3);
    const unique = new Set(refs.map((r) => r.key)).size;
    const { entries, bytes } = exactCurves(refs);
    expect(entries.hitRatio(0)).toBe(0);
    expect(entries.hitRatio(unique)).toBeCloseTo(1 - unique / refs.length, 12);
    expect(bytes.hitRatio(bytes.maxDistance())).toBeCloseTo(1 - unique / refs.length, 12);
  });
});

describe("SHARDS", () => {
  // 200k references over 100k keys: big enough for a sample of a few thousand keys to mean something.
  const refs = zipfTrace(200_000, 100_000, 0.8, 11);
  const exact = exactCurves(refs);
  const unique = new Set(refs.map((r) => r.key)).size;
  const entryGrid = linearGrid(unique, 100, true);
  const byteGrid = linearGrid(exact.bytes.maxDistance(), 100);

  it("fixed rate (R = 0.05) is within 0.02 mean absolute error of the exact curve", () => {
    const s = shardsFixedRate(refs, 0.05);
    expect(meanAbsoluteError(s.entries, exact.entries, entryGrid)).toBeLessThan(0.02);
    expect(meanAbsoluteError(s.bytes, exact.bytes, byteGrid)).toBeLessThan(0.02);
  });

  it("fixed size (4,096 keys) is within 0.02 mean absolute error of the exact curve", () => {
    const s = shardsFixedSize(refs, 4096);
    expect(meanAbsoluteError(s.entries, exact.entries, entryGrid)).toBeLessThan(0.02);
    expect(meanAbsoluteError(s.bytes, exact.bytes, byteGrid)).toBeLessThan(0.02);
  });

  it("fixed size with room for every key is the exact curve", () => {
    const small = zipfTrace(3000, 200, 1, 5);
    const s = shardsFixedSize(small, 1000);
    const e = exactCurves(small);
    for (const c of linearGrid(200, 50, true))
      expect(s.entries.hitRatio(c)).toBeCloseTo(e.entries.hitRatio(c), 12);
  });
});

describe("knee", () => {
  it("finds the corner of a popular set that fits, and the end of a curve that is still straight", () => {
    // 50 popular keys of 1,000 bytes each, requested round-robin: the curve jumps at 50,000 bytes.
    const refs: Reference[] = [];
    for (let i = 0; i < 5000; i++) refs.push({ key: `p${i % 50}`, bytes: 1000 });
    const { bytes } = exactCurves(refs);
    expect(kneeCapacity(bytes, 1_000_000)).toEqual({ capacity: 50_000, clear: true });
    // Within a 30,000-byte budget a cyclic scan never hits: no knee, nothing to gain.
    expect(kneeCapacity(bytes, 30_000).capacity).toBe(0);
  });
});
