import type { EngineConfig, EngineType } from "../config/schema.ts";

/** What every engine factory gets besides its own config. */
export interface EngineContext {
  /** Used when the engine's config has no `timeout_seconds` (the probes' timeout). */
  readonly defaultTimeoutSeconds: number;
  /** Where `api_key_env` and `auth_header.value_env` are looked up (process.env in production). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The config of one engine type. */
export type EngineConfigOf<T extends EngineType> = Extract<EngineConfig, { type: T }>;

/** The engine's own deadline in ms; the request's signal may still end it sooner. */
export function engineTimeoutMs(config: EngineConfig, context: EngineContext): number {
  return Math.round((config.timeout_seconds ?? context.defaultTimeoutSeconds) * 1000);
}
