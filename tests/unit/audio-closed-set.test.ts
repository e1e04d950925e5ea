// The closed-set test's design and its correction for guessing, without the recogniser.
import { describe, expect, it } from "vitest";
import { closedSet, FUNCTION_WORDS, scoreClosedSet } from "../../src/audio/closed-set.ts";

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
});
