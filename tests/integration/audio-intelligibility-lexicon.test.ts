// The recogniser's rhyming alternatives come from Debian's cmudict, kept as its text and searched
// per word (src/audio/intelligibility.ts): the same rhymes as the earlier Map of every word gave.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadLexicon, probeWords, rhymes } from "../../src/audio/intelligibility.ts";
import { tempDir } from "../helpers/exporter.ts";

const DICT = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";

describe("pronunciation dictionary", () => {
  it("gives the rhymes the Map of every word gave (captured from the earlier code)", async () => {
    const lex = await loadLexicon(DICT);
    const words = probeWords("The quick brown fox jumps over the lazy dog. It's twelve o'clock.");
    expect(words.map((w) => [w, rhymes(lex, w)])).toEqual([
      ["the", ["dah", "duh", "huh", "ruh", "sta"]],
      ["quick", ["bic", "dic", "dyk", "mic", "nic"]],
      ["brown", ["down", "gown", "lown", "noun", "town"]],
      ["fox", ["box", "cox", "lox", "pox", "rox"]],
      ["jumps", ["bumps", "dumps", "lumps", "mumps", "pumps"]],
      ["over", []],
      ["the", ["dah", "duh", "huh", "ruh", "sta"]],
      ["lazy", ["hazy", "basie", "blasi", "crazy", "daisy"]],
      ["dog", ["cog", "log", "blog", "haug", "snog"]],
      ["it's", []],
      ["twelve", ["delve", "shelve"]],
      ["o'clock", []],
    ]);
  });

  it("reads a dictionary with tabs, CRLF and doubled spaces; alternates and non-words are no rhymes", async () => {
    const file = join(tempDir("tts-dict-"), "mini.dict");
    writeFileSync(
      file,
      "box\tB AA K S\r\nfox  F AA K S\r\nfox(2) F AO K S\r\nsox S AA K S \r\nx's EH K S\r\nox AA K S\r\nfix F IH K S",
    );
    const lex = await loadLexicon(file);
    // fox → box, sox (same rhyme AA K S, another onset); not ox (no onset), fix (another rhyme),
    // fox(2) (an alternate), x's (not alphabetic).
    expect(rhymes(lex, "fox")).toEqual(["box", "sox"]);
  });
});
