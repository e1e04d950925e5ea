// --web.config.file (issue 15, item 1): TLS, bcrypt basic auth and headers in the exporter-toolkit
// format on the exporter and the dashboard, a real Prometheus scraping over TLS with basic auth,
// certificate rotation without a restart, a bad file at start (exit 2) and on reload (kept).
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { BASE_CONFIG, runCli, tempDir } from "../helpers/exporter.ts";
import { startPrometheus } from "../helpers/prometheus.ts";
import { httpsGet, makePki, type Pki } from "../helpers/tls.ts";
import { waitFor } from "../helpers/tools.ts";

const PASSWORD = "s3cret-scrape-password";
const INGEST_TOKEN = "ingest-token-planted-1234";
let dir: string;
let pki: Pki;
let hash: string;

function webConfig(extra = "", cert = "server"): string {
  return [
    "tls_server_config:",
    `  cert_file: ${cert}.crt`,
    `  key_file: ${cert}.key`,
    extra,
    "http_server_config:",
    "  headers:",
    "    X-Frame-Options: deny",
    "    Strict-Transport-Security: max-age=31536000",
    "basic_auth_users:",
    `  prometheus: ${hash}`,
    "",
  ].join("\n");
}

beforeAll(() => {
  dir = tempDir("tts-web-config-");
  pki = makePki(dir);
  pki.issue("server");
  pki.issue("rotated");
  pki.issue("scraper", { client: true });
  // Cost 4: the format's semantics without a second of bcrypt per test on a loaded machine.
  hash = bcrypt.hashSync(PASSWORD, 4);
});

interface Lines {
  lines: string[];
}
function monitorWith(file: string, sink: Lines, extraConfig: Record<string, unknown> = {}) {
  return new TTSPerformanceMonitor({
    config: { ...BASE_CONFIG, engines: [], ...extraConfig },
    webConfigFile: file,
    env: { TTS_MONITOR_INGEST_TOKEN: INGEST_TOKEN },
    logger: new Logger({ json: true, sink: { write: (l: string) => void sink.lines.push(l) } }),
  });
}

describe("the exporter behind a web config", () => {
  const sink: Lines = { lines: [] };
  let monitor: TTSPerformanceMonitor;
  let url: string;
  const file = () => join(dir, "web.yml");

  beforeAll(async () => {
    writeFileSync(file(), webConfig());
    monitor = monitorWith(file(), sink);
    await monitor.startMonitoring();
    url = `https://127.0.0.1:${/:(\d+)$/.exec(monitor.address ?? "")?.[1]}`;
  });
  afterAll(() => monitor.stop());

  it("serves TLS: /metrics needs the password, /-/healthy and /-/ready do not, headers are set", async () => {
    const anonymous = await httpsGet(`${url}/metrics`, { ca: pki.ca });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers["www-authenticate"]).toMatch(/^Basic /);
    expect(anonymous.body).not.toContain("tts_");
    expect((await httpsGet(`${url}/metrics`, { ca: pki.ca, auth: "prometheus:wrong" })).status).toBe(401);
    expect((await httpsGet(`${url}/metrics`, { ca: pki.ca, auth: `nobody:${PASSWORD}` })).status).toBe(401);
    const ok = await httpsGet(`${url}/metrics`, { ca: pki.ca, auth: `prometheus:${PASSWORD}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain("tts_exporter_build_info");
    expect(ok.headers["x-frame-options"]).toBe("deny");
    expect(ok.headers["strict-transport-security"]).toBe("max-age=31536000");
    for (const path of ["/-/healthy", "/-/ready"])
      expect((await httpsGet(`${url}${path}`, { ca: pki.ca })).status, path).toBe(200);
    // TLS 1.2 and 1.3 both answer (the default minimum is TLS 1.2).
    const tls12 = await httpsGet(`${url}/-/healthy`, { ca: pki.ca, maxVersion: "TLSv1.2" });
    expect(tls12.status).toBe(200);
  });

  it("refuses plain HTTP on the TLS port", async () => {
    const plain = await fetch(`http://127.0.0.1:${new URL(url).port}/metrics`).then(
      (r) => r.status,
      () => "refused",
    );
    expect(plain === "refused" || plain === 400).toBe(true);
  });

  it("the ingestion token works beside basic auth, on its own route only", async () => {
    const post = (authorization: string) =>
      httpsGet(`${url}/api/v1/syntheses`, {
        ca: pki.ca,
        method: "POST",
        headers: { authorization, "content-type": "application/json" },
        body: JSON.stringify({ engine: "svc", latency_ms: 120 }),
      });
    expect((await post(`Bearer ${INGEST_TOKEN}`)).status).toBe(202);
    expect((await post("Bearer not-the-token")).status).toBe(401);
    // The token is not a key to the rest of the exporter.
    const metrics = await httpsGet(`${url}/metrics`, {
      ca: pki.ca,
      headers: { authorization: `Bearer ${INGEST_TOKEN}` },
    });
    expect(metrics.status).toBe(401);
    // The other routes that take the ingestion token: the stress leases and the optimiser's evidence.
    const lease = (authorization: string) =>
      httpsGet(`${url}/api/v1/stress/leases`, { ca: pki.ca, headers: { authorization } });
    expect((await lease(`Bearer ${INGEST_TOKEN}`)).status).toBe(200);
    expect((await lease("Bearer not-the-token")).status).toBe(401);
    const evidence = await httpsGet(`${url}/api/v1/optimizer/evidence`, {
      ca: pki.ca,
      headers: { authorization: `Bearer ${INGEST_TOKEN}` },
    });
    expect(evidence.status).toBe(200);
  });

  it("a rotated certificate is served without a restart; a bad file on reload keeps the running one", async () => {
    const before = (await httpsGet(`${url}/-/healthy`, { ca: pki.ca })).serial;
    writeFileSync(file(), webConfig("", "rotated"));
    const after = await waitFor(
      "the rotated certificate",
      async () => {
        const s = (await httpsGet(`${url}/-/healthy`, { ca: pki.ca })).serial;
        return s !== before ? s : undefined;
      },
      20_000,
      200,
    );
    expect(after).not.toBe(before);
    // Rotating the files in place (same names, new contents) counts too.
    copyFileSync(join(dir, "server.crt"), join(dir, "rotated.crt"));
    copyFileSync(join(dir, "server.key"), join(dir, "rotated.key"));
    await waitFor(
      "the certificate rewritten in place",
      async () => ((await httpsGet(`${url}/-/healthy`, { ca: pki.ca })).serial === before ? true : undefined),
      20_000,
      200,
    );

    const logged = sink.lines.length;
    writeFileSync(file(), "basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n");
    await waitFor(
      "the rejected reload's log line",
      () => sink.lines.slice(logged).find((l) => l.includes("web config reload rejected")),
      20_000,
      100,
    );
    const still = await httpsGet(`${url}/metrics`, { ca: pki.ca, auth: `prometheus:${PASSWORD}` });
    expect(still.status).toBe(200);
    // One line for one bad version of the file, not one per poll.
    await new Promise((r) => setTimeout(r, 2500));
    expect(sink.lines.slice(logged).filter((l) => l.includes("web config reload rejected"))).toHaveLength(1);
    expect(sink.lines.join("\n")).not.toContain(PASSWORD);
    writeFileSync(file(), webConfig());
  });
});

