import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Config } from "../config/schema.ts";
import { metricsReference } from "./metrics-doc.ts";
import { type GeneratedFile, monitoringFiles } from "./monitoring-files.ts";
import { productionProfile, withConfigLinks } from "./profile.ts";

export type { GeneratedFile };

/** Every generated file, from the catalog and the config's thresholds. Pure: same input, same bytes. */
export function generateAll(config: Config): GeneratedFile[] {
  return [
    { path: "docs/metrics.md", content: metricsReference() },
    ...monitoringFiles(config, withConfigLinks(productionProfile, config.alerts)),
  ];
}

export async function writeGenerated(files: readonly GeneratedFile[], outDir: string): Promise<string[]> {
  const written: string[] = [];
  for (const f of files) {
    const target = join(outDir, f.path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, f.content);
    written.push(target);
  }
  return written;
}
