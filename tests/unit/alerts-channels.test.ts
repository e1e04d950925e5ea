import { describe, expect, it } from "vitest";
import { notifySendArgs, notifySendBody } from "../../src/alerts/channels/desktop.ts";
import { emailSubject } from "../../src/alerts/channels/email.ts";
import { retryAfterMs, slackEscape, slackPayload } from "../../src/alerts/channels/slack.ts";
import type { AlertEvent } from "../../src/alerts/types.ts";
import { parseConfig } from "../../src/config/load.ts";

const event = (over: Partial<AlertEvent> = {}): AlertEvent => ({
  id: 'TTSQualityScoreLow{engine="kokoro"}',
  status: "firing",
  alert: "TTSQualityScoreLow",
  condition: "quality < 0.8",
  severity: "warning",
  metric: "quality",
  op: "<",
  engine: "kokoro",
  value: 0.62,
  threshold: 0.8,
  summary: "TTSQualityScoreLow: quality of engine kokoro is 0.62 (< 0.8)",
  startsAt: 1_700_000_000_000,
  at: 1_700_000_000_000,
  ...over,
});

describe("notification channels", () => {
  it("Slack: &, < and > are escaped everywhere, so an engine name cannot mention @channel or add a link", () => {
    expect(slackEscape("a < b & c > d")).toBe("a &lt; b &amp; c &gt; d");
    const engine = "<!channel> & <https://evil.test|click>";
    const body = JSON.stringify(
      slackPayload(
        event({ engine, summary: `TTSQualityScoreLow: quality of engine ${engine} is 0.62 (< 0.8)` }),
      ),
    );
    expect(body).not.toMatch(/<!channel>|<https:/);
    expect(body).toContain(
      "engine &lt;!channel&gt; &amp; &lt;https://evil.test|click&gt; is 0.62 (&lt; 0.8)",
    );
    expect(body).toContain(
      '"title":"engine","value":"&lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;"',
    );
    expect(body).toContain('"title":"condition","value":"quality &lt; 0.8"');
  });

  it("Slack: Retry-After in seconds or as an HTTP date", () => {
    expect(retryAfterMs("30")).toBe(30_000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs("soon")).toBeUndefined();
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs("Thu, 01 Jan 2026 00:00:05 GMT", now)).toBe(5000);
  });

  it("notify-send: options end with --, the body is escaped for markup and for g_strcompress", () => {
    const args = notifySendArgs(
      event({ alert: "-x", summary: "-x: quality of engine C:\\new & <b> is 0.62 (< 0.8)" }),
    );
    expect(args).toEqual([
      "--app-name=tts-monitor",
      "--urgency=normal",
      "--",
      "Alert firing: -x",
      "-x: quality of engine C:\\\\new &amp; &lt;b> is 0.62 (&lt; 0.8)",
    ]);
    expect(notifySendArgs(event({ severity: "critical" }))[1]).toBe("--urgency=critical");
    expect(notifySendArgs(event({ status: "resolved" }))[1]).toBe("--urgency=low");
    expect(notifySendBody("a\\tb")).toBe("a\\\\tb");
  });

  it("email: the subject names the engine; smtp.secure and port are left to nodemailer unless set", () => {
    expect(emailSubject(event())).toBe("[FIRING] TTSQualityScoreLow engine=kokoro");
    const smtp = (s: Record<string, unknown>) =>
      parseConfig({ alerts: { smtp: { host: "mail.example.test", ...s } } }, "c.json").alerts.smtp;
    // Not secure: false on 465, which would wait for a plain-text greeting that never comes.
    expect(smtp({ port: 465 })).toMatchObject({ port: 465, require_tls: false });
    expect(smtp({ port: 465 })?.secure).toBeUndefined();
    expect(smtp({})?.port).toBeUndefined();
    expect(smtp({ secure: false, require_tls: true })).toMatchObject({ secure: false, require_tls: true });
  });
});
