// Blind SNR estimates for speech (no clean reference).

// WADA-SNR (Kim & Stern, "Robust signal-to-noise ratio estimation based on waveform amplitude
// distribution analysis", Interspeech 2008). Speech amplitudes are modelled as Gamma(shape 0.4),
// noise as Gaussian; G = ln(E|x|) - E(ln|x|) grows monotonically with the SNR. This is the table of
// G for SNR = -20..100 dB published with the authors' MATLAB implementation (LabROSA snreval).
const WADA_G = [
  0.40974774, 0.40986926, 0.40998566, 0.40969089, 0.40986186, 0.40999006, 0.41027138, 0.41052627, 0.41101024,
  0.41143264, 0.41231718, 0.41337272, 0.41526426, 0.4178192, 0.42077252, 0.42452799, 0.42918886, 0.43510373,
  0.44234195, 0.45161485, 0.46221153, 0.47491647, 0.48883809, 0.50509236, 0.52353709, 0.54372088, 0.56532427,
  0.58847532, 0.61346212, 0.63954496, 0.66750818, 0.69583724, 0.72454762, 0.75414799, 0.78323148, 0.81240985,
  0.84219775, 0.87166406, 0.90030504, 0.92880418, 0.95655449, 0.9835349, 1.01047155, 1.0362095, 1.06136425,
  1.08579312, 1.1094819, 1.13277995, 1.15472826, 1.17627308, 1.19703503, 1.21671694, 1.23535898, 1.25364313,
  1.27103891, 1.28718029, 1.30302865, 1.31839527, 1.33294817, 1.34700935, 1.3605727, 1.37345513, 1.38577122,
  1.39733504, 1.40856397, 1.41959619, 1.42983624, 1.43958467, 1.44902176, 1.45804831, 1.46669568, 1.47486938,
  1.48269965, 1.49034339, 1.49748214, 1.50435106, 1.51076426, 1.51698915, 1.5229097, 1.528578, 1.53389835,
  1.5391211, 1.5439065, 1.54858517, 1.55310776, 1.55744391, 1.56164927, 1.56566348, 1.56938671, 1.57307767,
  1.57654764, 1.57980083, 1.58304129, 1.58602496, 1.58880681, 1.59162477, 1.5941969, 1.59693155, 1.599446,
  1.60185011, 1.60408668, 1.60627134, 1.60826199, 1.61004547, 1.61192472, 1.61369656, 1.61534074, 1.61688905,
  1.61838916, 1.61985374, 1.62135878, 1.62268119, 1.62390423, 1.62513143, 1.62632463, 1.6274027, 1.62842767,
  1.62945532, 1.6303307, 1.63128026, 1.63204102,
];
const WADA_MIN_DB = -20;
const WADA_MAX_DB = 100;

/**
 * Digital silence: samples within one 16-bit step of zero. TTS engines pad and separate sentences
 * with it (exact zeros, or ±1 LSB of dither). It carries neither speech nor noise, but WADA reads
 * zeros as infinitely clean (ln|x| → the floor), so a few hundred milliseconds of padding made
 * speech at 0 dB SNR read 100 dB. Both estimators leave such runs out.
 */
export const DIGITAL_SILENCE_LEVEL = 1 / 32768;
/** Shorter quiet runs stay: closures and short gaps inside words are part of the waveform. */
export const DIGITAL_SILENCE_MIN_SECONDS = 0.02;
/**
 * Runs of up to this many samples below half a 16-bit step are zero crossings (quantised to 0, or a
 * tone sampled in phase): their log-amplitude is unknown.
 */
const ISOLATED_ZEROS = 2;
const HALF_LSB = 0.5 / 32768;

/**
 * 1 for the samples WADA leaves out: runs of ≥ minRun samples with |x| ≤ DIGITAL_SILENCE_LEVEL
 * (digital silence), and isolated near-zeros (runs of ≤ 2 samples below half a 16-bit step). Such
 * a sample's log-amplitude is unknown, and the 1e-10 floor made each one a huge outlier: a sine
 * sampled in phase (every 4th sample 0 at fs/8) read 100 dB and the same sine off phase -20 dB.
 */
