import { readFile } from "node:fs/promises";
import { type AudioAnalysis, analyzeAudio } from "../audio/analyze.ts";
import { MIN_PHRASE_FIT, MIN_TESTED_WORDS } from "../audio/closed-set.ts";
import { decodeAudio } from "../audio/decode.ts";
import type { AudioFormat } from "../audio/format.ts";
import { Intelligibility, type IntelligibilityResult } from "../audio/intelligibility.ts";
import { type MosModelResult, MosScorer } from "../audio/mos/index.ts";
import { withIntelligibility, withPredictedMos } from "../audio/quality-score.ts";

export interface AnalyzeReport {
  readonly file: string;
  readonly analysis: AudioAnalysis;
  readonly intelligibility?: IntelligibilityResult;
  readonly intelligibilityUnavailable?: string;
  /** Predicted MOS per model (absent with --no-mos). */
  readonly predictedMos?: MosModelResult[];
  /** Why there is no predicted MOS (too short, silence, model or runtime missing). */
  readonly predictedMosUnavailable?: string;
}

/** Predicted MOS of the file, in the same worker the exporter uses; the reason when there is none. */
async function predictMos(
  bytes: Uint8Array,
  format: AudioFormat | undefined,
): Promise<{ predictedMos: MosModelResult[] } | { predictedMosUnavailable: string }> {
  let reason: string | undefined;
  const scorer = new MosScorer({
    maxWindows: 30,
    logger: { warn: (msg, fields) => (reason = `${msg}: ${String(fields?.reason ?? fields?.error ?? "")}`) },
  });
  try {
    const o = await scorer.score(bytes, format);
    if (o.results.length > 0) return { predictedMos: o.results };
    return { predictedMosUnavailable: reason ?? o.absent ?? "no value" };
  } finally {
    await scorer.close();
  }
}

import { DEFAULT_ANALYZE_MAX_SECONDS } from "./analyze-defaults.ts";

export { DEFAULT_ANALYZE_MAX_SECONDS };

/** Analyses one file: every measure, and the recogniser's verdict when a text is given. */
export async function analyzeFile(
  file: string,
  options: { text?: string; format?: AudioFormat; maxSeconds?: number; mos?: boolean },
): Promise<AnalyzeReport> {
  const bytes = new Uint8Array(await readFile(file));
  const decoded = decodeAudio(bytes, options.format);
  const maxSeconds = options.maxSeconds ?? DEFAULT_ANALYZE_MAX_SECONDS;
  if (decoded.durationSeconds > maxSeconds)
    throw new RangeError(
      `the audio is ${decoded.durationSeconds.toFixed(1)} s long, over --max-seconds ${maxSeconds} (raise it to analyse longer audio)`,
    );
  const analysis = analyzeAudio(decoded, options.text === undefined ? {} : { text: options.text });
  const mos: { predictedMos?: MosModelResult[]; predictedMosUnavailable?: string } =
    options.mos === false ? {} : await predictMos(bytes, options.format);
  // As the exporter does: quality score v4 folds in the predicted OVRL when there is one, and the
  // recogniser's intelligibility (component words) when the text is given and it gave a value.
  if (mos.predictedMos)
    analysis.qualityScore = withPredictedMos(
      analysis.qualityScore,
      mos.predictedMos.find((m) => m.model === "dnsmos_p835")?.values.ovrl,
    );
  if (options.text === undefined) return { file, analysis, ...mos };
  let unavailable: string | undefined;
  const asr = new Intelligibility({
    warn: (_msg: string, fields?: Record<string, unknown>) => {
      unavailable = String(fields?.reason ?? "recogniser not installed");
    },
  });
  const r = await asr.score(decoded, options.text).finally(() => asr.close());
  analysis.qualityScore = withIntelligibility(analysis.qualityScore, r?.ratio);
  if (!r && unavailable === undefined)
    unavailable = `text too short for a test: fewer than ${MIN_TESTED_WORDS} words with rhymes in the dictionary`;
  return {
    file,
    analysis,
    ...mos,
    ...(r && { intelligibility: r }),
    ...(unavailable !== undefined && { intelligibilityUnavailable: unavailable }),
  };
}

type Row = [label: string, value: string, note?: string | undefined];

const db = (v: number | undefined) => (v === undefined ? "—" : `${v.toFixed(1)} dB`);
const hz = (v: number | undefined) => (v === undefined ? "—" : `${v.toFixed(1)} Hz`);
const pct = (v: number | undefined, digits = 2) => (v === undefined ? "—" : `${(v * 100).toFixed(digits)} %`);
const num = (v: number | undefined, digits = 3) => (v === undefined ? "—" : v.toFixed(digits));

