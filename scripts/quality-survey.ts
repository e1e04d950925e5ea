// Survey of the quality score (docs/quality-score.md): tts_quality_score of real engine speech
// (espeak-ng, flite, festival, the embedded voice) clean and degraded along the axes listeners
// complain about (tests/fixtures/audio/degradations.ts), on the calibration sentences (the score's
// constants were chosen on these) and the held-out ones. Prints Markdown: one table per engine,
// rows = degradations, columns = sentences, calibration and held-out marked; then the
// requirements checked on each part. Needs espeak-ng, flite, festival, sox.
//   npx tsx scripts/quality-survey.ts [--mos] [--mos-cache FILE]
// --mos also runs the predicted MOS (DNSMOS P.835, one window per clip, on the first sentence of
// each part: about a second of CPU per clip) and shows the score with its OVRL folded in, as the
// exporter does; --mos-cache keeps the OVRL per clip in FILE between runs.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { analyzeAudio } from "../src/audio/analyze.ts";
import { encodeWav16 } from "../src/audio/decode.ts";
import { MosScorer } from "../src/audio/mos/index.ts";
import { withPredictedMos } from "../src/audio/quality-score.ts";
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
const cacheAt = args.indexOf("--mos-cache");
const cacheFile = cacheAt >= 0 ? args[cacheAt + 1] : undefined;
const cache: Record<string, number | null> =
  cacheFile && existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, "utf8")) : {};
const scorer = withMos ? new MosScorer({ nice: 0, maxWindows: 1 }) : undefined;

const PARTS = [
  ["cal", CALIBRATION_TEXTS],
  ["held", HELD_OUT_TEXTS],
] as const;

interface Cell {
  score: number;
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
        if (scorer && ti === 0) {
          let ovrl = cache[key];
          if (ovrl === undefined) {
            const m = await scorer.score(encodeWav16(y.samples, y.sampleRate), undefined);
            ovrl = m.results[0]?.values.ovrl ?? null;
            cache[key] = ovrl;
            if (cacheFile) writeFileSync(cacheFile, JSON.stringify(cache));
          }
          if (ovrl !== null) cell.folded = withPredictedMos(q, ovrl).score;
        }
        results.set(key, cell);
      }
      console.error(`${engine} ${part} ${ti}`);
    }
  }
}
await scorer?.close();
await closeEngines();

const f = (c: Cell | undefined) =>
  c === undefined ? "—" : `${c.score.toFixed(2)}${c.folded === undefined ? "" : ` (${c.folded.toFixed(2)})`}`;
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
// The requirements, per part (with and without the predicted MOS where it ran).
for (const [part, texts] of PARTS) {
  const fails: string[] = [];
  for (const engine of SET_ENGINES)
    for (const ti of texts.keys()) {
      const get = (name: string) => results.get(`${engine}|${part}|${ti}|${name}`);
      for (const pick of ["score", "folded"] as const) {
        const v = (name: string) => get(name)?.[pick];
        if (v("clean") === undefined) continue;
        const where = `${engine} ${part} ${ti + 1}${pick === "folded" ? " with MOS" : ""}`;
        if ((v("clean") ?? 0) < 0.8) fails.push(`${where}: clean ${v("clean")?.toFixed(3)}`);
        const ladder = [30, 20, 10, 0].map((db) => v(`white noise ${db} dB`) ?? Number.NaN);
        for (let i = 1; i < ladder.length; i++)
          if (!((ladder[i] ?? Number.NaN) < (ladder[i - 1] ?? Number.NaN)))
            fails.push(`${where}: noise not falling ${ladder.map((x) => x.toFixed(4)).join(" > ")}`);
        for (const d of DEGRADATIONS)
          if (d.kind === "gross" && (v(d.name) ?? 0) >= 0.8)
            fails.push(`${where}: ${d.name} ${v(d.name)?.toFixed(3)}`);
      }
    }
  out.push(
    `${part === "cal" ? "Calibration" : "Held-out"} part: ${fails.length === 0 ? "every requirement met" : fails.join("; ")}.`,
    "",
  );
}
console.log(out.join("\n"));
