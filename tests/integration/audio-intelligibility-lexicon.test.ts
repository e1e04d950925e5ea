// The recogniser's decoys come from Debian's cmudict, kept as its text and searched per word
// (src/audio/intelligibility.ts): the same decoys as the earlier Map of every word gave.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decoySentences, loadLexicon, probeWords } from "../../src/audio/intelligibility.ts";
import { tempDir } from "../helpers/exporter.ts";

const DICT = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";

describe("pronunciation dictionary", () => {
  it("gives the decoys the Map of every word gave (captured before the change)", async () => {
    const lex = await loadLexicon(DICT);
    const words = probeWords("The quick brown fox jumps over the lazy dog. It's twelve o'clock.");
    const decoys = decoySentences(lex, words, 8).map((s) => s.join(" "));
    expect(decoys).toEqual([
      "dah quick brown box jumps over dah lazy dog it's twelve o'clock",
      "the quick down fox jumps over the lazy cog it's twelve o'clock",
      "the bic brown fox bumps over the hazy dog it's delve o'clock",
      "duh quick brown cox jumps over duh lazy dog it's twelve o'clock",
      "the quick gown fox jumps over the lazy log it's twelve o'clock",
      "the dic brown fox dumps over the basie dog it's shelve o'clock",
      "huh quick brown lox jumps over huh lazy dog it's twelve o'clock",
      "the quick lown fox jumps over the lazy blog it's twelve o'clock",
    ]);
  });

  it("reads a dictionary with tabs, CRLF and doubled spaces; alternates and non-words make no decoys", async () => {
    const file = join(tempDir("tts-dict-"), "mini.dict");
    writeFileSync(
      file,
      "box\tB AA K S\r\nfox  F AA K S\r\nfox(2) F AO K S\r\nsox S AA K S \r\nx's EH K S\r\nox AA K S\r\nfix F IH K S",
    );
    const lex = await loadLexicon(file);
    // fox → box, sox (same rhyme AA K S, another onset); not ox (no onset), fix (another rhyme),
    // fox(2) (an alternate), x's (not alphabetic).
    expect(decoySentences(lex, ["fox"], 3)).toEqual([["box"], ["sox"]]);
  });
});
