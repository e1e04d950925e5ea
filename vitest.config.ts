import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two cores: integration tests start real servers; too much parallelism makes timing tests flaky.
    // The files that time things to the millisecond (engines-timing, engines-embedded, probes,
    // gpu-collector) run after the others, one at a time: `npm run test:timing` (see package.json).
    maxWorkers: 2,
  },
});
