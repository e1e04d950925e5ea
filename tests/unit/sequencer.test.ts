import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TestSpecification, Vitest } from "vitest/node";
import RECORDED from "../durations.json" with { type: "json" };
import { REPO_ROOT } from "../helpers/tools.ts";
import LongestFirstSequencer from "../sequencer.ts";

const spec = (file: string) =>
  ({ moduleId: join(REPO_ROOT, file), project: { name: "" } }) as TestSpecification;
const ctx = (cache: Record<string, number>) =>
  ({
    config: { root: REPO_ROOT },
    cache: {
      getFileTestResults: (key: string) =>
        cache[key] === undefined ? undefined : { duration: cache[key], failed: false },
    },
  }) as unknown as Vitest;

describe("test file order", () => {
  const [longest, second] = Object.keys(RECORDED);
  it("a fresh clone (no cache): the recorded durations, longest first, unlisted files last", async () => {
    const files = [spec("tests/unit/no-such-short.test.ts"), spec(second ?? ""), spec(longest ?? "")];
    const sorted = await new LongestFirstSequencer(ctx({})).sort(files);
    expect(sorted.map((s) => s.moduleId)).toEqual(
      [longest, second, "tests/unit/no-such-short.test.ts"].map((f) => join(REPO_ROOT, f ?? "")),
    );
  });
  it("vitest's cache of the last run here wins over the recorded durations", async () => {
    const files = [spec(longest ?? ""), spec("tests/unit/no-such-short.test.ts")];
    const sorted = await new LongestFirstSequencer(
      ctx({ ":tests/unit/no-such-short.test.ts": 999_000 }),
    ).sort(files);
    expect(sorted[0]?.moduleId).toBe(join(REPO_ROOT, "tests/unit/no-such-short.test.ts"));
  });
});
