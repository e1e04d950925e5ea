// Temporal envelope asymmetry: speech starts its syllables abruptly and lets them decay (plosive
// bursts, vowel onsets, the decay of the vocal tract and the room), so the level rises faster than
// it falls. Played backwards it falls abruptly and rises slowly. Measured as the skewness of the
// frame-to-frame change of the 5 ms level (dB, floored 50 dB below the loud level), over frames
// where either side is above that floor: > 0 for speech, < 0 reversed.

const FRAME_SECONDS = 0.005;
const RANGE_DB = 50;

export function envelopeSkew(x: Float32Array, rate: number): number | undefined {
  const len = Math.max(1, Math.round(rate * FRAME_SECONDS));
  const frames = Math.floor(x.length / len);
  if (frames < 20) return undefined;
  const db = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let sq = 0;
    for (let i = f * len; i < (f + 1) * len; i++) sq += (x[i] ?? 0) ** 2;
    db[f] = 10 * Math.log10(sq / len + 1e-20);
  }
  const sorted = Float64Array.from(db).sort();
  const loud = sorted[Math.floor(sorted.length * 0.95)] ?? -200;
  const floor = loud - RANGE_DB;
  for (let f = 0; f < frames; f++) db[f] = Math.max(floor, db[f] ?? floor);
  const d: number[] = [];
  for (let f = 1; f < frames; f++) {
    const a = db[f - 1] ?? floor;
    const b = db[f] ?? floor;
    if (a > floor || b > floor) d.push(b - a);
  }
  if (d.length < 20) return undefined;
  const mean = d.reduce((s, v) => s + v, 0) / d.length;
  let m2 = 0;
  let m3 = 0;
  for (const v of d) {
    m2 += (v - mean) ** 2;
    m3 += (v - mean) ** 3;
  }
  m2 /= d.length;
  m3 /= d.length;
  return m2 > 0 ? m3 / m2 ** 1.5 : undefined;
}
