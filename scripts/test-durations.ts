// Rewrites tests/durations.json (read by tests/sequencer.ts to start the longest files first) from
// a vitest JSON report: `npx vitest run --reporter=json --outputFile=/tmp/suite.json`, then
// `npx tsx scripts/test-durations.ts /tmp/suite.json`. Files under 2 s are left out.
import { readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";

const MIN_SECONDS = 2;
const report = process.argv[2];
if (report === undefined) {
  console.error("usage: tsx scripts/test-durations.ts <vitest JSON report>");
  process.exit(2);
}
const root = new URL("..", import.meta.url).pathname;
const { testResults } = JSON.parse(readFileSync(report, "utf8")) as {
  testResults: Array<{ name: string; startTime: number; endTime: number }>;
};
const durations = testResults
  .map((f) => [relative(root, f.name), Math.round((f.endTime - f.startTime) / 100) / 10] as const)
  .filter(([, s]) => s >= MIN_SECONDS)
  .sort((a, b) => b[1] - a[1]);
writeFileSync(
  new URL("../tests/durations.json", import.meta.url),
  `${JSON.stringify(Object.fromEntries(durations), null, 2)}\n`,
);
console.log(
  `tests/durations.json: ${durations.length} files of ${testResults.length} took ${MIN_SECONDS} s or more`,
);
