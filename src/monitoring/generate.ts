import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ConfigProblem } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { helmFiles } from "./helm.ts";
import { metricsReference } from "./metrics-doc.ts";
import { type GeneratedFile, monitoringFiles } from "./monitoring-files.ts";
import { productionProfile, withConfigLinks } from "./profile.ts";
import { maxLatencyThresholdSeconds } from "./rules.ts";

export type { GeneratedFile };

/**
 * What in a config the exporter accepts cannot become Prometheus rules; `generate` reports it
 * like any config error (exit 2, one message) instead of writing a rule that could never fire.
 */
export function generationProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const maxMs = maxLatencyThresholdSeconds() * 1000;
  if (config.thresholds.latency_max_ms >= maxMs)
    problems.push({
      path: "$.thresholds.latency_max_ms",
      expected: `a latency below ${maxMs} ms for the generated rules (the highest tts_latency_seconds bucket: Prometheus' histogram_quantile answers no p95 above it, so TTSLatencyHigh could never fire)`,
      got: `number ${config.thresholds.latency_max_ms}`,
    });
  return problems;
}

/** Every generated file, from the catalog and the config's thresholds. Pure: same input, same bytes. */
export function generateAll(config: Config): GeneratedFile[] {
  return [
    { path: "docs/metrics.md", content: metricsReference() },
    ...monitoringFiles(config, withConfigLinks(productionProfile, config.alerts)),
    ...helmFiles(config, withConfigLinks(productionProfile, config.alerts)),
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
