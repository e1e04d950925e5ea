// Fails when a committed generated file differs from a fresh generation (run by npm test).
import { readFile } from "node:fs/promises";
import { loadConfig } from "../src/config/load.ts";
import { generateAll } from "../src/monitoring/generate.ts";

const config = loadConfig("config/config.json", {});
const stale: string[] = [];
for (const file of generateAll(config)) {
  const committed = await readFile(file.path, "utf8").catch(() => undefined);
  if (committed !== file.content) stale.push(file.path);
}
if (stale.length > 0) {
  console.error(
    `generated files are out of date (run \`npm run generate\` and commit):\n  ${stale.join("\n  ")}`,
  );
  process.exit(1);
}
console.log(`generated files up to date (${generateAll(config).length} checked)`);
