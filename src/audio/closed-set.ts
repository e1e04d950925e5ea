// The closed-set intelligibility test's design and its chance-corrected score, as pure functions
// (intelligibility.ts runs the recogniser). The probe's dictionary words are cut into short
// phrases of WORDS_PER_PHRASE testable words (words that have rhymes); each phrase is a forced
// choice between itself and up to MAX_ALTERNATIVES decoys in which every testable word is replaced
// by a rhyme differing only in its initial consonants (quick brown | thick crown | slick down), in
// the spirit of the Modified Rhyme Test (House et al. 1965). Phrases choose independently, so
// audio that carries no information about the words gets a phrase right by chance only,
// 1 / (alternatives + 1), and the score subtracts that chance:
//   ratio = (hits - Σ chance_i) / (n - Σ chance_i), clamped to 0-1, phrases weighted by their
// testable words: the classical correction for guessing (p - c) / (1 - c). A different sentence,
// reversed or scrambled speech score about 0; clean speech 1. A phrase (not a single word) is the
// unit because pocketsphinx on synthetic voices confuses single rhymes too often (a free choice
// per word gave clean flite 0.59); words with no rhyme ride along in their phrase, untested.

/** Decoys per phrase besides the phrase itself (chance 1/6 per phrase, the MRT's six-way choice). */
export const MAX_ALTERNATIVES = 5;
/** Testable words per phrase. */
export const WORDS_PER_PHRASE = 3;
/** Fewer testable words than this gives no value: a coin-flip or two is not a test. */
export const MIN_TESTED_WORDS = 3;
/**
 * A phrase chosen right is heard only if its words also fit the audio: their acoustic score per
 * 10 ms frame (pocketsphinx's ascr, normalised to the best senone of each frame) must be at least
 * this. A forced choice always picks something, and between rhymes that share their vowels and
 * final consonants, reversed speech or a different sentence can still favour the right one (festival
 * reversed "The juice of lemons makes fine punch." chose it, at -72 per frame); speech of the
 * words themselves fits better (clean: -9 to -51 over four engines, 20 dB noise to -44), wrong
 * sentences chosen "right" -54 to -66. Calibrated in docs/audio-analysis.md ("Intelligibility").
 */
export const MIN_PHRASE_FIT = -55;

export interface ClosedSetSlot {
  /** The probe's words in this phrase. */
  readonly words: readonly string[];
  /** The phrase first, then its decoys (each a word list as long as `words`). */
  readonly choices: readonly (readonly string[])[];
  /** Testable words in the phrase (the weight of its hit). */
  readonly tested: number;
}

export interface ClosedSet {
  readonly slots: readonly ClosedSetSlot[];
  /** JSGF grammar: one public rule, a sequence of alternative groups. */
  readonly grammar: string;
  readonly testedWords: number;
}

/**
 * Function words are not tested: engines reduce them (the → "duh", espeak-ng's "the" lost to its
 * rhyme), and listeners restore them from context, so they say little about intelligibility.
 */
export const FUNCTION_WORDS: ReadonlySet<string> = new Set(
  (
    "a an the this that these those some any no each every all both " +
    "i me my you your he him his she her it its we us our they them their " +
    "am is are was were be been being do does did has have had will would shall should can could may might must " +
    "and or but nor so yet if then than as because while though " +
    "of to in on at by for from with into onto upon over under about between through up down out off " +
    "not there here what which who whom whose when where why how"
  ).split(" "),
);

