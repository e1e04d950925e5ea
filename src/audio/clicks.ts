// Clicks and glitches: isolated discontinuities. The second difference e[n] = x[n+1] - 2x[n] + x[n-1]
// is small for band-limited audio and large at a step or an impulse. A sample is an outlier when
// |e[n]| exceeds `k` times a robust local noise scale, σ = 1.4826 · median|e| (the MAD estimate of
// a Gaussian's standard deviation; Hampel), taken over blocks so speech bursts raise their own bar.
// Voiced speech has its own impulses: glottal closures, one per pitch period, which beat the MAD
// test easily. So an outlier must also dominate its surroundings: exceed `dominance` times the
// largest |e| within ±20 ms (one long pitch period and more) outside its own ±1 ms. A click is
// isolated; glottal pulses come in trains of similar ones.

export interface ClickOptions {
  /** Threshold in robust standard deviations. */
  k?: number;
  /** Block for the local scale, seconds. */
  blockSeconds?: number;
  /** Detections closer than this merge into one click, seconds. */
  mergeSeconds?: number;
  /** How many times the largest neighbouring |e| an outlier must reach. */
  dominance?: number;
  /** Dominance above which an outlier counts whatever its shape. */
  strongDominance?: number;
  /** Neighbourhood for the dominance test, seconds. */
  neighbourhoodSeconds?: number;
}

export interface Clicks {
  count: number;
  perMinute: number;
  /** Sample index of each click (first outlier sample). */
  positions: number[];
}

export function detectClicks(x: Float32Array, rate: number, options: ClickOptions = {}): Clicks {
  const k = options.k ?? 6;
  const dominance = options.dominance ?? 3.5;
  const strongDominance = options.strongDominance ?? 10;
  const reach = Math.max(2, Math.round(rate * (options.neighbourhoodSeconds ?? 0.02)));
  const block = Math.max(16, Math.round(rate * (options.blockSeconds ?? 0.01)));
  const merge = Math.max(1, Math.round(rate * (options.mergeSeconds ?? 0.002)));
  const n = x.length;
  const positions: number[] = [];
  if (n < 3) return { count: 0, perMinute: 0, positions };
  const e = new Float32Array(n);
  let globalAbs = 0;
  for (let i = 1; i + 1 < n; i++) {
    e[i] = (x[i + 1] ?? 0) - 2 * (x[i] ?? 0) + (x[i - 1] ?? 0);
    globalAbs += Math.abs(x[i] ?? 0);
  }
  const blocks = Math.ceil(n / block);
  const scale = new Float64Array(blocks);
  const tmp = new Float32Array(block);
  for (let b = 0; b < blocks; b++) {
    const start = b * block;
    const end = Math.min(n, start + block);
    const len = end - start;
    for (let i = 0; i < len; i++) tmp[i] = Math.abs(e[start + i] ?? 0);
    scale[b] = 1.4826 * select(tmp, len, len >> 1);
  }
  // Floor: in digital silence the MAD is 0 and any dither would count; one 16-bit step of second
  // difference, or a 1e-3 share of the mean level, whichever is larger.
  const floor = Math.max(4 / 32768, (1e-3 * globalAbs) / n);
  // Max |e| per merge-sized cell, for a cheap neighbourhood maximum.
  const cells = Math.ceil(n / merge);
  const cellMax = new Float32Array(cells);
  for (let i = 0; i < n; i++) {
    const c = (i / merge) | 0;
    const a = Math.abs(e[i] ?? 0);
    if (a > (cellMax[c] ?? 0)) cellMax[c] = a;
  }
  const reachCells = Math.ceil(reach / merge);
  // Per block, the outlier bar: k times the largest scale of the block and its neighbours (onsets do
  // not flag against a quiet side), never below the floor.
  const bar = new Float64Array(blocks);
  for (let b = 0; b < blocks; b++) {
    bar[b] = k * Math.max(scale[b] ?? 0, scale[b - 1] ?? 0, scale[b + 1] ?? 0, floor);
  }
  let last = -merge - 1;
  for (let i = 1; i + 1 < n; i++) {
    const a = Math.abs(e[i] ?? 0);
    if (a <= (bar[(i / block) | 0] ?? 0)) continue;
    if (i - last <= merge) {
      last = i;
      continue;
    }
    const c = (i / merge) | 0;
    let around = 0;
    for (let j = c - reachCells; j <= c + reachCells; j++) {
      if (j >= c - 1 && j <= c + 1) continue;
      const v = cellMax[j] ?? 0;
      if (v > around) around = v;
    }
    // Dominant and shaped like a discontinuity, or so dominant that the shape does not matter.
    if (a > strongDominance * around || (a > dominance * around && looksLikeClick(e, i))) {
      positions.push(i);
      last = i;
    }
  }
  const minutes = n / rate / 60;
  return { count: positions.length, perMinute: minutes > 0 ? positions.length / minutes : 0, positions };
}

/**
 * The second difference around a discontinuity has a fixed shape: an impulse of height d at n gives
 * (+d, -2d, +d) at n-1, n, n+1; a step of height D between n and n+1 gives (+D, -D). Natural
 * transients of band-limited speech (plosive onsets, fricatives) spread over many samples instead.
 * Looks at the largest |e| within 2 samples of i and tests its neighbours for either shape.
 */
function looksLikeClick(e: Float32Array, i: number): boolean {
  let m = i;
  for (let j = i - 2; j <= i + 2; j++) if (Math.abs(e[j] ?? 0) > Math.abs(e[m] ?? 0)) m = j;
  const c = e[m] ?? 0;
  if (c === 0) return false;
  const l = -(e[m - 1] ?? 0) / c; // > 0 when the neighbour has the opposite sign
  const r = -(e[m + 1] ?? 0) / c;
  const impulse = l > 0.35 && l < 0.65 && r > 0.35 && r < 0.65;
  const step = (l > 0.75 && l < 1.3 && Math.abs(r) < 0.35) || (r > 0.75 && r < 1.3 && Math.abs(l) < 0.35);
  return impulse || step;
}

/** k-th smallest of a[0..len) by Hoare's quickselect (reorders a); O(len) on average. */
function select(a: Float32Array, len: number, k: number): number {
  let lo = 0;
  let hi = len - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1] ?? 0;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] ?? 0) < pivot) i++;
      while ((a[j] ?? 0) > pivot) j--;
      if (i <= j) {
        const t = a[i] ?? 0;
        a[i] = a[j] ?? 0;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k] ?? 0;
}
