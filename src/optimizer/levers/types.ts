/** What each lever's section of the report carries besides its own figures. */
export interface Saving {
  /** Engine syntheses the change avoids over the window. */
  readonly requests_avoided: number;
  readonly engine_seconds_avoided: number;
  /** Change of the mean request latency (negative: faster). */
  readonly latency_change_ms: number;
}

export interface LeverEvidence {
  readonly window_seconds: number;
  readonly requests: number;
}

/** A lever that could not be evaluated: what it lacks, nothing else. */
export interface Skipped {
  readonly status: "skipped";
  readonly lacks: readonly string[];
}

export const skipped = (...lacks: string[]): Skipped => ({ status: "skipped", lacks });
