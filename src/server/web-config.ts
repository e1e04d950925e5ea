// The Prometheus exporter-toolkit web configuration (--web.config.file): TLS, bcrypt basic auth,
// response headers and a request rate limit, read from one YAML file that node_exporter, blackbox_exporter
// and Prometheus itself read too. Every HTTP server of the exporter (metrics, dashboard, gateway) serves
// through one WebConfigSource: the file and the files it names are re-read when they change, a bad
// file at start is a ConfigError (exit 2), a bad file later keeps the running settings with one log line.
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, isAbsolute, resolve } from "node:path";
import { createSecureContext, type SecureContextOptions, type TLSSocket } from "node:tls";
import bcrypt from "bcryptjs";
import { load as loadYaml } from "js-yaml";
import { z } from "zod";
import { ConfigError, type ConfigProblem, jsonPath } from "../config/load.ts";
import { errorMessage, type Logger } from "../log.ts";

/** A web config file that cannot be used. A ConfigError: the CLI exits 2, as for the main config. */
export class WebConfigError extends ConfigError {}

/** Largest web config, certificate or key file read (a bigger one is a mistake, not a config). */
const MAX_FILE_BYTES = 1024 * 1024;
/** How often the file and the files it names are checked for a change (the toolkit re-reads on every request). */
export const WEB_CONFIG_POLL_MS = 1000;
/** Verified (user, password) pairs kept, so a scrape does not pay a bcrypt compare each time (the toolkit keeps 100). */
export const AUTH_CACHE_SIZE = 100;
/** bcrypt compares that run at once; more wait in a bounded queue, beyond it a request gets 429. */
const MAX_CONCURRENT_COMPARES = 4;
const MAX_QUEUED_COMPARES = 64;
/** Compared for a user that does not exist, so an unknown user costs what a wrong password costs (cost 10, like the toolkit's). */
const DUMMY_HASH = "$2b$10$fN8st0DfpOy3Kx0e4ldvQeu6cRN/ARCZ0oMFpi4fxQAq7U507houe";

const TLS_VERSIONS = { TLS10: "TLSv1", TLS11: "TLSv1.1", TLS12: "TLSv1.2", TLS13: "TLSv1.3" } as const;
type TlsVersionName = keyof typeof TLS_VERSIONS;

