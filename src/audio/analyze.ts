// analyzeAudio: every measure of docs/audio-analysis.md over one decoded clip, as a plain
// JSON-serialisable object. Measures that do not apply (no voiced frames → no F0; not a tone →
// no THD/SINAD; no text → no truncation) are absent, never 0 or NaN.

import { detectClicks } from "./clicks.ts";
import { finiteSample, MAX_SAMPLE_MAGNITUDE } from "./decode.ts";
import { detectDropouts } from "./dropouts.ts";
import { envelopeSkew } from "./envelope.ts";
import type { DecodedAudio } from "./format.ts";
import { hnr } from "./hnr.ts";
import { detectHum } from "./hum.ts";
import { intonation } from "./intonation.ts";
import { activity, clipping, levels } from "./level.ts";
import { pitchStats, yinTrack } from "./pitch.ts";
import { type QualityScore, qualityScore } from "./quality-score.ts";
import { detectRepeats } from "./repeats.ts";
import { vadSnr, wadaSnr } from "./snr.ts";
import { spectralShape } from "./spectral.ts";
import { toneAnalysis } from "./tone.ts";
import { truncation } from "./truncation.ts";

export interface AudioAnalysis {
  sampleRate: number;
  channels: number;
  durationSeconds: number;
  peak: number;
  peakDbfs: number;
  rmsDbfs: number;
  dcOffset: number;
  clippingRatio: number;
  /** Share of samples beyond full scale (|x| > 1: float sources only). */
  oversRatio: number;
  clippedRuns: number;
  longestClippedRunSamples: number;
  clicks: number;
  clicksPerMinute: number;
  silenceRatio: number;
  leadingSilenceSeconds: number;
  trailingSilenceSeconds: number;
  speechSeconds: number;
  /** Blind SNR, WADA (Kim & Stern 2008), dB. */
  snrDb?: number;
  /** Blind SNR from an energy VAD, dB. */
  snrVadDb?: number;
  hnrDb?: number;
  spectralCentroidHz?: number;
  spectralRolloffHz?: number;
  spectralFlatness?: number;
  f0MeanHz?: number;
  f0SpreadSemitones?: number;
  jitter?: number;
  shimmer?: number;
  voicedRatio?: number;
  /** Holes cut into speech per second of speech span (dropouts.ts). */
  dropoutsPerSecond?: number;
  /** Share of the audio that replays audio just before it (repeats.ts). */
  repeatShare?: number;
  /** Mains hum (50/60 Hz lines) against the clip's power, dB (hum.ts). */
  humDb?: number;
  /** Share of voiced frames on the median pitch, octaves folded (intonation.ts). */
  monotoneShare?: number;
  /** F0 slope over the clip, semitones per second (intonation.ts); reported, not in the score. */
  f0SlopeSemitonesPerSecond?: number;
  /** Skewness of the 5 ms level's changes: > 0 when onsets are faster than decays (envelope.ts); reported, not in the score. */
  envelopeSkew?: number;
  /** Tone measures, only when one harmonic series dominates the spectrum. */
  toneFundamentalHz?: number;
  sinadDb?: number;
  thd?: number;
  /** Only with a text. */
  expectedMinDurationSeconds?: number;
  truncationRatio?: number;
  truncated?: boolean;
  qualityScore: QualityScore;
}

/**
 * The samples with NaN/±Infinity replaced by 0 and magnitudes capped at MAX_SAMPLE_MAGNITUDE
 * (decodeAudio already does this; callers may build DecodedAudio themselves). No copy when clean.
 */
function finite(x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) {
    const v = x[i] ?? 0;
    if (!Number.isFinite(v) || Math.abs(v) > MAX_SAMPLE_MAGNITUDE) {
      const y = x.slice();
      for (let j = i; j < y.length; j++) y[j] = finiteSample(y[j] ?? 0);
      return y;
    }
  }
  return x;
}

/** Share of spectral power in one harmonic series above which the clip counts as a tone. */
const TONE_SHARE = 0.3;
/** F0 spread above which a clip is not analysed as a tone (a steady tone's is ~0; speech's is 1-4). */
const TONE_MAX_SPREAD_SEMITONES = 0.5;

