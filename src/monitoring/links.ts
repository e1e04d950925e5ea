// Where the alerts' runbook_url and dashboard_url point. Runbooks live in the repository
// (docs/runbooks/<AlertName>.md); when package.json names the repository, links are absolute.
import { readFileSync } from "node:fs";
import type { MonitoringProfile } from "./profile.ts";

export const RUNBOOK_DIR = "docs/runbooks";

function repositoryWebUrl(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      repository?: string | { url?: string };
    };
    const raw = typeof pkg.repository === "string" ? pkg.repository : pkg.repository?.url;
    if (!raw) return undefined;
    const https = raw.replace(/^git\+/, "").replace(/\.git$/, "");
    return /^https:\/\//.test(https) ? https : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `<alerts.runbook_base_url>/<alert>.md` when the config names where runbooks are published; else
 * `docs/runbooks/<alert>.md`, or its URL on the repository's web page when package.json names one.
 */
export function runbookUrl(alert: string, profile?: MonitoringProfile): string {
  if (profile?.runbookBaseUrl) return `${profile.runbookBaseUrl}/${alert}.md`;
  const repo = repositoryWebUrl();
  const path = `${RUNBOOK_DIR}/${alert}.md`;
  return repo ? `${repo}/blob/main/${path}` : path;
}

/** The repository path a runbook_url points at (for the test that every runbook exists). */
export function runbookPath(url: string): string {
  const i = url.indexOf(`${RUNBOOK_DIR}/`);
  return i < 0 ? url : url.slice(i);
}

export interface DashboardRef {
  readonly uid: string;
  readonly slug: string;
}

/** A Grafana link; `vars` values may be alert templates such as `{{ $labels.engine }}`. */
export function dashboardUrl(
  profile: MonitoringProfile,
  dash: DashboardRef,
  vars: Readonly<Record<string, string>> = {},
): string {
  const query = Object.entries(vars)
    .map(([k, v]) => `var-${k}=${v}`)
    .join("&");
  return `${profile.grafanaUrl}/d/${dash.uid}/${dash.slug}${query ? `?${query}` : ""}`;
}
