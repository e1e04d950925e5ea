// The one owner of tts_audio_predicted_mos series: a clip's values replace the last clip's; a clip
// with no value (too short, silent, undecodable, model unavailable) removes them, so a value on
// /metrics is always the prediction for the last audio of that engine/voice.
import type { MetricsRegistry } from "../../metrics/registry.ts";
import type { MosOutcome } from "./index.ts";
import { MOS_MODELS } from "./models.ts";

export function recordMos(
  registry: MetricsRegistry,
  labels: { engine: string; voice: string },
  outcome: MosOutcome,
): void {
  // A newer clip from the same source is already queued: it will set or remove the series.
  if (outcome.absent === "superseded by a newer clip" || outcome.absent === "closed") return;
  const gauge = registry.gauge("tts_audio_predicted_mos");
  for (const model of Object.values(MOS_MODELS))
    for (const dimension of model.dimensions) gauge.remove({ ...labels, model: model.name, dimension });
  for (const r of outcome.results)
    for (const [dimension, value] of Object.entries(r.values))
      if (Number.isFinite(value)) gauge.set({ ...labels, model: r.model, dimension }, value);
}
