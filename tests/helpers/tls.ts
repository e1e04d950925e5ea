// A throwaway certificate authority made with the real openssl at test time, and an HTTPS client
// that trusts it (tests of --web.config.file).
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { type ClientHttp2Session, connect } from "node:http2";
import { request } from "node:https";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { requireBinary } from "./tools.ts";

export const OPENSSL = "/usr/bin/openssl";

export interface Pki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: string;
  /** Issues a certificate for 127.0.0.1 (server) or a client; returns its cert and key files. */
  issue(name: string, options?: { client?: boolean; san?: string }): { certFile: string; keyFile: string };
}

export function makePki(dir: string): Pki {
  requireBinary(OPENSSL, "openssl");
  const run = (args: string[]) =>
    execFileSync(OPENSSL, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const caKey = join(dir, "ca.key");
  const caFile = join(dir, "ca.crt");
  run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", caKey]);
  run([
    "req",
    "-x509",
    "-new",
    "-key",
    caKey,
    "-sha256",
    "-days",
    "2",
    "-subj",
    "/CN=tts-test-ca",
    "-out",
    caFile,
  ]);
  let serial = 1;
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, "utf8"),
    issue(name, options = {}) {
      const keyFile = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const certFile = join(dir, `${name}.crt`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(
        ext,
        options.client
          ? `extendedKeyUsage=clientAuth\nsubjectAltName=${options.san ?? `DNS:${name}`}\n`
          : `extendedKeyUsage=serverAuth\nsubjectAltName=${options.san ?? "IP:127.0.0.1,DNS:localhost"}\n`,
      );
      run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyFile]);
      run(["req", "-new", "-key", keyFile, "-subj", `/CN=${name}`, "-out", csr]);
      run([
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        caFile,
        "-CAkey",
        caKey,
        "-set_serial",
        String(serial++),
        "-days",
        "2",
        "-sha256",
        "-extfile",
        ext,
        "-out",
        certFile,
      ]);
      return { certFile, keyFile };
    },
  };
}

export interface HttpsResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The server certificate's serial number (hex), to tell a rotated certificate. */
  readonly serial: string;
}

/** One HTTPS request on a fresh connection (no agent), trusting `ca`. */
export function httpsGet(
  url: string,
  options: {
    ca: string;
    auth?: string;
    headers?: Record<string, string>;
    method?: string;
    body?: string;
    cert?: string;
    key?: string;
    maxVersion?: "TLSv1.2" | "TLSv1.3";
  },
): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? "GET",
        ca: options.ca,
        agent: false,
        timeout: 10_000,
        headers: {
          ...options.headers,
          ...(options.auth !== undefined && {
            authorization: `Basic ${Buffer.from(options.auth).toString("base64")}`,
          }),
        },
        ...(options.cert !== undefined && { cert: options.cert }),
        ...(options.key !== undefined && { key: options.key }),
        ...(options.maxVersion !== undefined && { maxVersion: options.maxVersion }),
      },
      (res) => {
        const serial = (res.socket as import("node:tls").TLSSocket).getPeerCertificate().serialNumber ?? "";
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, serial }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

export interface H2Response {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP/2 request on an open session (node:http2's client); rejects when the stream is reset. */
export function h2Request(
  session: ClientHttp2Session,
  path: string,
  options: { auth?: string; headers?: Record<string, string>; method?: string; body?: string | Buffer } = {},
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":path": path,
      ":method": options.method ?? "GET",
      ...options.headers,
      ...(options.auth !== undefined && {
        authorization: `Basic ${Buffer.from(options.auth).toString("base64")}`,
      }),
    });
    let headers: Record<string, string | string[] | undefined> = {};
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => {
      headers = h;
    });
    stream.on("data", (c: string) => {
      body += c;
    });
    stream.on("end", () => resolve({ status: Number(headers[":status"]), headers, body }));
    stream.on("error", reject);
    stream.setTimeout(10_000, () => stream.destroy(new Error(`${path}: no answer over HTTP/2 in 10 s`)));
    stream.end(options.body);
  });
}

/** An HTTP/2 session to `url` trusting `ca`; resolves once connected (h2 negotiated by ALPN). */
export function h2Connect(
  url: string,
  options: { ca: string; cert?: string; key?: string },
): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(url, {
      ca: options.ca,
      ...(options.cert !== undefined && { cert: options.cert }),
      ...(options.key !== undefined && { key: options.key }),
    });
    session.once("connect", () => resolve(session));
    session.once("error", reject);
    session.once("close", () => reject(new Error(`${url}: the HTTP/2 session closed before it connected`)));
  });
}

/** The protocol the server picks by ALPN from the client's `offered` list (false: none). */
export function negotiatedAlpn(port: number, offered: string[], ca: string): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca, ALPNProtocols: offered }, () => {
      resolve(socket.alpnProtocol ?? false);
      socket.end();
    });
    socket.once("error", reject);
  });
}
