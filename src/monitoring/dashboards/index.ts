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
    "dashboards/tts-overview.json": finished(overviewDashboard(t, profile).build()),
    "dashboards/tts-engine.json": finished(engineDashboard(t, profile).build()),
    "dashboards/tts-audio-quality.json": finished(audioDashboard(t).build()),
    "dashboards/tts-host-gpu.json": finished(hostGpuDashboard(t).build()),
  };
}

/**
 * What the SDK's defaults get wrong for a provisioned dashboard. Panels are numbered 1, 2, ... in
 * layout order: the SDK leaves panels without an id and gives every row id 0, which Grafana renumbers
 * on load, so `viewPanel=` links would not survive a regeneration. Links lose the SDK's default
 * `placement: inControlsMenu`, which recent Grafana versions read as "hide in the controls menu".
 */
export function finished(d: Dashboard): Dashboard {
  for (const link of d.links ?? []) delete link.placement;
  let next = 1;
  for (const panel of d.panels ?? []) {
    panel.id = next++;
    if ("panels" in panel) for (const inner of panel.panels ?? []) inner.id = next++;
  }
  return d;
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
