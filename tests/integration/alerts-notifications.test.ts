// The notifiers and actions against real local peers on 127.0.0.1: an HTTP server standing in for
// Slack's incoming webhook and for a TTS admin endpoint, and a real SMTP server (smtp-server).
import { EventEmitter } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";
import { afterEach, describe, expect, it } from "vitest";
import { AlertEvaluator, type AlertSource } from "../../src/alerts/evaluator.ts";
import { parseConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import type { CurrentMetrics } from "../../src/monitor.ts";
import { tempDir } from "../helpers/exporter.ts";
import { waitFor } from "../helpers/tools.ts";

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An HTTP sink on 127.0.0.1:0 answering each request with the next status of `statuses` (then 200). */
async function httpSink(statuses: number[] = []): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => {
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end(res.statusCode === 200 ? "ok" : "invalid_payload");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  server.unref();
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T0/B0/secret`,
    received,
  };
}

function setup(alerts: Record<string, unknown>, env: Record<string, string> = {}) {
  const config = parseConfig({ engines: [{ name: "kokoro", type: "embedded" }], alerts }, "test");
  const engines: Record<string, { requests: number; latencyMs?: number }> = {};
  const source: AlertSource = {
    config,
    lastProbes: new Map(),
    getCurrentMetrics: () => ({ timestamp: Date.now(), engines, gpus: [] }) as unknown as CurrentMetrics,
  };
  const lines: string[] = [];
  const registry = new MetricsRegistry();
  const evaluator = new AlertEvaluator({
    source,
    registry,
    log: new Logger({ json: true, sink: { write: (l) => lines.push(l) } }),
    events: new EventEmitter(),
    env,
  });
  cleanups.push(() => evaluator.stop());
  const counter = async (name: Parameters<MetricsRegistry["counter"]>[0], labels: Record<string, string>) =>
    (await registry.counter(name).get()).values.find((v) =>
      Object.entries(labels).every(([k, val]) => v.labels[k] === val),
    )?.value;
  return { evaluator, engines, lines, counter };
}

describe("alert notifications and actions", () => {
  it("posts the Slack payload (engine and value) for firing and resolved, and counts it", async () => {
    const slack = await httpSink();
    const t = setup({ slack_webhook: slack.url });
    t.evaluator.enable({ external: true });
    t.engines.kokoro = { requests: 1, latencyMs: 812 };
    t.evaluator.evaluate();
    await t.evaluator.settled();
    t.engines.kokoro = { requests: 2, latencyMs: 120 };
    t.evaluator.evaluate();
    await t.evaluator.settled();
    expect(slack.received).toHaveLength(2);
    const [firing, resolved] = slack.received.map(
      (r) => JSON.parse(r.body) as { text: string; attachments: unknown },
    );
    expect(slack.received[0]?.headers["content-type"]).toBe("application/json");
    expect(firing?.text).toContain("[FIRING] TTSHighLatency: latency of engine kokoro is 812 ms (> 500 ms)");
    expect(JSON.stringify(firing?.attachments)).toContain('"title":"engine","value":"kokoro"');
    expect(resolved?.text).toContain(
      "[RESOLVED] TTSHighLatency on engine kokoro resolved: latency is 120 ms",
    );
    expect(await t.counter("tts_exporter_notifications_sent_total", { channel: "slack" })).toBe(2);
    // The webhook URL is a secret: never in a log line.
    expect(t.lines.join("")).not.toContain("/services/T0/B0/secret");
  });

  it("retries a failing webhook with backoff, then counts the delivery; gives up after the last attempt", async () => {
    const flaky = await httpSink([500, 503]);
    const t = setup({
      slack_webhook: flaky.url,
      retry: { attempts: 3, initial_backoff_seconds: 0.1, max_backoff_seconds: 1 },
    });
    t.evaluator.enable({ external: true });
    t.engines.kokoro = { requests: 1, latencyMs: 900 };
    const started = Date.now();
    t.evaluator.evaluate();
    await t.evaluator.settled();
    expect(flaky.received).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300); // 100 ms then 200 ms of backoff
    expect(await t.counter("tts_exporter_notifications_sent_total", { channel: "slack" })).toBe(1);
    expect(await t.counter("tts_exporter_notification_attempts_failed_total", { channel: "slack" })).toBe(2);
    expect(await t.counter("tts_exporter_notifications_failed_total", { channel: "slack" })).toBe(0);

    const dead = await httpSink([500, 500, 500, 500]);
    const d = setup({ slack_webhook: dead.url, retry: { attempts: 2, initial_backoff_seconds: 0.05 } });
    d.evaluator.enable({ external: true });
    d.engines.kokoro = { requests: 1, latencyMs: 900 };
    d.evaluator.evaluate();
    await d.evaluator.settled();
    expect(dead.received).toHaveLength(2);
    expect(await d.counter("tts_exporter_notifications_failed_total", { channel: "slack" })).toBe(1);
    expect(d.lines.join("")).toMatch(/"msg":"alert notification given up".*"channel":"slack"/);
    // The evaluator goes on: the resolution is still evaluated and emitted.
    d.engines.kokoro = { requests: 2, latencyMs: 1 };
    expect(() => d.evaluator.evaluate()).not.toThrow();
  });

  it("sends the email over SMTP with login (password from the environment): subject and body name engine and value", async () => {
    const mails: Array<{ from: string; to: string[]; data: string; user: string | undefined }> = [];
    const smtp = new SMTPServer({
      disabledCommands: ["STARTTLS"],
      allowInsecureAuth: true,
      onAuth(auth, _session, cb) {
        if (auth.username === "alerts" && auth.password === "s3cret-pw") cb(null, { user: auth.username });
        else cb(new Error("bad credentials"));
      },
      onData(stream, session, cb) {
        let data = "";
        stream.setEncoding("utf8");
        stream.on("data", (c: string) => {
          data += c;
        });
        stream.on("end", () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            to: session.envelope.rcptTo.map((r) => r.address),
            data,
            user: session.user as string | undefined,
          });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => smtp.close(() => r())));
    const port = (smtp.server.address() as AddressInfo).port;
    const t = setup(
      {
        email_notifications: true,
        email_to: "oncall@example.test",
        smtp: { host: "127.0.0.1", port, user: "alerts", from: "tts-monitor@example.test" },
      },
      { TTS_MONITOR_SMTP_PASSWORD: "s3cret-pw" },
    );
    t.evaluator.enable({ external: true });
    t.engines.kokoro = { requests: 1, latencyMs: 777 };
    t.evaluator.evaluate();
    await t.evaluator.settled();
    expect(mails).toHaveLength(1);
    const mail = mails[0] as (typeof mails)[number];
    expect(mail.user).toBe("alerts");
    expect(mail.from).toBe("tts-monitor@example.test");
    expect(mail.to).toEqual(["oncall@example.test"]);
    expect(mail.data).toMatch(/^Subject: \[FIRING\] TTSHighLatency engine=kokoro$/m);
    expect(mail.data).toContain("TTSHighLatency: latency of engine kokoro is 777 ms (> 500 ms)");
    expect(mail.data).toMatch(/^engine: +kokoro$/m);
    expect(mail.data).toMatch(/^value: +777$/m);
    expect(await t.counter("tts_exporter_notifications_sent_total", { channel: "email" })).toBe(1);
  });

  it("runs a webhook action and a command action (no shell) on firing, with a timeout; results counted", async () => {
    const admin = await httpSink();
    const dir = tempDir("tts-alert-action-");
    const out = join(dir, "env.json");
    const script = join(dir, "action.mjs");
    writeFileSync(
      script,
      `import { writeFileSync } from "node:fs";\nwriteFileSync(process.argv[2], JSON.stringify({ argv: process.argv.slice(3), engine: process.env.TTS_ALERT_ENGINE, value: process.env.TTS_ALERT_VALUE, status: process.env.TTS_ALERT_STATUS }));\n`,
    );
    const t = setup(
      {
        actions: {
          optimize_cache: {
            url: admin.url.replace("/services/T0/B0/secret", "/admin/cache/optimize"),
            header_env: { authorization: "ADMIN_TOKEN" },
          },
          record: { command: [process.execPath, script, out, "$(touch /tmp/never)", "a b"] },
          hang: { command: [process.execPath, "-e", "setTimeout(() => {}, 10000)"], timeout_seconds: 0.3 },
        },
      },
      { ADMIN_TOKEN: "Bearer admin-token" },
    );
    t.evaluator.add({
      condition: "latency > 300",
      action: ["optimize_cache", "record", "hang"],
      notification: "dashboard",
    });
    t.engines.kokoro = { requests: 1, latencyMs: 450 };
    t.evaluator.evaluate();
    await waitFor("the three actions to finish", async () => {
      const done = await Promise.all([
        t.counter("tts_exporter_alert_actions_total", { action: "optimize_cache", result: "success" }),
        t.counter("tts_exporter_alert_actions_total", { action: "record", result: "success" }),
        t.counter("tts_exporter_alert_actions_total", { action: "hang", result: "timeout" }),
      ]);
      return done.every((v) => v === 1) ? true : undefined;
    });
    expect(admin.received).toHaveLength(1);
    expect(admin.received[0]).toMatchObject({ method: "POST", url: "/admin/cache/optimize" });
    expect(admin.received[0]?.headers.authorization).toBe("Bearer admin-token");
    expect(JSON.parse(admin.received[0]?.body ?? "{}")).toMatchObject({
      status: "firing",
      engine: "kokoro",
      value: 450,
    });
    // argv passed as is: the "$(...)" is an argument, not a command.
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({
      argv: ["$(touch /tmp/never)", "a b"],
      engine: "kokoro",
      value: "450",
      status: "firing",
    });
    expect(t.lines.join("")).toMatch(/"msg":"alert action failed","action":"hang".*"result":"timeout"/);
    expect(t.lines.join("")).not.toContain("admin-token");
  });
});
