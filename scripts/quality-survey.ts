// Survey for the quality score: the current tts_quality_score and the predicted MOS (DNSMOS P.835
// OVRL) of real engine speech degraded along the axes listeners complain about. Prints a Markdown
// table (docs/quality-score.md "What version 2 is blind to"). Needs espeak-ng, flite, festival, sox.
//   npx tsx scripts/quality-survey.ts
import { execFileSync } from "node:child_process";
import { analyzeAudio } from "../src/audio/analyze.ts";
import { decodeAudio, encodeWav16 } from "../src/audio/decode.ts";
import { MosScorer } from "../src/audio/mos/index.ts";
import { addWhiteNoise, sine } from "../src/audio/signals.ts";
import { PROBE_TEXT, synthesizeWav } from "../tests/fixtures/audio/speech.ts";

type Degrade = (x: Float32Array, rate: number) => Float32Array;

/** A sox effect chain over the samples, returned at the clip's own rate (band limits kept). */
const sox = (x: Float32Array, rate: number, effect: string[]): Float32Array => {
  const out = execFileSync(
    "sox",
    ["-t", "wav", "-", "-t", "wav", "-b", "16", "-", ...effect, "rate", String(rate)],
    {
      input: encodeWav16(x, rate),
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return decodeAudio(new Uint8Array(out)).samples;
};

const DEGRADATIONS: Array<[string, Degrade]> = [
  ["clean", (x) => x],
  ["white noise 30 dB", (x) => addWhiteNoise(x, 30, 1)],
  ["white noise 20 dB", (x) => addWhiteNoise(x, 20, 1)],
  ["white noise 10 dB", (x) => addWhiteNoise(x, 10, 1)],
  ["white noise 0 dB", (x) => addWhiteNoise(x, 0, 1)],
  [
    "dropouts (80 ms of every 160 ms)",
    (x, rate) => {
      const y = x.slice();
      const p = Math.round(0.16 * rate);
      for (let i = 0; i < y.length; i++) if (i % p >= p / 2) y[i] = 0;
      return y;
    },
  ],
  ["muffled (low-pass 800 Hz)", (x, rate) => sox(x, rate, ["sinc", "-800"])],
  ["telephone band (300-3400 Hz, 8 kHz)", (x, rate) => sox(x, rate, ["sinc", "300-3400", "rate", "8000"])],
  [
    "mains hum 50 Hz (-20 dB re peak)",
    (x, rate) => {
      const h = sine(50, rate, x.length / rate, 0.1);
      return x.map((v, i) => v * 0.8 + (h[i] ?? 0));
    },
  ],
  ["played backwards", (x) => x.slice().reverse()],
  ["8-bit quantisation", (x) => x.map((v) => Math.round(v * 127) / 127)],
  ["reverb (sox reverb 80)", (x, rate) => sox(x, rate, ["reverb", "80"])],
];

const scorer = new MosScorer({ nice: 0 });
const engines = ["espeak-ng", "flite", "festival"] as const;
const rows: string[] = [];
for (const [name, f] of DEGRADATIONS) {
  const cells: string[] = [];
  for (const engine of engines) {
    const d = decodeAudio(synthesizeWav(engine, PROBE_TEXT));
    const y = f(d.samples, d.sampleRate);
    const a = analyzeAudio(
      { ...d, samples: y, durationSeconds: y.length / d.sampleRate },
      { text: PROBE_TEXT },
    );
    const m = await scorer.score(encodeWav16(y, d.sampleRate), undefined);
    const ovrl = m.results[0]?.values.ovrl;
    cells.push(`${a.qualityScore.score.toFixed(3)} / ${ovrl === undefined ? "—" : ovrl.toFixed(2)}`);
  }
  rows.push(`| ${name} | ${cells.join(" | ")} |`);
  console.error(rows.at(-1));
}
await scorer.close();
console.log(
  `| audio | ${engines.join(" | ")} |\n|---|${engines.map(() => "---").join("|")}|\n${rows.join("\n")}`,
);
