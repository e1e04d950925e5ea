// The generated monitoring bundle: rules and their tests, Alertmanager, dashboards, provisioning.
import type { Config } from "../config/schema.ts";
import { alertmanagerConfig, defaultDeploy } from "./alertmanager.ts";
import { alertsReference } from "./alerts-doc.ts";
import { dashboards } from "./dashboards/index.ts";
import type { MonitoringProfile } from "./profile.ts";
import { dashboardProvisioning, datasourceProvisioning } from "./provisioning.ts";
import { RULE_TESTS_FILE, RULES_FILE, ruleTests } from "./rule-tests.ts";
import { ruleGroups } from "./rules.ts";
import { GENERATED_HEADER, generatedYaml } from "./yaml.ts";

export interface GeneratedFile {
  /** Path relative to the output root (the repository root by default). */
  readonly path: string;
  readonly content: string;
}

export const ALERTMANAGER_FILE = "alertmanager/alertmanager.yml";

export function rulesYaml(config: Config, profile: MonitoringProfile): string {
  return generatedYaml({ groups: ruleGroups(config, profile) }, [
    ...GENERATED_HEADER,
    `Profile: ${profile.name}. Thresholds: ${JSON.stringify(config.thresholds)}`,
  ]);
}

export function monitoringFiles(config: Config, profile: MonitoringProfile): GeneratedFile[] {
  return [
    { path: RULES_FILE, content: rulesYaml(config, profile) },
    {
      path: ALERTMANAGER_FILE,
      content: generatedYaml(alertmanagerConfig(config, profile, defaultDeploy(config)), [
        ...GENERATED_HEADER,
        "Deployments render their own copy with the recipient, SMTP server and secrets from the environment:",
        "tsx src/monitoring/render-alertmanager.ts --out <dir> (docs/stack.md).",
      ]),
    },
    ...Object.entries(dashboards(config.thresholds, profile)).map(([path, d]) => ({
      path,
      content: `${JSON.stringify(d, null, 2)}\n`,
    })),
    {
      path: "grafana/provisioning/datasources/prometheus.yml",
      content: generatedYaml(datasourceProvisioning, GENERATED_HEADER),
    },
    {
      path: "grafana/provisioning/dashboards/tts.yml",
      content: generatedYaml(dashboardProvisioning, GENERATED_HEADER),
    },
    { path: "docs/alerts.md", content: alertsReference(config, profile) },
    {
      path: RULE_TESTS_FILE,
      content: generatedYaml(ruleTests(config, profile), GENERATED_HEADER),
    },
  ];
}
