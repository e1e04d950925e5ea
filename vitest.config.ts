import { defineConfig } from "vitest/config";
import LongestFirstSequencer from "./tests/sequencer.ts";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Builds dist/ when stale: the integration tests run the compiled CLI.
    globalSetup: ["tests/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two cores: integration tests start real servers, two files at a time. No test times anything
    // to the millisecond (that is bench/'s job), so no file needs the machine to itself.
    maxWorkers: 2,
    // The longest files first (tests/sequencer.ts): neither worker is left with a long file at the end.
    sequence: { sequencer: LongestFirstSequencer },
  },
});
