// Intelligibility by an offline recogniser (Debian's pocketsphinx + pocketsphinx-en-us), as a
// closed-set test in the spirit of the Modified Rhyme Test (House et al. 1965): for every probe
// word the recogniser must choose between the word and rhymes that differ only in their initial
// consonants (fox | box | lox, dog | log | bog). Open-vocabulary recognition of synthetic voices
// is too poor to score; a forced choice among near-homophones still drops sharply when the speech
// is unclear. The ratio is corrected for guessing (closed-set.ts): audio that says nothing about
// the words scores about 0, not the share a guess would get.

import { spawn } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, removeTempDir } from "../util/temp-dir.ts";
import {
  type ClosedSet,
  closedSet,
  MAX_ALTERNATIVES,
  MIN_TESTED_WORDS,
  type PathWord,
  scoreClosedSet,
} from "./closed-set.ts";
import type { DecodedAudio } from "./format.ts";
import { RecogniserInput } from "./recogniser-input.ts";
import { addWhiteNoise, power } from "./signals.ts";

export interface IntelligibilityLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface IntelligibilityOptions {
  logger?: IntelligibilityLogger;
  /** Default /usr/bin/pocketsphinx_continuous (Debian 12's pocketsphinx 0.8+5prealpha). */
  binary?: string;
  /** Default /usr/share/pocketsphinx/model/en-us. */
  modelDir?: string;
  timeoutMs?: number;
}

export interface IntelligibilityResult {
  /** Chance-corrected share of tested words heard right, 0-1. */
  ratio: number;
  /** Words with a forced choice among rhymes, and how many the recogniser got right. */
  testedWords: number;
  hits: number;
  /** Probe words the pronunciation dictionary lacks: not tested, reported. */
  outOfDictionary: string[];
  /** The recogniser, for the bounded `asr` label: always ASR_NAME. */
  asr: string;
  /** The sentence the recogniser chose ("" when none); for logs, never a label. */
  recognised: string;
  /**
   * The acoustic fit of each tested phrase's chosen words (same order as the closed set's tested
   * phrases): the recogniser's acoustic score per 10 ms frame, normalised per frame to the best
   * senone (0 = every frame matched the best-fitting sound; lower = the audio fits the words worse).
   * NaN where the recogniser reported no alignment.
   */
  phraseFit: number[];
  /** Whether each tested phrase was chosen right; a hit also needs its fit ≥ MIN_PHRASE_FIT. */
  phraseChosen: boolean[];
}

/**
 * The words of the best path from pocketsphinx's log (-backtrace yes): the table after the header
 * "word start end pprob ascr lscr lback" (frames start-end inclusive; ascr normalised per frame to
 * the best senone), silences and fillers (<sil>, <s>, [NOISE]...) left out.
 */
