#!/usr/bin/env node
// Compiles src/ to dist/ (JavaScript, .d.ts, source maps with their sources inlined) with tsc and
// copies the static assets the compiled code reads (src/web → dist/web). dist/ is build output.
//   node scripts/build.mjs             always rebuild (npm run build, prepare, prepack)
//   node scripts/build.mjs --if-stale  rebuild only when a source is newer than the last build (npm start)
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist");
const STAMP = join(DIST, ".build-stamp");
const INPUTS = ["src", "tsconfig.json", "tsconfig.build.json", "package.json"];

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted file changes its directory's mtime
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function stale() {
  if (!existsSync(STAMP)) return true;
  const built = statSync(STAMP).mtimeMs;
  return INPUTS.some((input) => newestMtime(join(ROOT, input)) > built);
}

if (process.argv.includes("--if-stale") && !stale()) process.exit(0);

let tsc;
try {
  tsc = join(dirname(fileURLToPath(import.meta.resolve("typescript/package.json"))), "bin", "tsc");
} catch {
  process.stderr.write("build: TypeScript is missing (a devDependency): run `npm ci` first\n");
  process.exit(1);
}
rmSync(DIST, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], {
  cwd: ROOT,
  stdio: "inherit",
});
cpSync(join(ROOT, "src/web"), join(DIST, "web"), { recursive: true });
writeFileSync(STAMP, `${new Date().toISOString()}\n`);
