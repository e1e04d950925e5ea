// The one check for every label value that comes from outside (ingested events, the config's
// engine names and voices, gateway models): Prometheus and OpenMetrics parsers read label values
// as UTF-8, so a string that is not well-formed UTF-16 (a lone surrogate, "a\ud800") would become
// U+FFFD on the wire, two series would print alike, and a strict parser would refuse the whole page.

/** Longest label value accepted (characters as UTF-16 units, like the rest of the checks). */
export const MAX_LABEL_VALUE_LENGTH = 128;

/** Control characters (a NUL, a newline, an escape) have no business in a label value. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** In a `u` regex, a surrogate range matches only a surrogate that is not half of a pair. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/** What a label value must be, for messages: "a non-empty string (at most 128 ...)". */
export const LABEL_VALUE_EXPECTED = `a non-empty string (at most ${MAX_LABEL_VALUE_LENGTH} characters, well-formed Unicode, no control characters)`;

/** Why `value` cannot be a label value, or undefined when it can. */
export function labelValueProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  if (value.length === 0) return "must not be empty";
  if (value.length > MAX_LABEL_VALUE_LENGTH) return `must be at most ${MAX_LABEL_VALUE_LENGTH} characters`;
  if (CONTROL.test(value)) return "must not contain control characters";
  if (LONE_SURROGATE.test(value))
    return "must be well-formed Unicode (it holds a lone UTF-16 surrogate, which has no UTF-8 form)";
  return undefined;
}

export function isLabelValue(value: unknown): value is string {
  return labelValueProblem(value) === undefined;
}
