// `tts-monitor --alerts --desktop-notifications` as a user runs it: a fake notify-send first on
// PATH records its arguments, a local HTTP sink stands in for Slack, ingestion drives the latency.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { delimiter, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli, startExporter, tempDir } from "../helpers/exporter.ts";
import { waitFor } from "../helpers/tools.ts";

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

describe("tts-monitor --alerts", () => {
  it("notifies Slack and the desktop (notify-send from PATH, no shell) when ingested latency crosses the threshold", async () => {
    const bodies: string[] = [];
    const sink = createServer((req, res) => {
      let b = "";
      req.setEncoding("utf8").on("data", (c: string) => {
        b += c;
      });
      req.on("end", () => {
        bodies.push(b);
        res.end("ok");
      });
    });
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
    closers.push(() => sink.close());
    const webhook = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/hook`;

    const bin = join(tempDir("tts-fake-notify-"), "bin");
    mkdirSync(bin);
    const record = join(bin, "..", "notify-send.args");
    // Each argument on its own line, NUL-free: proves the argv arrives intact (no shell splitting).
    writeFileSync(
      join(bin, "notify-send"),
      `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a" >> '${record}'; done\nprintf '%s\\n' '==end of call==' >> '${record}'\n`,
    );
    chmodSync(join(bin, "notify-send"), 0o755);

    const exporter = await startExporter({
      args: ["--prometheus-export", "--alerts", "--desktop-notifications"],
      config: {
        engines: [{ name: "embedded", type: "embedded", enabled: false }],
        alerts: { rules: ['latency{engine="kokoro"} > 700'] },
      },
      env: { TTS_MONITOR_SLACK_WEBHOOK: webhook, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` },
    });
    const post = await fetch(`${exporter.url}/api/v1/syntheses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ engine: "kokoro", voice: "af_heart", latency_ms: 812 }),
    });
    expect(post.status).toBe(202);

    await waitFor(
      "two Slack payloads (threshold and rule)",
      () => (bodies.length >= 2 ? true : undefined),
      10_000,
    );
    const texts = bodies.map((b) => (JSON.parse(b) as { text: string }).text).sort();
    expect(texts).toEqual([
      // TTSLatencyHigh is Prometheus' statistic: one 812 ms request in (0.75 s, 1 s] is a p95 of 987.5 ms (988 shown).
      ":rotating_light: [FIRING] TTSLatencyHigh: latency_p95_5m of engine kokoro is 988 ms (&gt; 500 ms)",
      ":rotating_light: [FIRING] rule_1: latency of engine kokoro is 812 ms (&gt; 700 ms)",
    ]);
    await waitFor("notify-send's recorded arguments", () =>
      existsSync(record) && readFileSync(record, "utf8").split("==end of call==\n").length > 2
        ? true
        : undefined,
    );
    const calls = readFileSync(record, "utf8")
      .split("==end of call==\n")
      .filter(Boolean)
      .map((c) => c.trimEnd().split("\n"));
    expect(calls).toContainEqual([
      "--app-name=tts-monitor",
      "--urgency=normal",
      "--",
      "Alert firing: TTSLatencyHigh",
      "TTSLatencyHigh: latency_p95_5m of engine kokoro is 988 ms (> 500 ms)",
    ]);
    const metrics = await (await fetch(`${exporter.url}/metrics`)).text();
    expect(metrics).toContain('tts_exporter_alerts_firing{alert="TTSLatencyHigh"} 1');
    expect(metrics).toContain('tts_exporter_notifications_sent_total{channel="slack"} 2');
    expect(metrics).toContain('tts_exporter_notifications_sent_total{channel="desktop"} 2');
    expect(metrics).toContain('tts_exporter_notifications_failed_total{channel="slack"} 0');
    // The webhook URL is a secret: not in any log line.
    expect(exporter.stderr()).not.toContain(webhook);
    expect(
      exporter.logs().some((l) => l.msg === "alert firing" && l.alert === 'TTSLatencyHigh{engine="kokoro"}'),
    ).toBe(true);
  });

  it("a mistake in a config rule stops the start with exit 2 and names the column", async () => {
    const r = await runCli({ config: { alerts: { rules: ["latency > 300", "gpu_temp >= 85 for thirty"] } } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      '$.alerts.rules[1]: expected an alert condition such as "latency > 300 for 30s" (column 20 of "gpu_temp >= 85 for thirty": expected a duration after for',
    );
  });
});