/** The human-readable table of `tts-monitor analyze`; `qualityMin` is the config's thresholds.quality_score_min. */
export function formatReport(r: AnalyzeReport, qualityMin: number): string {
  const a = r.analysis;
  const q = a.qualityScore;
  const rows: Row[] = [
    ["file", r.file],
    ["format", `${a.sampleRate} Hz, ${a.channels} channel(s), ${a.durationSeconds.toFixed(3)} s`],
    [
      "quality score",
      `${q.score.toFixed(3)}`,
      `formula v${q.version}, docs/quality-score.md; ${q.score < qualityMin ? "BELOW" : "not below"} thresholds.quality_score_min ${qualityMin} (TTSQualityScoreLow)`,
    ],
    ...Object.entries(q.components).map(([k, v]): Row => [`  component ${k}`, num(v)]),
    ["SNR (WADA, blind)", db(a.snrDb), "speech model; meaningless for tones"],
    ["SNR (energy VAD, blind)", db(a.snrVadDb)],
    ["HNR", db(a.hnrDb)],
    [
      "SINAD (tones)",
      db(a.sinadDb),
      a.toneFundamentalHz === undefined ? "not a tone" : `tone at ${a.toneFundamentalHz.toFixed(1)} Hz`,
    ],
    ["THD (tones)", num(a.thd, 4)],
    ["peak", `${num(a.peak, 4)} (${a.peakDbfs.toFixed(1)} dBFS)`],
    ["RMS level", `${a.rmsDbfs.toFixed(1)} dBFS`],
    ["DC offset", num(a.dcOffset, 5)],
    [
      "clipping",
      pct(a.clippingRatio, 3),
      `${a.clippedRuns} run(s), longest ${a.longestClippedRunSamples} samples`,
    ],
    ["over full scale", pct(a.oversRatio, 3), "samples with |x| > 1 (float sources): clip on playback"],
    ["clicks", `${a.clicks} (${a.clicksPerMinute.toFixed(1)} per minute)`],
    [
      "silence",
      pct(a.silenceRatio, 1),
      `leading ${a.leadingSilenceSeconds.toFixed(3)} s, trailing ${a.trailingSilenceSeconds.toFixed(3)} s`,
    ],
    ["speech", `${a.speechSeconds.toFixed(3)} s`],
    ["spectral centroid", hz(a.spectralCentroidHz)],
    ["spectral roll-off (85 %)", hz(a.spectralRolloffHz)],
    ["spectral flatness", num(a.spectralFlatness, 4)],
    [
      "F0 mean (YIN)",
      hz(a.f0MeanHz),
      a.voicedRatio === undefined ? undefined : `voiced ${pct(a.voicedRatio, 0)}`,
    ],
    ["F0 spread", a.f0SpreadSemitones === undefined ? "—" : `${a.f0SpreadSemitones.toFixed(2)} semitones`],
    ["jitter", pct(a.jitter)],
    ["shimmer", pct(a.shimmer)],
  ];
  if (a.truncationRatio !== undefined) {
    rows.push([
      "truncation",
      a.truncated ? "TRUNCATED" : "no",
      `duration / expected minimum ${num(a.truncationRatio, 2)} (minimum ${num(a.expectedMinDurationSeconds, 2)} s)`,
    ]);
  }
  for (const m of r.predictedMos ?? []) {
    const v = (d: string) => num(m.values[d], 2);
    rows.push([
      `predicted MOS (${m.model})`,
      `OVRL ${v("ovrl")}  SIG ${v("sig")}  BAK ${v("bak")}`,
      `1-5, a prediction of P.835 ratings (noise-suppression data), not naturalness; ${m.windows} of ${m.windowsAvailable} window(s)`,
    ]);
  }
  if (r.predictedMosUnavailable !== undefined) rows.push(["predicted MOS", "—", r.predictedMosUnavailable]);
  if (r.intelligibility) {
    rows.push([
      "intelligibility",
      pct(r.intelligibility.ratio, 0),
      `${r.intelligibility.asr} closed-set test, chance-corrected; ${r.intelligibility.hits} of ${r.intelligibility.testedWords} tested words right; heard "${r.intelligibility.recognised}"; acoustic fit per phrase ${fits(r.intelligibility)} (a chosen phrase counts from ${MIN_PHRASE_FIT})${r.intelligibility.outOfDictionary.length > 0 ? `; not in the dictionary, untested: ${r.intelligibility.outOfDictionary.join(" ")}` : ""}`,
    ]);
  } else if (r.intelligibilityUnavailable) {
    rows.push(["intelligibility", "—", r.intelligibilityUnavailable]);
  }
  const width = Math.max(...rows.map(([l]) => l.length));
  return `${rows.map(([l, v, n]) => `${l.padEnd(width)}  ${v}${n ? `   (${n})` : ""}`).join("\n")}\n`;
}

/** Each tested phrase's fit per frame, "-" where the recogniser gave no alignment. */
function fits(r: IntelligibilityResult): string {
  return r.phraseFit.map((f) => (Number.isFinite(f) ? f.toFixed(0) : "-")).join(", ") || "-";
}
