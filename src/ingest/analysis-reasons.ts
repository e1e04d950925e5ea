/** Bounded `reason` of tts_audio_analysis_failures_total (its help text lists them). */
export const ANALYSIS_FAILURE_REASONS = [
  "backlog",
  "decode",
  "worker",
  "analysis",
  "recogniser",
  "recogniser_timeout",
] as const;
export type AnalysisFailureReason = (typeof ANALYSIS_FAILURE_REASONS)[number];