describe("client certificates (client_auth_type RequireAndVerifyClientCert)", () => {
  it("refuses a client without a certificate signed by client_ca_file", async () => {
    const file = join(dir, "mtls.yml");
    writeFileSync(
      file,
      [
        "tls_server_config:",
        "  cert_file: server.crt",
        "  key_file: server.key",
        "  client_auth_type: RequireAndVerifyClientCert",
        "  client_ca_file: ca.crt",
        "  client_allowed_sans: [scraper]",
        "",
      ].join("\n"),
    );
    const monitor = monitorWith(file, { lines: [] });
    await monitor.startMonitoring();
    try {
      const url = `https://127.0.0.1:${/:(\d+)$/.exec(monitor.address ?? "")?.[1]}/metrics`;
      await expect(httpsGet(url, { ca: pki.ca })).rejects.toThrow();
      const { readFileSync } = await import("node:fs");
      const res = await httpsGet(url, {
        ca: pki.ca,
        cert: readFileSync(join(dir, "scraper.crt"), "utf8"),
        key: readFileSync(join(dir, "scraper.key"), "utf8"),
      });
      expect(res.status).toBe(200);
    } finally {
      await monitor.stop();
    }
  });
});

describe("a real Prometheus", () => {
  it("scrapes the exporter over TLS with basic auth", { timeout: 90_000 }, async () => {
    const file = join(dir, "prom-web.yml");
    writeFileSync(file, webConfig());
    const monitor = monitorWith(file, { lines: [] });
    await monitor.startMonitoring();
    try {
      const port = /:(\d+)$/.exec(monitor.address ?? "")?.[1];
      writeFileSync(join(dir, "password"), PASSWORD);
      const prometheus = await startPrometheus(
        [
          "global: { scrape_interval: 1s, scrape_timeout: 1s }",
          "scrape_configs:",
          "  - job_name: tts",
          "    scheme: https",
          "    tls_config:",
          `      ca_file: ${pki.caFile}`,
          "    basic_auth:",
          "      username: prometheus",
          `      password_file: ${join(dir, "password")}`,
          "    static_configs:",
          `      - targets: ["127.0.0.1:${port}"]`,
          "",
        ].join("\n"),
      );
      const up = await waitFor(
        "Prometheus scraping the TLS target",
        async () => {
          const r = await prometheus.query('tts_exporter_build_info{job="tts"}');
          return r.length > 0 ? r : undefined;
        },
        60_000,
        500,
      );
      expect(up[0]?.metric.job).toBe("tts");
      const targets = await prometheus.targets();
      expect(targets[0]?.health).toBe("up");
      expect(String(targets[0]?.scrapeUrl)).toMatch(/^https:/);
      await prometheus.stop();
    } finally {
      await monitor.stop();
    }
  });
});

describe("a bad web config at start", () => {
  it("exits 2 with the key and never echoes a hash", async () => {
    const file = join(dir, "bad.yml");
    writeFileSync(
      file,
      "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: plain-password-not-a-hash\n",
    );
    const r = await runCli({ args: ["--prometheus-export", "--web.config.file", file] });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("$.tls_server_config.cert_file");
    expect(r.stderr).toContain("$.basic_auth_users.alice");
    expect(r.stderr).not.toContain("plain-password-not-a-hash");
  });
});