export function digitalSilenceMask(x: Float32Array, minRun: number): Uint8Array {
  const mask = new Uint8Array(x.length);
  let start = -1;
  let zeros = -1;
  for (let i = 0; i <= x.length; i++) {
    const v = i < x.length ? Math.abs(x[i] ?? 0) : Number.POSITIVE_INFINITY;
    if (v < HALF_LSB) {
      if (zeros < 0) zeros = i;
    } else if (zeros >= 0) {
      if (i - zeros <= ISOLATED_ZEROS) mask.fill(1, zeros, i);
      zeros = -1;
    }
    if (v <= DIGITAL_SILENCE_LEVEL) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start >= minRun) mask.fill(1, start, i);
      start = -1;
    }
  }
  return mask;
}

/**
 * WADA-SNR in dB, clamped to [-20, 100], over the samples outside digital silence (runs of at least
 * 20 ms at `rate`) and isolated zeros; undefined when nothing else is left.
 */
export function wadaSnr(x: Float32Array, rate = 16000): number | undefined {
  const eps = 1e-10;
  const silent = digitalSilenceMask(x, Math.max(1, Math.round(rate * DIGITAL_SILENCE_MIN_SECONDS)));
  let peak = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    if (silent[i]) continue;
    n++;
    peak = Math.max(peak, Math.abs(x[i] ?? 0));
  }
  if (n === 0 || !(peak > eps)) return undefined;
  let sumAbs = 0;
  let sumLog = 0;
  // Σ ln a as ln of products of up to 16 amplitudes (each in [1e-10, 1], so a product stays above
  // 1e-160, far from underflow): one logarithm per 16 samples instead of one per sample.
  let product = 1;
  let inProduct = 0;
  for (let i = 0; i < x.length; i++) {
    if (silent[i]) continue;
    const a = Math.max(Math.abs(x[i] ?? 0) / peak, eps);
    sumAbs += a;
    product *= a;
    if (++inProduct === 16) {
      sumLog += Math.log(product);
      product = 1;
      inProduct = 0;
    }
  }
  sumLog += Math.log(product);
  const g = Math.log(sumAbs / n) - sumLog / n;
  if (g <= (WADA_G[0] ?? 0)) return WADA_MIN_DB;
  for (let i = 0; i < WADA_G.length - 1; i++) {
    const lo = WADA_G[i] ?? 0;
    const hi = WADA_G[i + 1] ?? 0;
    if (g >= lo && g < hi) return WADA_MIN_DB + i + (g - lo) / (hi - lo);
  }
  return WADA_MAX_DB;
}

/**
 * Energy-VAD SNR: the noise power is the mean power of the quietest 20 ms frames (the pauses
 * any utterance has), speech power the whole-signal power minus that noise power. Frames of digital
 * silence (every sample within one 16-bit step of zero) are left out: padding holds no noise
 * sample, and counting it as the noise floor made noisy speech read 100 dB. A dB floor is reported
 * instead of -Infinity, and 100 dB when the quietest frames are (nearly) noiseless.
 */
export function vadSnr(x: Float32Array, rate: number): number | undefined {
  const len = Math.max(1, Math.round(rate * 0.02));
  const all = Math.floor(x.length / len);
  if (all < 10) return undefined;
  const p = new Float64Array(all);
  let frames = 0;
  let total = 0;
  for (let f = 0; f < all; f++) {
    let s = 0;
    let loud = false;
    for (let i = f * len; i < (f + 1) * len; i++) {
      const v = x[i] ?? 0;
      s += v * v;
      if (Math.abs(v) > DIGITAL_SILENCE_LEVEL) loud = true;
    }
    if (!loud) continue;
    p[frames++] = s / len;
    total += s;
  }
  if (frames < 10) return undefined;
  total /= frames * len;
  if (!(total > 0)) return undefined;
  const q = p.subarray(0, frames).sort();
  // Quietest 10 % of frames, then the frames within 3 dB of their median: noise-only frames of
  // stationary noise fluctuate by less than that, speech onsets do not.
  const k = Math.max(1, Math.floor(frames * 0.1));
  const ref = q[Math.floor(k / 2)] ?? 0;
  let noise = 0;
  let count = 0;
  for (let f = 0; f < frames; f++) {
    const v = q[f] ?? 0;
    if (v > ref * 2) break;
    noise += v;
    count++;
  }
  noise /= Math.max(1, count);
  if (noise <= total * 1e-10) return 100;
  const speech = total - noise;
  if (speech <= 0) return -20;
  return Math.max(-20, Math.min(100, 10 * Math.log10(speech / noise)));
}
