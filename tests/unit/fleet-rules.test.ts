// Fleet semantics of the generated rules and dashboards: two replicas of one job behind a Service,
// one fast and busy, one slow with failures. The fleet's quantile comes from the summed buckets and
// its error ratio from summed rates (never a max, sum or mean of per-replica quantiles or ratios),
// checked by promtool on the generated rules and on the dashboards' own queries.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.ts";
import { dashboards, panelQueries } from "../../src/monitoring/dashboards/index.ts";
import { rulesYaml } from "../../src/monitoring/monitoring-files.ts";
import { productionProfile } from "../../src/monitoring/profile.ts";
import { recordNames } from "../../src/monitoring/rules.ts";
import { REPO_ROOT, requireBinary } from "../helpers/tools.ts";

const PROMTOOL = requireBinary("/usr/bin/promtool", "prometheus");
const config = loadConfig(join(REPO_ROOT, "config/config.json"), {});
const dir = mkdtempSync(join(tmpdir(), "tts-fleet-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LE = [
  "0.025",
  "0.05",
  "0.1",
  "0.2",
  "0.3",
  "0.5",
  "0.75",
  "1",
  "1.5",
  "2",
  "3",
  "5",
  "10",
  "30",
  "+Inf",
];
const target = (instance: string) => ({
  job: productionProfile.job,
  instance,
  engine: "kokoro",
  voice: "af_heart",
});

/** Cumulative buckets of a histogram whose observations all fall at or below `le`, `perMinute` of them. */
function buckets(instance: string, le: string, perMinute: number) {
  const from = LE.indexOf(le);
  return LE.map((b, i) => ({
    series: `tts_latency_seconds_bucket{${labels({ ...target(instance), source: "ingest", le: b })}}`,
    values: i >= from ? `0+${perMinute}x15` : "0+0x15",
  }));
}

function labels(l: Record<string, string>): string {
  return Object.entries(l)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(", ");
}

const requests = (instance: string, result: string, perMinute: number) => ({
  series: `tts_requests_total{${labels({ ...target(instance), source: "ingest", result })}}`,
  values: `0+${perMinute}x15`,
});

/** A dashboard query with Grafana's variables as "All" selects them. */
function panelExpr(title: string, refIndex = 0): string {
  const all = Object.values(dashboards(config.thresholds, productionProfile)).flatMap((d) => panelQueries(d));
  const found = all.filter((q) => q.panel === title)[refIndex];
  if (!found) throw new Error(`no panel "${title}"`);
  return found.expr.replaceAll("$instance", ".*").replaceAll("$engine", ".*").replaceAll("$voice", ".*");
}

describe("fleet semantics (two replicas of one job)", () => {
  it("quantiles from summed buckets, error ratio from summed rates: rules and dashboard queries", () => {
    writeFileSync(join(dir, "rules.yml"), rulesYaml(config, productionProfile));
    const rec = recordNames(productionProfile);
    // Replica a: 300 fast requests a minute, all in (0.05, 0.1]. Replica b: 100 slow ones in
    // (0.75, 1] and 100 failures a minute. Fleet p50: rank 200 of 400 falls among a's, so
    // 0.05 + 0.05 * (200 / 300) = 0.0833 s; the slower replica's own p50 is 0.875 s.
    // Fleet error ratio: 100 / 500 = 0.2 (the replicas' ratios are 0 and 0.5).
    const x = (expr: string) => `round(10000 * (${expr}))`;
    const tests = {
      rule_files: ["rules.yml"],
      evaluation_interval: "1m",
      tests: [
        {
          interval: "1m",
          input_series: [
            ...buckets("a:9090", "0.1", 300),
            ...buckets("b:9090", "1", 100),
            requests("a:9090", "success", 300),
            requests("b:9090", "success", 100),
            requests("b:9090", "failure", 100),
          ],
          promql_expr_test: [
            {
              expr: x(`${rec.fleetLatencyQuantiles}{quantile="0.5"}`),
              eval_time: "10m",
              exp_samples: [
                { labels: `{job="${productionProfile.job}", engine="kokoro", quantile="0.5"}`, value: 833 },
              ],
            },
            {
              // The engine dashboard's p50 with every instance selected: the fleet's.
              expr: x(panelExpr("Latency quantiles", 0)),
              eval_time: "10m",
              exp_samples: [{ labels: '{engine="kokoro", voice="af_heart"}', value: 833 }],
            },
            {
              // One replica selected (the instance drill-down): its own p50.
              expr: x(panelExpr("Latency quantiles", 0).replace('instance=~".*"', 'instance=~"b:9090"')),
              eval_time: "10m",
              exp_samples: [{ labels: '{engine="kokoro", voice="af_heart"}', value: 8750 }],
            },
            {
              expr: x(`${rec.fleetErrorRatio}`),
              eval_time: "10m",
              exp_samples: [{ labels: `{job="${productionProfile.job}", engine="kokoro"}`, value: 2000 }],
            },
            {
              expr: x(panelExpr("Error ratio")),
              eval_time: "10m",
              exp_samples: [{ labels: '{engine="kokoro"}', value: 2000 }],
            },
            {
              // Requests per second by result: the replicas summed, one series per result.
              expr: x(panelExpr("Requests per second by result")),
              eval_time: "10m",
              exp_samples: [
                { labels: '{engine="kokoro", voice="af_heart", result="success"}', value: 66667 },
                { labels: '{engine="kokoro", voice="af_heart", result="failure"}', value: 16667 },
              ],
            },
          ],
        },
      ],
    };
    writeFileSync(join(dir, "fleet.test.yml"), dump(tests, { lineWidth: -1 }));
    const r = spawnSync(PROMTOOL, ["test", "rules", "fleet.test.yml"], { cwd: dir, encoding: "utf8" });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});
