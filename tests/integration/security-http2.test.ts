// HTTP/2 per the web config (issue 15): with TLS and http_server_config.http2 (the default) every
// server offers h2 by ALPN beside HTTP/1.1, and basic auth, the file's headers, client certificates,
// large bodies, SSE, certificate rotation and the HTTP limits hold over h2 as over HTTP/1.1;
// http2: false offers HTTP/1.1 only. node's http2 client and curl --http2 are the clients.
import { execFile } from "node:child_process";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import type { ClientHttp2Session, ClientHttp2Stream } from "node:http2";
import { join } from "node:path";
import { promisify } from "node:util";
import bcrypt from "bcryptjs";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { type Dashboard, startDashboard } from "../../src/server/dashboard.ts";
import { H2_MAX_CONCURRENT_STREAMS } from "../../src/server/http2.ts";
import { closeServer, listen } from "../../src/server/listen.ts";
import { WebConfigSource } from "../../src/server/web-config.ts";
import { BASE_CONFIG, tempDir } from "../helpers/exporter.ts";
import { h2Connect, h2Request, httpsGet, makePki, negotiatedAlpn, type Pki } from "../helpers/tls.ts";
import { requireBinary, waitFor } from "../helpers/tools.ts";

const PASSWORD = "h2-scrape-password";
const INGEST_TOKEN = "h2-ingest-token-5678";
const AUTH = `prometheus:${PASSWORD}`;
let dir: string;
let pki: Pki;
let hash: string;
const quiet = () => new Logger({ json: true, sink: { write: () => {} } });

function webConfig(options: { cert?: string; extra?: string[]; http2?: boolean } = {}): string {
  const cert = options.cert ?? "server";
  return [
    "tls_server_config:",
    `  cert_file: ${cert}.crt`,
    `  key_file: ${cert}.key`,
    ...(options.extra ?? []),
    "http_server_config:",
    ...(options.http2 === undefined ? [] : [`  http2: ${options.http2}`]),
    "  headers:",
    "    X-Frame-Options: deny",
    "basic_auth_users:",
    `  prometheus: ${hash}`,
    "",
  ].join("\n");
}

beforeAll(() => {
  dir = tempDir("tts-http2-");
  pki = makePki(dir);
  pki.issue("server");
  pki.issue("rotated");
  pki.issue("scraper", { client: true });
  hash = bcrypt.hashSync(PASSWORD, 4);
});

const portOf = (address: string | undefined) => Number(/:(\d+)$/.exec(address ?? "")?.[1]);

