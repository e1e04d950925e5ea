// Deploy-time rendering of alertmanager.yml from the environment, with the same generator as the
// committed file. Alertmanager expands no environment variables, so the recipient, the SMTP server and
// the dead-man's-switch URL are written in here; the Slack webhook and the SMTP password are written to
// 0600 files next to it and referenced with *_file. Used by the compose stack (a one-shot service), by
// `npm run stack` and by the alert delivery test.
//   tsx src/monitoring/render-alertmanager.ts [--config config/config.json] [--out dir]
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { type Env, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { type AlertmanagerDeploy, alertmanagerConfig, defaultDeploy, SECRET_FILES } from "./alertmanager.ts";
import { type MonitoringProfile, productionProfile } from "./profile.ts";
import { generatedYaml } from "./yaml.ts";

/** Environment variables read here (TTS_MONITOR_EMAIL and TTS_MONITOR_SLACK_WEBHOOK come through the config). */
export const RENDER_ENV = {
  smarthost: "TTS_MONITOR_SMTP_SMARTHOST",
  from: "TTS_MONITOR_SMTP_FROM",
  username: "TTS_MONITOR_SMTP_USERNAME",
  password: "TTS_MONITOR_SMTP_PASSWORD",
  requireTls: "TTS_MONITOR_SMTP_REQUIRE_TLS",
  deadmanUrl: "TTS_MONITOR_DEADMAN_URL",
  secretsDir: "TTS_MONITOR_SECRETS_DIR",
} as const;

export function deployFromEnv(config: Config, env: Env, outDir: string): AlertmanagerDeploy {
  const base = defaultDeploy(config);
  const get = (name: string) => env[name]?.trim() || undefined;
  const username = get(RENDER_ENV.username);
  const deadmanUrl = get(RENDER_ENV.deadmanUrl);
  return {
    secretsDir: get(RENDER_ENV.secretsDir) ?? join(resolve(outDir), "secrets"),
    email: base.email,
    smtp: {
      smarthost: get(RENDER_ENV.smarthost) ?? base.smtp.smarthost,
      from: get(RENDER_ENV.from) ?? base.smtp.from,
      ...(username ? { username } : {}),
      requireTls: (get(RENDER_ENV.requireTls) ?? "true") !== "false",
    },
    ...(deadmanUrl ? { deadmanUrl } : {}),
  };
}

function writeSecret(dir: string, name: string, value: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, name);
  writeFileSync(file, value, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Writes `outDir/alertmanager.yml` (and the secret files the environment gives); returns the config path. */
export function renderAlertmanager(
  config: Config,
  env: Env,
  outDir: string,
  profile: MonitoringProfile = productionProfile,
  deployOverride: Partial<AlertmanagerDeploy> = {},
): string {
  const deploy = { ...deployFromEnv(config, env, outDir), ...deployOverride };
  mkdirSync(outDir, { recursive: true });
  if (config.alerts.slack_webhook)
    writeSecret(deploy.secretsDir, SECRET_FILES.slackWebhook, config.alerts.slack_webhook);
  const password = env[RENDER_ENV.password];
  if (password) writeSecret(deploy.secretsDir, SECRET_FILES.smtpPassword, password);
  const file = join(outDir, "alertmanager.yml");
  const text = generatedYaml(alertmanagerConfig(config, profile, deploy), [
    "RENDERED at deploy time by src/monitoring/render-alertmanager.ts from the environment. Not committed.",
  ]);
  writeFileSync(file, text, { mode: 0o640 });
  return file;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({
    options: {
      config: { type: "string", default: "config/config.json" },
      out: { type: "string", default: "." },
    },
  });
  const config = loadConfig(values.config ?? "config/config.json", process.env);
  const file = renderAlertmanager(config, process.env, values.out ?? ".");
  process.stdout.write(`wrote ${file}\n`);
}
