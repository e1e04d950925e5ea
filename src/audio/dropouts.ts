// Dropouts: holes cut into speech (a lossy link, a buffer underrun). A hole is a run of 2 ms
// blocks at least 50 dB below the clip's loud level (or digital silence), 10-250 ms long, inside
// the speech span, that starts and ends abruptly: the level jumps by ≥ 30 dB from one 2 ms block to
// the next on both sides. Speech falls silent smoothly (a vowel decays over several milliseconds, a
// stop closure leaves low-frequency energy), so clean engine speech has almost none; a pause between
// sentences is longer than 250 ms or not abrupt.

const BLOCK_SECONDS = 0.002;
/** Below the loud level (95th percentile of block levels) by this much: the hole's floor. */
export const DROPOUT_DEPTH_DB = 50;
/** Level jump within one block at each edge of a hole. */
export const DROPOUT_EDGE_DB = 30;
/** Both edges of a hole at most this far below the loud level, and one of them at most the second. */
export const DROPOUT_EDGE_QUIET_DB = 30;
export const DROPOUT_EDGE_LOUD_DB = 20;
export const DROPOUT_MIN_SECONDS = 0.01;
export const DROPOUT_MAX_SECONDS = 0.25;

export interface Dropouts {
  count: number;
  /** Holes per second of speech span. */
  perSecond: number;
  /** Share of the speech span inside holes. */
  share: number;
}

export function detectDropouts(x: Float32Array, rate: number): Dropouts | undefined {
  const len = Math.max(1, Math.round(rate * BLOCK_SECONDS));
  const blocks = Math.floor(x.length / len);
  if (blocks < 10) return undefined;
  const db = new Float64Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let sq = 0;
    for (let i = b * len; i < (b + 1) * len; i++) sq += (x[i] ?? 0) ** 2;
    db[b] = Math.max(-120, 10 * Math.log10(sq / len + 1e-20));
  }
  const sorted = Float64Array.from(db).sort();
  const loud = sorted[Math.floor(sorted.length * 0.95)] ?? -120;
  // One 16-bit step RMS (-90 dBFS) is digital silence whatever the loud level.
  const floor = Math.max(loud - DROPOUT_DEPTH_DB, -90);
  const speechLevel = loud - 40;
  let first = -1;
  let last = -1;
  for (let b = 0; b < blocks; b++)
    if ((db[b] ?? -120) > speechLevel) {
      if (first < 0) first = b;
      last = b;
    }
  if (first < 0 || last - first < 5) return undefined;
  const minBlocks = Math.round(DROPOUT_MIN_SECONDS / BLOCK_SECONDS);
  const maxBlocks = Math.round(DROPOUT_MAX_SECONDS / BLOCK_SECONDS);
  let count = 0;
  let holeBlocks = 0;
  let b = first + 1;
  while (b < last) {
    if ((db[b] ?? 0) > floor) {
      b++;
      continue;
    }
    const start = b;
    while (b < last && (db[b] ?? 0) <= floor) b++;
    const n = b - start;
    const before = db[start - 1] ?? -120;
    const after = db[b] ?? -120;
    const abrupt =
      before - (db[start] ?? 0) >= DROPOUT_EDGE_DB && after - (db[b - 1] ?? 0) >= DROPOUT_EDGE_DB;
    // Cut out of speech: both edges loud. espeak-ng writes its stop closures as exact zeros with
    // abrupt edges too, but out of quiet speech (30-40 dB below the loud level).
    const loudEdges =
      Math.min(before, after) >= loud - DROPOUT_EDGE_QUIET_DB &&
      Math.max(before, after) >= loud - DROPOUT_EDGE_LOUD_DB;
    if (abrupt && loudEdges && n >= minBlocks && n <= maxBlocks) {
      count++;
      holeBlocks += n;
    }
  }
  const span = (last - first + 1) * BLOCK_SECONDS;
  return { count, perSecond: count / span, share: (holeBlocks * BLOCK_SECONDS) / span };
}
