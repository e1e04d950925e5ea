// Stable dashboard uids: alerts link to them and users bookmark them, so they never change.
import type { DashboardRef } from "../links.ts";

export const DASHBOARDS = {
  overview: { uid: "tts-overview", slug: "tts-overview" },
  engine: { uid: "tts-engine", slug: "tts-per-engine" },
  audio: { uid: "tts-audio-quality", slug: "tts-audio-quality" },
  hostGpu: { uid: "tts-host-gpu", slug: "tts-host-and-gpu" },
} as const satisfies Record<string, DashboardRef>;
