// Settings changed at run time (the web dashboard's controls) that a config reload (SIGHUP) keeps:
// a reload re-reads the file, and a threshold set from the dashboard five minutes ago must not
// silently snap back. The file wins only for a key the file itself changed, and says so in one line.

import { isDeepStrictEqual } from "node:util";
import type { Logger } from "../log.ts";
import type { Config, Thresholds } from "./schema.ts";

/** A setting the run-time controls change. */
export type OverrideKey =
  | { readonly kind: "threshold"; readonly key: keyof Thresholds }
  | { readonly kind: "probe_interval" }
  | { readonly kind: "probe_texts" }
  | { readonly kind: "engine_enabled"; readonly engine: string };

/** The config path a key names, as the log line and the dashboard's event log write it. */
export function overridePath(k: OverrideKey): string {
  switch (k.kind) {
    case "threshold":
      return `thresholds.${k.key}`;
    case "probe_interval":
      return "probes.interval_seconds";
    case "probe_texts":
      return "probes.texts";
    case "engine_enabled":
      return `engines[${JSON.stringify(k.engine)}].enabled`;
  }
}

function read(config: Config, k: OverrideKey): unknown {
  switch (k.kind) {
    case "threshold":
      return config.thresholds[k.key];
    case "probe_interval":
      return config.probes.interval_seconds;
    case "probe_texts":
      return config.probes.texts;
    case "engine_enabled":
      return config.engines.find((e) => e.name === k.engine)?.enabled;
  }
}

function write(config: Config, k: OverrideKey, value: unknown): Config {
  switch (k.kind) {
    case "threshold":
      return { ...config, thresholds: { ...config.thresholds, [k.key]: value as number } };
    case "probe_interval":
      return { ...config, probes: { ...config.probes, interval_seconds: value as number } };
    case "probe_texts":
      return { ...config, probes: { ...config.probes, texts: value as string[] } };
    case "engine_enabled":
      return {
        ...config,
        engines: config.engines.map((e) => (e.name === k.engine ? { ...e, enabled: value as boolean } : e)),
      };
  }
}

export class RunTimeOverrides {
  readonly #values = new Map<string, { readonly key: OverrideKey; readonly value: unknown }>();

  /** Remembers a run-time change (the latest one of each key counts). */
  record(key: OverrideKey, value: unknown): void {
    this.#values.set(overridePath(key), { key, value });
  }

  /**
   * The freshly read file config with every run-time change whose key the file left as it was
   * (`previousFile` is the file as last read). A key the file changed: the file's value applies,
   * the run-time change is forgotten, and one log line says so. A removed engine's change is dropped.
   */
  reapply(previousFile: Config, nextFile: Config, log: Logger): { config: Config; kept: string[] } {
    let out = nextFile;
    const kept: string[] = [];
    for (const [path, { key, value }] of this.#values) {
      const before = read(previousFile, key);
      const after = read(nextFile, key);
      if (after === undefined) {
        this.#values.delete(path);
        continue;
      }
      if (isDeepStrictEqual(after, value)) {
        // The file now says what the run-time change said: nothing to keep, nothing to report.
        this.#values.delete(path);
        continue;
      }
      if (!isDeepStrictEqual(before, after)) {
        log.info(
          "config reload: the file changed a setting that was also changed at run time; the file's value applies",
          {
            setting: path,
            ...(Array.isArray(after)
              ? { file_count: after.length, run_time_count: (value as unknown[]).length }
              : { file_value: after, run_time_value: value }),
          },
        );
        this.#values.delete(path);
        continue;
      }
      out = write(out, key, value);
      kept.push(path);
    }
    return { config: out, kept };
  }
}
