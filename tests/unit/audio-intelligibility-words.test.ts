// How a probe text becomes the words of the recogniser's grammar (src/audio/intelligibility.ts).
import { describe, expect, it } from "vitest";
import { conditionForRecogniser, probeWords } from "../../src/audio/intelligibility.ts";
import { power, sine } from "../../src/audio/signals.ts";

describe("probeWords", () => {
  it("folds accents and typographic apostrophes, drops quotes and punctuation", () => {
    expect(probeWords("Caf\u00e9 na\u00efve r\u00e9sum\u00e9, co\u00f6perate \u00dcber")).toEqual([
      "cafe",
      "naive",
      "resume",
      "cooperate",
      "uber",
    ]);
    expect(
      probeWords("Dr. Smith\u2019s dog isn't \u2018here\u2019 \u2014 \u201cquoted\u201d\u2026 'Hello,'"),
    ).toEqual(["dr", "smith's", "dog", "isn't", "here", "quoted", "hello"]);
  });

  it("spells numbers out: integers, thousands separators, decimals, times, percentages", () => {
    expect(probeWords("42 0 13 100 1,000 2024 1999")).toEqual(
      "forty two zero thirteen one hundred one thousand two thousand twenty four one thousand nine hundred ninety nine".split(
        " ",
      ),
    );
    expect(probeWords("At 7:30 or 9:05, 3.5 percent; 100% done.")).toEqual(
      "at seven thirty or nine oh five three point five percent one hundred percent done".split(" "),
    );
    expect(probeWords("the 1st, 2nd, 3rd, 4th, 12th, 21st and 40th")).toEqual(
      "the first second third fourth twelfth twenty first and fortieth".split(" "),
    );
    expect(probeWords("1234567890123456")).toHaveLength(16); // too long: digit by digit
  });

  it("texts with no Latin letters or digits give no words", () => {
    expect(probeWords("")).toEqual([]);
    expect(probeWords("\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8")).toEqual([]);
    expect(probeWords("?! \u2026 \u2014")).toEqual([]);
  });
});

describe("conditionForRecogniser", () => {
  it("adds a deterministic noise floor 45 dB below the clip; silence stays silent", () => {
    const x = sine(300, 16000, 0.5, 0.5);
    const y = conditionForRecogniser(x);
    expect(y).toEqual(conditionForRecogniser(x));
    const noise = power(y.map((v, i) => v - (x[i] ?? 0)));
    expect(10 * Math.log10(power(x) / noise)).toBeCloseTo(45, 0);
    const silent = new Float32Array(100);
    expect(conditionForRecogniser(silent)).toEqual(silent);
  });
});
