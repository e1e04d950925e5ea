// Starts the longest test files first, so that the two workers finish together instead of one
// running a 30 s file alone at the end (longest-processing-time-first scheduling). A file's
// duration is vitest's own cache of the last run here (node_modules/.vite) when it has one, else
// the one recorded in tests/durations.json (a fresh clone, CI), else 0: files not listed there
// took under 2 s. `npx tsx scripts/test-durations.ts <report.json>` rewrites that file from
// `vitest run --reporter=json --outputFile=<report.json>`.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const RECORDED = JSON.parse(readFileSync(new URL("./durations.json", import.meta.url), "utf8")) as Record<
  string,
  number
>;

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const seconds = (spec: TestSpecification): number => {
      const file = relative(root, spec.moduleId);
      const cached = this.ctx.cache.getFileTestResults(`${spec.project.name}:${file}`);
      return cached ? cached.duration / 1000 : (RECORDED[file] ?? 0);
    };
    const known = new Map(files.map((f) => [f, seconds(f)]));
    return [...files].sort((a, b) => (known.get(b) ?? 0) - (known.get(a) ?? 0));
  }
}
