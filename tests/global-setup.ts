// Runs once before any test file: the integration tests start the compiled CLI (dist/, see
// tests/helpers/exporter.ts), so dist/ is rebuilt first when a source is newer than the last build
// (`npm test` has built it already in pretest: then this only compares timestamps).
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./helpers/tools.ts";

export default function setup(): void {
  execFileSync(process.execPath, [join(REPO_ROOT, "scripts/build.mjs"), "--if-stale"], {
    cwd: REPO_ROOT,
    stdio: "inherit",
  });
}
