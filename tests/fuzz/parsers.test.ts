// Every parser, fuzzed (issue 15, item 3): a few hundred inputs per target in `npm test`; the
// million-input run is `npm run fuzz` (scripts/fuzz.ts, docs/benchmarks.md). A failure prints the
// shrunk input: add it as a regression case below with its fix. (The first 1,000,000-input run found
// nothing; the cases below are hand-written edges of the same parsers.)
import { describe, expect, it } from "vitest";
import { decodeAudio } from "../../src/audio/decode.ts";
import { parseWebConfig } from "../../src/server/web-config.ts";
import { runTarget, TARGETS } from "./targets.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 15);

describe("fuzzed parsers", () => {
  for (const t of TARGETS) {
    it(`${t.name}: only typed errors, no hang, round trips hold`, { timeout: 120_000 }, () => {
      const outcome = runTarget(t, RUNS, SEED);
      expect(outcome.failure).toBeUndefined();
      expect(outcome.runs).toBe(RUNS);
    });
  }
});

describe("edge cases next to the fuzzed properties", () => {
  it("a YAML document that is a bare scalar or a list is a WebConfigError, not a TypeError", () => {
    for (const text of ["42", "- a\n- b", "'x'", "basic_auth_users: 3", "tls_server_config: []"])
      expect(() => parseWebConfig(text, "/x.yml", () => "")).toThrow(/invalid configuration in \/x\.yml/);
  });

  it("a WAV header that declares gigabytes of samples decodes what is there, without allocating them", () => {
    const wav = Buffer.alloc(44);
    wav.write("RIFF", 0);
    wav.writeUInt32LE(0xffffffff, 4);
    wav.write("WAVEfmt ", 8);
    wav.writeUInt32LE(16, 16);
    wav.writeUInt16LE(1, 20);
    wav.writeUInt16LE(1, 22);
    wav.writeUInt32LE(16000, 24);
    wav.writeUInt32LE(32000, 28);
    wav.writeUInt16LE(2, 32);
    wav.writeUInt16LE(16, 34);
    wav.write("data", 36);
    wav.writeUInt32LE(0xfffffff0, 40);
    const bytes = new Uint8Array(Buffer.concat([wav, Buffer.alloc(8)]));
    let result: ReturnType<typeof decodeAudio> | Error;
    try {
      result = decodeAudio(bytes);
    } catch (err) {
      result = err as Error;
    }
    if (result instanceof Error) expect(result.name).toBe("AudioDecodeError");
    else expect(result.samples.length).toBeLessThanOrEqual(4);
  });
});
