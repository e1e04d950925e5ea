import { z } from "zod";
import { AlertExpressionError, parseCondition } from "./expression.ts";

// The `alerts` and `dashboard` sections of the config (SPEC §4), imported by config/schema.ts so
// that a bad rule is a ConfigError like any other mistake: one line with its JSON path, exit 2.

export const CHANNELS = ["slack", "email", "dashboard", "desktop"] as const;
export type Channel = (typeof CHANNELS)[number];

const channel = z.enum(CHANNELS);
const name = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "letters, digits, '_', '.', '-' (1-64 characters)");
const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]);

const ruleObject = z.strictObject({
  name: name.optional(),
  condition: z.string(),
  action: oneOrMany(name).optional(),
  notification: oneOrMany(channel).optional(),
  severity: z.enum(["warning", "critical"]).default("warning"),
});

/** A named action run when an alert fires: an HTTP webhook (`url`) or a program (`command`, no shell). */
const actionSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).optional(),
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("POST"),
    headers: z.record(z.string(), z.string()).default({}),
    /** Header values read from the environment (API tokens stay out of the file): { "Authorization": "ENV_VAR" }. */
    header_env: z.record(z.string(), z.string()).default({}),
    command: z.array(z.string().min(1)).min(1).optional(),
    timeout_seconds: z.number().positive().max(600).default(10),
  })
  .refine((a) => (a.url === undefined) !== (a.command === undefined), {
    message: "exactly one of url (a webhook) or command (argv array)",
  });

const httpUrl = z
  .string()
  .regex(/^https?:\/\/[^\s/?#]+[^\s?#]*$/, "an http(s) URL without query or fragment")
  .transform((u) => u.replace(/\/+$/, ""));

export const alertsSchema = z
  .strictObject({
    email_notifications: z.boolean().default(false),
    email_to: z.string().optional(),
    slack_webhook: z.string().optional(),
    /** File holding the Slack webhook URL (a secret), instead of slack_webhook. */
    slack_webhook_file: z.string().min(1).optional(),
    dashboard_alerts: z.boolean().default(true),
    /** Grafana as the people who get the alerts open it: the generated rules' dashboard_url. */
    grafana_url: httpUrl.default("http://localhost:3000"),
    /** Where the runbooks are published (e.g. a wiki or the repository's web page): the rules' runbook_url is <this>/<Alert>.md. */
    runbook_base_url: httpUrl.optional(),
    smtp: z
      .strictObject({
        host: z.string().min(1),
        /** Default 465 with secure: true, else 587. */
        port: z.number().int().min(1).max(65535).optional(),
        /**
         * true: TLS from the first byte (implicit TLS, port 465); false: plain, upgraded with STARTTLS
         * when the server offers it. Default: true on port 465, false otherwise (as nodemailer does).
         */
        secure: z.boolean().optional(),
        /** Refuse to send (and to log in) unless the connection is upgraded with STARTTLS. */
        require_tls: z.boolean().default(false),
        /**
         * Accept a certificate that does not verify (self-signed, expired: a local relay's snakeoil
         * certificate). Better: trust its CA with NODE_EXTRA_CA_CERTS=/path/ca.pem.
         */
        insecure_skip_verify: z.boolean().default(false),
        user: z.string().min(1).optional(),
        password_env: z.string().min(1).default("TTS_MONITOR_SMTP_PASSWORD"),
        password_file: z.string().min(1).optional(),
        from: z.string().min(3).default("tts-monitor@localhost"),
      })
      .optional(),
    /** Conditions in the alert language, evaluated with the thresholds when --alerts is on. */
    rules: z.array(z.union([z.string(), ruleObject])).default([]),
    actions: z.record(name, actionSchema).default({}),
    /** Seconds a threshold must stay crossed before its alert fires (rules say it with `for`). */
    for_seconds: z.number().min(0).max(86_400).default(0),
    /**
     * An engine that is not in the config (it only reports through the ingestion API) and has sent
     * nothing for this long leaves the evaluation, and its alerts resolve; 0: never.
     */
    stale_after_seconds: z.number().min(0).max(86_400).default(300),
    /** After a notification, the same alert (rule and engine/GPU) does not notify again for this long. */
    cooldown_seconds: z.number().min(0).max(86_400).default(300),
    evaluation_interval_seconds: z.number().min(0.1).max(3600).default(1),
    notification_timeout_seconds: z.number().positive().max(300).default(10),
    retry: z
      .strictObject({
        attempts: z.number().int().min(1).max(20).default(4),
        initial_backoff_seconds: z.number().min(0).max(600).default(1),
        max_backoff_seconds: z.number().min(0).max(3600).default(60),
      })
      .prefault({}),
  })
  .superRefine((alerts, ctx) => {
    alerts.rules.forEach((rule, i) => {
      const condition = typeof rule === "string" ? rule : rule.condition;
      try {
        parseCondition(condition);
      } catch (err) {
        if (!(err instanceof AlertExpressionError)) throw err;
        ctx.addIssue({
          code: "custom",
          path: typeof rule === "string" ? ["rules", i] : ["rules", i, "condition"],
          message: `an alert condition such as "latency > 300 for 30s" (${err.oneLine})`,
        });
      }
      if (typeof rule === "string" || rule.action === undefined) return;
      const actions = typeof rule.action === "string" ? [rule.action] : rule.action;
      for (const a of actions) {
        if (!(a in alerts.actions))
          ctx.addIssue({
            code: "custom",
            path: ["rules", i, "action"],
            message: `an action defined in alerts.actions (${JSON.stringify(a)} is not; defined: ${Object.keys(alerts.actions).join(", ") || "none"})`,
          });
      }
    });
  });

export const dashboardSchema = z
  .strictObject({
    /** How much history the in-memory ring buffer keeps (charts and CSV/JSON exports). */
    history_seconds: z
      .number()
      .int()
      .min(10)
      .max(7 * 86_400)
      .default(3600),
    /**
     * Seconds between two looks for new measurements (probe results, collector runs, engine
     * statistics, analyses): each is recorded and pushed to the browser once, at its own time. The
     * ring holds 16 rows per interval of history_seconds.
     */
    sample_interval_seconds: z.number().min(0.25).max(60).default(1),
    /** Event log entries kept (probe failures, alerts, setting changes). */
    max_events: z.number().int().min(10).max(100_000).default(1000),
    /** Bearer token for the controls, required when the dashboard listens beyond loopback. */
    token_env: z.string().min(1).default("TTS_MONITOR_DASHBOARD_TOKEN"),
    token_file: z.string().min(1).optional(),
  })
  .prefault({});

export type AlertsConfig = z.infer<typeof alertsSchema>;
export type ActionConfig = AlertsConfig["actions"][string];
export type RuleConfig = AlertsConfig["rules"][number];
export type DashboardConfig = z.infer<typeof dashboardSchema>;
