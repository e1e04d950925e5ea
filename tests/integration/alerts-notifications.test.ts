// The notifiers and actions against real local peers on 127.0.0.1: an HTTP server standing in for
// Slack's incoming webhook and for a TTS admin endpoint, and a real SMTP server (smtp-server).
import { EventEmitter } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer, type Socket } from "node:net";
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

interface Answer {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

/** An HTTP sink on 127.0.0.1:0 answering each request with the next of `answers` (then 200 "ok"). */
async function httpSink(
  answers: Array<number | Answer> = [],
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => {
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const next = answers.shift() ?? 200;
      const answer = typeof next === "number" ? { status: next } : next;
      res.statusCode = answer.status;
      for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
      res.end(answer.body ?? (answer.status === 200 ? "ok" : "invalid_payload"));
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

function setup(
  alerts: Record<string, unknown>,
  env: Record<string, string> = {},
  options: { desktopNotifications?: boolean; notifySend?: string } = {},
) {
  const config = parseConfig({ engines: [{ name: "kokoro", type: "embedded" }], alerts }, "test");
  // TTSLatencyHigh reads the windowed p95 (latency_p95_5m), addAlert rules here the last latency: both move together.
  const engines: Record<string, { requests: number; latencyMs?: number; latencyP95WindowMs?: number }> = {};
  const source: AlertSource = {
    config,
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
    ...options,
  });
  cleanups.push(() => evaluator.stop());
  const counter = async (name: Parameters<MetricsRegistry["counter"]>[0], labels: Record<string, string>) =>
    (await registry.counter(name).get()).values.find((v) =>
      Object.entries(labels).every(([k, val]) => v.labels[k] === val),
    )?.value;
  /** kokoro's latest latency becomes `latencyMs`; one evaluation, and its notifications delivered. */
  const latency = async (latencyMs: number) => {
    engines.kokoro = {
      requests: (engines.kokoro?.requests ?? 0) + 1,
      latencyMs,
      latencyP95WindowMs: latencyMs,
    };
    evaluator.evaluate();
    await evaluator.settled();
  };
  return { evaluator, engines, lines, counter, latency };
}

describe("alert notifications and actions", () => {
  it("posts the Slack payload (engine and value) for firing and resolved, and counts it", async () => {
    const slack = await httpSink();
    const t = setup({ slack_webhook: slack.url });
    t.evaluator.enable({ external: true });
    await t.latency(812);
    await t.latency(120);
    expect(slack.received).toHaveLength(2);
    const [firing, resolved] = slack.received.map(
      (r) => JSON.parse(r.body) as { text: string; attachments: unknown },
    );
    expect(slack.received[0]?.headers["content-type"]).toBe("application/json");
    expect(firing?.text).toContain(
      "[FIRING] TTSLatencyHigh: latency_p95_5m of engine kokoro is 812 ms (&gt; 500 ms)",
    );
    expect(JSON.stringify(firing?.attachments)).toContain('"title":"engine","value":"kokoro"');
    expect(JSON.stringify(firing?.attachments)).toContain('"title":"value","value":"812 ms"');
    expect(resolved?.text).toContain(
      "[RESOLVED] TTSLatencyHigh on engine kokoro resolved: latency_p95_5m is 120 ms",
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
    t.engines.kokoro = { requests: 1, latencyMs: 900, latencyP95WindowMs: 900 };
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
    await d.latency(900);
    expect(dead.received).toHaveLength(2);
    expect(await d.counter("tts_exporter_notifications_failed_total", { channel: "slack" })).toBe(1);
    expect(d.lines.join("")).toMatch(/"msg":"alert notification given up".*"channel":"slack"/);
    // The evaluator goes on: the resolution is still evaluated and emitted.
    d.engines.kokoro = { requests: 2, latencyMs: 1, latencyP95WindowMs: 1 };
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
    await t.latency(777);
    expect(mails).toHaveLength(1);
    const mail = mails[0] as (typeof mails)[number];
    expect(mail.user).toBe("alerts");
    expect(mail.from).toBe("tts-monitor@example.test");
    expect(mail.to).toEqual(["oncall@example.test"]);
    expect(mail.data).toMatch(/^Subject: \[FIRING\] TTSLatencyHigh engine=kokoro$/m);
    expect(mail.data).toContain("TTSLatencyHigh: latency_p95_5m of engine kokoro is 777 ms (> 500 ms)");
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
    t.engines.kokoro = { requests: 1, latencyMs: 450, latencyP95WindowMs: 450 };
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

  it("does not retry what Slack refuses for good (404 no_service, 410 channel_is_archived); waits Retry-After on 429", async () => {
    const gone = await httpSink([
      { status: 404, body: "no_service" },
      { status: 410, body: "channel_is_archived" },
    ]);
    const t = setup({ slack_webhook: gone.url, retry: { attempts: 4, initial_backoff_seconds: 0.05 } });
    t.evaluator.enable({ external: true });
    await t.latency(900);
    await t.latency(100);
    // One attempt per notification, not four: the answer would be the same.
    expect(gone.received).toHaveLength(2);
    expect(await t.counter("tts_exporter_notifications_failed_total", { channel: "slack" })).toBe(2);
    expect(await t.counter("tts_exporter_notification_attempts_failed_total", { channel: "slack" })).toBe(2);
    const log = t.lines.join("");
    expect(log).toContain("Slack webhook answered HTTP 404: no_service (the webhook was revoked");
    expect(log).toContain("HTTP 410: channel_is_archived (the channel is archived");
    expect(log).not.toContain("retry_in_ms");

    const limited = await httpSink([{ status: 429, body: "rate_limited", headers: { "retry-after": "1" } }]);
    const r = setup({ slack_webhook: limited.url, retry: { attempts: 3, initial_backoff_seconds: 0.05 } });
    r.evaluator.enable({ external: true });
    r.engines.kokoro = { requests: 1, latencyMs: 900, latencyP95WindowMs: 900 };
    const started = Date.now();
    r.evaluator.evaluate();
    await r.evaluator.settled();
    expect(limited.received).toHaveLength(2);
    // Slack's Retry-After (1 s), not our 50 ms backoff.
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(r.lines.join("")).toContain('"retry_in_ms":1000');
    expect(await r.counter("tts_exporter_notifications_sent_total", { channel: "slack" })).toBe(1);
  });

  it("a refused SMTP login is not retried; a silent SMTP server costs one timed-out attempt, never a hang", async () => {
    const smtp = new SMTPServer({
      disabledCommands: ["STARTTLS"],
      allowInsecureAuth: true,
      onAuth(_auth, _session, cb) {
        cb(new Error("Invalid username or password"));
      },
    });
    smtp.on("error", () => {});
    await new Promise<void>((r) => smtp.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => smtp.close(() => r())));
    const t = setup(
      {
        email_notifications: true,
        email_to: "oncall@example.test",
        smtp: { host: "127.0.0.1", port: (smtp.server.address() as AddressInfo).port, user: "alerts" },
        retry: { attempts: 4, initial_backoff_seconds: 0.05 },
      },
      { TTS_MONITOR_SMTP_PASSWORD: "wrong" },
    );
    t.evaluator.enable({ external: true });
    await t.latency(900);
    expect(await t.counter("tts_exporter_notification_attempts_failed_total", { channel: "email" })).toBe(1);
    expect(await t.counter("tts_exporter_notifications_failed_total", { channel: "email" })).toBe(1);
    expect(t.lines.join("")).toMatch(/"error":"SMTP login refused: Invalid login: 535/);

    // Accepts the connection, never says a word.
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    cleanups.push(() => {
      for (const sk of sockets) sk.destroy();
      silent.close();
    });
    const q = setup({
      email_notifications: true,
      email_to: "oncall@example.test",
      smtp: { host: "127.0.0.1", port: (silent.address() as AddressInfo).port },
      notification_timeout_seconds: 0.3,
      retry: { attempts: 2, initial_backoff_seconds: 0.05 },
    });
    q.evaluator.enable({ external: true });
    q.engines.kokoro = { requests: 1, latencyMs: 900, latencyP95WindowMs: 900 };
    const started = Date.now();
    q.evaluator.evaluate();
    await q.evaluator.settled();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await q.counter("tts_exporter_notification_attempts_failed_total", { channel: "email" })).toBe(2);
    expect(await q.counter("tts_exporter_notifications_failed_total", { channel: "email" })).toBe(1);
  });

  it("a missing notify-send is logged once, not on every alert and retry; each delivery is still counted", async () => {
    const t = setup(
      { retry: { attempts: 3, initial_backoff_seconds: 0.05 } },
      {},
      { desktopNotifications: true, notifySend: "/nonexistent/bin/notify-send" },
    );
    t.evaluator.add({ condition: "latency > 300", notification: "desktop" });
    t.evaluator.add({ condition: "latency > 400", notification: "desktop" });
    await t.latency(900);
    await t.latency(100);
    expect(await t.counter("tts_exporter_notifications_failed_total", { channel: "desktop" })).toBe(4);
    // One attempt each: retrying does not install notify-send.
    expect(await t.counter("tts_exporter_notification_attempts_failed_total", { channel: "desktop" })).toBe(
      4,
    );
    const lines = t.lines.filter((l) => l.includes('"channel":"desktop"') && !l.includes('"level":"info"'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("/nonexistent/bin/notify-send is not on PATH (Debian package libnotify-bin)");
  });

  it("keeps one alert's notifications in order: the resolution waits for the firing being retried", async () => {
    const slack = await httpSink([{ status: 503, body: "rollup_error" }]);
    const t = setup({ slack_webhook: slack.url, retry: { attempts: 3, initial_backoff_seconds: 0.5 } });
    t.evaluator.enable({ external: true });
    t.engines.kokoro = { requests: 1, latencyMs: 900, latencyP95WindowMs: 900 };
    t.evaluator.evaluate();
    await new Promise((r) => setTimeout(r, 100)); // the firing got its 503 and waits 0.5 s
    await t.latency(100);
    const texts = slack.received.map((r) => (JSON.parse(r.body) as { text: string }).text);
    expect(texts.map((x) => /\[(FIRING|RESOLVED)\]/.exec(x)?.[1])).toEqual(["FIRING", "FIRING", "RESOLVED"]);
  });

  it("STARTTLS: upgrades when offered (insecure_skip_verify for a self-signed relay); require_tls refuses a server without it", async () => {
    // smtp-server offers STARTTLS with its built-in self-signed (and expired) certificate.
    const secured: boolean[] = [];
    const tls = new SMTPServer({
      authOptional: true,
      onData(stream, session, cb) {
        stream.resume();
        stream.on("end", () => {
          secured.push(session.secure);
          cb();
        });
      },
    });
    await new Promise<void>((r) => tls.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => tls.close(() => r())));
    const tlsPort = (tls.server.address() as AddressInfo).port;
    const email = (smtp: Record<string, unknown>) => ({
      email_notifications: true,
      email_to: "oncall@example.test",
      smtp: { host: "127.0.0.1", ...smtp },
      retry: { attempts: 1 },
    });
    const strict = setup(email({ port: tlsPort }));
    strict.evaluator.enable({ external: true });
    await strict.latency(900);
    // The certificate does not verify: nothing is sent in the clear instead.
    expect(secured).toEqual([]);
    expect(strict.lines.join("")).toMatch(/"msg":"alert notification given up".*certificate/);

    const relaxed = setup(email({ port: tlsPort, insecure_skip_verify: true }));
    relaxed.evaluator.enable({ external: true });
    await relaxed.latency(900);
    expect(secured).toEqual([true]);

    let passwordSeen = false;
    const plain = new SMTPServer({
      disabledCommands: ["STARTTLS"],
      allowInsecureAuth: true,
      onAuth(_auth, _session, cb) {
        passwordSeen = true;
        cb(null, { user: "alerts" });
      },
    });
    plain.on("error", () => {});
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => plain.close(() => r())));
    const required = setup(
      email({ port: (plain.server.address() as AddressInfo).port, user: "alerts", require_tls: true }),
      { TTS_MONITOR_SMTP_PASSWORD: "s3cret-pw" },
    );
    required.evaluator.enable({ external: true });
    await required.latency(900);
    expect(passwordSeen).toBe(false);
    expect(await required.counter("tts_exporter_notifications_failed_total", { channel: "email" })).toBe(1);
    expect(required.lines.join("")).toContain("STARTTLS");
  });
});