/** Go's crypto/tls suite names (tls.CipherSuites()) → OpenSSL's. TLS 1.3 suites are not configurable, as in Go. */
const CIPHER_SUITES: Readonly<Record<string, string>> = {
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
};
const TLS13_SUITES = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
const CURVES: Readonly<Record<string, string>> = {
  CurveP256: "P-256",
  CurveP384: "P-384",
  CurveP521: "P-521",
  X25519: "X25519",
};
const CLIENT_AUTH_TYPES = [
  "NoClientCert",
  "RequestClientCert",
  "RequireAnyClientCert",
  "VerifyClientCertIfGiven",
  "RequireAndVerifyClientCert",
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

/** The headers the toolkit lets a file set, with the values it accepts (undefined: any text). */
const HEADERS: Readonly<Record<string, RegExp | undefined>> = {
  "Content-Security-Policy": undefined,
  "X-Frame-Options": /^(deny|sameorigin)$/i,
  "X-Content-Type-Options": /^nosniff$/i,
  "X-XSS-Protection": undefined,
  "Strict-Transport-Security": undefined,
};

const nonEmpty = z.string().min(1);
const fileSchema = z.strictObject({
  tls_server_config: z
    .strictObject({
      cert: nonEmpty.optional(),
      key: nonEmpty.optional(),
      client_ca: nonEmpty.optional(),
      cert_file: nonEmpty.optional(),
      key_file: nonEmpty.optional(),
      client_auth_type: z.enum(CLIENT_AUTH_TYPES).default("NoClientCert"),
      client_ca_file: nonEmpty.optional(),
      client_allowed_sans: z.array(nonEmpty).optional(),
      min_version: z.enum(Object.keys(TLS_VERSIONS) as [TlsVersionName]).default("TLS12"),
      max_version: z.enum(Object.keys(TLS_VERSIONS) as [TlsVersionName]).default("TLS13"),
      cipher_suites: z.array(z.enum(Object.keys(CIPHER_SUITES) as [string])).optional(),
      prefer_server_cipher_suites: z.boolean().default(true),
      curve_preferences: z.array(z.enum(Object.keys(CURVES) as [string])).optional(),
    })
    .optional(),
  http_server_config: z
    .strictObject({
      http2: z.boolean().default(true),
      headers: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  basic_auth_users: z.record(nonEmpty, nonEmpty).nullish(),
  rate_limit: z
    .strictObject({
      interval: z.union([z.string(), z.number()]),
      burst: z.number().int().min(0),
    })
    .optional(),
});

export interface TlsSettings {
  /** Options for tls.createSecureContext (and server.setSecureContext on a change). */
  readonly context: SecureContextOptions;
  readonly clientAuth: ClientAuthType;
  readonly allowedSans: readonly string[] | undefined;
}

/** A parsed, usable web config: its certificates read, its hashes checked. */
export interface WebConfig {
  readonly tls: TlsSettings | undefined;
  /** User → bcrypt hash; empty: no basic auth. */
  readonly users: ReadonlyMap<string, string>;
  readonly headers: Readonly<Record<string, string>>;
  /** HTTP/2 by ALPN when TLS is on (the toolkit's default); false: HTTP/1.1 only. Plain HTTP is always 1.1. */
  readonly http2: boolean;
  /** Token bucket: one request every intervalMs, bursts of `burst`; undefined: no limit. */
  readonly rateLimit: { readonly intervalMs: number; readonly burst: number } | undefined;
  /** The files the config depends on (itself, certificates, keys, CAs): a change to any is a reload. */
  readonly files: readonly string[];
}

/** No file: plain HTTP, no authentication (the default). */
export const OPEN_WEB_CONFIG: WebConfig = {
  tls: undefined,
  users: new Map(),
  headers: {},
  http2: true,
  rateLimit: undefined,
  files: [],
};

const problem = (path: string, expected: string, got: string): ConfigProblem => ({ path, expected, got });

function readSmallFile(file: string, path: string, configFile: string): string {
  try {
    const size = statSync(file).size;
    if (size > MAX_FILE_BYTES) throw new Error(`${size} bytes, more than ${MAX_FILE_BYTES}`);
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new WebConfigError(
      configFile,
      [problem(path, "a readable file", `${file}: ${errorMessage(err)}`)],
      {
        cause: err,
      },
    );
  }
}

/** Go durations the toolkit accepts here ("1s", "500ms", "1m"), or a number of seconds. */
function parseInterval(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!m?.[1] || !m[2]) return value.trim() === "0" ? 0 : undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

/**
 * Parses the YAML text of a web config file (`file` names it in errors; relative certificate paths
 * are taken from its directory, as the toolkit does). `readFile` is how certificates are read
 * (tests and the fuzzer pass their own). Throws WebConfigError, and nothing else.
 */
export function parseWebConfig(
  text: string,
  file: string,
  readFile: (path: string, key: string) => string = (p, key) => readSmallFile(p, key, file),
): WebConfig {
  let raw: unknown;
  try {
    // An empty file (or one of comments only) is valid for the toolkit: plain HTTP, no auth.
    raw = text.replace(/#.*$/gm, "").trim() === "" ? {} : loadYaml(text);
  } catch (err) {
    throw new WebConfigError(
      file,
      [problem("$", "a YAML document", errorMessage(err).split("\n")[0] ?? "")],
      {
        cause: err,
      },
    );
  }
  const parsed = fileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new WebConfigError(
      file,
      parsed.error.issues.map((i) =>
        // A hash or a key is a secret: the message names the key, never the value.
        problem(jsonPath(i.path), i.message, "an unusable value"),
      ),
    );
  }
  const c = parsed.data;
  const problems: ConfigProblem[] = [];
  const dir = dirname(resolve(file));
  const files = [resolve(file)];
  const at = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));

  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(c.basic_auth_users ?? {})) {
    // bcryptjs reads $2a$/$2b$/$2y$ hashes; anything else never matches and is a mistake.
    if (!/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(hash)) {
      problems.push(
        problem(jsonPath(["basic_auth_users", user]), "a bcrypt hash ($2y$10$...)", "another text"),
      );
    } else users.set(user, hash);
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(c.http_server_config?.headers ?? {})) {
    const canonical = Object.keys(HEADERS).find((h) => h.toLowerCase() === name.toLowerCase());
    const path = jsonPath(["http_server_config", "headers", name]);
    if (canonical === undefined)
      problems.push(problem(path, `one of ${Object.keys(HEADERS).join(", ")}`, name));
    else if (value === "") continue;
    else if (HEADERS[canonical] && !HEADERS[canonical].test(value))
      problems.push(problem(path, `a value matching ${HEADERS[canonical]}`, JSON.stringify(value)));
    else if (/[\r\n\0]/.test(value)) problems.push(problem(path, "a one-line value", "a line break"));
    else headers[canonical] = value;
  }

  let rateLimit: WebConfig["rateLimit"];
  if (c.rate_limit) {
    const intervalMs = parseInterval(c.rate_limit.interval);
    if (intervalMs === undefined)
      problems.push(
        problem("$.rate_limit.interval", "a duration such as 1s or 500ms", String(c.rate_limit.interval)),
      );
    else if (intervalMs > 0) rateLimit = { intervalMs, burst: Math.max(1, c.rate_limit.burst) };
  }

  let tls: TlsSettings | undefined;
  const t = c.tls_server_config;
  if (t) {
    const pem = (inline: string | undefined, name: string | undefined, key: string, required: boolean) => {
      if (inline !== undefined && name !== undefined) {
        problems.push(
          problem(`$.tls_server_config.${key}`, `either ${key} or ${key}_file, not both`, "both"),
        );
        return undefined;
      }
      if (inline !== undefined) return inline;
      if (name !== undefined) {
        files.push(at(name));
        try {
          return readFile(at(name), `$.tls_server_config.${key}_file`);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          problems.push(...err.problems);
          return undefined;
        }
      }
      if (required) problems.push(problem(`$.tls_server_config.${key}_file`, "a file", "nothing"));
      return undefined;
    };
    const hasServerCert = [t.cert, t.cert_file, t.key, t.key_file].some((v) => v !== undefined);
    const anyTls = hasServerCert || t.client_ca !== undefined || t.client_ca_file !== undefined;
    if (anyTls || t.client_auth_type !== "NoClientCert") {
      const cert = pem(t.cert, t.cert_file, "cert", true);
      const key = pem(t.key, t.key_file, "key", true);
      const ca = pem(t.client_ca, t.client_ca_file, "client_ca", false);
      const verifying =
        t.client_auth_type === "VerifyClientCertIfGiven" ||
        t.client_auth_type === "RequireAndVerifyClientCert";
      if (ca !== undefined && !verifying)
        problems.push(
          problem(
            "$.tls_server_config.client_auth_type",
            "VerifyClientCertIfGiven or RequireAndVerifyClientCert when a client CA is set",
            t.client_auth_type,
          ),
        );
      if (ca === undefined && verifying)
        problems.push(
          problem("$.tls_server_config.client_ca_file", `a CA for ${t.client_auth_type}`, "nothing"),
        );
      if (
        t.client_allowed_sans !== undefined &&
        t.client_auth_type !== "RequireAnyClientCert" &&
        t.client_auth_type !== "RequireAndVerifyClientCert"
      )
        problems.push(
          problem(
            "$.tls_server_config.client_allowed_sans",
            "client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert",
            t.client_auth_type,
          ),
        );
      const min = TLS_VERSIONS[t.min_version];
      const max = TLS_VERSIONS[t.max_version];
      if (Object.values(TLS_VERSIONS).indexOf(min) > Object.values(TLS_VERSIONS).indexOf(max))
        problems.push(problem("$.tls_server_config.max_version", `${t.min_version} or later`, t.max_version));
      if (cert !== undefined && key !== undefined && problems.length === 0) {
        const context: SecureContextOptions = {
          cert,
          key,
          ...(ca !== undefined && { ca }),
          minVersion: min,
          maxVersion: max,
          honorCipherOrder: t.prefer_server_cipher_suites,
          ...(t.cipher_suites && {
            ciphers: [TLS13_SUITES, ...t.cipher_suites.map((s) => CIPHER_SUITES[s])].join(":"),
          }),
          ...(t.curve_preferences && { ecdhCurve: t.curve_preferences.map((s) => CURVES[s]).join(":") }),
        };
        try {
          // Unreadable PEM, a key that is not the certificate's: an error now, not at the first handshake.
          createSecureContext(context);
        } catch (err) {
          problems.push(
            problem("$.tls_server_config", "a certificate and its private key in PEM", errorMessage(err)),
          );
        }
        tls = { context, clientAuth: t.client_auth_type, allowedSans: t.client_allowed_sans };
      }
    }
  }
  if (problems.length > 0) throw new WebConfigError(file, problems);
  return {
    tls,
    users,
    headers,
    http2: c.http_server_config?.http2 ?? true,
    rateLimit,
    files,
  };
}

