import { existsSync } from "node:fs";
import { normalize } from "node:path";
import { fileURLToPath } from "node:url";

/** The config file read when none is named (relative to the working directory). */
export const DEFAULT_CONFIG_PATH = "config/config.json";

/** The config shipped with the package (probes the embedded engine only). */
export const BUNDLED_CONFIG_PATH = fileURLToPath(new URL("../../config/config.json", import.meta.url));

/**
 * The config file to read: `path` itself, except the default `config/config.json` when the working
 * directory has none: then the config shipped with the package, so that an installed `tts-monitor`
 * run from any directory, and `new TTSPerformanceMonitor({ configPath: "config/config.json" })` in
 * a project without its own config, start with the defaults. Any other missing file is an error.
 */
export function resolveConfigPath(path: string = DEFAULT_CONFIG_PATH): string {
  if (normalize(path) !== normalize(DEFAULT_CONFIG_PATH) || existsSync(path)) return path;
  return existsSync(BUNDLED_CONFIG_PATH) ? BUNDLED_CONFIG_PATH : path;
}
