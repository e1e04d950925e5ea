// The dashboards, as files under dashboards/ (committed JSON, provisioned into Grafana).
import type { Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import type { Thresholds } from "../../config/schema.ts";
import type { MonitoringProfile } from "../profile.ts";
import { audioDashboard } from "./audio.ts";
import { engineDashboard } from "./engine.ts";
import { hostGpuDashboard } from "./host-gpu.ts";
import { overviewDashboard } from "./overview.ts";

export function dashboards(t: Thresholds, profile: MonitoringProfile): Record<string, Dashboard> {
  return {
    "dashboards/tts-overview.json": overviewDashboard(t, profile).build(),
    "dashboards/tts-engine.json": engineDashboard(t, profile).build(),
    "dashboards/tts-audio-quality.json": audioDashboard(t).build(),
    "dashboards/tts-host-gpu.json": hostGpuDashboard(t).build(),
  };
}

/** Every PromQL expression of a dashboard's panels (rows have none). */
export function panelQueries(d: Dashboard): Array<{ panel: string; expr: string }> {
  const out: Array<{ panel: string; expr: string }> = [];
  for (const panel of d.panels ?? []) {
    if (!("targets" in panel)) continue;
    for (const target of panel.targets ?? []) {
      const expr = (target as { expr?: unknown }).expr;
      if (typeof expr === "string") out.push({ panel: panel.title ?? "", expr });
    }
  }
  return out;
}
