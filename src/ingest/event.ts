import { z } from "zod";
import { FAILURE_REASONS, type FailureReason } from "../engines/types.ts";
import { isLabelValue, LABEL_VALUE_EXPECTED, labelValueProblem } from "../metrics/labels.ts";

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

const labelValue = z.string().superRefine((v, ctx) => {
  const problem = labelValueProblem(v);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});
const nonNegative = z.number().finite().min(0);
/** Standard or URL-safe base64, padding optional; line breaks and spaces (MIME style) allowed. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

export function isBase64(text: string): boolean {
  const compact = /\s/.test(text) ? text.replace(/\s+/g, "") : text;
  return compact.length > 0 && compact.length % 4 !== 1 && BASE64.test(compact);
}

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
  audio_wav_base64: z
    .string()
    .max(50_000_000)
    .refine(isBase64, "must be non-empty base64 (the WAV file's bytes)")
    .optional(),
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

// Words and characters of a text, for throughput and speaking rate. ASCII text (the common case, on
// the ingestion hot path) is counted by hand; other text by Intl.Segmenter (Unicode UAX #29), which
// finds the words of scripts written without spaces (Chinese, Japanese, Thai) and counts an emoji
// sequence or a letter with combining accents as one character. The ASCII rules give the same
// counts as the segmenter on ASCII text.

const NON_ASCII = /[^\u0000-\u007f]/;
const LETTER_OR_NUMBER = /[\p{L}\p{N}]/u;
let wordSegmenter: Intl.Segmenter | undefined;
let graphemeSegmenter: Intl.Segmenter | undefined;

// ASCII classes for the word rules: 1 letter, 2 digit, 3 underscore, 0 anything else.
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  ASCII_CLASS[c] = /[A-Za-z]/.test(ch) ? 1 : /[0-9]/.test(ch) ? 2 : ch === "_" ? 3 : 0;
}

/** Words as a reader counts them: punctuation and emoji are not words; "don't" and "3.14" are one. */
export function countWords(text: string): number {
  if (NON_ASCII.test(text)) {
    wordSegmenter ??= new Intl.Segmenter("und", { granularity: "word" });
    let n = 0;
    for (const s of wordSegmenter.segment(text)) if (s.isWordLike && LETTER_OR_NUMBER.test(s.segment)) n++;
    return n;
  }
  // A word is a run of letters, digits and "_" holding a letter or a digit; ' . : join two letters
  // and , . ; ' join two digits (UAX #29 rules WB6-WB12, restricted to ASCII).
  let n = 0;
  let inRun = false;
  let hasAlnum = false;
  const len = text.length;
  for (let i = 0; i < len; i++) {
    const cls = ASCII_CLASS[text.charCodeAt(i)] as number;
    if (cls !== 0) {
      inRun = true;
      if (cls !== 3) hasAlnum = true;
      continue;
    }
    if (inRun && i + 1 < len) {
      const c = text.charCodeAt(i);
      const prev = ASCII_CLASS[text.charCodeAt(i - 1)];
      const next = ASCII_CLASS[text.charCodeAt(i + 1)];
      const joinsLetters = prev === 1 && next === 1 && (c === 39 || c === 46 || c === 58); // ' . :
      const joinsDigits = prev === 2 && next === 2 && (c === 44 || c === 46 || c === 59 || c === 39); // , . ; '
      if (joinsLetters || joinsDigits) continue;
    }
    if (inRun && hasAlnum) n++;
    inRun = false;
    hasAlnum = false;
  }
  return inRun && hasAlnum ? n + 1 : n;
}

/** Characters as a person counts them (grapheme clusters: not UTF-16 units, not code points). */
export function countCharacters(text: string): number {
  if (!NON_ASCII.test(text)) {
    let crlf = 0;
    for (let i = text.indexOf("\r\n"); i >= 0; i = text.indexOf("\r\n", i + 2)) crlf++;
    return text.length - crlf;
  }
  graphemeSegmenter ??= new Intl.Segmenter("und", { granularity: "grapheme" });
  let n = 0;
  for (const _ of graphemeSegmenter.segment(text)) n++;
  return n;
}

/**
 * Fast checks for recordSynthesis() (it runs per request of the caller's service, so no schema
 * library on this path). Throws a TypeError that names the field.
 */
export function validateApiEvent(e: SynthesisEvent): void {
  if (e === null || typeof e !== "object") throw new TypeError("recordSynthesis: expected an event object");
  if (!isLabelValue(e.engine)) {
    throw new TypeError(`recordSynthesis: engine must be ${LABEL_VALUE_EXPECTED}, got ${describe(e.engine)}`);
  }
  if (e.voice !== undefined && !isLabelValue(e.voice)) {
    throw new TypeError(`recordSynthesis: voice must be ${LABEL_VALUE_EXPECTED}, got ${describe(e.voice)}`);
  }
  if (typeof e.latencyMs !== "number" || !(e.latencyMs >= 0) || e.latencyMs === Number.POSITIVE_INFINITY) {
    const snake = (e as unknown as Record<string, unknown>).latency_ms !== undefined;
    throw new TypeError(
      `recordSynthesis: latencyMs must be a finite number ≥ 0, got ${describe(e.latencyMs)}${snake ? " (the TypeScript API takes camelCase fields: latencyMs, not latency_ms)" : ""}`,
    );
  }
  for (const key of ["ttfaMs", "audioDurationMs"] as const) {
    const v = e[key];
    if (v !== undefined && (typeof v !== "number" || !(v >= 0) || v === Number.POSITIVE_INFINITY)) {
      throw new TypeError(`recordSynthesis: ${key} must be a finite number ≥ 0, got ${describe(v)}`);
    }
  }
  for (const key of ["characters", "words"] as const) {
    const v = e[key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0)) {
      throw new TypeError(`recordSynthesis: ${key} must be an integer ≥ 0, got ${describe(v)}`);
    }
  }
  if (e.text !== undefined && typeof e.text !== "string")
    throw new TypeError(`recordSynthesis: text must be a string, got ${describe(e.text)}`);
  if (e.cacheHit !== undefined && typeof e.cacheHit !== "boolean")
    throw new TypeError(`recordSynthesis: cacheHit must be a boolean, got ${describe(e.cacheHit)}`);
  if (e.success !== undefined && typeof e.success !== "boolean")
    throw new TypeError(`recordSynthesis: success must be a boolean, got ${describe(e.success)}`);
  if (e.errorReason !== undefined) {
    if (!(FAILURE_REASONS as readonly string[]).includes(e.errorReason))
      throw new TypeError(`recordSynthesis: errorReason must be one of ${FAILURE_REASONS.join(", ")}`);
    if (e.success !== false)
      throw new TypeError(
        "recordSynthesis: errorReason given for a successful synthesis (set success: false)",
      );
  }
  if (e.audio !== undefined && !(e.audio instanceof Uint8Array))
    throw new TypeError(
      `recordSynthesis: audio must be the WAV file's bytes (a Uint8Array or Buffer), got ${describe(e.audio)}`,
    );
}

/** A value for an error message: its type, and short values as JSON ("5" stays a string). */
function describe(v: unknown): string {
  if (v === undefined) return "undefined";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : typeof v;
}
