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
    // Three files at a time on two cores: most files wait (on servers, timeouts, windows of real
    // time) far more than they compute. With two workers the suite used 0.77 of one core (user +
    // system over wall time) and took 466 s; with three, 1.14 cores and 323 s, every test passing,
    // on the same 2-core machine at load 6-7 (docs/benchmarks.md). No test times anything to the
    // millisecond (that is bench/'s job), so no file needs the machine to itself.
    maxWorkers: 3,
    // The longest files first (tests/sequencer.ts): neither worker is left with a long file at the end.
    sequence: { sequencer: LongestFirstSequencer },
  },
});
