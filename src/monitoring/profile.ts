// Timing and addressing of the generated monitoring files. The thresholds come from the config; what
// varies between a production deployment and the end-to-end tests (how long a condition must hold,
// how fast Alertmanager groups) lives here, so the tests run the same generator with shorter clocks.

import { ALERT_WINDOW_SECONDS } from "../alerts/definitions.ts";

export interface MonitoringProfile {
  readonly name: "production" | "test";
  /** Prometheus job that scrapes the exporter (prometheus.yml). */
  readonly job: string;
  /** Window of rate() and of the latency quantiles, in seconds. */
  readonly rateWindowSeconds: number;
  /** `for` of each alert tier, in seconds. */
  readonly for: {
    /** The exporter is unreachable: fast, nothing else works without it. */
    readonly down: number;
    /** `absent(up)`: the target vanished from Prometheus (service discovery, a renamed job). */
    readonly absent: number;
    /** A threshold breached for this long: warning. */
    readonly warning: number;
    /** The same breach still there after this long: critical (inhibits the warning). */
    readonly critical: number;
    /** Slow-moving signals (quality, cache, collectors): warning only. */
    readonly slow: number;
  };
  /** How far back the collector alert looks for a past success (see TTSCollectorFailing). */
  readonly collectorHistorySeconds: number;
  readonly alertmanager: {
    readonly groupWaitSeconds: number;
    readonly groupIntervalSeconds: number;
    readonly repeatIntervalSeconds: number;
    /** The Watchdog repeats often: the dead-man's-switch service expects a heartbeat. */
    readonly watchdogRepeatSeconds: number;
  };
  /** Grafana as users open it (compose publishes 3000), for the alerts' dashboard_url. */
  readonly grafanaUrl: string;
  /** Where runbooks are published (alerts.runbook_base_url); unset: the repository's docs/runbooks. */
  readonly runbookBaseUrl?: string | undefined;
}

/** A profile with the links the config names (alerts.grafana_url, alerts.runbook_base_url). */
export function withConfigLinks(
  profile: MonitoringProfile,
  alerts: { readonly grafana_url: string; readonly runbook_base_url?: string | undefined },
): MonitoringProfile {
  return { ...profile, grafanaUrl: alerts.grafana_url, runbookBaseUrl: alerts.runbook_base_url };
}

export const productionProfile: MonitoringProfile = {
  name: "production",
  job: "tts-monitor",
  // The in-process evaluator's window too: one TTSLatencyHigh, one statistic.
  rateWindowSeconds: ALERT_WINDOW_SECONDS,
  for: { down: 120, absent: 300, warning: 300, critical: 900, slow: 900 },
  collectorHistorySeconds: 86_400,
  alertmanager: {
    groupWaitSeconds: 30,
    groupIntervalSeconds: 300,
    repeatIntervalSeconds: 4 * 3600,
    watchdogRepeatSeconds: 300,
  },
  grafanaUrl: "http://localhost:3000",
};

/** The end-to-end tests: scrape and evaluate every second, so every clock here is seconds. */
export const testProfile: MonitoringProfile = {
  name: "test",
  job: "tts-monitor",
  rateWindowSeconds: 10,
  for: { down: 2, absent: 2, warning: 2, critical: 4, slow: 3 },
  collectorHistorySeconds: 3600,
  alertmanager: {
    groupWaitSeconds: 1,
    groupIntervalSeconds: 1,
    repeatIntervalSeconds: 3600,
    watchdogRepeatSeconds: 3600,
  },
  grafanaUrl: "http://localhost:3000",
};

/** Prometheus duration text: 300 → "5m", 90 → "90s", 86400 → "1d". */
export function promDuration(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds <= 0)
    throw new Error(`not a positive whole number of seconds: ${seconds}`);
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
