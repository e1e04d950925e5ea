// The Helm chart's generated files (deploy/helm/tts-performance-monitor/files/): the PrometheusRule's
// rule groups and the dashboards' JSON from the same TypeScript as alerting-rules/ and dashboards/,
// and the thresholds those rules were generated with, so the exporter's in-process alerts and the
// Prometheus Operator's rules compare against one number. The templates read them with .Files.Get.
import type { Config } from "../config/schema.ts";
import { dashboards } from "./dashboards/index.ts";
import type { GeneratedFile } from "./monitoring-files.ts";
import type { MonitoringProfile } from "./profile.ts";
import { ruleGroups } from "./rules.ts";
import { GENERATED_HEADER, generatedYaml } from "./yaml.ts";

export const HELM_CHART_DIR = "deploy/helm/tts-performance-monitor";
export const HELM_RULES_FILE = `${HELM_CHART_DIR}/files/prometheus-rules.yaml`;
export const HELM_CONFIG_FILE = `${HELM_CHART_DIR}/files/config.json`;

export function helmFiles(config: Config, profile: MonitoringProfile): GeneratedFile[] {
  return [
    {
      // The PrometheusRule's spec: the groups of alerting-rules/tts-monitor.rules.yml.
      path: HELM_RULES_FILE,
      content: generatedYaml({ groups: ruleGroups(config, profile) }, [
        ...GENERATED_HEADER,
        `Profile: ${profile.name}. Thresholds: ${JSON.stringify(config.thresholds)}`,
      ]),
    },
    ...Object.entries(dashboards(config.thresholds, profile)).map(([path, d]) => ({
      path: `${HELM_CHART_DIR}/files/${path}`,
      content: `${JSON.stringify(d, null, 2)}\n`,
    })),
    {
      // The chart's base config: only the thresholds (the rules above were generated with them); the
      // rest is the exporter's defaults and the release's `config` value. No secret can get here.
      path: HELM_CONFIG_FILE,
      content: `${JSON.stringify({ thresholds: config.thresholds }, null, 2)}\n`,
    },
  ];
}
