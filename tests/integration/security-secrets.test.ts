// No secret leaks (issue 15, item 2): a basic-auth password, the ingestion token, the controls token,
// the Slack webhook URL and the SMTP password are planted; the exporter runs with the dashboard and
// alerts behind a web config and is driven with right and wrong credentials, a bad reload and
// `generate`. Every log line, response body and header, and generated file is searched for them.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { describe, expect, it } from "vitest";
import { runCliArgs, startExporter, tempDir } from "../helpers/exporter.ts";
import { waitFor } from "../helpers/tools.ts";

const SECRETS = {
  password: "pw-Planted-7f3a9c",
  ingest: "ingest-Planted-2b8e41",
  controls: "controls-Planted-9d0c55",
  webhook: "https://hooks.slack.example/services/T000/B000/Planted-Webhook-5e6f",
  smtp: "smtp-Planted-a1b2c3",
} as const;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

function headerText(headers: Headers): string {
  const lines: string[] = [];
  headers.forEach((value, name) => {
    lines.push(`${name}: ${value}`);
  });
  return lines.join("\n");
}

function leaks(where: string, text: string): string[] {
  return Object.entries(SECRETS)
    .filter(([, secret]) => text.includes(secret) || text.includes(Buffer.from(secret).toString("base64")))
    .map(([name]) => `${name} in ${where}`);
}

describe("planted secrets", () => {
  it("appear in no log line, response or generated file", { timeout: 120_000 }, async () => {
    const dir = tempDir("tts-secrets-");
    const webConfig = join(dir, "web.yml");
    writeFileSync(webConfig, `basic_auth_users:\n  prometheus: ${bcrypt.hashSync(SECRETS.password, 4)}\n`);
    const config = {
      alerts: {
        slack_webhook: SECRETS.webhook,
        email_notifications: true,
        email_to: "oncall@example.com",
        smtp: { host: "127.0.0.1", port: 1, user: "tts", from: "tts@example.com" },
        rules: ["latency > 1"],
      },
      engines: [{ name: "svc", type: "openai", url: "http://127.0.0.1:1/v1/audio/speech", enabled: false }],
      server: { listen_address: "127.0.0.1:0", dashboard_address: "127.0.0.1:0", web_config_file: webConfig },
    };
    const exporter = await startExporter({
      config,
      args: ["--prometheus-export", "--web-dashboard", "--alerts", "--log-level", "debug"],
      env: {
        TTS_MONITOR_INGEST_TOKEN: SECRETS.ingest,
        TTS_MONITOR_DASHBOARD_TOKEN: SECRETS.controls,
        TTS_MONITOR_SMTP_PASSWORD: SECRETS.smtp,
      },
    });
    const dashboardUrl = await waitFor(
      "the dashboard's listening line",
      () => exporter.logs().find((l) => l.msg === "dashboard listening")?.url as string | undefined,
      30_000,
      50,
    );
    const basic = `Basic ${Buffer.from(`prometheus:${SECRETS.password}`).toString("base64")}`;
    const wrongBasic = `Basic ${Buffer.from(`prometheus:${SECRETS.password}x`).toString("base64")}`;
    const seen: string[] = [];
    const call = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      seen.push(`${init.method ?? "GET"} ${url} → ${res.status}\n${headerText(res.headers)}\n${body}`);
      return res.status;
    };
    const json = (authorization: string, body: unknown) => ({
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

    // Right and wrong credentials on every kind of endpoint.
    expect(await call(`${exporter.url}/metrics`)).toBe(401);
    expect(await call(`${exporter.url}/metrics`, { headers: { authorization: wrongBasic } })).toBe(401);
    expect(await call(`${exporter.url}/metrics`, { headers: { authorization: basic } })).toBe(200);
    const event = { engine: "svc", latency_ms: 900 };
    expect(await call(`${exporter.url}/api/v1/syntheses`, json(`Bearer ${SECRETS.ingest}`, event))).toBe(202);
    expect(await call(`${exporter.url}/api/v1/syntheses`, json(`Bearer ${SECRETS.ingest}x`, event))).toBe(
      401,
    );
    expect(
      await call(
        `${exporter.url}/api/v1/syntheses`,
        json(`Bearer ${SECRETS.ingest}`, [event, { engine: 3 }]),
      ),
    ).toBe(400);
    // Basic auth passes the gate, but a route with its own token still wants the token.
    expect(await call(`${exporter.url}/api/v1/syntheses`, json(basic, event))).toBe(401);
    expect(await call(`${dashboardUrl}api/state`)).toBe(401);
    expect(await call(`${dashboardUrl}-/healthy`)).toBe(200);
    expect(await call(`${dashboardUrl}api/state`, { headers: { authorization: basic } })).toBe(200);
    expect(await call(`${dashboardUrl}api/export.json`, { headers: { authorization: basic } })).toBe(200);
    expect(await call(`${dashboardUrl}`, { headers: { authorization: basic } })).toBe(200);
    expect(
      await call(
        `${dashboardUrl}api/controls/probe-interval`,
        json(`Bearer ${SECRETS.controls}`, { seconds: 30 }),
      ),
    ).toBe(200);
    expect(
      await call(
        `${dashboardUrl}api/controls/probe-interval`,
        json(`Bearer ${SECRETS.controls}x`, { seconds: 30 }),
      ),
    ).toBe(401);
    expect(await call(`${exporter.url}/probe?target=svc`, { headers: { authorization: basic } })).toBe(400);

    // A reload that fails, with the secrets in the file it rejects.
    writeFileSync(
      exporter.configFile,
      JSON.stringify({ ...config, alerts: { ...config.alerts, slack_webhook: 42 }, extra: SECRETS.smtp }),
    );
    exporter.child.kill("SIGHUP");
    await waitFor(
      "the rejected reload",
      () => exporter.logs().find((l) => String(l.msg).includes("reload rejected")),
      20_000,
      50,
    );
    // Alerts fire on the ingested latency and notify Slack and email (both unreachable: errors logged).
    await waitFor(
      "a notification attempt",
      () => exporter.logs().find((l) => /notif|slack|email/i.test(JSON.stringify(l))),
      30_000,
      100,
    );
    await exporter.stop();

    const out = tempDir("tts-secrets-generated-");
    const configFile = join(dir, "config.json");
    writeFileSync(configFile, JSON.stringify(config));
    const generated = await runCliArgs(["generate", "--config", configFile, "--out", out], 60_000);
    expect(generated.code, generated.stderr).toBe(0);

    const found = [
      ...leaks("the exporter's stderr", exporter.stderr()),
      ...leaks("the exporter's stdout", exporter.stdout()),
      ...seen.flatMap((s) => leaks(`a response (${s.split("\n")[0]})`, s)),
      ...leaks("generate's output", generated.stdout + generated.stderr),
      ...filesUnder(out).flatMap((f) => leaks(f, readFileSync(f, "latin1"))),
    ];
    expect(found).toEqual([]);
    // The search itself finds a planted secret, in clear or in base64 (a Basic header).
    expect(leaks("a sample", `x ${Buffer.from(SECRETS.password).toString("base64")} y`)).toHaveLength(1);
    // The test saw what it searched: the logs have the requests, the generated files exist.
    expect(filesUnder(out).length).toBeGreaterThan(5);
    expect(exporter.stderr()).toContain("reload rejected");
  });
});
