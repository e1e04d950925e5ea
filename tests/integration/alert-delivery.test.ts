// Alert delivery end to end: exporter → Prometheus (rules from the generator's test profile: the same
// rules with short windows and `for`) → Alertmanager (rendered by the same generator, Slack pointed at
// a local HTTP sink, SMTP at a local smtp-server sink). A TTS engine made slow past the latency
// threshold pages Slack and email with the engine and the value; made fast again, the resolved
// notifications follow.

import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { SECRET_FILES } from "../../src/monitoring/alertmanager.ts";
import {
  ALERTMANAGER_BIN,
  alertmanagerArgs,
  localPrometheusConfig,
  type Proc,
  startProcess,
  stopProcess,
} from "../../src/monitoring/local-stack.ts";
import { rulesYaml } from "../../src/monitoring/monitoring-files.ts";
import { testProfile } from "../../src/monitoring/profile.ts";
import { renderAlertmanager } from "../../src/monitoring/render-alertmanager.ts";
import { type RunningExporter, startExporter, tempDir } from "../helpers/exporter.ts";
import { httpGet } from "../helpers/http.ts";
import { type RunningPrometheus, startPrometheus } from "../helpers/prometheus.ts";
import { freePort, requireBinary, waitFor } from "../helpers/tools.ts";
import { type HttpTtsServer, startHttpTtsServer } from "../helpers/tts-servers/http-tts-server.ts";

interface SlackMessage {
  readonly title: string;
  readonly text: string;
}

/** Quoted-printable soft breaks and escapes undone, so the text can be searched. */
function decodeQuotedPrintable(raw: string): string {
  return raw
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

const slack: SlackMessage[] = [];
const mails: string[] = [];
let slackServer: Server;
let smtp: SMTPServer;
let tts: HttpTtsServer;
let exporter: RunningExporter;
let prometheus: RunningPrometheus;
let alertmanager: Proc;

const THRESHOLD_MS = 500;

beforeAll(async () => {
  requireBinary(ALERTMANAGER_BIN, "prometheus-alertmanager");
  slackServer = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => {
      const json = JSON.parse(body) as { attachments?: Array<{ title?: string; text?: string }> };
      for (const a of json.attachments ?? []) slack.push({ title: a.title ?? "", text: a.text ?? "" });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => slackServer.listen(0, "127.0.0.1", r));
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    onData(stream, _session, callback) {
      let raw = "";
      stream.on("data", (c: Buffer) => {
        raw += c.toString("utf8");
      });
      stream.on("end", () => {
        mails.push(decodeQuotedPrintable(raw));
        callback();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, "127.0.0.1", r));
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  tts = await startHttpTtsServer();
  exporter = await startExporter({
    config: {
      probes: { interval_seconds: 1, timeout_seconds: 5 },
      engines: [
        {
          name: "slowpoke",
          type: "openai",
          url: `${tts.url}/v1/audio/speech`,
          model: "m",
          voice: "v",
          timeout_seconds: 5,
        },
      ],
      thresholds: { latency_max_ms: THRESHOLD_MS },
    },
    nvidiaSmi: { kind: "none" },
  });

  const config = parseConfig(
    { thresholds: { latency_max_ms: THRESHOLD_MS }, alerts: { email_notifications: true } },
    "inline",
    {
      TTS_MONITOR_EMAIL: "oncall@example.org",
      TTS_MONITOR_SLACK_WEBHOOK: `http://127.0.0.1:${(slackServer.address() as AddressInfo).port}/slack`,
    },
  );
  const dir = tempDir("tts-alert-delivery-");
  const amConfig = renderAlertmanager(
    config,
    {
      TTS_MONITOR_SMTP_SMARTHOST: `127.0.0.1:${smtpPort}`,
      TTS_MONITOR_SMTP_FROM: "tts-monitor@example.org",
      TTS_MONITOR_SMTP_REQUIRE_TLS: "false",
    },
    join(dir, "alertmanager"),
    testProfile,
  );
  const amPort = await freePort();
  alertmanager = startProcess(
    "alertmanager",
    ALERTMANAGER_BIN,
    alertmanagerArgs(amConfig, join(dir, "am-data"), `127.0.0.1:${amPort}`),
    dir,
  );
  await waitFor(
    "Alertmanager /-/ready",
    async () => {
      if (alertmanager.child.exitCode !== null)
        throw new Error(`alertmanager exited:\n${alertmanager.output()}`);
      return (await httpGet(`http://127.0.0.1:${amPort}/-/ready`, { timeoutMs: 1000 })).status === 200
        ? true
        : undefined;
    },
    20_000,
  );

  const rules = join(dir, "rules.yml");
  writeFileSync(rules, rulesYaml(config, testProfile));
  prometheus = await startPrometheus(
    localPrometheusConfig({
      exporter: `127.0.0.1:${exporter.port}`,
      alertmanager: `127.0.0.1:${amPort}`,
      ruleFiles: [rules],
      scrapeInterval: "1s",
      evaluationInterval: "1s",
    }),
  );
}, 90_000);

afterAll(async () => {
  await prometheus?.stop();
  if (alertmanager) await stopProcess(alertmanager);
  await exporter?.stop();
  await tts?.close();
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  await new Promise<void>((r) => (slackServer ? slackServer.close(() => r()) : r()));
});

describe("alert delivery", () => {
  it("a slow engine pages Slack and email with the engine and the value, then both get the resolution", async () => {
    expect(SECRET_FILES.slackWebhook).toBe("slack_webhook_url");
    // Slow past the threshold: every probe waits 900 ms before the audio.
    tts.behaviour = { delayMs: 900 };
    const firing = await waitFor(
      "a firing TTSLatencyHigh on Slack",
      () => slack.find((m) => m.title.includes("FIRING") && m.title.includes("TTSLatencyHigh")),
      60_000,
      200,
    );
    expect(firing.title).toContain("engine=slowpoke");
    expect(firing.text).toContain("Engine slowpoke");
    const value = /latency over the last 10s is ([\d.]+) ms/.exec(firing.text);
    expect(value, firing.text).not.toBeNull();
    expect(Number(value?.[1])).toBeGreaterThan(THRESHOLD_MS);

    const mail = await waitFor(
      "a firing critical TTSLatencyHigh email",
      () => mails.find((m) => /Subject: \[FIRING/.test(m) && m.includes("TTSLatencyHigh")),
      60_000,
      200,
    );
    expect(mail).toContain("To: oncall@example.org");
    expect(mail).toContain("Engine slowpoke");
    expect(mail).toMatch(/critical: TTS p95 latency above 500 ms/);
    expect(mail).toMatch(/is [\d.]+ ms \(threshold 500 ms\)/);

    // Fast again: the p95 over the 10 s window falls, the alert resolves, both sinks hear it.
    tts.behaviour = {};
    await waitFor(
      "a resolved TTSLatencyHigh on Slack",
      () => slack.find((m) => m.title.includes("RESOLVED") && m.title.includes("TTSLatencyHigh")),
      60_000,
      200,
    );
    const resolved = await waitFor(
      "a resolved TTSLatencyHigh email",
      () => mails.find((m) => /Subject: \[RESOLVED\]/.test(m) && m.includes("TTSLatencyHigh")),
      60_000,
      200,
    );
    expect(resolved).toContain("Engine slowpoke");
  }, 150_000);
});
