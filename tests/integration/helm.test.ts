// The Helm chart, validated offline (no cluster here): `helm lint` and `helm template` for every
// ci/*-values.yaml, every rendered object through the Kubernetes and Prometheus Operator schemas
// (kubernetes-models), the PrometheusRule through promtool, the dashboards' queries against the
// catalog, and the default render against a golden file (UPDATE_GOLDEN=1 rewrites it).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Probe } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/Probe";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { dump, load, loadAll } from "js-yaml";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../../src/config/load.ts";
import { HELM_CHART_DIR } from "../../src/monitoring/helm.ts";
import { productionProfile } from "../../src/monitoring/profile.ts";
import { ruleGroups } from "../../src/monitoring/rules.ts";
import { helmBinary } from "../helpers/helm.ts";
import { recordedNames, unknownMetricNames } from "../helpers/metric-names.ts";
import { FIXTURES, REPO_ROOT, requireBinary } from "../helpers/tools.ts";

const PROMTOOL = requireBinary("/usr/bin/promtool", "prometheus");
const HELM = helmBinary();
const CHART = join(REPO_ROOT, HELM_CHART_DIR);
const GOLDEN = join(FIXTURES, "golden/helm-default.yaml");
const work = mkdtempSync(join(tmpdir(), "tts-helm-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

type Validatable = { validate(): void };
const MODELS: Record<string, new (data: never) => Validatable> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "apps/v1/Deployment": Deployment,
  "apps/v1/DaemonSet": DaemonSet,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/Probe": Probe,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};

function helm(args: string[]): { code: number; output: string; stdout: string } {
  const r = spawnSync(HELM, args, {
    cwd: CHART,
    encoding: "utf8",
    // No ~/.config/helm or repository cache of the user's: helm reads and writes here only.
    env: { PATH: process.env.PATH ?? "", HOME: work, HELM_CACHE_HOME: join(work, "cache") },
  });
  return { code: r.status ?? -1, stdout: r.stdout, output: `${r.stdout}${r.stderr}` };
}

function render(args: string[] = []): { text: string; objects: K8sObject[] } {
  const r = helm(["template", "tts", ".", "--namespace", "tts", ...args]);
  if (r.code !== 0) throw new Error(`helm template ${args.join(" ")}: ${r.output}`);
  const objects = loadAll(r.stdout).filter((o): o is K8sObject => o !== null && typeof o === "object");
  return { text: r.stdout, objects };
}

const one = (objects: K8sObject[], kind: string): K8sObject => {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`${found.length} ${kind} objects rendered, one expected`);
  return found[0] as K8sObject;
};

// Rendered objects are walked as plain data.
type Any = any;

const ciFiles = readdirSync(join(CHART, "ci")).filter((f) => f.endsWith("-values.yaml"));
const renders = Object.fromEntries(ciFiles.map((f) => [f, render(["-f", `ci/${f}`])]));
const rendered = (file: string) => {
  const r = renders[file];
  if (!r) throw new Error(`no ci/${file}`);
  return r.objects;
};

/** The rendered exporter config, through the exporter's own schema. */
function exporterConfig(objects: K8sObject[]): Record<string, Any> {
  const cm = objects.find((o) => o.kind === "ConfigMap" && !o.metadata.labels?.grafana_dashboard) as Any;
  const config = JSON.parse(cm.data["config.json"]) as Record<string, Any>;
  const known = config;
  // monitoring.host_root must exist where the config is parsed: the node's / mounted at /host in
  // the pod; here, this machine's /.
  const hostRoot = known.monitoring?.host_root === "/host" ? { host_root: "/" } : {};
  parseConfig({ ...known, monitoring: { ...known.monitoring, ...hostRoot } }, "<helm>", {});
  return config;
}

describe("Helm chart", () => {
  it("has ci values files for the default, the Operator, GPU DaemonSet and web-config setups", () => {
    expect(ciFiles.sort()).toEqual([
      "default-values.yaml",
      "gpu-daemonset-values.yaml",
      "operator-values.yaml",
      "web-config-values.yaml",
    ]);
  });

  it.each(ciFiles)("passes helm lint --strict with ci/%s", (file) => {
    const r = helm(["lint", ".", "--strict", "-f", `ci/${file}`]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("0 chart(s) failed");
  });

  it.each(ciFiles)("renders ci/%s into objects the Kubernetes and Operator schemas accept", (file) => {
    const objects = rendered(file);
    expect(objects.length).toBeGreaterThan(3);
    for (const o of objects) {
      const group = o.apiVersion;
      const Model = MODELS[`${group}/${o.kind}`];
      expect(Model, `${o.apiVersion} ${o.kind} has no model in this test`).toBeDefined();
      if (!Model) continue;
      expect(() => new Model(o as never).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("tts");
      expect(o.metadata.labels?.["app.kubernetes.io/name"]).toBe("tts-performance-monitor");
    }
    // The exporter's config in every render is one the exporter accepts.
    exporterConfig(objects);
  });

  it("the validation itself rejects a broken object (a port name where a number belongs)", () => {
    const d = structuredClone(one(rendered("default-values.yaml"), "Deployment")) as Any;
    d.spec.template.spec.containers[0].ports[0].containerPort = "http";
    expect(() => new Deployment(d).validate()).toThrow(/containerPort/);
  });

  it("off by default: no Operator object, no Secret, no policy; one hardened Deployment", () => {
    const objects = rendered("default-values.yaml");
    expect(objects.map((o) => o.kind).sort()).toEqual([
      "ConfigMap",
      "Deployment",
      "Service",
      "ServiceAccount",
    ]);
    const pod = (one(objects, "Deployment") as Any).spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    const [c] = pod.containers;
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    });
    // A read-only root filesystem with a writable /tmp (TMPDIR) for the audio analysis' temp files.
    expect(c.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(pod.volumes).toContainEqual({ name: "tmp", emptyDir: { sizeLimit: "256Mi" } });
    expect(c.env).toContainEqual({ name: "TMPDIR", value: "/tmp" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/-/healthy", port: "http", scheme: "HTTP" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/-/ready", port: "http", scheme: "HTTP" });
    expect(c.args).toEqual(["--prometheus-export", "--config", "/etc/tts-monitor/config/config.json"]);
    expect(c.ports).toEqual([{ name: "http", containerPort: 9090, protocol: "TCP" }]);
    expect(c.resources.requests).toEqual({ cpu: "250m", memory: "384Mi" });
    expect(pod.automountServiceAccountToken).toBe(false);
    // The image's user (Dockerfile: USER node, uid 1000).
    expect(pod.securityContext.runAsUser).toBe(1000);
    const config = exporterConfig(objects);
    expect(config.server).toEqual({ listen_address: "0.0.0.0:9090", dashboard_address: "0.0.0.0:8080" });
    // The thresholds the chart's rules were generated with.
    expect(config.thresholds).toEqual(loadConfig(join(REPO_ROOT, "config/config.json"), {}).thresholds);
  });

  it("renders the default values as the golden file (UPDATE_GOLDEN=1 rewrites it)", () => {
    const { text } = render();
    if (process.env.UPDATE_GOLDEN === "1") writeFileSync(GOLDEN, text);
    expect(text).toBe(readFileSync(GOLDEN, "utf8"));
  });

  it("the PrometheusRule passes promtool check rules and the generated promtool tests", () => {
    const rule = one(rendered("operator-values.yaml"), "PrometheusRule") as Any;
    expect(rule.metadata.labels.release).toBe("kube-prometheus-stack");
    const dir = join(work, "rules");
    rmSync(dir, { recursive: true, force: true });
    const rulesFile = join(dir, "tts-monitor.rules.yml");
    const testsFile = join(dir, "tests/tts-monitor.test.yml");
    spawnSync("mkdir", ["-p", join(dir, "tests")]);
    writeFileSync(rulesFile, dump(rule.spec, { lineWidth: -1 }));
    // The committed promtool tests name ../tts-monitor.rules.yml: here, the rendered rules.
    writeFileSync(testsFile, readFileSync(join(REPO_ROOT, "alerting-rules/tests/tts-monitor.test.yml")));
    const check = spawnSync(PROMTOOL, ["check", "rules", rulesFile], { encoding: "utf8" });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    expect(check.stdout).toContain("SUCCESS");
    const test = spawnSync(PROMTOOL, ["test", "rules", testsFile], { cwd: dir, encoding: "utf8" });
    expect(test.status, `${test.stdout}${test.stderr}`).toBe(0);
    // The same groups as alerting-rules/ (one generator).
    expect(rule.spec.groups).toEqual(
      (load(readFileSync(join(REPO_ROOT, "alerting-rules/tts-monitor.rules.yml"), "utf8")) as Any).groups,
    );
  });

  it("the ServiceMonitor scrapes /metrics under the job the rules select", () => {
    const sm = one(rendered("operator-values.yaml"), "ServiceMonitor") as Any;
    const service = one(rendered("operator-values.yaml"), "Service") as Any;
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      expect(service.metadata.labels[k]).toBe(v);
    const [endpoint] = sm.spec.endpoints;
    expect(endpoint).toMatchObject({ port: "http", path: "/metrics", interval: "15s", scheme: "http" });
    expect(endpoint.relabelings[0]).toEqual({
      action: "replace",
      targetLabel: "job",
      replacement: productionProfile.job,
    });
    // The user's relabelings come after the chart's.
    expect(endpoint.relabelings[1]).toEqual({
      sourceLabels: ["__meta_kubernetes_pod_node_name"],
      targetLabel: "node",
    });
    expect(sm.metadata.labels.release).toBe("kube-prometheus-stack");
  });

  it("the Probe sends /probe the config's enabled engines as static targets", () => {
    const objects = rendered("operator-values.yaml");
    const probe = one(objects, "Probe") as Any;
    expect(probe.spec.prober).toEqual({
      url: "tts-tts-performance-monitor.tts.svc:9090",
      path: "/probe",
      scheme: "http",
    });
    expect(probe.spec.targets.staticConfig.static).toEqual(["embedded", "kokoro"]);
    expect(probe.spec.jobName).not.toBe(productionProfile.job);
    // No engine configured: the exporter's default embedded engine.
    const dflt = one(render(["--set", "probe.enabled=true"]).objects, "Probe") as Any;
    expect(dflt.spec.targets.staticConfig.static).toEqual(["embedded"]);
  });

  it("dashboards: one ConfigMap each with the sidecar label, the committed JSON, only known metrics", () => {
    const objects = rendered("operator-values.yaml");
    const maps = objects.filter(
      (o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1",
    ) as Any[];
    const committed = readdirSync(join(REPO_ROOT, "dashboards")).sort();
    expect(maps.map((m) => Object.keys(m.data)[0]).sort()).toEqual(committed);
    const exprs: string[] = [];
    for (const m of maps) {
      expect(m.metadata.annotations).toEqual({ grafana_folder: "TTS" });
      const [file, json] = Object.entries(m.data as Record<string, string>)[0] as [string, string];
      expect(`${json}\n`).toBe(readFileSync(join(REPO_ROOT, "dashboards", file), "utf8"));
      const d = JSON.parse(json) as Any;
      for (const p of d.panels ?? [])
        for (const t of p.targets ?? []) if (typeof t.expr === "string") exprs.push(t.expr);
      for (const v of d.templating?.list ?? [])
        if (typeof v.query === "string" && v.type === "query") exprs.push(v.query);
    }
    const rule = one(objects, "PrometheusRule") as Any;
    const { unknown, named } = unknownMetricNames(exprs, recordedNames(rule.spec.groups));
    expect(unknown).toEqual([]);
    expect(named).toBeGreaterThan(60);
    expect(recordedNames(rule.spec.groups)).toEqual(
      recordedNames(ruleGroups(loadConfig(join(REPO_ROOT, "config/config.json"), {}), productionProfile)),
    );
    // The label the sidecar watches is configurable.
    const custom = render([
      "--set",
      "grafanaDashboards.enabled=true",
      "--set",
      "grafanaDashboards.label=dash",
      "--set",
      "grafanaDashboards.labelValue=tts",
    ]);
    expect(custom.objects.filter((o) => o.metadata.labels?.dash === "tts")).toHaveLength(committed.length);
  });

  it("secrets: the chart's Secret or an existing one, as environment variables, never in the ConfigMap", () => {
    const objects = rendered("operator-values.yaml");
    const secret = one(objects, "Secret") as Any;
    expect(Object.keys(secret.stringData).sort()).toEqual([
      "KOKORO_API_KEY",
      "TTS_MONITOR_INGEST_TOKEN",
      "TTS_MONITOR_SLACK_WEBHOOK",
    ]);
    const container = (one(objects, "Deployment") as Any).spec.template.spec.containers[0];
    expect(container.envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }]);
    for (const o of objects.filter((x) => x.kind !== "Secret"))
      expect(JSON.stringify(o), o.kind).not.toMatch(/ci-ingest-token|ci-kokoro-key|hooks\.slack\.com/);
    const existing = render([
      "-f",
      "ci/operator-values.yaml",
      "--set",
      "secrets.existingSecret=tts-env",
    ]).objects;
    expect(existing.filter((o) => o.kind === "Secret")).toEqual([]);
    expect((one(existing, "Deployment") as Any).spec.template.spec.containers[0].envFrom).toEqual([
      { secretRef: { name: "tts-env" } },
    ]);
  });

  it("operator values: replicas, PDB, NetworkPolicy limited to the monitoring namespace", () => {
    const objects = rendered("operator-values.yaml");
    expect((one(objects, "Deployment") as Any).spec.replicas).toBe(3);
    expect((one(objects, "PodDisruptionBudget") as Any).spec.minAvailable).toBe(1);
    const np = one(objects, "NetworkPolicy") as Any;
    expect(np.spec.policyTypes).toEqual(["Ingress"]);
    expect(np.spec.ingress).toEqual([
      {
        ports: [{ port: "http", protocol: "TCP" }],
        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
      },
    ]);
  });

  it("GPU DaemonSet: NVIDIA runtime, node selector, toleration, every GPU seen without holding one, host root", () => {
    const objects = rendered("gpu-daemonset-values.yaml");
    expect(objects.filter((o) => o.kind === "Deployment" || o.kind === "PodDisruptionBudget")).toEqual([]);
    const pod = (one(objects, "DaemonSet") as Any).spec.template.spec;
    expect(pod.runtimeClassName).toBe("nvidia");
    expect(pod.nodeSelector).toEqual({ "nvidia.com/gpu.present": "true" });
    expect(pod.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    const [c] = pod.containers;
    expect(c.resources.limits["nvidia.com/gpu"]).toBeUndefined();
    expect(c.env).toContainEqual({ name: "NVIDIA_VISIBLE_DEVICES", value: "all" });
    expect(c.env).toContainEqual({ name: "NVIDIA_DRIVER_CAPABILITIES", value: "utility" });
    expect(c.volumeMounts).toContainEqual({
      name: "host-root",
      mountPath: "/host",
      readOnly: true,
      mountPropagation: "HostToContainer",
    });
    expect(exporterConfig(objects).monitoring).toEqual({ host_root: "/host" });
  });

  it("web-config: the Secret mounted with --web.config.file; probes and scrapes switch to https and basic auth", () => {
    const objects = rendered("web-config-values.yaml");
    const pod = (one(objects, "Deployment") as Any).spec.template.spec;
    const [c] = pod.containers;
    expect(c.args.slice(3, 5)).toEqual(["--web.config.file", "/etc/tts-monitor/web-config/web-config.yml"]);
    expect(c.livenessProbe.httpGet.scheme).toBe("HTTPS");
    expect(c.readinessProbe.httpGet.scheme).toBe("HTTPS");
    expect(c.resources.limits["nvidia.com/gpu"]).toBe(1);
    const secrets = objects.filter((o) => o.kind === "Secret") as Any[];
    const webConfig = secrets.find((s) => s.stringData["web-config.yml"]);
    expect(pod.volumes).toContainEqual({
      name: "web-config",
      secret: { secretName: webConfig.metadata.name },
    });
    expect(load(webConfig.stringData["web-config.yml"])).toEqual({
      tls_server_config: {
        cert_file: "/etc/tts-monitor/tls/tls.crt",
        key_file: "/etc/tts-monitor/tls/tls.key",
      },
      basic_auth_users: { prometheus: "$2a$10$b5E9zAF7cfruq/hFlm6BF.1BDXODmhOABsLa7ii6MN.HSj.7yW1gy" },
      http_server_config: { headers: { "Strict-Transport-Security": "max-age=31536000" } },
    });
    const auth = secrets.find((s) => s.stringData.password);
    const basicAuth = {
      username: { name: auth.metadata.name, key: "username" },
      password: { name: auth.metadata.name, key: "password" },
    };
    const [endpoint] = (one(objects, "ServiceMonitor") as Any).spec.endpoints;
    expect(endpoint).toMatchObject({ scheme: "https", tlsConfig: { insecureSkipVerify: true }, basicAuth });
    const probe = (one(objects, "Probe") as Any).spec;
    expect(probe.prober.scheme).toBe("https");
    expect(probe).toMatchObject({ tlsConfig: { insecureSkipVerify: true }, basicAuth });
    // Gateway and dashboard ports on the pod and the Service; the gateway in the exporter's config.
    expect(c.ports.map((p: Any) => [p.name, p.containerPort])).toEqual([
      ["http", 9090],
      ["dashboard", 8080],
      ["gateway", 9095],
    ]);
    expect(c.args).toContain("--web-dashboard");
    expect((one(objects, "Service") as Any).spec.ports.map((p: Any) => p.port)).toEqual([9090, 8080, 9095]);
    expect(exporterConfig(objects).gateway).toEqual({ enabled: true, listen_address: "0.0.0.0:9095" });
  });

  it("values.schema.json refuses what the chart cannot honour", () => {
    const bad = (args: string[], message: RegExp) => {
      const r = helm(["template", "tts", ".", ...args]);
      expect(r.code, args.join(" ")).not.toBe(0);
      expect(r.output).toMatch(message);
    };
    bad(["--set", "kind=StatefulSet"], /kind must be one of/);
    // The thresholds are in the generated rules: a release value would leave them disagreeing.
    bad(["--set", "config.thresholds.latency_max_ms=300"], /config\.thresholds/);
    bad(["--set", "webConfig.basicAuth.passwordHash=secret"], /passwordHash/);
    bad(["--set", "serviceMonitor.interval=15 seconds"], /interval/);
    bad(
      ["--set", "webConfig.enabled=true", "--set", "webConfig.tls.enabled=true"],
      /webConfig\.tls\.secretName/,
    );
    // An empty web config would serve plain HTTP while the values say the exporter is protected.
    bad(["--set", "webConfig.enabled=true"], /webConfig\.enabled: set/);
  });
});
