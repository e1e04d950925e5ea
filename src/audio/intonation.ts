// Intonation measures over a YIN track (pitch.ts), for the quality score's robotic and reversed
// components.
//
// monotoneShare: share of voiced frames within half a semitone of the median F0, octaves folded
// (YIN's octave errors on a buzz land on the same pitch class). Speech moves its pitch: 0.1-0.5 of
// frames sit that close to the median; a robotic voice on one pitch, 0.9-1.
//
// f0SlopeSemitonesPerSecond: least-squares slope of F0 (semitones, octave errors folded to within
// ±6 of the median) over the clip's voiced frames.
// Declarative speech declines (Cohen, Collier & 't Hart, "Declination: construct or intrinsic
// feature of speech pitch?", Phonetica 1982) and TTS engines model it; speech played backwards rises.

import type { PitchTrack } from "./pitch.ts";

export interface Intonation {
  monotoneShare: number;
  f0SlopeSemitonesPerSecond: number;
}

const MIN_VOICED_FRAMES = 10;

export function intonation(track: PitchTrack): Intonation | undefined {
  const t: number[] = [];
  const st: number[] = [];
  track.f0.forEach((f, i) => {
    if (f > 0) {
      t.push(i * track.hopSeconds);
      st.push(12 * Math.log2(f));
    }
  });
  if (st.length < MIN_VOICED_FRAMES) return undefined;
  const sorted = [...st].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  let near = 0;
  for (let i = 0; i < st.length; i++) {
    let d = ((st[i] ?? 0) - median) % 12;
    if (d > 6) d -= 12;
    if (d < -6) d += 12;
    if (Math.abs(d) < 0.5) near++;
    // Octave errors folded back for the slope too: a jump of 12 semitones is the tracker's.
    st[i] = median + d;
  }
  const n = st.length;
  const mt = t.reduce((s, v) => s + v, 0) / n;
  const ms = st.reduce((s, v) => s + v, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((t[i] ?? 0) - mt) * ((st[i] ?? 0) - ms);
    den += ((t[i] ?? 0) - mt) ** 2;
  }
  return { monotoneShare: near / n, f0SlopeSemitonesPerSecond: den > 0 ? num / den : 0 };
}