describe("the exporter and the dashboard over HTTP/2", () => {
  const file = () => join(dir, "web.yml");
  let monitor: TTSPerformanceMonitor;
  let dashboard: Dashboard;
  let port: number;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    writeFileSync(file(), webConfig());
    monitor = new TTSPerformanceMonitor({
      config: { ...BASE_CONFIG, engines: [] },
      webConfigFile: file(),
      env: { TTS_MONITOR_INGEST_TOKEN: INGEST_TOKEN },
      logger: quiet(),
    });
    await monitor.startMonitoring();
    port = portOf(monitor.address);
    dashboard = await startDashboard(monitor, { address: "127.0.0.1:0", env: {}, maxStreamClients: 1 });
    session = await h2Connect(`https://127.0.0.1:${port}`, { ca: pki.ca });
  });
  afterAll(async () => {
    session?.close();
    await dashboard?.close();
    await monitor?.stop();
  });

  it("negotiates h2 by ALPN and still serves HTTP/1.1 clients on the same port", async () => {
    expect(await negotiatedAlpn(port, ["h2", "http/1.1"], pki.ca)).toBe("h2");
    expect(await negotiatedAlpn(port, ["http/1.1"], pki.ca)).toBe("http/1.1");
    expect(session.alpnProtocol).toBe("h2");
    const h1 = await httpsGet(`https://127.0.0.1:${port}/metrics`, { ca: pki.ca, auth: AUTH });
    expect(h1.status).toBe(200);
  });

  it("asks for the password over h2: 401 without, 200 with, open health paths, the file's headers", async () => {
    const anonymous = await h2Request(session, "/metrics");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers["www-authenticate"]).toMatch(/^Basic /);
    expect(anonymous.body).not.toContain("tts_");
    expect((await h2Request(session, "/metrics", { auth: "prometheus:wrong" })).status).toBe(401);
    const ok = await h2Request(session, "/metrics", { auth: AUTH });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain("tts_exporter_build_info");
    expect(ok.headers["x-frame-options"]).toBe("deny");
    // HTTP/2 forbids connection-level headers; none leaks from the HTTP/1.1 side.
    expect(ok.headers.connection).toBeUndefined();
    expect(ok.headers["transfer-encoding"]).toBeUndefined();
    for (const path of ["/-/healthy", "/-/ready"])
      expect((await h2Request(session, path)).status, path).toBe(200);
    // Many streams at once on the one connection.
    const many = await Promise.all(
      Array.from({ length: 20 }, () => h2Request(session, "/metrics", { auth: AUTH })),
    );
    expect(many.map((r) => r.status)).toEqual(Array(20).fill(200));
  });

  it("takes a large ingestion body over h2 (beyond the 64 KiB flow-control window) with the token", async () => {
    const events = Array.from({ length: 8000 }, (_, i) => ({ engine: "h2svc", latency_ms: 100 + (i % 50) }));
    const body = JSON.stringify(events);
    expect(body.length).toBeGreaterThan(200 * 1024);
    const post = (authorization: string) =>
      h2Request(session, "/api/v1/syntheses", {
        method: "POST",
        headers: { authorization, "content-type": "application/json" },
        body,
      });
    const accepted = await post(`Bearer ${INGEST_TOKEN}`);
    expect(accepted.status, accepted.body).toBe(202);
    expect(JSON.parse(accepted.body)).toEqual({ accepted: 8000 });
    expect((await post("Bearer not-the-token")).status).toBe(401);
    const metrics = await h2Request(session, "/metrics", { auth: AUTH });
    expect(metrics.body).toMatch(/^tts_latency_seconds_count\{engine="h2svc",[^}]*source="ingest"\} 8000$/m);
  });

  it("streams the dashboard's SSE over h2, and a closed stream frees its place", async () => {
    const dash = await h2Connect(`https://127.0.0.1:${portOf(dashboard.address)}`, { ca: pki.ca });
    try {
      expect((await h2Request(dash, "/api/state")).status).toBe(401);
      // The dashboard takes one stream client here: a stream is accepted again only once closing the
      // previous h2 stream reached the dashboard and removed its client (503 until then).
      const openAccepted = () =>
        waitFor(
          "a place among the dashboard's stream clients",
          () =>
            new Promise<ClientHttp2Stream | undefined>((resolve, reject) => {
              const stream = dash.request({
                ":path": "/api/stream",
                authorization: `Basic ${Buffer.from(AUTH).toString("base64")}`,
              });
              stream.on("response", (h) => {
                if (h[":status"] === 200) return resolve(stream);
                stream.close();
                resolve(undefined);
              });
              stream.on("error", reject);
            }),
          10_000,
          200,
        );
      for (let round = 0; round < 3; round++) {
        const stream = await openAccepted();
        let text = "";
        stream.setEncoding("utf8");
        stream.on("data", (c: string) => {
          text += c;
        });
        // A measurement for the dashboard's next tick to push.
        const ingest = await h2Request(session, "/api/v1/syntheses", {
          method: "POST",
          headers: { authorization: `Bearer ${INGEST_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ engine: `sse${round}`, latency_ms: 120 }),
        });
        expect(ingest.status).toBe(202);
        await waitFor(
          "a sample event over h2",
          () => (text.includes("event: sample") ? true : undefined),
          10_000,
          50,
        );
        stream.close();
      }
    } finally {
      dash.close();
    }
  });

  it("answers curl --http2 with HTTP/2", async () => {
    requireBinary("/usr/bin/curl", "curl");
    const run = promisify(execFile);
    const curl = (args: string[]) =>
      run("/usr/bin/curl", [
        "--http2",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        "--cacert",
        pki.caFile,
        ...args,
        `https://127.0.0.1:${port}/metrics`,
      ]);
    expect((await curl(["-u", AUTH])).stdout).toBe("2 200");
    expect((await curl([])).stdout).toBe("2 401");
  });

  it("serves a rotated certificate over h2 without a restart", async () => {
    const serial = async () => {
      const s = await h2Connect(`https://127.0.0.1:${port}`, { ca: pki.ca });
      try {
        expect(s.alpnProtocol).toBe("h2");
        expect((await h2Request(s, "/metrics", { auth: AUTH })).status).toBe(200);
        return (s.socket as import("node:tls").TLSSocket).getPeerCertificate().serialNumber;
      } finally {
        s.close();
      }
    };
    const before = await serial();
    writeFileSync(file(), webConfig({ cert: "rotated" }));
    const after = await waitFor(
      "the rotated certificate over h2",
      async () => {
        const s = await serial();
        return s !== before ? s : undefined;
      },
      20_000,
      200,
    );
    expect(after).not.toBe(before);
    copyFileSync(join(dir, "server.crt"), join(dir, "rotated.crt"));
    copyFileSync(join(dir, "server.key"), join(dir, "rotated.key"));
    await waitFor(
      "the original certificate back",
      async () => ((await serial()) === before ? true : undefined),
      20_000,
      200,
    );
  });
});

describe("client certificates over h2 (RequireAndVerifyClientCert)", () => {
  it("refuses an h2 client without a certificate and serves one with it", async () => {
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
    const monitor = new TTSPerformanceMonitor({
      config: { ...BASE_CONFIG, engines: [] },
      webConfigFile: file,
      logger: quiet(),
    });
    await monitor.startMonitoring();
    try {
      const url = `https://127.0.0.1:${portOf(monitor.address)}`;
      const refused = await h2Connect(url, { ca: pki.ca })
        .then((s) => h2Request(s, "/metrics").finally(() => s.close()))
        .catch((err: Error) => err);
      expect(refused).toBeInstanceOf(Error);
      const s = await h2Connect(url, {
        ca: pki.ca,
        cert: readFileSync(join(dir, "scraper.crt"), "utf8"),
        key: readFileSync(join(dir, "scraper.key"), "utf8"),
      });
      try {
        expect(s.alpnProtocol).toBe("h2");
        expect((await h2Request(s, "/metrics")).status).toBe(200);
      } finally {
        s.close();
      }
    } finally {
      await monitor.stop();
    }
  });
});

describe("http_server_config.http2: false", () => {
  it("offers HTTP/1.1 only by ALPN", async () => {
    const file = join(dir, "h1.yml");
    writeFileSync(file, webConfig({ http2: false }));
    const monitor = new TTSPerformanceMonitor({
      config: { ...BASE_CONFIG, engines: [] },
      webConfigFile: file,
      logger: quiet(),
    });
    await monitor.startMonitoring();
    try {
      const port = portOf(monitor.address);
      expect(await negotiatedAlpn(port, ["h2", "http/1.1"], pki.ca)).toBe("http/1.1");
      const h2only = await negotiatedAlpn(port, ["h2"], pki.ca).catch(() => "refused");
      expect(h2only === false || h2only === "refused").toBe(true);
      expect((await httpsGet(`https://127.0.0.1:${port}/metrics`, { ca: pki.ca, auth: AUTH })).status).toBe(
        200,
      );
    } finally {
      await monitor.stop();
    }
  });
});

describe("the HTTP limits over h2 (lowered here)", () => {
  let web: WebConfigSource;
  let server: import("node:http").Server;
  let url: string;
  const limits = { headersTimeoutMs: 2000, requestTimeoutMs: 3000, maxHeaderBytes: 4096 };

  beforeAll(async () => {
    const file = join(dir, "limits.yml");
    writeFileSync(file, webConfig());
    web = new WebConfigSource(file, quiet());
    const app = express();
    app.get("/ok", (_req, res) => void res.type("text/plain").send("ok\n"));
    app.post(
      "/upload",
      express.raw({ type: "*/*" }),
      (req, res) => void res.json({ bytes: (req.body as Buffer).length }),
    );
    server = await listen(app, "127.0.0.1:0", "exporter", { web, limits });
    url = `https://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}`;
  });
  afterAll(async () => {
    await closeServer(server);
    web.stop();
  });

  it("a body that does not arrive within requestTimeout gets 408 and the stream is ended", {
    timeout: 30_000,
  }, async () => {
    const s = await h2Connect(url, { ca: pki.ca });
    try {
      const started = Date.now();
      const stream = s.request({
        ":path": "/upload",
        ":method": "POST",
        "content-type": "application/octet-stream",
        authorization: `Basic ${Buffer.from(AUTH).toString("base64")}`,
      });
      stream.write("a first part, and then nothing");
      const status = await new Promise<number>((resolve) =>
        stream.on("response", (h) => resolve(Number(h[":status"]))),
      );
      stream.resume();
      await new Promise((resolve) => stream.on("close", resolve));
      expect(status).toBe(408);
      expect(Date.now() - started).toBeGreaterThanOrEqual(limits.requestTimeoutMs - 1000);
      // The connection itself still serves.
      expect((await h2Request(s, "/ok", { auth: AUTH })).status).toBe(200);
    } finally {
      s.close();
    }
  });

  it("a connection that opens no stream is closed after headersTimeout; an oversized head is refused", {
    timeout: 30_000,
  }, async () => {
    const idle = await h2Connect(url, { ca: pki.ca });
    const started = Date.now();
    await new Promise((resolve) => idle.once("close", resolve));
    expect(Date.now() - started).toBeGreaterThanOrEqual(limits.headersTimeoutMs - 1000);

    const s = await h2Connect(url, { ca: pki.ca });
    try {
      const big = await h2Request(s, "/ok", { auth: AUTH, headers: { "x-big": "a".repeat(8192) } }).then(
        (r) => r.status,
        (err: Error) => err.message,
      );
      expect(String(big)).toMatch(/ENHANCE_YOUR_CALM|431/);
      expect((await h2Request(s, "/ok", { auth: AUTH })).status).toBe(200);
      expect(s.remoteSettings.maxConcurrentStreams).toBe(H2_MAX_CONCURRENT_STREAMS);
    } finally {
      s.close();
    }
  });
});
