// Repeated audio: stretches that are exact copies of audio a little earlier, as a jitter buffer
// without concealment plays a lost packet (the previous packet again), or a stuck buffer loops.
// Speech never repeats itself sample for sample over 8 ms (a synthesiser that lengthens a vowel
// overlap-adds pitch periods, it does not copy 8 ms verbatim). The samples are quantised to 16 bit;
// every 8 ms window (one per sample, rolling hash) that equals one starting on a 1 ms grid 1-500 ms
// earlier, the nearest such, and whose original was not itself equal to the audio one more lag earlier (a periodic
// signal: hum, a tone) marks its samples repeated. Only loud windows count (see minEnergy); the
// share is over samples outside digital silence.

const WINDOW_SECONDS = 0.008;
const STEP_SECONDS = 0.001;
/** Recent grid starts kept per hash (a steady signal fills its buckets). */
const MAX_PER_HASH = 8;
/** Copies closer than this are not told apart from a steady waveform. */
const MIN_LAG_SECONDS = 0.001;
const MEMORY_SECONDS = 0.5;
const LOUD_RANGE_DB = 20;
const BASE = 0x01000193;

export interface Repeats {
  /** Share of the samples outside digital silence that repeat earlier audio. */
  share: number;
}

export function detectRepeats(x: Float32Array, rate: number): Repeats | undefined {
  const w = Math.max(8, Math.round(rate * WINDOW_SECONDS));
  const minLag = Math.max(1, Math.round(rate * MIN_LAG_SECONDS));
  const step = Math.max(1, Math.round(rate * STEP_SECONDS));
  const memory = Math.round(rate * MEMORY_SECONDS);
  if (x.length < 4 * w) return undefined;
  const q = new Int32Array(x.length);
  for (let i = 0; i < x.length; i++)
    q[i] = Math.max(-32768, Math.min(32767, Math.round((x[i] ?? 0) * 32768)));
  // BASE^w mod 2^32, to take the oldest sample out of the rolling hash.
  let top = 1;
  for (let i = 0; i < w; i++) top = Math.imul(top, BASE);
  // Only loud windows count (within LOUD_RANGE_DB of the 95th percentile of 10 ms levels): a
  // replayed packet of speech is loud; a faint steady background (hum in the closures of a stop)
  // repeats across pauses at multiples of its period.
  const frame = Math.max(1, Math.round(rate * 0.01));
  const levels: number[] = [];
  for (let f = 0; f + frame <= q.length; f += frame) {
    let sq = 0;
    for (let i = f; i < f + frame; i++) sq += (q[i] ?? 0) ** 2;
    levels.push(sq / frame);
  }
  levels.sort((a, b) => a - b);
  const minEnergy = w * (levels[Math.floor(levels.length * 0.95)] ?? 0) * 10 ** (-LOUD_RANGE_DB / 10);
  // Window starts on a 1 ms grid by hash: a copy at any lag starts on the grid somewhere in the
  // original, so looking every sample up against grid starts finds it (1/step of the work).
  const starts = new Map<number, number[]>();
  const repeated = new Uint8Array(x.length);
  const equal = (a: number, b: number): boolean => {
    for (let i = 0; i < w; i++) if (q[a + i] !== q[b + i]) return false;
    return true;
  };
  let h = 0;
  let energy = 0;
  for (let i = 0; i < x.length; i++) {
    const v = q[i] ?? 0;
    h = (Math.imul(h, BASE) + v) | 0;
    energy += v * v;
    if (i >= w) {
      const old = q[i - w] ?? 0;
      h = (h - Math.imul(old, top)) | 0;
      energy -= old * old;
    }
    const t = i - w + 1;
    if (t < 0) continue;
    const list = starts.get(h);
    if (list && energy > minEnergy && energy > w) {
      // The nearest earlier copy: a replayed packet is a copy of audio that was not itself a copy
      // one lag before; a periodic signal (a tone, a buzz, a whole number of samples per period) is.
      for (let k = list.length - 1; k >= 0; k--) {
        const s = list[k] ?? 0;
        const lag = t - s;
        if (lag > memory) break;
        if (lag < minLag || !equal(s, t)) continue;
        const periodic = s - lag >= 0 && equal(s - lag, s);
        if (!periodic) repeated.fill(1, t, t + w);
        break;
      }
    }
    if (t % step === 0) {
      if (list) {
        list.push(t);
        if (list.length > MAX_PER_HASH) list.shift();
      } else starts.set(h, [t]);
    }
  }
  let counted = 0;
  let rep = 0;
  for (let i = 0; i < x.length; i++)
    if (Math.abs(q[i] ?? 0) > 1) {
      counted++;
      rep += repeated[i] ?? 0;
    }
  return counted === 0 ? undefined : { share: rep / counted };
}
