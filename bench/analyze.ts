// Benchmark (issue 4 item 8): full analysis (no recogniser) of 5 s of 22.05 kHz real speech, as
// × real time on one core, beside the anchor measured in the same run: raw fft.js throughput over
// the same samples (a 1024-point real STFT with 50 % overlap, the transform the analysis leans on).
// Then the predicted MOS (DNSMOS P.835) through the exporter's own worker: inference seconds per
// window and per second of audio, for the 5 s clip (one window: shorter audio is repeated to 9.01 s)
// and a 30 s clip with the default cap of 3 windows and with every window (no cap).
//   npx tsx bench/analyze.ts
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import FFT from "fft.js";
import { analyzeAudio } from "../src/audio/analyze.ts";
import { decodeAudio, encodeWav16 } from "../src/audio/decode.ts";
import type { DecodedAudio } from "../src/audio/format.ts";
import { DEFAULT_MAX_WINDOWS, MosScorer } from "../src/audio/mos/index.ts";

const SECONDS = 5;
const RATE = 22050;

function speech(seconds = SECONDS): DecodedAudio {
  const text =
    "The quick brown fox jumps over the lazy dog. A benchmark needs real speech, with pauses, voiced and unvoiced sounds.";
  const d = decodeAudio(new Uint8Array(execFileSync("espeak-ng", ["--stdout", text])));
  if (d.sampleRate !== RATE) throw new Error(`espeak-ng gave ${d.sampleRate} Hz, expected ${RATE}`);
  const n = seconds * RATE;
  const samples = new Float32Array(n);
  for (let i = 0; i < n; i++) samples[i] = d.samples[i % d.samples.length] ?? 0;
  return { samples, sampleRate: RATE, channels: 1, durationSeconds: seconds };
}

/** Runs fn repeatedly for about `ms` after a warm-up; returns seconds per call (median of 5 rounds). */
function time(fn: () => void, ms = 1500): number {
  for (let i = 0; i < 3; i++) fn();
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    let calls = 0;
    const start = performance.now();
    while (performance.now() - start < ms / 5) {
      fn();
      calls++;
    }
    rounds.push((performance.now() - start) / 1000 / calls);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2] ?? Number.NaN;
}

const audio = speech();
const fftSize = 1024;
const fft = new FFT(fftSize);
const out = fft.createComplexArray();
const frame = new Array<number>(fftSize).fill(0);
const stft = () => {
  for (let t = 0; t + fftSize <= audio.samples.length; t += fftSize / 2) {
    for (let i = 0; i < fftSize; i++) frame[i] = audio.samples[t + i] ?? 0;
    fft.realTransform(out, frame);
  }
};

const analysis = time(() => analyzeAudio(audio, { text: "The quick brown fox jumps over the lazy dog." }));
const anchor = time(stft);
const xrt = SECONDS / analysis;
const anchorXrt = SECONDS / anchor;
console.log(`machine: ${cpus()[0]?.model ?? "?"} × ${cpus().length}, Node ${process.version}`);
console.log(
  `analyzeAudio, ${SECONDS} s of ${RATE} Hz espeak-ng speech: ${(analysis * 1000).toFixed(1)} ms → ${xrt.toFixed(0)}× real time (goal ≥ 200×)`,
);
console.log(
  `anchor, fft.js 1024-point real STFT (50 % overlap) over the same samples: ${(anchor * 1000).toFixed(2)} ms → ${anchorXrt.toFixed(0)}× real time`,
);
console.log(
  `ratio analysis / anchor time: ${(analysis / anchor).toFixed(1)} (full analysis costs that many STFT passes)`,
);

/** Median inference seconds (the worker's own timing, decode and resampling excluded) over 3 runs. */
async function mosTime(
  audio: DecodedAudio,
  maxWindows: number,
): Promise<{ seconds: number; windows: number }> {
  // nice 0: this measures the cost, not how long a niced thread waits on a busy machine.
  const scorer = new MosScorer({ maxWindows, nice: 0 });
  try {
    const wav = encodeWav16(audio.samples, audio.sampleRate);
    await scorer.score(wav, undefined); // warm-up: worker start, model load
    const runs: Array<{ seconds: number; windows: number }> = [];
    for (let i = 0; i < 3; i++) {
      const r = (await scorer.score(wav, undefined)).results[0];
      if (!r) throw new Error("no predicted MOS: is onnxruntime-node installed?");
      runs.push({ seconds: r.inferenceSeconds, windows: r.windows });
    }
    runs.sort((a, b) => a.seconds - b.seconds);
    return runs[1] ?? { seconds: Number.NaN, windows: 0 };
  } finally {
    await scorer.close();
  }
}

const short = await mosTime(audio, DEFAULT_MAX_WINDOWS);
const long = speech(30);
const capped = await mosTime(long, DEFAULT_MAX_WINDOWS);
const uncapped = await mosTime(long, 30);
const line = (what: string, m: { seconds: number; windows: number }, seconds: number) =>
  `predicted MOS (DNSMOS P.835), ${what}: ${m.seconds.toFixed(2)} s for ${m.windows} window(s) → ${(m.seconds / m.windows).toFixed(2)} s per window, ${(m.seconds / seconds).toFixed(3)} s of CPU per second of audio`;
console.log(line(`${SECONDS} s clip`, short, SECONDS));
console.log(line(`30 s clip, cap ${DEFAULT_MAX_WINDOWS} windows`, capped, 30));
console.log(line("30 s clip, every window", uncapped, 30));
