// The closed-set test's design and its correction for guessing, without the recogniser.
import { describe, expect, it } from "vitest";
import {
  closedSet,
  FUNCTION_WORDS,
  MIN_PHRASE_FIT,
  type PathWord,
  scoreClosedSet,
} from "../../src/audio/closed-set.ts";
import { parseBacktrace } from "../../src/audio/intelligibility.ts";

const WORDS = "the quick brown fox jumps over the lazy dog".split(" ");
const RHYMES: string[][] = WORDS.map((w) =>
  FUNCTION_WORDS.has(w) || w === "over" ? [] : [1, 2, 3, 4, 5].map((k) => `${w}${"x".repeat(k)}`),
);

describe("closed-set intelligibility test", () => {
  const set = closedSet(WORDS, RHYMES);

  it("cuts the probe into phrases of three testable words, each with five decoys; function words untested", () => {
    expect(set.testedWords).toBe(6);
    expect(set.slots.map((s) => s.words.join(" "))).toEqual([
      "the quick brown fox",
      "jumps over the lazy dog",
    ]);
    for (const s of set.slots) {
      expect(s.choices).toHaveLength(6);
      expect(new Set(s.choices.map((c) => c.join(" "))).size).toBe(6);
      for (const c of s.choices.slice(1)) {
        // Every testable word differs in every decoy; untested words are kept.
        s.words.forEach((w, i) => {
          if (RHYMES[WORDS.indexOf(w)]?.length) expect(c[i]).not.toBe(w);
          else expect(c[i]).toBe(w);
        });
      }
    }
    expect(set.grammar).toMatch(/^#JSGF V1\.0;\ngrammar probe;\npublic <s> = \( .* \) \( .* \);\n$/);
  });

  it("the probe's own phrase is not always listed first (no tie-break bias)", () => {
    const first = set.grammar
      .split("( ")
      .slice(1)
      .map((g) => g.split(" | ")[0]);
    expect(first).not.toEqual(set.slots.map((s) => s.words.join(" ")));
  });

  it("scores 1 for the probe, 0 for nothing heard, 0 for chance-level guessing", () => {
    expect(scoreClosedSet(set, WORDS.join(" ")).ratio).toBe(1);
    expect(scoreClosedSet(set, "").ratio).toBe(0);
    // One phrase of two right (3 of 6 words): chance is 1/6 per phrase, so (3 - 1) / (6 - 1) = 0.4.
    const half = [...(set.slots[0]?.words ?? []), ...(set.slots[1]?.choices[1] ?? [])].join(" ");
    const r = scoreClosedSet(set, half);
    expect(r.hits).toBe(3);
    expect(r.chanceHits).toBeCloseTo(1, 10);
    expect(r.ratio).toBeCloseTo(0.4, 10);
    // All decoys: below chance, clamped to 0.
    const wrong = set.slots.flatMap((s) => s.choices[1] ?? []).join(" ");
    expect(scoreClosedSet(set, wrong).ratio).toBe(0);
  });

  it("a text with no testable word has nothing to score", () => {
    const s = closedSet(["the", "of"], [[], []]);
    expect(s.testedWords).toBe(0);
    expect(scoreClosedSet(s, "the of").ratio).toBe(0);
  });

  // The best path of the probe: 10 frames a word, every word at `fit` per frame.
  const path = (fits: readonly [number, number]): PathWord[] =>
    WORDS.map((word, i) => ({
      word,
      start: i * 10,
      end: i * 10 + 9,
      ascr: 10 * (i < 4 ? fits[0] : fits[1]),
    }));

  it("a phrase chosen right counts only if its words fit the audio (reversed speech, another sentence)", () => {
    const good = scoreClosedSet(set, WORDS.join(" "), path([-20, -30]));
    expect(good.fitChecked).toBe(true);
    expect(good.phraseFit).toEqual([-20, -30]);
    expect(good.phraseChosen).toEqual([true, true]);
    expect(good.ratio).toBe(1);
    // The second phrase chosen right but fitting worse than the floor: not heard.
    const poor = scoreClosedSet(set, WORDS.join(" "), path([-20, MIN_PHRASE_FIT - 1]));
    expect(poor.phraseChosen).toEqual([true, true]);
    expect(poor.hits).toBe(3);
    expect(poor.ratio).toBeCloseTo(0.4, 10);
    expect(scoreClosedSet(set, WORDS.join(" "), path([MIN_PHRASE_FIT - 1, -80])).ratio).toBe(0);
    // Exactly at the floor still counts.
    expect(scoreClosedSet(set, WORDS.join(" "), path([MIN_PHRASE_FIT, MIN_PHRASE_FIT])).ratio).toBe(1);
  });

  it("without a best path that matches the output, phrases are judged by the choice alone", () => {
    const none = scoreClosedSet(set, WORDS.join(" "));
    expect(none.fitChecked).toBe(false);
    expect(none.phraseFit.every(Number.isNaN)).toBe(true);
    expect(none.ratio).toBe(1);
    const other = path([-90, -90]).map((w, i) => (i === 1 ? { ...w, word: "thick" } : w));
    expect(scoreClosedSet(set, WORDS.join(" "), other).fitChecked).toBe(false);
  });
});

describe("pocketsphinx best path (-backtrace yes)", () => {
  const LOG = [
    "INFO: pocketsphinx.c(1168): the juice (-12313)",
    "word                 start end   pprob ascr       lscr       lback",
    "<sil>                0     19    1.000 -183       0          0",
    "the                  20    31    1.000 -175       -121       1",
    "[NOISE]              32    35    1.000 -40        0          1",
    "juice(2)             36    70    1.000 -1200      -131       1",
    "</s>                 71    80    1.000 -10        0          1",
    "INFO: ngram_search.c(1234): lattice done",
  ].join("\n");

  it("reads the words with their frames and acoustic scores; silences and fillers left out", () => {
    expect(parseBacktrace(LOG)).toEqual([
      { word: "the", start: 20, end: 31, ascr: -175 },
      { word: "juice", start: 36, end: 70, ascr: -1200 },
    ]);
  });

  it("a log without the table gives no words", () => {
    expect(parseBacktrace("")).toEqual([]);
    expect(parseBacktrace("INFO: nothing here\nword start end\n")).toEqual([]);
  });
});