/** Reads and parses a web config file. Throws WebConfigError. */
export function loadWebConfig(file: string): WebConfig {
  return parseWebConfig(readSmallFile(file, "$", file), file);
}

/** Whether the client certificate of a TLS connection passes the policy (Go's ClientAuthType semantics). */
export function clientCertAllowed(socket: TLSSocket, tls: TlsSettings): boolean {
  if (tls.clientAuth === "NoClientCert" || tls.clientAuth === "RequestClientCert") return true;
  const cert = socket.getPeerCertificate();
  const given = cert !== null && Object.keys(cert).length > 0;
  if (tls.clientAuth === "VerifyClientCertIfGiven") return !given || socket.authorized;
  if (!given) return false;
  if (tls.clientAuth === "RequireAndVerifyClientCert" && !socket.authorized) return false;
  if (tls.allowedSans === undefined) return true;
  const sans = (cert.subjectaltname ?? "").split(/,\s*/).map((s) => s.replace(/^[A-Za-z ]+:/, ""));
  return tls.allowedSans.some((allowed) => sans.includes(allowed));
}

/**
 * One web config, watched: the servers read `current` for every request and connection, and
 * `onTlsChange` hands them a new certificate (setSecureContext) after a rotation.
 */
export class WebConfigSource {
  #current: WebConfig;
  #signature: string;
  #timer: NodeJS.Timeout | undefined;
  #lastError: string | undefined;
  readonly #listeners = new Set<(config: WebConfig) => void>();
  readonly #auth = new BasicAuthChecker();

