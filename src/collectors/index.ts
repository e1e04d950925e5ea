import type { Config } from "../config/schema.ts";
import { gpuCollector } from "./gpu.ts";
import { cpuCollector, diskCollector, filesystemCollector, memoryCollector } from "./host.ts";
import { type ProcessTarget, processCollector } from "./process.ts";
import type { Collector } from "./types.ts";

export type CollectorName = keyof Config["monitoring"]["collectors"];

/** Every collector, by the name used in config (`monitoring.collectors`) and in `collector` labels. */
export const collectorTable: Record<CollectorName, (config: Config) => Collector> = {
  cpu: (config) => cpuCollector({ hostRoot: config.monitoring.host_root }),
  memory: (config) => memoryCollector({ hostRoot: config.monitoring.host_root }),
  disk: (config) => diskCollector({ hostRoot: config.monitoring.host_root }),
  filesystem: (config) =>
    filesystemCollector(config.monitoring.filesystem_types_exclude, {
      hostRoot: config.monitoring.host_root,
    }),
  process: (config) => processCollector(processTargets(config), { hostRoot: config.monitoring.host_root }),
  gpu: (config) =>
    gpuCollector({
      nvidiaSmi: config.monitoring.nvidia_smi_path,
      timeoutMs: collectorTimeoutSeconds(config) * 1000,
      intervalMs: config.monitoring.interval_seconds * 1000,
    }),
};

export function collectorTimeoutSeconds(config: Config): number {
  return config.monitoring.collector_timeout_seconds ?? 5;
}

export function processTargets(config: Config): ProcessTarget[] {
  const targets: ProcessTarget[] = [{ label: "exporter", self: true }];
  for (const engine of config.engines) {
    if (!engine.enabled || !engine.process) continue;
    const p = engine.process;
    if (p.pid_file !== undefined) targets.push({ label: engine.name, pidFile: p.pid_file });
    else if (p.name !== undefined) targets.push({ label: engine.name, name: p.name });
  }
  return targets;
}

/** The collectors switched on in config (`gpu_monitoring: false` also switches the GPU off). */
export function enabledCollectors(config: Config): Collector[] {
  const on = config.monitoring.collectors;
  return (Object.keys(collectorTable) as CollectorName[])
    .filter((name) => on[name] && (name !== "gpu" || config.monitoring.gpu_monitoring))
    .map((name) => collectorTable[name](config));
}
