import { clip } from "../../log.ts";
import { formatValue } from "../expression.ts";
import { type AlertEvent, DeliveryError, type Notifier } from "../types.ts";

/**
 * Slack's control characters in message text: &, < and > must be sent as &amp;, &lt; and &gt;
 * (https://api.slack.com/reference/surfaces/formatting#escaping). Engine names come from the
 * ingestion API, so unescaped an engine called "<!channel>" would page the whole channel and
 * "<https://x|y>" would be a link; and every summary holds a > or < of its own.
 */
export function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The Slack incoming-webhook payload: a text line for notifications, an attachment for the details. */
export function slackPayload(event: AlertEvent): Record<string, unknown> {
  const firing = event.status === "firing";
  const field = (title: string, value: string, short = true) => ({ title, value: slackEscape(value), short });
  const fields = [
    field("alert", event.alert),
    field("severity", event.severity),
    ...(event.engine !== undefined ? [field("engine", event.engine)] : []),
    ...(event.gpu !== undefined ? [field("gpu", event.gpu)] : []),
    ...(event.value !== undefined ? [field("value", formatValue(event.metric, event.value))] : []),
    field("condition", event.condition, false),
  ];
  return {
    text: `${firing ? ":rotating_light: [FIRING]" : ":white_check_mark: [RESOLVED]"} ${slackEscape(event.summary)}`,
    attachments: [
      {
        color: firing ? (event.severity === "critical" ? "danger" : "warning") : "good",
        fields,
        ts: Math.floor(event.at / 1000),
      },
    ],
  };
}

/** What Slack's error answers mean (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks). */
function hint(status: number, body: string): string {
  if (status === 404 || /no_service|no_team|channel_not_found/.test(body))
    return " (the webhook was revoked, or its channel or workspace is gone: create a new one)";
  if (status === 410 || body.includes("channel_is_archived"))
    return " (the channel is archived: unarchive it or point the webhook elsewhere)";
  if (status === 403) return " (the workspace forbids this webhook from posting here)";
  if (status === 400) return " (Slack refused the payload)";
  return "";
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
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
    const body = clip((await res.text().catch(() => "")).trim(), 200);
    if (res.ok) return;
    // The URL is a secret: the error names the status and Slack's answer, never the URL.
    const message = `Slack webhook answered HTTP ${res.status}: ${body}${hint(res.status, body)}`;
    if (res.status === 429) {
      const after = retryAfterMs(res.headers.get("retry-after"));
      throw new DeliveryError(message, {
        retryable: true,
        ...(after !== undefined && { retryAfterMs: after }),
      });
    }
    // Any other 4xx (invalid_payload, action_prohibited, channel_not_found, channel_is_archived)
    // answers the same on every retry; 408 and 5xx (rollup_error) may not.
    throw new DeliveryError(message, { retryable: res.status === 408 || res.status >= 500 });
  }
}
