// The seed's TypeScript API: monitor.addAlert({ condition, action, notification }) on a real
// monitor, with the Slack webhook and the TTS admin endpoint as local HTTP sinks.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AlertExpressionError } from "../../src/alerts/expression.ts";
import * as api from "../../src/index.ts";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { waitFor } from "../helpers/tools.ts";

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe("monitor.addAlert()", () => {
  it("fires the action and the Slack notification named in the call", async () => {
    const hits: Array<{ url: string; body: string }> = [];
    const sink = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (c: string) => {
        body += c;
      });
      req.on("end", () => {
        hits.push({ url: req.url ?? "", body });
        res.end("ok");
      });
    });
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
    closers.push(() => new Promise<void>((r) => sink.close(() => r())));
    const base = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
    const monitor = new TTSPerformanceMonitor({
      config: {
        engines: [],
        alerts: {
          slack_webhook: `${base}/slack`,
          actions: { optimize_cache: { url: `${base}/admin/optimize_cache` } },
        },
      },
      serve: false,
      logger: new Logger({ json: true, sink: { write: () => {} } }),
      env: {},
    });
    await monitor.startMonitoring();
    closers.push(() => monitor.stop());
    expect(
      monitor.addAlert({ condition: "latency > 300", action: "optimize_cache", notification: "slack" }),
    ).toEqual({
      name: "alert_1",
    });
    expect(() => monitor.addAlert({ condition: "latency > 300 for 5 minutes" })).toThrow(
      AlertExpressionError,
    );
    // The error class comes with the package, so callers can tell a bad condition from other errors.
    expect(api.AlertExpressionError).toBe(AlertExpressionError);
    let err: unknown;
    try {
      monitor.addAlert({ condition: "quality < 80" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(api.AlertExpressionError);
    expect(err).toMatchObject({ column: 11, reason: "quality is a ratio between 0 and 1: write 0.8 or 80%" });
    monitor.recordSynthesis({ engine: "kokoro", latencyMs: 450 });
    await waitFor("the action and the Slack message", () => (hits.length >= 2 ? true : undefined), 5000);
    const byPath = Object.fromEntries(
      hits.map((h) => [h.url, JSON.parse(h.body) as Record<string, unknown>]),
    );
    expect(byPath["/admin/optimize_cache"]).toMatchObject({ alert: "alert_1", engine: "kokoro", value: 450 });
    // Slack's control characters are escaped (&gt;); Slack shows ">".
    expect(byPath["/slack"]?.text).toBe(
      ":rotating_light: [FIRING] alert_1: latency of engine kokoro is 450 ms (&gt; 300 ms)",
    );
    // No --alerts: the thresholds are not evaluated (latency 450 < 500 anyway) and nothing else is sent.
    expect(monitor.alerts.firing().map((a) => a.id)).toEqual(['alert_1{engine="kokoro"}']);
  });
});
