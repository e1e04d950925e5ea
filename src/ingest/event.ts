import { z } from "zod";
import { FAILURE_REASONS, type FailureReason } from "../engines/types.ts";

/** A synthesis as the recorder sees it (camelCase, the TypeScript API's shape). */
export interface SynthesisEvent {
  readonly engine: string;
  readonly voice?: string;
  /** Never used as a label: only to derive characters and words when they are absent. */
  readonly text?: string;
  readonly characters?: number;
  readonly words?: number;
  readonly latencyMs: number;
  readonly ttfaMs?: number;
  readonly audioDurationMs?: number;
  readonly cacheHit?: boolean;
  /** Default true. */
  readonly success?: boolean;
  readonly errorReason?: FailureReason;
  /** WAV (or other decodable audio) for quality analysis. */
  readonly audio?: Uint8Array;
}

const labelValue = z.string().min(1).max(128);
const nonNegative = z.number().finite().min(0);

/** The HTTP body's event (SPEC §5), snake_case like the config. Unknown keys are rejected. */
export const httpEventSchema = z.strictObject({
  engine: labelValue,
  voice: labelValue.optional(),
  text: z.string().max(100_000).optional(),
  characters: z.number().int().min(0).optional(),
  words: z.number().int().min(0).optional(),
  latency_ms: nonNegative,
  ttfa_ms: nonNegative.optional(),
  audio_duration_ms: nonNegative.optional(),
  cache_hit: z.boolean().optional(),
  success: z.boolean().optional(),
  error_reason: z.enum(FAILURE_REASONS).optional(),
  audio_wav_base64: z.string().max(50_000_000).optional(),
});
export type HttpEvent = z.infer<typeof httpEventSchema>;

export function fromHttpEvent(e: HttpEvent): SynthesisEvent {
  return {
    engine: e.engine,
    ...(e.voice !== undefined && { voice: e.voice }),
    ...(e.text !== undefined && { text: e.text }),
    ...(e.characters !== undefined && { characters: e.characters }),
    ...(e.words !== undefined && { words: e.words }),
    latencyMs: e.latency_ms,
    ...(e.ttfa_ms !== undefined && { ttfaMs: e.ttfa_ms }),
    ...(e.audio_duration_ms !== undefined && { audioDurationMs: e.audio_duration_ms }),
    ...(e.cache_hit !== undefined && { cacheHit: e.cache_hit }),
    ...(e.success !== undefined && { success: e.success }),
    ...(e.error_reason !== undefined && { errorReason: e.error_reason }),
    ...(e.audio_wav_base64 !== undefined && { audio: Buffer.from(e.audio_wav_base64, "base64") }),
  };
}

export function countWords(text: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const space = c === 32 || c === 9 || c === 10 || c === 13 || c === 0xa0;
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

/** Characters as a person counts them (code points, not UTF-16 units). */
export function countCharacters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Fast checks for recordSynthesis() (it runs per request of the caller's service, so no schema
 * library on this path). Throws a TypeError that names the field.
 */
export function validateApiEvent(e: SynthesisEvent): void {
  if (e === null || typeof e !== "object") throw new TypeError("recordSynthesis: expected an event object");
  if (typeof e.engine !== "string" || e.engine.length === 0 || e.engine.length > 128) {
    throw new TypeError("recordSynthesis: engine must be a non-empty string (at most 128 characters)");
  }
  if (
    e.voice !== undefined &&
    (typeof e.voice !== "string" || e.voice.length === 0 || e.voice.length > 128)
  ) {
    throw new TypeError("recordSynthesis: voice must be a non-empty string (at most 128 characters)");
  }
  if (typeof e.latencyMs !== "number" || !(e.latencyMs >= 0) || e.latencyMs === Number.POSITIVE_INFINITY) {
    throw new TypeError(`recordSynthesis: latencyMs must be a finite number ≥ 0, got ${String(e.latencyMs)}`);
  }
  for (const key of ["ttfaMs", "audioDurationMs"] as const) {
    const v = e[key];
    if (v !== undefined && (typeof v !== "number" || !(v >= 0) || v === Number.POSITIVE_INFINITY)) {
      throw new TypeError(`recordSynthesis: ${key} must be a finite number ≥ 0, got ${String(v)}`);
    }
  }
  for (const key of ["characters", "words"] as const) {
    const v = e[key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0)) {
      throw new TypeError(`recordSynthesis: ${key} must be an integer ≥ 0, got ${String(v)}`);
    }
  }
  if (e.cacheHit !== undefined && typeof e.cacheHit !== "boolean")
    throw new TypeError("recordSynthesis: cacheHit must be a boolean");
  if (e.success !== undefined && typeof e.success !== "boolean")
    throw new TypeError("recordSynthesis: success must be a boolean");
  if (e.errorReason !== undefined && !(FAILURE_REASONS as readonly string[]).includes(e.errorReason)) {
    throw new TypeError(`recordSynthesis: errorReason must be one of ${FAILURE_REASONS.join(", ")}`);
  }
}
