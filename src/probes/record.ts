import type { SynthesisRecorder } from "../ingest/recorder.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import type { ProbeResult } from "./probe.ts";

/** Turns a probe result into metrics: the synthesis itself (source="probe") and the probe's own health. */
export function recordProbe(
  result: ProbeResult,
  registry: MetricsRegistry,
  recorder: SynthesisRecorder,
): void {
  const labels = recorder.record(
    {
      engine: result.engine,
      voice: result.voice,
      characters: result.characters,
      words: result.words,
      latencyMs: result.latencyMs ?? result.durationMs,
      ...(result.ttfaMs !== undefined && { ttfaMs: result.ttfaMs }),
      ...(result.audioDurationMs !== undefined && { audioDurationMs: result.audioDurationMs }),
      success: result.success,
      ...(result.reason !== undefined && { errorReason: result.reason }),
    },
    "probe",
  );
  if (result.chunkGapsMs !== undefined) recorder.recordChunkGaps(labels, "probe", result.chunkGapsMs);
  const probe = { engine: result.engine };
  registry.gauge("tts_probe_success").set(probe, result.success ? 1 : 0);
  registry.gauge("tts_probe_duration_seconds").set(probe, result.durationMs / 1000);
  registry.gauge("tts_probe_last_run_timestamp_seconds").set(probe, result.finishedAt / 1000);
}

/** Removes an engine's probe gauges (an engine removed by a reload); its counters stay, being cumulative. */
export function forgetProbe(engine: string, registry: MetricsRegistry): void {
  const labels = { engine };
  registry.gauge("tts_probe_success").remove(labels);
  registry.gauge("tts_probe_duration_seconds").remove(labels);
  registry.gauge("tts_probe_last_run_timestamp_seconds").remove(labels);
}