export function analyzeAudio(decoded: DecodedAudio, options: { text?: string } = {}): AudioAnalysis {
  const { sampleRate: rate } = decoded;
  const x = finite(decoded.samples);
  const lv = levels(x);
  const clip = clipping(x);
  const act = activity(x, rate);
  const clicks = detectClicks(x, rate);
  const out: AudioAnalysis = {
    sampleRate: rate,
    channels: decoded.channels,
    durationSeconds: decoded.durationSeconds,
    peak: lv.peak,
    peakDbfs: lv.peakDbfs,
    rmsDbfs: lv.rmsDbfs,
    dcOffset: lv.dcOffset,
    clippingRatio: clip.clippingRatio,
    oversRatio: lv.oversRatio,
    clippedRuns: clip.clippedRuns,
    longestClippedRunSamples: clip.longestClippedRun,
    clicks: clicks.count,
    clicksPerMinute: clicks.perMinute,
    silenceRatio: act.silenceRatio,
    leadingSilenceSeconds: act.leadingSilenceSeconds,
    trailingSilenceSeconds: act.trailingSilenceSeconds,
    speechSeconds: act.activeSpanSeconds,
    qualityScore: { score: 0, version: "", components: {} },
  };
  const snr = wadaSnr(x, rate);
  if (snr !== undefined) out.snrDb = snr;
  const snrVad = vadSnr(x, rate);
  if (snrVad !== undefined) out.snrVadDb = snrVad;
  const frameLen = act.frameSeconds * rate;
  const spec = spectralShape(x, rate, (start, end) => {
    const a = Math.floor(start / frameLen);
    const b = Math.min(act.active.length - 1, Math.floor((end - 1) / frameLen));
    for (let f = a; f <= b; f++) if (act.active[f]) return true;
    return false;
  });
  if (spec) {
    out.spectralCentroidHz = spec.centroidHz;
    out.spectralRolloffHz = spec.rolloffHz;
    out.spectralFlatness = spec.flatness;
  }
  const track = yinTrack(x, rate, {
    hopSeconds: 0.02,
    active: act.active,
    activityFrameSeconds: act.frameSeconds,
  });
  let activeFrames = 0;
  for (const a of act.active) activeFrames += a;
  const pitch = pitchStats(track, Math.round((activeFrames * act.frameSeconds) / track.hopSeconds));
  if (pitch) {
    out.f0MeanHz = pitch.f0MeanHz;
    out.f0SpreadSemitones = pitch.f0SpreadSemitones;
    out.jitter = pitch.jitter;
    out.shimmer = pitch.shimmer;
    out.voicedRatio = Math.min(1, pitch.voicedRatio);
  }
  // HNR on 20 ms hops (Praat: 10 ms) and only where YIN found voicing (±1 frame): a third of the
  // cost, and the mean over voiced frames is what is reported anyway.
  const yinHop = track.hopSeconds * rate;
  const h = hnr(x, rate, {
    hopSeconds: 0.02,
    include: (centre) => {
      const f = Math.round((centre - yinHop / 2) / yinHop);
      return (track.f0[f] ?? 0) > 0 || (track.f0[f - 1] ?? 0) > 0 || (track.f0[f + 1] ?? 0) > 0;
    },
  });
  if (h) out.hnrDb = h.hnrDb;
  const into = intonation(track);
  if (into) {
    out.monotoneShare = into.monotoneShare;
    out.f0SlopeSemitonesPerSecond = into.f0SlopeSemitonesPerSecond;
  }
  const drops = detectDropouts(x, rate);
  if (drops) out.dropoutsPerSecond = drops.perSecond;
  const reps = detectRepeats(x, rate);
  if (reps) out.repeatShare = reps.share;
  const hum = detectHum(x, rate);
  if (hum) out.humDb = hum.humDb;
  const skew = envelopeSkew(x, rate);
  if (skew !== undefined) out.envelopeSkew = skew;
  // Tone measures need a whole-signal FFT; speech, whose pitch clearly moves, cannot be a tone.
  const movingPitch =
    out.f0SpreadSemitones !== undefined && out.f0SpreadSemitones > TONE_MAX_SPREAD_SEMITONES;
  const tone = movingPitch ? undefined : toneAnalysis(x, rate);
  if (tone && tone.harmonicShare >= TONE_SHARE) {
    out.toneFundamentalHz = tone.fundamentalHz;
    out.sinadDb = tone.sinadDb;
    out.thd = tone.thd;
  }
  if (options.text !== undefined) {
    const tr = truncation(options.text, act.activeSpanSeconds);
    if (tr) {
      out.expectedMinDurationSeconds = tr.expectedMinSeconds;
      out.truncationRatio = tr.ratio;
      out.truncated = tr.truncated;
    }
  }
  out.qualityScore = qualityScore(out);
  return out;
}
