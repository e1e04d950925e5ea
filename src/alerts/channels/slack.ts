import type { AlertEvent, Notifier } from "../types.ts";

/** The Slack incoming-webhook payload: a text line for notifications, an attachment for the details. */
export function slackPayload(event: AlertEvent): Record<string, unknown> {
  const firing = event.status === "firing";
  const fields = [
    { title: "alert", value: event.alert, short: true },
    { title: "severity", value: event.severity, short: true },
    ...(event.engine !== undefined ? [{ title: "engine", value: event.engine, short: true }] : []),
    ...(event.gpu !== undefined ? [{ title: "gpu", value: event.gpu, short: true }] : []),
    ...(event.value !== undefined ? [{ title: "value", value: String(event.value), short: true }] : []),
    { title: "condition", value: event.condition, short: false },
  ];
  return {
    text: `${firing ? ":rotating_light: [FIRING]" : ":white_check_mark: [RESOLVED]"} ${event.summary}`,
    attachments: [
      {
        color: firing ? (event.severity === "critical" ? "danger" : "warning") : "good",
        fields,
        ts: Math.floor(event.at / 1000),
      },
    ],
  };
}

export class SlackNotifier implements Notifier {
  readonly channel = "slack" as const;
  constructor(private readonly webhookUrl: string) {}

  async send(event: AlertEvent, signal: AbortSignal): Promise<void> {
    const res = await fetch(this.webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(slackPayload(event)),
      signal,
    });
    // Drain the body so the connection is reused or closed cleanly.
    const body = await res.text().catch(() => "");
    // The URL is a secret: the error names the status and Slack's answer, never the URL.
    if (!res.ok) throw new Error(`Slack webhook answered HTTP ${res.status}: ${body.slice(0, 200)}`);
  }
}