  /** Reads the file now (throws WebConfigError), then checks it every `pollMs` for a change. */
  constructor(
    readonly file: string | undefined,
    private readonly log: Logger,
    pollMs = WEB_CONFIG_POLL_MS,
  ) {
    this.#current = file === undefined ? OPEN_WEB_CONFIG : loadWebConfig(file);
    this.#signature = signature(this.#current.files);
    if (file !== undefined) {
      this.#timer = setInterval(() => this.check(), pollMs);
      this.#timer.unref();
      log.info("web config loaded", describe(this.#current, file));
    }
  }

  get current(): WebConfig {
    return this.#current;
  }

  get auth(): BasicAuthChecker {
    return this.#auth;
  }

  /** Called when a reload changed the TLS settings (a server applies them to new connections). */
  onChange(listener: (config: WebConfig) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-reads the file when it or a file it names changed; true when a new config is in force. */
  check(): boolean {
    if (this.file === undefined) return false;
    const now = signature(this.#current.files);
    if (now === this.#signature) return false;
    this.#signature = now;
    let next: WebConfig;
    try {
      next = loadWebConfig(this.file);
    } catch (err) {
      const message = errorMessage(err);
      // One line per bad version of the file, not one a second while it stays bad.
      if (message !== this.#lastError)
        this.log.error("web config reload rejected; keeping the running one", {
          file: this.file,
          error: message,
        });
      this.#lastError = message;
      return false;
    }
    this.#lastError = undefined;
    if ((next.tls === undefined) !== (this.#current.tls === undefined)) {
      this.log.warn("web config: TLS was switched on or off; restart the exporter to apply that part", {
        file: this.file,
      });
      next = { ...next, tls: this.#current.tls, files: next.files };
    }
    if (next.http2 !== this.#current.http2) {
      // The protocols are offered by the listening server (ALPN), which a reload does not replace.
      this.log.warn("web config: http_server_config.http2 changed; restart the exporter to apply it", {
        file: this.file,
      });
      next = { ...next, http2: this.#current.http2 };
    }
    this.#current = next;
    this.#signature = signature(next.files);
    this.#auth.clear();
    for (const listener of this.#listeners) listener(next);
    this.log.info("web config reloaded", describe(next, this.file));
    return true;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#listeners.clear();
  }
}

function describe(c: WebConfig, file: string): Record<string, unknown> {
  return {
    file,
    tls: c.tls ? `on (${c.tls.context.minVersion}+, client certificates: ${c.tls.clientAuth})` : "off",
    ...(c.tls && { http2: c.http2 }),
    basic_auth_users: c.users.size,
    ...(c.rateLimit && { rate_limit: `${c.rateLimit.burst} per ${c.rateLimit.intervalMs} ms` }),
  };
}

/** What tells a changed file: size, modification time and inode of each (a rename over it counts). */
function signature(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${f}:${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${f}:missing`;
      }
    })
    .join("|");
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Basic auth as the toolkit checks it: one bcrypt compare per unverified (user, password) pair, also
 * for a user that does not exist (the same cost, so timing does not tell which users exist), and the
 * outcome cached (bounded) by a digest of user, hash and password, never the password itself.
 */
export class BasicAuthChecker {
  readonly #cache = new Map<string, boolean>();
  #running = 0;
  readonly #queue: Array<() => void> = [];

  clear(): void {
    this.#cache.clear();
  }

  /** true: allowed; false: wrong; "busy": too many compares waiting (answer 429). */
  async verify(
    users: ReadonlyMap<string, string>,
    user: string,
    password: string,
  ): Promise<boolean | "busy"> {
    const hash = users.get(user);
    const key = `${sha(user)}:${sha(hash ?? DUMMY_HASH)}:${sha(password)}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached && hash !== undefined;
    if (this.#running >= MAX_CONCURRENT_COMPARES) {
      if (this.#queue.length >= MAX_QUEUED_COMPARES) return "busy";
      await new Promise<void>((wake) => this.#queue.push(wake));
    }
    this.#running++;
    let ok: boolean;
    try {
      ok = await bcrypt.compare(password, hash ?? DUMMY_HASH);
    } catch {
      ok = false;
    } finally {
      this.#running--;
      this.#queue.shift()?.();
    }
    const allowed = ok && hash !== undefined;
    if (this.#cache.size >= AUTH_CACHE_SIZE) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, allowed);
    return allowed;
  }
}

/** Parses an `Authorization: Basic` header; undefined when it is not one. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Paths that are never behind auth (SPEC §2): an orchestrator's probes need no credentials. */
const OPEN_PATHS = new Set(["/-/healthy", "/-/ready"]);

export interface GateOptions {
  /**
   * Requests that carry their own bearer token to a route that checks it (ingestion, the dashboard's
   * controls, the gateway): with `Authorization: Bearer`, they skip basic auth and the route decides.
   */
  readonly bearerRoute?: (req: IncomingMessage) => boolean;
}

/** A token bucket per server (the toolkit's rate_limit: one for the whole endpoint). */
export class RateLimiter {
  #tokens = 0;
  #at = 0;
  take(limit: { readonly intervalMs: number; readonly burst: number }, now = Date.now()): boolean {
    if (this.#at === 0) this.#tokens = limit.burst;
    else this.#tokens = Math.min(limit.burst, this.#tokens + (now - this.#at) / limit.intervalMs);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Wraps a request handler with the web config's headers, rate limit and basic auth. The handler runs
 * only for an allowed request; a refused one gets 401 (with WWW-Authenticate) or 429 and a short text.
 */
export function gatedHandler(
  source: WebConfigSource,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: GateOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const limiter = new RateLimiter();
  return (req, res) => {
    const config = source.current;
    if (Object.keys(config.headers).length > 0) {
      // Set last, just before the head goes out: the file's headers win over an app's own defaults.
      const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
      res.writeHead = ((...args: unknown[]) => {
        if (!res.headersSent)
          for (const [name, value] of Object.entries(config.headers)) res.setHeader(name, value);
        return writeHead(...args);
      }) as typeof res.writeHead;
    }
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (OPEN_PATHS.has(path)) return handler(req, res);
    if (config.rateLimit && !limiter.take(config.rateLimit)) return refuse(res, 429, "too many requests\n");
    if (config.users.size === 0) return handler(req, res);
    const authorization = req.headers.authorization;
    if (/^Bearer\s/i.test(authorization ?? "") && options.bearerRoute?.(req)) return handler(req, res);
    const credentials = basicCredentials(authorization);
    if (!credentials) return unauthorized(res);
    source.auth.verify(config.users, credentials.user, credentials.password).then(
      (ok) => {
        if (ok === "busy") refuse(res, 429, "too many authentication attempts at once\n");
        else if (ok) handler(req, res);
        else unauthorized(res);
      },
      () => unauthorized(res),
    );
  };
}

function unauthorized(res: ServerResponse): void {
  res.setHeader("WWW-Authenticate", 'Basic realm="tts-monitor"');
  refuse(res, 401, "unauthorized\n");
}

function refuse(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.end(text);
}
