// Every config key does what its name says (issue 9, item 5): one test per key that was validated
// and then ignored, or half-applied.
import { spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load } from "js-yaml";
import { afterAll, describe, expect, it } from "vitest";
import { AlertEvaluator } from "../../src/alerts/evaluator.ts";
import type { AlertEvent } from "../../src/alerts/types.ts";
import { ConfigError, loadConfig, parseConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { type CurrentMetrics, TTSPerformanceMonitor } from "../../src/monitor.ts";
import { alertmanagerConfig, defaultDeploy, RECEIVERS } from "../../src/monitoring/alertmanager.ts";
import { productionProfile } from "../../src/monitoring/profile.ts";
import { generatedYaml } from "../../src/monitoring/yaml.ts";
import { runCli } from "../helpers/exporter.ts";
import { REPO_ROOT, requireBinary } from "../helpers/tools.ts";

const AMTOOL = requireBinary("/usr/bin/amtool", "prometheus-alertmanager");
const dir = mkdtempSync(join(tmpdir(), "tts-config-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface AmConfig {
  global: Record<string, unknown>;
  route: { routes: Array<{ matchers: string[]; receiver: string }> };
  receivers: Array<{ name: string; email_configs?: Array<{ to: string }> }>;
}

/** Writes the Alertmanager config generated for `alerts` and checks it with amtool. */
function alertmanagerFor(alerts: Record<string, unknown>): { file: string; am: AmConfig } {
  const config = parseConfig({ alerts }, "<test>", {});
  const file = join(dir, `am-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(
    file,
    generatedYaml(alertmanagerConfig(config, productionProfile, defaultDeploy(config)), []),
  );
  const check = spawnSync(AMTOOL, ["check-config", file], { encoding: "utf8" });
  expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  return { file, am: load(readFileSync(file, "utf8")) as AmConfig };
}

function routesTo(file: string, labels: Record<string, string>, receiver: string): void {
  const r = spawnSync(
    AMTOOL,
    [
      "config",
      "routes",
      "test",
      `--config.file=${file}`,
      `--verify.receivers=${receiver}`,
      ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
    ],
    { encoding: "utf8" },
  );
  expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
}

describe("alerts.email_notifications", () => {
  it("false (the shipped config): no email receiver, no route to one, no SMTP settings", () => {
    expect(loadConfig(join(REPO_ROOT, "config/config.json"), {}).alerts.email_notifications).toBe(false);
    const { file, am } = alertmanagerFor({ email_notifications: false, email_to: "oncall@example.org" });
    expect(am.receivers.map((r) => r.name)).not.toContain(RECEIVERS.slackAndEmail);
    expect(am.receivers.some((r) => r.email_configs !== undefined)).toBe(false);
    expect(Object.keys(am.global).filter((k) => k.startsWith("smtp_"))).toEqual([]);
    expect(readFileSync(file, "utf8")).not.toContain("oncall@example.org");
    routesTo(file, { alertname: "TTSLatencyHigh", severity: "critical", engine: "kokoro" }, RECEIVERS.slack);
  });

  it("true with a recipient: critical alerts go to Slack and that email address", () => {
    const { file, am } = alertmanagerFor({ email_notifications: true, email_to: "oncall@example.org" });
    const receiver = am.receivers.find((r) => r.name === RECEIVERS.slackAndEmail);
    expect(receiver?.email_configs?.map((e) => e.to)).toEqual(["oncall@example.org"]);
    routesTo(
      file,
      { alertname: "TTSLatencyHigh", severity: "critical", engine: "kokoro" },
      RECEIVERS.slackAndEmail,
    );
    routesTo(file, { alertname: "TTSLatencyHigh", severity: "warning", engine: "kokoro" }, RECEIVERS.slack);
  });

  it("true without a recipient is a config error naming the key, and the CLI exits 2", async () => {
    expect(() => parseConfig({ alerts: { email_notifications: true } }, "config.json", {})).toThrow(
      ConfigError,
    );
    expect(() => parseConfig({ alerts: { email_notifications: true } }, "config.json", {})).toThrow(
      /\$\.alerts\.email_to: expected a recipient .*TTS_MONITOR_EMAIL.*email_notifications is true, got nothing/,
    );
    // The environment variable is a recipient too.
    const fromEnv = parseConfig({ alerts: { email_notifications: true } }, "config.json", {
      TTS_MONITOR_EMAIL: "oncall@example.org",
    });
    expect(fromEnv.alerts.email_to).toBe("oncall@example.org");
    // The CLI only loads its config and exits, but its start (tsx) is slow on a loaded machine.
    const res = await runCli({
      config: { alerts: { email_notifications: true } },
      env: { TTS_MONITOR_EMAIL: undefined },
      timeoutMs: 100_000,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("$.alerts.email_to: expected a recipient");
    expect(res.stderr).not.toContain("exporter listening");
  }, 120_000);
});

describe("alerts.dashboard_alerts", () => {
  function evaluatorWith(dashboardAlerts: boolean) {
    const config = parseConfig(
      { engines: [{ name: "a", type: "embedded" }], alerts: { dashboard_alerts: dashboardAlerts } },
      "<test>",
      {},
    );
    const events = new EventEmitter();
    const panel: AlertEvent[] = [];
    const popups: AlertEvent[] = [];
    events.on("alert", (e: AlertEvent) => panel.push(e));
    events.on("alert-notification", (e: AlertEvent) => popups.push(e));
    const evaluator = new AlertEvaluator({
      source: {
        config,
        getCurrentMetrics: () =>
          ({ engines: {}, gpus: [], memoryUsageRatio: 0.99 }) as unknown as CurrentMetrics,
      },
      registry: new MetricsRegistry(),
      log: new Logger({ json: true, sink: { write: () => {} } }),
      events,
      env: {},
    });
    evaluator.enable({ thresholds: true });
    evaluator.evaluate();
    return { panel, popups };
  }

  it("true: the dashboard gets a pop-up notification for each alert transition", () => {
    const on = evaluatorWith(true);
    expect(on.panel.map((e) => e.alert)).toEqual(["TTSHostMemoryHigh"]);
    expect(on.popups.map((e) => e.alert)).toEqual(["TTSHostMemoryHigh"]);
  });

  it("false: the alert still shows on the dashboard's panel, but raises no pop-up", () => {
    const off = evaluatorWith(false);
    expect(off.panel.map((e) => e.alert)).toEqual(["TTSHostMemoryHigh"]);
    expect(off.popups).toEqual([]);
  });
});

/** A monitor on a config file in `dir`, not started (no ports, no collectors), with its log lines. */
function monitorOn(config: Record<string, unknown>) {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  const lines: Array<Record<string, unknown>> = [];
  const monitor = new TTSPerformanceMonitor({
    configPath: file,
    serve: false,
    env: {},
    logger: new Logger({
      json: true,
      sink: { write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) },
    }),
  });
  return {
    monitor,
    lines,
    rewrite: (next: Record<string, unknown>) => writeFileSync(file, JSON.stringify(next)),
  };
}

async function buildInfo(monitor: TTSPerformanceMonitor) {
  return (await monitor.registry.gauge("tts_exporter_build_info").get()).values.map((v) => v.labels);
}

describe("tool_info.name and tool_info.version", () => {
  it("label tts_exporter_build_info (tool, tool_version), and follow a reload", async () => {
    const base = { engines: [{ name: "e", type: "embedded" }] };
    const m = monitorOn({ ...base, tool_info: { name: "voice-gateway", version: "2.3.1" } });
    try {
      expect(await buildInfo(m.monitor)).toEqual([
        expect.objectContaining({ tool: "voice-gateway", tool_version: "2.3.1" }),
      ]);
      m.rewrite({ ...base, tool_info: { name: "voice-gateway", version: "2.4.0" } });
      expect(m.monitor.reload()).toBe(true);
      // One series: the old version's is gone, not frozen beside the new one.
      expect(await buildInfo(m.monitor)).toEqual([
        expect.objectContaining({ tool: "voice-gateway", tool_version: "2.4.0" }),
      ]);
    } finally {
      await m.monitor.stop();
    }
  });
});

describe("run-time changes survive a SIGHUP reload", () => {
  const file = {
    thresholds: { latency_max_ms: 500, gpu_temp_max: 85 },
    probes: { interval_seconds: 15, texts: ["From the file."] },
    engines: [
      { name: "e1", type: "embedded" },
      { name: "e2", type: "embedded" },
    ],
  };

  it("a reload of an unchanged file keeps every dashboard change", async () => {
    const m = monitorOn(file);
    try {
      m.monitor.setThresholds({ latency_max_ms: 300 });
      m.monitor.setProbeInterval(30);
      m.monitor.setProbeTexts(["Set from the dashboard."]);
      m.monitor.setEngineEnabled("e2", false);
      expect(m.monitor.reload()).toBe(true);
      const c = m.monitor.config;
      expect(c.thresholds.latency_max_ms).toBe(300);
      expect(c.thresholds.gpu_temp_max).toBe(85);
      expect(c.probes.interval_seconds).toBe(30);
      expect(c.probes.texts).toEqual(["Set from the dashboard."]);
      expect(c.engines.map((e) => [e.name, e.enabled])).toEqual([
        ["e1", true],
        ["e2", false],
      ]);
      const reloaded = m.lines.find((l) => l.msg === "config reloaded");
      expect(reloaded?.kept_run_time_changes).toEqual([
        "thresholds.latency_max_ms",
        "probes.interval_seconds",
        "probes.texts",
        'engines["e2"].enabled',
      ]);
      // The engine disabled at run time is still built: the dashboard can switch it on again.
      m.monitor.setEngineEnabled("e2", true);
      expect(m.monitor.config.engines.find((e) => e.name === "e2")?.enabled).toBe(true);
    } finally {
      await m.monitor.stop();
    }
  });

  it("a key the file changed: the file wins, and one log line says so; other run-time changes stay", async () => {
    const m = monitorOn(file);
    try {
      m.monitor.setThresholds({ latency_max_ms: 300, gpu_temp_max: 80 });
      m.rewrite({ ...file, thresholds: { ...file.thresholds, latency_max_ms: 700 } });
      expect(m.monitor.reload()).toBe(true);
      expect(m.monitor.config.thresholds.latency_max_ms).toBe(700);
      expect(m.monitor.config.thresholds.gpu_temp_max).toBe(80);
      const said = m.lines.filter((l) => String(l.msg).includes("the file's value applies"));
      expect(said).toHaveLength(1);
      expect(said[0]).toMatchObject({
        setting: "thresholds.latency_max_ms",
        file_value: 700,
        run_time_value: 300,
      });
      // The run-time value is forgotten: the next reload of the same file changes nothing and says nothing.
      expect(m.monitor.reload()).toBe(true);
      expect(m.monitor.config.thresholds.latency_max_ms).toBe(700);
      expect(m.lines.filter((l) => String(l.msg).includes("the file's value applies"))).toHaveLength(1);
      // The file catching up with a run-time change (gpu_temp_max 80 written there too) is no conflict.
      m.rewrite({ ...file, thresholds: { latency_max_ms: 700, gpu_temp_max: 80 } });
      expect(m.monitor.reload()).toBe(true);
      expect(m.monitor.config.thresholds.gpu_temp_max).toBe(80);
      expect(m.lines.filter((l) => String(l.msg).includes("the file's value applies"))).toHaveLength(1);
    } finally {
      await m.monitor.stop();
    }
  });
});
