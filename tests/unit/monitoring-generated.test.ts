// The generated monitoring files: promtool and amtool accept them, every alert has promtool cases and a
// runbook, every metric a rule or panel names is in the catalog, and generation is deterministic.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load } from "js-yaml";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../../src/config/load.ts";
import { routeCases } from "../../src/monitoring/alertmanager.ts";
import { dashboards, panelQueries } from "../../src/monitoring/dashboards/index.ts";
import { generateAll, writeGenerated } from "../../src/monitoring/generate.ts";
import { runbookPath } from "../../src/monitoring/links.ts";
import { productionProfile } from "../../src/monitoring/profile.ts";
import { type AlertingRule, alertSpecs, goQueryEscape, ruleGroups } from "../../src/monitoring/rules.ts";
import { recordedNames, unknownMetricNames } from "../helpers/metric-names.ts";
import { FIXTURES, REPO_ROOT, requireBinary } from "../helpers/tools.ts";

const PROMTOOL = requireBinary("/usr/bin/promtool", "prometheus");
const AMTOOL = requireBinary("/usr/bin/amtool", "prometheus-alertmanager");
const config = loadConfig(join(REPO_ROOT, "config/config.json"), {});
const out = mkdtempSync(join(tmpdir(), "tts-generated-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd = out): { code: number; output: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

describe("generated monitoring files", () => {
  it("escape label values in dashboard links as Go's urlquery does", () => {
    // url.QueryEscape: unreserved characters stay, space is "+", every other byte is %XX.
    expect(goQueryEscape("kokoro")).toBe("kokoro");
    expect(goQueryEscape("exporter:9090")).toBe("exporter%3A9090");
    expect(goQueryEscape("my tts&v=2/é~_.-")).toBe("my+tts%26v%3D2%2F%C3%A9~_.-");
    const rules = ruleGroups(parseConfig({}, "<test>", {}), productionProfile)
      .flatMap((g) => g.rules)
      .filter((r): r is AlertingRule => "alert" in r);
    for (const r of rules) {
      if (r.annotations.dashboard_url.includes("{{"))
        expect(r.annotations.dashboard_url, r.alert).toMatch(/=\{\{ \$labels\.\w+ \| urlquery \}\}/);
    }
  });

  it("link to the Grafana and runbooks the config names, and their promtool tests still pass", async () => {
    const linked = parseConfig(
      {
        alerts: {
          grafana_url: "https://grafana.example.com/",
          runbook_base_url: "https://wiki.example.com/tts/runbooks",
        },
      },
      "<test>",
      {},
    );
    const dir = mkdtempSync(join(tmpdir(), "tts-linked-"));
    try {
      await writeGenerated(generateAll(linked), dir);
      const rules = readFileSync(join(dir, "alerting-rules/tts-monitor.rules.yml"), "utf8");
      expect(rules).toContain(
        "dashboard_url: https://grafana.example.com/d/tts-engine/tts-per-engine?var-engine={{ $labels.engine | urlquery }}",
      );
      expect(rules).toContain("runbook_url: https://wiki.example.com/tts/runbooks/TTSLatencyHigh.md");
      expect(rules).not.toContain("localhost:3000");
      const r = run(PROMTOOL, ["test", "rules", "alerting-rules/tests/tts-monitor.test.yml"], dir);
      expect(r.code, r.output).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => parseConfig({ alerts: { grafana_url: "grafana:3000" } }, "<test>", {})).toThrow(
      /alerts\.grafana_url/,
    );
  });

  it("are deterministic and fast", async () => {
    const start = performance.now();
    const a = generateAll(config);
    expect(performance.now() - start).toBeLessThan(5000);
    expect(generateAll(config)).toEqual(a);
    await writeGenerated(a, out);
  });

  it("rules pass `promtool check rules` with no lint finding", () => {
    const r = run(PROMTOOL, ["check", "rules", "alerting-rules/tts-monitor.rules.yml"]);
    expect(r.output).toContain("SUCCESS");
    expect(r.code, r.output).toBe(0);
  });

  it("pass the generated promtool tests (both sides of each threshold and of each for)", () => {
    const r = run(PROMTOOL, ["test", "rules", "alerting-rules/tests/tts-monitor.test.yml"]);
    expect(r.code, r.output).toBe(0);
  });

  it("pass the hand-written edge cases (no data, NaN, GPU absent, idle cache, flapping probes)", () => {
    const r = run(PROMTOOL, ["test", "rules", "rule-edge-cases.test.yml"], join(FIXTURES, "monitoring"));
    expect(r.code, r.output).toBe(0);
  });

  it("fail the generated promtool tests when a threshold is moved by one unit (the tests do pin it)", async () => {
    const moved = parseConfig({ thresholds: { gpu_temp_max: 84 } }, "inline");
    const dir = mkdtempSync(join(tmpdir(), "tts-moved-"));
    try {
      // Rules from the moved config, tests from the shipped one: GPU temperature cases must fail.
      await writeGenerated(generateAll(config), dir);
      const movedRules = generateAll(moved).find((f) => f.path === "alerting-rules/tts-monitor.rules.yml");
      await writeGenerated(movedRules ? [movedRules] : [], dir);
      const r = run(PROMTOOL, ["test", "rules", "alerting-rules/tests/tts-monitor.test.yml"], dir);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain("TTSGpuTemperatureHigh");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("every alert has promtool cases, a severity, the four annotations and a runbook that exists", () => {
    const tests = readFileSync(join(out, "alerting-rules/tests/tts-monitor.test.yml"), "utf8");
    const alerts = ruleGroups(config, productionProfile)
      .flatMap((g) => g.rules)
      .filter((r): r is AlertingRule => "alert" in r);
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alertSpecs(config, productionProfile).length);
    for (const a of alerts) {
      expect(tests).toContain(`alertname: ${a.alert}`);
      expect(["warning", "critical", "none"]).toContain(a.labels.severity);
      expect(a.annotations.summary.length).toBeGreaterThan(10);
      if (a.alert !== "Watchdog") expect(a.annotations.description).toContain("$value");
      expect(a.annotations.dashboard_url).toMatch(/^http:\/\/localhost:3000\/d\/tts-/);
      const runbook = join(REPO_ROOT, runbookPath(a.annotations.runbook_url));
      expect(existsSync(runbook), `${a.alert}: ${runbook}`).toBe(true);
      const text = readFileSync(runbook, "utf8");
      expect(text).toContain(`# ${a.alert}`);
      expect(text.length).toBeGreaterThan(400);
    }
    for (const spec of alertSpecs(config, productionProfile)) {
      if (spec.alert === "Watchdog") continue;
      expect(spec.test, spec.alert).toBeDefined();
    }
  });

  it("thresholds come from the config: rules, descriptions and panel thresholds follow a change", () => {
    const changed = parseConfig({ thresholds: { latency_max_ms: 300, gpu_temp_max: 80 } }, "inline");
    const files = Object.fromEntries(generateAll(changed).map((f) => [f.path, f.content]));
    expect(files["alerting-rules/tts-monitor.rules.yml"]).toContain("* 1000 > 300");
    expect(files["alerting-rules/tts-monitor.rules.yml"]).toContain("tts_gpu_temperature_celsius > 80");
    const hostGpu = JSON.parse(files["dashboards/tts-host-gpu.json"] ?? "{}") as unknown;
    expect(JSON.stringify(hostGpu)).toContain('"value":80');
    const engine = JSON.stringify(JSON.parse(files["dashboards/tts-engine.json"] ?? "{}"));
    expect(engine).toContain('"value":0.3');
  });

  it("every metric named in a rule or a panel is in the catalog (recorded series come from a rule)", () => {
    const groups = ruleGroups(config, productionProfile);
    const exprs = [
      ...groups.flatMap((g) => g.rules.map((r) => r.expr)),
      ...Object.values(dashboards(config.thresholds, productionProfile)).flatMap((d) =>
        panelQueries(d).map((q) => q.expr),
      ),
    ];
    const { unknown, named } = unknownMetricNames(exprs, recordedNames(groups));
    expect(unknown).toEqual([]);
    expect(named).toBeGreaterThan(60);
    // The check itself catches an unknown name.
    expect(
      unknownMetricNames(['rate(tts_not_a_metric_total{engine="x"}[5m])'], new Set()).unknown,
    ).toHaveLength(1);
  });

  it("dashboards have stable uids, a datasource variable and instance/engine/voice variables", () => {
    const all = dashboards(config.thresholds, productionProfile);
    const uids = Object.values(all).map((d) => d.uid);
    expect(uids).toEqual(["tts-overview", "tts-engine", "tts-audio-quality", "tts-host-gpu"]);
    for (const d of Object.values(all)) {
      const vars = (d.templating?.list ?? []).map((v) => v.name);
      expect(vars.slice(0, 2)).toEqual(["datasource", "instance"]);
      if (d.uid !== "tts-host-gpu") expect(vars).toEqual(["datasource", "instance", "engine", "voice"]);
      for (const p of d.panels ?? []) {
        if ("targets" in p) expect(p.datasource).toEqual({ type: "prometheus", uid: "${datasource}" });
      }
    }
  });

  it("dashboards load in Grafana as drawn: unique panel ids, legends shown, stats on the last value", () => {
    for (const [file, d] of Object.entries(dashboards(config.thresholds, productionProfile))) {
      const panels = d.panels ?? [];
      const ids = panels.map((p) => p.id);
      expect(ids, file).toEqual(panels.map((_, i) => i + 1));
      for (const p of panels) {
        const options = (p as { options?: Record<string, unknown> }).options ?? {};
        if (p.type === "timeseries") {
          expect(options.legend, `${file} › ${p.title}`).toMatchObject({
            showLegend: true,
            displayMode: "list",
          });
          expect(options.tooltip, `${file} › ${p.title}`).toMatchObject({ mode: "multi" });
        }
        if (p.type === "stat")
          expect(options.reduceOptions, `${file} › ${p.title}`).toEqual({
            calcs: ["lastNotNull"],
            values: false,
          });
      }
      // Recent Grafana hides a link with placement "inControlsMenu" (the SDK's default) in a menu.
      expect(d.links?.length, file).toBe(1);
      for (const link of d.links ?? []) expect(link.placement, file).toBeUndefined();
    }
  });

  it("the engine and voice variables list ingested-only engines too (tts_requests_total)", () => {
    for (const d of Object.values(dashboards(config.thresholds, productionProfile))) {
      for (const v of d.templating?.list ?? []) {
        if (v.name === "engine" || v.name === "voice")
          expect(String(v.query)).toContain("tts_requests_total{");
      }
    }
  });
});

describe("generated Alertmanager config", () => {
  const file = () => join(out, "alertmanager/alertmanager.yml");

  it("passes `amtool check-config` and holds no secret", () => {
    const r = run(AMTOOL, ["check-config", file()]);
    expect(r.code, r.output).toBe(0);
    const text = readFileSync(file(), "utf8");
    expect(text).not.toMatch(/hooks\.slack\.com|auth_password:|api_url:/);
    expect(text).toContain("api_url_file: /run/secrets/slack_webhook_url");
  });

  it.each(routeCases(config))("routes $labels to $receivers", ({ labels, receivers }) => {
    const args = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
    const r = run(AMTOOL, [
      "config",
      "routes",
      "test",
      `--config.file=${file()}`,
      `--verify.receivers=${receivers.join(",")}`,
      ...args,
    ]);
    expect(r.code, r.output).toBe(0);
  });

  it("inhibits a warning by the critical of the same alert and engine", () => {
    const am = load(readFileSync(file(), "utf8")) as { inhibit_rules: Array<Record<string, unknown>> };
    expect(am.inhibit_rules).toContainEqual({
      source_matchers: ['severity="critical"'],
      target_matchers: ['severity="warning"'],
      equal: ["alertname", "instance", "engine", "gpu"],
    });
  });

  it("are what is committed (npm test's check-generated covers the same list)", () => {
    for (const f of generateAll(config)) {
      expect(readFileSync(join(REPO_ROOT, f.path), "utf8"), f.path).toBe(f.content);
    }
    execFileSync(PROMTOOL, ["--version"]);
  });
});
