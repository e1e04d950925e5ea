// Truncation: audio implausibly short for its text. Even fast synthetic speech stays below about
// 6 words/s (360 wpm) and 25 letters/s; real TTS runs at 2.5-3.5 words/s. Audio whose speech span
// is shorter than what the text needs at those ceilings lost part of the text.

export const MAX_WORDS_PER_SECOND = 6;
export const MAX_LETTERS_PER_SECOND = 25;

export interface Truncation {
  words: number;
  letters: number;
  /** Shortest plausible speech duration for the text, seconds. */
  expectedMinSeconds: number;
  /** Speech span measured (first to last non-silent frame), seconds. */
  speechSeconds: number;
  /** speechSeconds / expectedMinSeconds, capped at 1: below 1 means truncated. */
  ratio: number;
  truncated: boolean;
}

export function textSize(text: string): { words: number; letters: number } {
  const words = text.split(/\s+/u).filter((w) => /[\p{L}\p{N}]/u.test(w)).length;
  const letters = (text.match(/[\p{L}\p{N}]/gu) ?? []).length;
  return { words, letters };
}

export function truncation(text: string, speechSeconds: number): Truncation | undefined {
  const { words, letters } = textSize(text);
  if (words === 0) return undefined;
  const expectedMinSeconds = Math.max(words / MAX_WORDS_PER_SECOND, letters / MAX_LETTERS_PER_SECOND);
  const ratio = Math.min(1, speechSeconds / expectedMinSeconds);
  return { words, letters, expectedMinSeconds, speechSeconds, ratio, truncated: ratio < 1 };
}
