// The compose stack, checked without a Docker engine: docker-compose (v1, Debian) validates the file,
// every mounted file exists, every image is pinned, and prometheus.yml scrapes the compose services on
// the ports they listen on.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { REPO_ROOT, requireBinary } from "../helpers/tools.ts";

const COMPOSE = requireBinary("/usr/bin/docker-compose", "docker-compose");

interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  command?: string[];
  user?: string;
  pid?: string;
}
const compose = load(readFileSync(join(REPO_ROOT, "docker-compose.yml"), "utf8")) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const prometheus = load(readFileSync(join(REPO_ROOT, "prometheus.yml"), "utf8")) as {
  rule_files: string[];
  alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
  scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
};

function composeConfig(files: string[], env: Record<string, string | undefined>) {
  const args = files.flatMap((f) => ["-f", f]);
  return spawnSync(COMPOSE, [...args, "config", "-q"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
}

describe("docker-compose.yml", () => {
  it("passes `docker-compose config -q`, alone and with the GPU override", () => {
    for (const files of [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.gpu.yml"]]) {
      const r = composeConfig(files, { GRAFANA_ADMIN_PASSWORD: "a-test-password" });
      expect(r.status, `${files.join(" + ")}: ${r.stderr}`).toBe(0);
    }
  });

  it("refuses to start Grafana without an admin password (no admin/admin)", () => {
    const r = composeConfig(["docker-compose.yml"], { GRAFANA_ADMIN_PASSWORD: undefined });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("GRAFANA_ADMIN_PASSWORD");
    expect(JSON.stringify(compose)).not.toMatch(/admin\/admin|ADMIN_PASSWORD: *"?admin"?\b/);
  });

  it("mounts only files and directories that exist", () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const v of svc.volumes ?? []) {
        const source = v.split(":")[0] ?? "";
        if (source.startsWith(".")) expect(existsSync(join(REPO_ROOT, source)), `${name}: ${v}`).toBe(true);
        // The one host path: the host's / for the exporter's host collectors, read-only (test below).
        else if (source === "/") expect(`${name}: ${v}`).toBe("exporter: /:/host:ro");
        else expect(Object.keys(compose.volumes), `${name}: named volume ${source}`).toContain(source);
      }
    }
    for (const rules of prometheus.rule_files) expect(rules.startsWith("alerting-rules/")).toBe(true);
  });

  it("pins every image to an exact version", () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (svc.build !== undefined) continue;
      expect(svc.image, name).toMatch(/^[\w./-]+:v?\d+\.\d+\.\d+$/);
    }
    const from = /^FROM\s+(\S+)/m.exec(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"))?.[1];
    expect(from).toMatch(/:\d+\.\d+\.\d+-/);
  });

  it("has healthchecks, waits on healthy dependencies and keeps data in named volumes", () => {
    for (const name of ["exporter", "prometheus", "alertmanager", "grafana"]) {
      expect(compose.services[name]?.healthcheck?.test, name).toBeDefined();
    }
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [dep, d] of Object.entries(svc.depends_on ?? {})) {
        const expected = dep === "alertmanager-config" ? "service_completed_successfully" : "service_healthy";
        expect(d.condition, `${name} → ${dep}`).toBe(expected);
      }
    }
    expect(compose.services.prometheus?.volumes).toContain("prometheus-data:/prometheus");
    expect(compose.services.alertmanager?.volumes).toContain("alertmanager-data:/alertmanager");
    expect(compose.services.grafana?.volumes).toContain("grafana-data:/var/lib/grafana");
  });

  it("the exporter sees the host as node_exporter does: host / read-only at /host, the host's PIDs", () => {
    const exporter = compose.services.exporter;
    expect(exporter?.pid).toBe("host");
    expect(exporter?.volumes).toContain("/:/host:ro");
    expect(exporter?.environment?.TTS_MONITOR_HOST_ROOT).toBe("/host");
    // Read-only, and only the exporter gets the host's root or its PID namespace.
    for (const [name, svc] of Object.entries(compose.services)) {
      if (name === "exporter") continue;
      expect(svc.pid, name).toBeUndefined();
      expect(
        (svc.volumes ?? []).filter((v) => v.startsWith("/:")),
        name,
      ).toEqual([]);
    }
    // What docker-compose resolves keeps the three settings (no interpolation mangles them).
    const r = spawnSync(COMPOSE, ["-f", "docker-compose.yml", "config"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      env: { ...process.env, GRAFANA_ADMIN_PASSWORD: "a-test-password" },
    });
    expect(r.status, r.stderr).toBe(0);
    const resolved = (load(r.stdout) as { services: Record<string, Service> }).services.exporter;
    expect(resolved?.pid).toBe("host");
    expect(resolved?.volumes).toContain("/:/host:ro");
    expect(resolved?.environment?.TTS_MONITOR_HOST_ROOT).toBe("/host");
  });

  it("publishes Prometheus on 9091, the exporter on 9090, Alertmanager on 9093, Grafana on 3000", () => {
    expect(compose.services.exporter?.ports).toEqual(["9090:9090"]);
    expect(compose.services.prometheus?.ports).toEqual(["9091:9090"]);
    expect(compose.services.alertmanager?.ports).toEqual(["9093:9093"]);
    expect(compose.services.grafana?.ports).toEqual(["3000:3000"]);
  });

  it("prometheus.yml scrapes and alerts the compose services on their container ports", () => {
    const containerPort = (service: string) => {
      const p = compose.services[service]?.ports?.[0]?.split(":")[1];
      return Number(p);
    };
    const targets = prometheus.scrape_configs.flatMap((j) => j.static_configs.flatMap((s) => s.targets));
    expect(targets.length).toBeGreaterThan(0);
    for (const t of [
      ...targets,
      ...prometheus.alerting.alertmanagers.flatMap((a) => a.static_configs[0]?.targets ?? []),
    ]) {
      const [host, port] = t.split(":");
      expect(Object.keys(compose.services), t).toContain(host);
      expect(Number(port), t).toBe(containerPort(host ?? ""));
    }
  });

  it("healthchecks use a tool the image has, links point at the published ports", () => {
    // prom/prometheus and prom/alertmanager are busybox images (wget, no curl); Grafana's Alpine image
    // has busybox wget too; the exporter image has node.
    for (const name of ["prometheus", "alertmanager", "grafana"])
      expect(compose.services[name]?.healthcheck?.test.slice(0, 2), name).toEqual(["CMD", "wget"]);
    expect(compose.services.exporter?.healthcheck?.test.slice(0, 2)).toEqual(["CMD", "node"]);
    // Alert links (Alertmanager's Slack title link, Prometheus' generatorURL) must not name a container.
    expect(compose.services.prometheus?.command).toContain(
      "--web.external-url=${PROMETHEUS_EXTERNAL_URL:-http://localhost:9091}",
    );
    expect(compose.services.alertmanager?.command).toContain(
      "--web.external-url=${ALERTMANAGER_EXTERNAL_URL:-http://localhost:9093}",
    );
  });

  it("the Dockerfile copies what the exporter reads at run time, none of it excluded by .dockerignore", () => {
    const df = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");
    const ignored = readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const copied = [...df.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] ?? "").split(/\s+/));
    // The build stage compiles src/ with both tsconfigs; links.ts reads package.json; the CLI starts
    // from bin/ and the image runs dist/ (copied from the build stage).
    expect(copied).toEqual(
      expect.arrayContaining([
        "package.json",
        "package-lock.json",
        "tsconfig.json",
        "tsconfig.build.json",
        "bin",
        "src",
        "config",
      ]),
    );
    expect(df).toMatch(/^COPY --from=build \/src\/dist \.\/dist$/m);
    expect(df).toMatch(/^ENTRYPOINT \["node", "dist\/main\.js"\]$/m);
    for (const source of copied) {
      expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
      const top = source.split("/")[0] ?? source;
      const hit = ignored.find((pattern) =>
        pattern.startsWith("*") ? source.endsWith(pattern.slice(1)) : pattern === top || pattern === source,
      );
      expect(hit, `${source} is copied but .dockerignore excludes it (${hit})`).toBeUndefined();
    }
  });

  it("the Dockerfile runs as non-root, installs production dependencies only, pocketsphinx and a healthcheck", () => {
    const df = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");
    expect(df).toMatch(/^USER node$/m);
    expect(df).toContain("npm ci --omit=dev");
    expect(df).toMatch(/pocketsphinx pocketsphinx-en-us/);
    expect(df).toMatch(/^HEALTHCHECK .*\n.*\/-\/healthy/m);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    // Compiled: no TypeScript loader at run time; generate (Grafana SDK) and the stack (js-yaml) run in the image.
    expect(Object.keys(pkg.dependencies)).toEqual(
      expect.arrayContaining(["@grafana/grafana-foundation-sdk", "js-yaml"]),
    );
    expect(Object.keys(pkg.dependencies)).not.toContain("tsx");
  });
});
