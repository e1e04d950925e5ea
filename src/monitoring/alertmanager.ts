// Alertmanager routing, generated: critical → Slack and email (Slack only unless
// alerts.email_notifications is true), warning → Slack, Watchdog → the dead-man's-switch receiver; a
// critical inhibits the warning of the same alert. Secrets never enter
// this file: Slack's webhook and the SMTP password are read by Alertmanager from files (*_file), and
// the committed file is rendered without any environment (see render-alertmanager.ts for deploys).
import type { Config } from "../config/schema.ts";
import { type MonitoringProfile, promDuration } from "./profile.ts";

export const RECEIVERS = {
  slackAndEmail: "slack-and-email",
  slack: "slack",
  deadman: "deadman",
} as const;

export const SECRET_FILES = {
  slackWebhook: "slack_webhook_url",
  smtpPassword: "smtp_password",
} as const;

/** What differs between deployments; nothing here is a secret except deadmanUrl (not committed). */
export interface AlertmanagerDeploy {
  /** Directory holding the secret files named in SECRET_FILES (compose: /run/secrets). */
  readonly secretsDir: string;
  /** Recipient of the critical alerts' email; undefined: no email (alerts.email_notifications off). */
  readonly email: string | undefined;
  readonly smtp: {
    readonly smarthost: string;
    readonly from: string;
    readonly username?: string;
    readonly requireTls: boolean;
  };
  /** Heartbeat URL of a dead-man's-switch service (healthchecks.io, Dead Man's Snitch, ...). */
  readonly deadmanUrl?: string;
}

/** The committed file's deployment: compose's /run/secrets and the config's recipient (when email is on). */
export function defaultDeploy(config: Config): AlertmanagerDeploy {
  return {
    secretsDir: "/run/secrets",
    email: config.alerts.email_notifications ? config.alerts.email_to : undefined,
    smtp: { smarthost: "localhost:587", from: "tts-monitor@localhost", requireTls: true },
  };
}

const SLACK_TITLE =
  '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] ' +
  "{{ .CommonLabels.alertname }}{{ if .CommonLabels.engine }} engine={{ .CommonLabels.engine }}{{ end }}" +
  "{{ if .CommonLabels.gpu }} gpu={{ .CommonLabels.gpu }}{{ end }}";

const ALERT_LINES =
  "{{ range .Alerts }}" +
  "[{{ .Status }}] {{ .Labels.severity }}: {{ .Annotations.summary }}\n" +
  "{{ .Annotations.description }}\n" +
  "Runbook: {{ .Annotations.runbook_url }}\nDashboard: {{ .Annotations.dashboard_url }}\n\n" +
  "{{ end }}";

export function alertmanagerConfig(
  config: Config,
  profile: MonitoringProfile,
  deploy: AlertmanagerDeploy,
): object {
  const am = profile.alertmanager;
  // alerts.email_notifications: false means no email at all: no email receiver, no route to one.
  // (true without a recipient is refused when the config is loaded.)
  const email = config.alerts.email_notifications ? deploy.email : undefined;
  const secret = (name: string) => `${deploy.secretsDir.replace(/\/$/, "")}/${name}`;
  const slack = {
    api_url_file: secret(SECRET_FILES.slackWebhook),
    send_resolved: true,
    title: SLACK_TITLE,
    text: ALERT_LINES,
  };
  return {
    global: {
      resolve_timeout: "5m",
      ...(email && {
        smtp_smarthost: deploy.smtp.smarthost,
        smtp_from: deploy.smtp.from,
        ...(deploy.smtp.username ? { smtp_auth_username: deploy.smtp.username } : {}),
        smtp_require_tls: deploy.smtp.requireTls,
      }),
    },
    route: {
      receiver: RECEIVERS.slack,
      group_by: ["alertname", "engine", "gpu"],
      group_wait: promDuration(am.groupWaitSeconds),
      group_interval: promDuration(am.groupIntervalSeconds),
      repeat_interval: promDuration(am.repeatIntervalSeconds),
      routes: [
        {
          matchers: ['alertname="Watchdog"'],
          receiver: RECEIVERS.deadman,
          group_wait: "0s",
          group_interval: promDuration(Math.min(am.groupIntervalSeconds, am.watchdogRepeatSeconds)),
          repeat_interval: promDuration(am.watchdogRepeatSeconds),
        },
        { matchers: ['severity="critical"'], receiver: email ? RECEIVERS.slackAndEmail : RECEIVERS.slack },
        { matchers: ['severity="warning"'], receiver: RECEIVERS.slack },
      ],
    },
    inhibit_rules: [
      {
        // The critical tier of an alert makes its warning tier noise (same alert, same engine or GPU).
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: ["alertname", "instance", "engine", "gpu"],
      },
    ],
    receivers: [
      ...(email
        ? [
            {
              name: RECEIVERS.slackAndEmail,
              slack_configs: [slack],
              email_configs: [
                {
                  to: email,
                  send_resolved: true,
                  ...(deploy.smtp.username ? { auth_password_file: secret(SECRET_FILES.smtpPassword) } : {}),
                  headers: { Subject: SLACK_TITLE },
                  text: ALERT_LINES,
                },
              ],
            },
          ]
        : []),
      { name: RECEIVERS.slack, slack_configs: [slack] },
      // No URL configured: the Watchdog goes nowhere rather than to an error every few minutes.
      deploy.deadmanUrl
        ? { name: RECEIVERS.deadman, webhook_configs: [{ url: deploy.deadmanUrl, send_resolved: false }] }
        : { name: RECEIVERS.deadman },
    ],
  };
}

export interface RouteCase {
  readonly labels: Readonly<Record<string, string>>;
  readonly receivers: readonly string[];
}

/** `amtool config routes test` cases: one per route, plus the fallback (critical: email only when it is on). */
export function routeCases(config: Config): RouteCase[] {
  const critical = defaultDeploy(config).email ? RECEIVERS.slackAndEmail : RECEIVERS.slack;
  return [
    { labels: { alertname: "Watchdog", severity: "none" }, receivers: [RECEIVERS.deadman] },
    {
      labels: { alertname: "TTSLatencyHigh", severity: "critical", engine: "kokoro" },
      receivers: [critical],
    },
    {
      labels: { alertname: "TTSLatencyHigh", severity: "warning", engine: "kokoro" },
      receivers: [RECEIVERS.slack],
    },
    {
      labels: { alertname: "TTSGpuTemperatureHigh", severity: "critical", gpu: "0" },
      receivers: [critical],
    },
    { labels: { alertname: "TTSExporterDown", severity: "critical" }, receivers: [critical] },
    { labels: { alertname: "SomethingElse", severity: "info" }, receivers: [RECEIVERS.slack] },
  ];
}
