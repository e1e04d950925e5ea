// promtool unit tests for every alert, generated from the same specs as the rules: each alert stays
// quiet at its threshold and fires past it, and fires only once its `for` has elapsed (each tier).
import { dashboardUrl, runbookUrl } from "./links.ts";
import { type MonitoringProfile, promDuration } from "./profile.ts";
import {
  type AlertInputs,
  type AlertSpec,
  alertSpecs,
  goQueryEscape,
  TEST_INTERVAL_SECONDS,
  TEST_TARGET,
  type TemplateVars,
} from "./rules.ts";

interface ExpectedAlert {
  readonly exp_labels: Record<string, string>;
  readonly exp_annotations: Record<string, string>;
}

interface PromtoolTest {
  readonly name: string;
  readonly interval: string;
  readonly input_series: ReadonlyArray<{ series: string; values: string }>;
  readonly alert_rule_test: ReadonlyArray<{
    eval_time: string;
    alertname: string;
    exp_alerts: ExpectedAlert[];
  }>;
}

/** What the rule's Go templates render to for these labels and value (printf "%.Nf" is toFixed). */
function literalVars(
  labels: Readonly<Record<string, string>>,
  value: number,
  decimals: number,
): TemplateVars {
  return {
    value: value.toFixed(decimals),
    label: (name) => labels[name] ?? "",
    query: (name) => goQueryEscape(labels[name] ?? ""),
  };
}

function expected(
  spec: AlertSpec,
  profile: MonitoringProfile,
  severity: string,
  labels: Readonly<Record<string, string>>,
  value: number,
): ExpectedAlert {
  const v = literalVars(labels, value, spec.decimals);
  const vars = Object.fromEntries(spec.dashboardVars.map((name) => [name, v.query(name)]));
  return {
    exp_labels: { ...labels, severity },
    exp_annotations: {
      summary: spec.summary,
      description: spec.description(v),
      runbook_url: runbookUrl(spec.alert, profile),
      dashboard_url: dashboardUrl(profile, spec.dashboard, vars),
    },
  };
}

const at = (seconds: number) => (seconds === 0 ? "0m" : promDuration(seconds));

function testsFor(spec: AlertSpec, profile: MonitoringProfile): PromtoolTest[] {
  const interval = promDuration(TEST_INTERVAL_SECONDS);
  const test = spec.test;
  if (!test) {
    // The Watchdog: no threshold, it fires from the first evaluation whatever the data.
    return [
      {
        name: `${spec.alert}: always firing, even with no data at all`,
        interval,
        input_series: [],
        alert_rule_test: [
          {
            eval_time: "0m",
            alertname: spec.alert,
            exp_alerts: spec.tiers.map((t) => expected(spec, profile, t.severity, {}, 1)),
          },
        ],
      },
    ];
  }
  const longest = Math.max(...spec.tiers.map((t) => t.forSeconds));
  const times = new Set<number>();
  for (const tier of spec.tiers) {
    const fires = test.firstTrueSeconds + tier.forSeconds;
    times.add(fires);
    if (fires - TEST_INTERVAL_SECONDS >= 0) times.add(fires - TEST_INTERVAL_SECONDS);
  }
  return [
    {
      name: `${spec.alert}: quiet at its threshold (value ${test.boundary.value}) well past every for`,
      interval,
      input_series: test.boundary.series,
      alert_rule_test: [
        {
          eval_time: at(test.firstTrueSeconds + longest + 2 * TEST_INTERVAL_SECONDS),
          alertname: spec.alert,
          exp_alerts: [],
        },
      ],
    },
    {
      name: `${spec.alert}: past its threshold (value ${test.breach.value}), each tier fires only once its for has elapsed`,
      interval,
      input_series: test.breach.series,
      alert_rule_test: [...times]
        .sort((a, b) => a - b)
        .map((t) => ({
          eval_time: at(t),
          alertname: spec.alert,
          exp_alerts: spec.tiers
            .filter((tier) => test.firstTrueSeconds + tier.forSeconds <= t)
            .map((tier) => expected(spec, profile, tier.severity, test.labels, test.breach.value)),
        })),
    },
  ];
}

export const RULES_FILE = "alerting-rules/tts-monitor.rules.yml";
export const RULE_TESTS_FILE = "alerting-rules/tests/tts-monitor.test.yml";

/** The GPU collector alerts only after it has worked: a GPU that was there and is lost. */
function gpuLostTest(spec: AlertSpec, profile: MonitoringProfile): PromtoolTest {
  const labels = { ...TEST_TARGET, collector: "gpu" };
  const okSteps = 10;
  const forSeconds = spec.tiers[0]?.forSeconds ?? 0;
  const fires = okSteps * TEST_INTERVAL_SECONDS + forSeconds;
  const steps = fires / TEST_INTERVAL_SECONDS + 5;
  return {
    name: `${spec.alert}: the GPU collector fails after it had succeeded (GPU lost) and fires after its for`,
    interval: promDuration(TEST_INTERVAL_SECONDS),
    input_series: [
      {
        series: `tts_exporter_collector_success{job="${labels.job}", instance="${labels.instance}", collector="gpu"}`,
        values: `1x${okSteps - 1} 0x${steps}`,
      },
    ],
    alert_rule_test: [
      { eval_time: at(fires - TEST_INTERVAL_SECONDS), alertname: spec.alert, exp_alerts: [] },
      {
        eval_time: at(fires),
        alertname: spec.alert,
        exp_alerts: spec.tiers.map((tier) => expected(spec, profile, tier.severity, labels, 0)),
      },
    ],
  };
}

export function ruleTests(config: AlertInputs, profile: MonitoringProfile): object {
  const specs = alertSpecs(config, profile);
  const collector = specs.find((s) => s.alert === "TTSCollectorFailing");
  return {
    rule_files: ["../tts-monitor.rules.yml"],
    evaluation_interval: promDuration(TEST_INTERVAL_SECONDS),
    tests: [
      ...specs.flatMap((spec) => testsFor(spec, profile)),
      ...(collector ? [gpuLostTest(collector, profile)] : []),
    ],
  };
}
