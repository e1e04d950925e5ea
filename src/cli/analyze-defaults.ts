/** `analyze --max-seconds` default: 10 minutes, about 200 MB of analysis at 22.05 kHz. */
export const DEFAULT_ANALYZE_MAX_SECONDS = 600;
