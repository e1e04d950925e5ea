// Survey of the quality score (docs/quality-score.md): tts_quality_score of real engine speech
// (espeak-ng, flite, festival, the embedded voice) clean and degraded along the axes listeners
// complain about (tests/fixtures/audio/degradations.ts), on the calibration sentences (the score's
// constants were chosen on these) and the held-out ones. Prints Markdown: one table per engine,
// rows = degradations, columns = sentences, calibration and held-out marked; then the
// requirements checked on each part. Needs espeak-ng, flite, festival, sox, pocketsphinx.
//   npx tsx scripts/quality-survey.ts [--no-words] [--words-cache FILE] [--mos] [--mos-cache FILE]
// Each cell: the score of the measures alone, then [with the recogniser's words folded in] (the
// recogniser the exporter uses, on every clip with its text: 0.3-2.5 s a clip; --no-words skips
// it); --words-cache keeps the ratio per clip in FILE between runs. --mos also runs the predicted
// MOS (DNSMOS P.835, one window per clip, on the first sentence of each part: about a second of
// CPU per clip) and shows (the score with its OVRL and the words folded in), as the exporter does;
// --mos-cache keeps the OVRL per clip in FILE between runs.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { analyzeAudio } from "../src/audio/analyze.ts";
import { encodeWav16 } from "../src/audio/decode.ts";
import { Intelligibility } from "../src/audio/intelligibility.ts";
import { MosScorer } from "../src/audio/mos/index.ts";
import { withIntelligibility, withPredictedMos } from "../src/audio/quality-score.ts";
import {
  CALIBRATION_TEXTS,
  closeEngines,
  DEGRADATIONS,
  degrade,
  engineSpeech,
  HELD_OUT_TEXTS,
  SET_ENGINES,
} from "../tests/fixtures/audio/degradations.ts";

const args = process.argv.slice(2);
const withMos = args.includes("--mos");
const withWords = !args.includes("--no-words");
const cacheOf = (flag: string): { file: string | undefined; values: Record<string, number | null> } => {
  const at = args.indexOf(flag);
  const file = at >= 0 ? args[at + 1] : undefined;
  return { file, values: file && existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {} };
};
const mosCache = cacheOf("--mos-cache");
const wordsCache = cacheOf("--words-cache");
const scorer = withMos ? new MosScorer({ nice: 0, maxWindows: 1 }) : undefined;
const asr = withWords ? new Intelligibility({ timeoutMs: 120_000 }) : undefined;
if (asr && !asr.available()) {
  console.error("the recogniser is missing: apt-get install pocketsphinx pocketsphinx-en-us (or --no-words)");
  process.exit(1);
}

const PARTS = [
  ["cal", CALIBRATION_TEXTS],
  ["held", HELD_OUT_TEXTS],
] as const;

interface Cell {
  /** The measures alone. */
  score: number;
  /** With the recogniser's words folded in (the measures alone where the text gives no test). */
  words?: number;
  /** With the predicted OVRL and the words folded in. */
  folded?: number;
}
const results = new Map<string, Cell>(); // engine|part|sentence|degradation

for (const engine of SET_ENGINES) {
  for (const [part, texts] of PARTS) {
    for (const [ti, text] of texts.entries()) {
      const clean = await engineSpeech(engine, text);
      for (const d of DEGRADATIONS) {
        const y = degrade(clean, d);
        const q = analyzeAudio(y, { text }).qualityScore;
        const key = `${engine}|${part}|${ti}|${d.name}`;
        const cell: Cell = { score: q.score };
        let ratio: number | null | undefined;
        if (asr) {
          ratio = wordsCache.values[key];
          if (ratio === undefined) {
            ratio = (await asr.score(y, text))?.ratio ?? null;
            wordsCache.values[key] = ratio;
            if (wordsCache.file) writeFileSync(wordsCache.file, JSON.stringify(wordsCache.values));
          }
          cell.words = withIntelligibility(q, ratio ?? undefined).score;
        }
        if (scorer && ti === 0) {
          let ovrl = mosCache.values[key];
          if (ovrl === undefined) {
            const m = await scorer.score(encodeWav16(y.samples, y.sampleRate), undefined);
            ovrl = m.results[0]?.values.ovrl ?? null;
            mosCache.values[key] = ovrl;
            if (mosCache.file) writeFileSync(mosCache.file, JSON.stringify(mosCache.values));
          }
          if (ovrl !== null)
            cell.folded = withIntelligibility(withPredictedMos(q, ovrl), ratio ?? undefined).score;
        }
        results.set(key, cell);
      }
      console.error(`${engine} ${part} ${ti}`);
    }
  }
}
await scorer?.close();
await asr?.close();
await closeEngines();

const f = (c: Cell | undefined) =>
  c === undefined
    ? "—"
    : `${c.score.toFixed(2)}${c.words === undefined ? "" : ` [${c.words.toFixed(2)}]`}${c.folded === undefined ? "" : ` (${c.folded.toFixed(2)})`}`;
const out: string[] = [];
for (const engine of SET_ENGINES) {
  out.push(`#### ${engine}`, "");
  const cols = PARTS.flatMap(([part, texts]) =>
    texts.map((_, ti) => `${part === "cal" ? "C" : "H"}${ti + 1}`),
  );
  out.push(`| audio | kind | ${cols.join(" | ")} |`, `|---|---|${cols.map(() => "---").join("|")}|`);
  for (const d of DEGRADATIONS) {
    const cells = PARTS.flatMap(([part, texts]) =>
      texts.map((_, ti) => f(results.get(`${engine}|${part}|${ti}|${d.name}`))),
    );
    out.push(`| ${d.name} | ${d.kind} | ${cells.join(" | ")} |`);
  }
  out.push("");
}
// The requirements, per part: on the measures alone (played backwards left out: only the words
// see it), with the words folded in, and with the predicted MOS and the words where it ran.
for (const [part, texts] of PARTS) {
  const fails: string[] = [];
  for (const engine of SET_ENGINES)
    for (const ti of texts.keys()) {
      const get = (name: string) => results.get(`${engine}|${part}|${ti}|${name}`);
      for (const pick of ["score", "words", "folded"] as const) {
        const v = (name: string) => get(name)?.[pick];
        if (v("clean") === undefined) continue;
        const where = `${engine} ${part} ${ti + 1}${pick === "words" ? " with words" : pick === "folded" ? " with MOS and words" : ""}`;
        if ((v("clean") ?? 0) < 0.8) fails.push(`${where}: clean ${v("clean")?.toFixed(3)}`);
        const ladder = [30, 20, 10, 0].map((db) => v(`white noise ${db} dB`) ?? Number.NaN);
        for (let i = 1; i < ladder.length; i++)
          if (!((ladder[i] ?? Number.NaN) < (ladder[i - 1] ?? Number.NaN)))
            fails.push(`${where}: noise not falling ${ladder.map((x) => x.toFixed(4)).join(" > ")}`);
        for (const d of DEGRADATIONS)
          if (
            d.kind === "gross" &&
            (v(d.name) ?? 0) >= 0.8 &&
            (pick !== "score" || d.name !== "played backwards")
          )
            fails.push(`${where}: ${d.name} ${v(d.name)?.toFixed(3)}`);
      }
    }
  out.push(
    `${part === "cal" ? "Calibration" : "Held-out"} part: ${fails.length === 0 ? "every requirement met" : fails.join("; ")}.`,
    "",
  );
}
console.log(out.join("\n"));