/** Slots for the dictionary words of a probe, given each word's rhymes (same order as `words`). */
export function closedSet(words: readonly string[], allRhymes: readonly (readonly string[])[]): ClosedSet {
  const rhymes = words.map((w, i) => (FUNCTION_WORDS.has(w) ? [] : (allRhymes[i] ?? [])));
  // Phrases: cut after every WORDS_PER_PHRASE-th testable word; trailing untestable words join the last.
  const phrases: number[][] = [[]];
  let inPhrase = 0;
  words.forEach((_, i) => {
    const current = phrases[phrases.length - 1] ?? [];
    current.push(i);
    if ((rhymes[i]?.length ?? 0) > 0 && ++inPhrase === WORDS_PER_PHRASE) {
      inPhrase = 0;
      phrases.push([]);
    }
  });
  if ((phrases[phrases.length - 1]?.length ?? 0) === 0) phrases.pop();
  // A short last phrase (fewer testable words than the others) joins the one before it.
  if (inPhrase > 0 && phrases.length > 1) {
    const last = phrases.pop() ?? [];
    phrases[phrases.length - 1]?.push(...last);
  }
  const slots = phrases.map((idx) => {
    const phrase = idx.map((i) => words[i] ?? "");
    const tested = idx.filter((i) => (rhymes[i]?.length ?? 0) > 0).length;
    const seen = new Set([phrase.join(" ")]);
    const choices: string[][] = [phrase];
    for (let k = 0; k < MAX_ALTERNATIVES && tested > 0; k++) {
      const decoy = idx.map((i) => {
        const r = rhymes[i] ?? [];
        return r.length > 0 ? (r[k % r.length] ?? "") : (words[i] ?? "");
      });
      const key = decoy.join(" ");
      if (seen.has(key)) continue;
      seen.add(key);
      choices.push(decoy);
    }
    return { words: phrase, choices, tested };
  });
  // The grammar lists the probe's phrase at a varying place, not always first: a decoder that
  // breaks ties by order must not favour it.
  const body = slots
    .map((s, i) => ({ ...s, choices: rotate(s.choices, (i * 7 + 3) % s.choices.length) }))
    .map((s) =>
      s.choices.length === 1 ? s.words.join(" ") : `( ${s.choices.map((c) => c.join(" ")).join(" | ")} )`,
    )
    .join(" ");
  return {
    slots,
    grammar: `#JSGF V1.0;\ngrammar probe;\npublic <s> = ${body};\n`,
    testedWords: slots.reduce((n, s) => n + (s.choices.length > 1 ? s.tested : 0), 0),
  };
}

function rotate<T>(xs: readonly T[], k: number): T[] {
  return [...xs.slice(k), ...xs.slice(0, k)];
}

export interface ClosedSetScore {
  /** Chance-corrected share of tested words heard right, 0-1. */
  ratio: number;
  hits: number;
  tested: number;
  /** Hits a random choice would make on average. */
  chanceHits: number;
  /** Acoustic score per frame of each tested phrase's chosen words (NaN without an alignment). */
  phraseFit: number[];
  /** Whether each tested phrase was chosen right (before the fit floor). */
  phraseChosen: boolean[];
  /** Whether the fits were checked (the recogniser's best path matched its output). */
  fitChecked: boolean;
}

/** A word of the recogniser's best path with its frames and acoustic score (intelligibility.ts). */
export interface PathWord {
  readonly word: string;
  readonly start: number;
  readonly end: number;
  readonly ascr: number;
}

/**
 * Scores the recogniser's output against the slots. Every choice of a phrase has as many words as
 * the phrase, so the output aligns by position; an empty output (no grammar path found) scores 0.
 * `path` is the recogniser's best path (its words, frames and acoustic scores): a phrase chosen
 * right is a hit only if its words fit at least MIN_PHRASE_FIT per frame. Without a path that matches the
 * output (`fitChecked` false) phrases are judged by the choice alone.
 * `hits` counts the testable words of the phrases heard right.
 */
export function scoreClosedSet(
  set: ClosedSet,
  recognised: string,
  path: readonly PathWord[] = [],
): ClosedSetScore {
  const got = recognised.trim() === "" ? [] : recognised.trim().split(/\s+/);
  const total = set.slots.reduce((n, s) => n + s.words.length, 0);
  const aligned = got.length === total;
  let hits = 0;
  let chance = 0;
  let tested = 0;
  let at = 0;
  const phraseFit: number[] = [];
  const phraseChosen: boolean[] = [];
  const pathAligned = aligned && path.length === total && path.every((w, i) => w.word === got[i]);
  for (const s of set.slots) {
    const heard = got.slice(at, at + s.words.length).join(" ");
    const words = pathAligned ? path.slice(at, at + s.words.length) : [];
    at += s.words.length;
    if (s.choices.length < 2) continue;
    const frames = words.reduce((n, w) => n + w.end - w.start + 1, 0);
    const fit = frames > 0 ? words.reduce((n, w) => n + w.ascr, 0) / frames : Number.NaN;
    phraseFit.push(fit);
    const chosen = aligned && heard === s.words.join(" ");
    phraseChosen.push(chosen);
    tested += s.tested;
    chance += s.tested / s.choices.length;
    if (chosen && (!pathAligned || fit >= MIN_PHRASE_FIT)) hits += s.tested;
  }
  const ratio = tested - chance > 0 ? (hits - chance) / (tested - chance) : 0;
  return {
    ratio: Math.min(1, Math.max(0, ratio)),
    hits,
    tested,
    chanceHits: chance,
    phraseFit,
    phraseChosen,
    fitChecked: pathAligned,
  };
}
