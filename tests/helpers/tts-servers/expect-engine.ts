import { expect } from "vitest";
import { EngineError, type FailureReason, type SynthesisResult } from "../../../src/engines/types.ts";

/** Awaits a synthesis that must fail with `reason`; returns the error for further checks. */
export async function expectEngineError(
  promise: Promise<unknown>,
  reason: FailureReason,
): Promise<EngineError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "synthesis should have failed").toBeInstanceOf(EngineError);
  const engineError = error as EngineError;
  expect(engineError.reason, engineError.message).toBe(reason);
  return engineError;
}

/** start ≤ requestSent ≤ firstByte ≤ firstAudio ≤ end, all on the performance.now() clock. */
export function expectOrderedTimings(result: SynthesisResult): void {
  const t = result.timings;
  expect(t.firstByte).toBeDefined();
  expect(t.firstAudio).toBeDefined();
  expect(t.start).toBeLessThanOrEqual(t.requestSent);
  expect(t.requestSent).toBeLessThanOrEqual(t.firstByte ?? Number.NaN);
  expect(t.firstByte).toBeLessThanOrEqual(t.firstAudio ?? Number.NaN);
  expect(t.firstAudio).toBeLessThanOrEqual(t.end);
}

export const context = { defaultTimeoutSeconds: 10, env: {} as Record<string, string | undefined> };
export const TEXT = "The quick brown fox jumps over the lazy dog.";
export const timeout = (ms: number) => AbortSignal.timeout(ms);