export function parseBacktrace(log: string): PathWord[] {
  const lines = log.split("\n");
  const at = lines.findLastIndex((l) => /^word\s+start\s+end\s+pprob\s+ascr\b/.test(l.trim()));
  if (at < 0) return [];
  const out: PathWord[] = [];
  for (const line of lines.slice(at + 1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !/^-?\d+$/.test(f[1] ?? "") || !/^-?\d+$/.test(f[4] ?? "")) break;
    const word = f[0] ?? "";
    if (/^[<[(]/.test(word)) continue;
    out.push({
      word: word.replace(/\(\d+\)$/, ""),
      start: Number(f[1]),
      end: Number(f[2]),
      ascr: Number(f[4]),
    });
  }
  return out;
}

export const ASR_NAME = "pocketsphinx";
const DEFAULT_BINARY = "/usr/bin/pocketsphinx_continuous";
const DEFAULT_MODEL = "/usr/share/pocketsphinx/model/en-us";
const VOWELS = new Set([
  "AA",
  "AE",
  "AH",
  "AO",
  "AW",
  "AY",
  "EH",
  "ER",
  "EY",
  "IH",
  "IY",
  "OW",
  "OY",
  "UH",
  "UW",
]);

function paths(modelDir: string): { hmm: string; dict: string } {
  return { hmm: join(modelDir, "en-us"), dict: join(modelDir, "cmudict-en-us.dict") };
}

function missing(binary: string, modelDir: string): string | undefined {
  if (!existsSync(binary)) return `${binary} not found (install the Debian package pocketsphinx)`;
  const { hmm, dict } = paths(modelDir);
  if (!existsSync(join(hmm, "mdef")) || !existsSync(dict)) {
    return `pocketsphinx en-us model not found in ${modelDir} (install the Debian package pocketsphinx-en-us)`;
  }
  return undefined;
}

/**
 * The pronunciation dictionary (3.3 MB, 135k words), kept as its text: one flat string, looked up
 * with the string search of the runtime. A Map of every word with its phones and rhyme cost about
 * 60 MiB of heap and 1.4 s of event-loop CPU to build at the first probe (docs/benchmarks.md); a probe
 * needs only its own few words and their rhymes, each found in a few milliseconds.
 */
interface Lexicon {
  /** The dictionary, one `word PH1 PH2 ...` per line, with a "\n" before the first line and after the last. */
  readonly text: string;
}

/** Lines "word(2) ..." are alternate pronunciations; probe words are plain (it's, smith's too). */
const PROBE_WORD = /^[a-z][a-z']*$/;

/** The phones of a word's first pronunciation, or undefined when it is not in the dictionary. */
function phonesOf(lex: Lexicon, word: string): string[] | undefined {
  if (!PROBE_WORD.test(word)) return undefined;
  const at = lex.text.indexOf(`\n${word} `);
  if (at < 0) return undefined;
  const start = at + word.length + 2;
  return lex.text.slice(start, lex.text.indexOf("\n", start)).split(" ");
}

/**
 * Plain alphabetic words with a pronunciation of this rhyme, with their onsets, each word once, in
 * dictionary order. (cmudict has one line per plain word: alternates are "word(2)" lines.)
 */
function wordsWithRhyme(lex: Lexicon, rhyme: string): { word: string; onset: string }[] {
  const { text } = lex;
  const needle = ` ${rhyme}\n`;
  const out = new Map<string, string>();
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    const lineStart = text.lastIndexOf("\n", at) + 1;
    const space = text.indexOf(" ", lineStart);
    const word = text.slice(lineStart, space);
    if (out.has(word) || !/^[a-z]+$/.test(word)) continue;
    const r = rhymeOf(text.slice(space + 1, at + needle.length - 1).split(" "));
    if (r?.rhyme === rhyme) out.set(word, r.onset);
  }
  return [...out].map(([word, onset]) => ({ word, onset }));
}

function rhymeOf(phones: string[]): { onset: string; rhyme: string } | undefined {
  const v = phones.findIndex((p) => VOWELS.has(p));
  if (v < 0) return undefined;
  return { onset: phones.slice(0, v).join(" "), rhyme: phones.slice(v).join(" ") };
}

/** Reads the dictionary without blocking the event loop (asynchronous read; any whitespace normalised). */
export async function loadLexicon(dictPath: string): Promise<Lexicon> {
  let text = await readFile(dictPath, "utf8");
  if (/[\t\r]| {2}|^ | \n|\n /m.test(text))
    text = text
      .replace(/\r/g, "")
      .replace(/[ \t]+/g, " ")
      .replace(/ ?\n ?/g, "\n");
  return { text: `\n${text.trim()}\n` };
}

const ONES = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
  "thirteen",
  "fourteen",
  "fifteen",
  "sixteen",
  "seventeen",
  "eighteen",
  "nineteen",
];
const TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
const SCALES = ["", "thousand", "million", "billion"];

/** Cardinal words of a non-negative integer below 10^12 (US style, no "and"). */
function cardinal(n: number): string[] {
  if (n < 20) return [ONES[n] ?? "zero"];
  if (n < 100) return [TENS[Math.floor(n / 10)] ?? "", ...(n % 10 ? [ONES[n % 10] ?? ""] : [])];
  if (n < 1000) {
    return [ONES[Math.floor(n / 100)] ?? "", "hundred", ...(n % 100 ? cardinal(n % 100) : [])];
  }
  const out: string[] = [];
  for (let scale = SCALES.length - 1; scale >= 1; scale--) {
    const unit = 1000 ** scale;
    if (n >= unit) {
      out.push(...cardinal(Math.floor(n / unit)), SCALES[scale] ?? "");
      n %= unit;
    }
  }
  if (n > 0) out.push(...cardinal(n));
  return out;
}

const ORDINAL: Record<string, string> = {
  one: "first",
  two: "second",
  three: "third",
  five: "fifth",
  eight: "eighth",
  nine: "ninth",
  twelve: "twelfth",
};

/** The ordinal of a cardinal's last word: twenty one → twenty first, forty → fortieth. */
function ordinal(words: string[]): string[] {
  const last = words.at(-1) ?? "";
  const ord = ORDINAL[last] ?? (last.endsWith("y") ? `${last.slice(0, -1)}ieth` : `${last}th`);
  return [...words.slice(0, -1), ord];
}

/**
 * Numbers as an engine speaks them, roughly: "7:30" → seven thirty, "3.5" → three point five,
 * "1,000" → one thousand, "42%" → forty two percent, "21st" → twenty first. Digits longer than 12
 * are read one by one.
 */
function numberWords(token: string): string {
  const time = /^(\d{1,2}):(\d{2})$/.exec(token);
  if (time) {
    const m = Number(time[2]);
    return [
      ...cardinal(Number(time[1])),
      ...(m === 0 ? [] : m < 10 ? ["oh", ...cardinal(m)] : cardinal(m)),
    ].join(" ");
  }
  const nth = /^(\d{1,12})(st|nd|rd|th)$/.exec(token);
  if (nth) return ordinal(cardinal(Number(nth[1]))).join(" ");
  const num = /^(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(%?)$/.exec(token);
  if (!num) return token.replace(/\d/g, (d) => ` ${ONES[Number(d)] ?? ""} `);
  const int = (num[1] ?? "").replace(/,/g, "");
  const words = int.length > 12 ? [...int].map((d) => ONES[Number(d)] ?? "") : cardinal(Number(int));
  if (num[2]) words.push("point", ...[...num[2]].map((d) => ONES[Number(d)] ?? ""));
  if (num[3]) words.push("percent");
  return words.join(" ");
}

/**
 * The words of a probe text as the dictionary spells them: lower case, accents folded (café →
 * cafe), typographic apostrophes made plain (Smith’s → smith's), quotes and other punctuation
 * dropped, numbers spelled out. Words the dictionary lacks are dropped later, by the caller.
 */
export function probeWords(text: string): string[] {
  return text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc\u0060\u00b4]/g, "'")
    .replace(/\d[\d,.:]*(?:%|st\b|nd\b|rd\b|th\b)?/g, (t) => ` ${numberWords(t.replace(/[,.:]+$/, ""))} `)
    .replace(/[^a-z' ]+/g, " ")
    .split(/\s+/)
    .map((w) => w.replace(/^'+|'+$/g, ""))
    .filter((w) => w.length > 0);
}

/**
 * Rhyming decoys of a word, as in the MRT: same rhyme, a different (non-empty) initial consonant
 * cluster; words of 3+ letters (drops abbreviations); deterministic order (shortest first).
 */
export function rhymes(lex: Lexicon, word: string): string[] {
  const phones = phonesOf(lex, word);
  const r = phones && rhymeOf(phones);
  if (!r || r.onset === "") return [];
  return wordsWithRhyme(lex, r.rhyme)
    .filter((w) => w.word !== word && w.word.length >= 3 && w.onset !== "" && w.onset !== r.onset)
    .map((w) => w.word)
    .sort((a, b) => a.length - b.length || (a < b ? -1 : 1))
    .slice(0, MAX_ALTERNATIVES);
}

/** Sample rate of the recogniser's input (the en-us acoustic model's). */
export const RECOGNISER_RATE = 16000;

/** The closed set of a probe text, yielding to the event loop after each word's rhyme search (a few ms each). */
async function closedSetAsync(lex: Lexicon, words: string[]): Promise<ClosedSet> {
  const alternatives: string[][] = [];
  for (const w of words) {
    alternatives.push(rhymes(lex, w));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return closedSet(words, alternatives);
}

/** Texts whose closed sets an Intelligibility keeps (oldest dropped first). */
const CLOSED_SET_CACHE_SIZE = 64;

/** Level of the noise floor added for the recogniser, dB below the clip's power. */
export const RECOGNISER_NOISE_FLOOR_DB = 45;

/**
 * A white noise floor 45 dB below the clip's power (seeded: the same audio always gives the same
 * input). The recogniser's front end takes the log of mel band energies: where a band is empty —
 * digital silence, or 4-8 kHz of narrowband audio (8/11 kHz engines) upsampled to 16 kHz — that
 * log runs to the floor and live cepstral mean normalisation goes astray; clean espeak-ng audio at
 * 8 kHz then matched no sentence at all (ratio 0). At 45 dB below the speech the floor changes no
 * word of clean audio and nothing measurable in noisy audio.
 */
export function conditionForRecogniser(x: Float32Array): Float32Array {
  return power(x) > 0 ? addWhiteNoise(x, RECOGNISER_NOISE_FLOOR_DB, 0x5eed) : x;
}

/** A recognition that failed; `timedOut` when it was killed at its timeout (a hung recogniser). */
export class RecogniserError extends Error {
  override readonly name = "RecogniserError";
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class Intelligibility {
  readonly #binary: string;
  readonly #modelDir: string;
  readonly #timeoutMs: number;
  readonly #logger: IntelligibilityLogger | undefined;
  #lexicon: Promise<Lexicon> | undefined;
  readonly #closedSets = new Map<string, ClosedSet>();
  #warned = false;
  #warnedFit = false;
  #queue: Promise<unknown> = Promise.resolve();
  #child: ReturnType<typeof spawn> | undefined;
  /** The recogniser's WAV is prepared in a worker; its files live in one directory, removed by close(). */
  readonly #input = new RecogniserInput();
  #dir: string | undefined;
  #jobs = 0;
  #closed = false;

  /** Takes the options, or just the logger (`new Intelligibility(log)`). */
  constructor(arg: IntelligibilityOptions | IntelligibilityLogger = {}) {
    const options: IntelligibilityOptions =
      "warn" in arg && typeof arg.warn === "function" ? { logger: arg } : (arg as IntelligibilityOptions);
    this.#binary = options.binary ?? DEFAULT_BINARY;
    this.#modelDir = options.modelDir ?? DEFAULT_MODEL;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#logger = options.logger;
  }

  /** Whether Debian's pocketsphinx and its en-us model are installed at the default paths. */
  static available(): boolean {
    return missing(DEFAULT_BINARY, DEFAULT_MODEL) === undefined;
  }

  available(): boolean {
    return missing(this.#binary, this.#modelDir) === undefined;
  }

  /**
   * Scores the audio against the text; undefined when the recogniser is missing or the text has no
   * known word. transfer: the samples' buffer is handed to the worker that prepares the recogniser's
   * input (decoded.samples is emptied) instead of copied.
   */
  score(
    decoded: DecodedAudio,
    text: string,
    options: { transfer?: boolean } = {},
  ): Promise<IntelligibilityResult | undefined> {
    const run = this.#queue.then(() => this.#score(decoded, text, options.transfer ?? false));
    // Concurrency 1: the next request waits for this one, whatever its outcome.
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Kills a running recognition (its score() rejects). */
  kill(): void {
    this.#child?.kill("SIGKILL");
  }

  /** Kills a running recognition, stops the worker and removes the temporary directory. */
  async close(): Promise<void> {
    this.#closed = true;
    this.kill();
    await this.#input.close();
    if (this.#dir !== undefined) removeTempDir(this.#dir);
    this.#dir = undefined;
  }

  async #score(
    decoded: DecodedAudio,
    text: string,
    transfer: boolean,
  ): Promise<IntelligibilityResult | undefined> {
    if (this.#closed) return undefined;
    const why = missing(this.#binary, this.#modelDir);
    if (why) {
      if (!this.#warned) {
        this.#warned = true;
        this.#logger?.warn("intelligibility disabled: offline recogniser not installed", { reason: why });
      }
      return undefined;
    }
    const { hmm, dict } = paths(this.#modelDir);
    this.#lexicon ??= loadLexicon(dict);
    const lex = await this.#lexicon;
    const all = probeWords(text);
    const words = all.filter((w) => phonesOf(lex, w) !== undefined);
    const outOfDictionary = all.filter((w) => phonesOf(lex, w) === undefined);
    // Probe texts repeat (every probe interval): their rhymes are searched once.
    const key = words.join(" ");
    let set = this.#closedSets.get(key);
    if (!set) {
      set = await closedSetAsync(lex, words);
      if (this.#closedSets.size >= CLOSED_SET_CACHE_SIZE)
        this.#closedSets.delete(this.#closedSets.keys().next().value ?? "");
      this.#closedSets.set(key, set);
    }
    if (set.testedWords < MIN_TESTED_WORDS) return undefined;
    const grammar = set.grammar;
    this.#dir ??= makeTempDir();
    const job = ++this.#jobs;
    const wav = join(this.#dir, `probe-${job}.wav`);
    const jsgf = join(this.#dir, `probe-${job}.jsgf`);
    const log = join(this.#dir, `probe-${job}.log`);
    try {
      await this.#input.write(decoded.samples, decoded.sampleRate, wav, transfer);
      writeFileSync(jsgf, grammar);
      // Wide beams: with a small grammar they cost little, and narrow ones lose the path in noise.
      // -backtrace: the best path's words with their frames and acoustic scores, in the log.
      const args = ["-infile", wav, "-jsgf", jsgf, "-hmm", hmm, "-dict", dict, "-logfn", log];
      args.push("-beam", "1e-80", "-pbeam", "1e-80", "-wbeam", "1e-60", "-remove_silence", "no");
      args.push("-backtrace", "yes");
      const stdout = await this.#run(args);
      const lines = stdout.split("\n").map((l) => l.trim());
      const recognised = lines.filter((l) => l.length > 0).pop() ?? "";
      const aligned = parseBacktrace(await readFile(log, "utf8").catch(() => ""));
      const r = scoreClosedSet(set, recognised, aligned);
      if (recognised !== "" && !r.fitChecked && !this.#warnedFit) {
        this.#warnedFit = true;
        this.#logger?.warn(
          "intelligibility: the recogniser's best path is missing or does not match its output; phrases judged by choice only",
          {
            asr: ASR_NAME,
          },
        );
      }
      return {
        ratio: r.ratio,
        testedWords: r.tested,
        hits: r.hits,
        outOfDictionary,
        asr: ASR_NAME,
        recognised,
        phraseFit: r.phraseFit,
        phraseChosen: r.phraseChosen,
      };
    } finally {
      rmSync(wav, { force: true });
      rmSync(jsgf, { force: true });
      rmSync(log, { force: true });
    }
  }

  #run(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.#binary, args, { stdio: ["ignore", "pipe", "pipe"] });
      this.#child = child;
      let out = "";
      let err = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        if (err.length < 4000) err += d;
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, this.#timeoutMs);
      child.on("error", (e) => {
        clearTimeout(timer);
        this.#child = undefined;
        reject(new RecogniserError(`pocketsphinx failed to start: ${e.message}`, false, { cause: e }));
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        this.#child = undefined;
        if (code === 0) resolve(out);
        else
          reject(
            new RecogniserError(
              signal
                ? `pocketsphinx killed (${signal}${timedOut ? `, timeout ${this.#timeoutMs} ms` : ""})`
                : `pocketsphinx exited with code ${code}: ${err.trim().split("\n").pop() ?? ""}`,
              timedOut,
            ),
          );
      });
    });
  }
}
