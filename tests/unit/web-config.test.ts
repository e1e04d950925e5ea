// The web config parser and basic-auth checker (src/server/web-config.ts): the exporter-toolkit's
// rules for what a file may say, and the cost of a check for a user that does not exist.
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Logger } from "../../src/log.ts";
import {
  BasicAuthChecker,
  basicCredentials,
  parseWebConfig,
  RateLimiter,
  WebConfigError,
  WebConfigSource,
} from "../../src/server/web-config.ts";

const HASH = bcrypt.hashSync("right", 4);
const noFiles = () => {
  throw new Error("no file should be read");
};

function problems(text: string, read: (p: string, k: string) => string = noFiles): string[] {
  try {
    parseWebConfig(text, "/etc/tts/web.yml", read);
  } catch (err) {
    if (err instanceof WebConfigError) return err.problems.map((p) => `${p.path}: ${p.expected}`);
    throw err;
  }
  return [];
}

describe("parseWebConfig", () => {
  it("an empty file is plain HTTP without authentication, as in the toolkit", () => {
    const c = parseWebConfig("", "/x.yml", noFiles);
    expect(c.tls).toBeUndefined();
    expect(c.users.size).toBe(0);
  });

  it("unknown keys, non-bcrypt passwords and headers the toolkit does not allow are errors, named by key", () => {
    expect(problems("tls_server_config:\n  cert_fle: a\n")).toEqual([
      expect.stringMatching(/^\$\.tls_server_config: /),
    ]);
    expect(problems("basic_auth_users:\n  alice: hunter2\n")).toEqual([
      "$.basic_auth_users.alice: a bcrypt hash ($2y$10$...)",
    ]);
    expect(problems("http_server_config:\n  headers:\n    X-Powered-By: me\n")[0]).toMatch(
      /^\$\.http_server_config\.headers\["X-Powered-By"\]: one of Content-Security-Policy/,
    );
    expect(problems("http_server_config:\n  headers:\n    X-Frame-Options: allow\n")[0]).toMatch(
      /deny\|sameorigin/,
    );
  });

  it("TLS: cert and key files relative to the web config's directory; TLS 1.2 minimum by default", () => {
    const read: string[] = [];
    const c = (() => {
      try {
        return parseWebConfig(
          "tls_server_config:\n  cert_file: tls/s.crt\n  key_file: /abs/s.key\n",
          "/etc/tts/web.yml",
          (p) => {
            read.push(p);
            return "not a pem";
          },
        );
      } catch (err) {
        return err as WebConfigError;
      }
    })();
    expect(read).toEqual(["/etc/tts/tls/s.crt", "/abs/s.key"]);
    // The PEM is checked at parse time, not at the first handshake.
    expect(c).toBeInstanceOf(WebConfigError);
    expect((c as WebConfigError).problems[0]?.expected).toBe("a certificate and its private key in PEM");
  });

  it("client CA and client_auth_type must agree; SANs need a required certificate; versions in order", () => {
    const tls = (extra: string) =>
      problems(`tls_server_config:\n  cert: c\n  key: k\n${extra}`, () => "pem").filter(
        (p) => !p.includes("PEM"),
      );
    expect(tls("  client_ca: ca\n")).toEqual([
      "$.tls_server_config.client_auth_type: VerifyClientCertIfGiven or RequireAndVerifyClientCert when a client CA is set",
    ]);
    expect(tls("  client_auth_type: RequireAndVerifyClientCert\n")).toEqual([
      "$.tls_server_config.client_ca_file: a CA for RequireAndVerifyClientCert",
    ]);
    expect(tls("  client_allowed_sans: [a]\n")[0]).toMatch(/client_allowed_sans/);
    expect(tls("  min_version: TLS13\n  max_version: TLS12\n")).toEqual([
      "$.tls_server_config.max_version: TLS13 or later",
    ]);
    expect(tls("  cert_file: c.crt\n")).toEqual([
      "$.tls_server_config.cert: either cert or cert_file, not both",
    ]);
    expect(tls("  cipher_suites: [TLS_RC4_128_SHA]\n")[0]).toMatch(/cipher_suites/);
  });

  it("rate_limit takes Go durations; 0 switches it off", () => {
    expect(parseWebConfig("rate_limit: { interval: 500ms, burst: 3 }", "/x", noFiles).rateLimit).toEqual({
      intervalMs: 500,
      burst: 3,
    });
    expect(
      parseWebConfig('rate_limit: { interval: "0", burst: 3 }', "/x", noFiles).rateLimit,
    ).toBeUndefined();
    expect(problems("rate_limit: { interval: soon, burst: 3 }")).toEqual([
      "$.rate_limit.interval: a duration such as 1s or 500ms",
    ]);
  });
});

describe("RateLimiter", () => {
  it("allows a burst, then one request per interval", () => {
    const r = new RateLimiter();
    const limit = { intervalMs: 1000, burst: 2 };
    expect([r.take(limit, 1), r.take(limit, 2), r.take(limit, 3)]).toEqual([true, true, false]);
    expect(r.take(limit, 1100)).toBe(true);
  });
});

describe("BasicAuthChecker", () => {
  afterEach(() => vi.restoreAllMocks());

  it("runs one bcrypt compare for a user that does not exist, like a wrong password", async () => {
    const compare = vi.spyOn(bcrypt, "compare");
    const checker = new BasicAuthChecker();
    const users = new Map([["alice", HASH]]);
    expect(await checker.verify(users, "mallory", "right")).toBe(false);
    expect(await checker.verify(users, "alice", "wrong")).toBe(false);
    expect(compare).toHaveBeenCalledTimes(2);
    // A dummy hash is compared for the unknown user, never another user's hash.
    expect(compare.mock.calls[0]?.[1]).not.toBe(HASH);
  });

  it("caches a verified pair (no second compare) and forgets it on clear()", async () => {
    const compare = vi.spyOn(bcrypt, "compare");
    const checker = new BasicAuthChecker();
    const users = new Map([["alice", HASH]]);
    expect(await checker.verify(users, "alice", "right")).toBe(true);
    expect(await checker.verify(users, "alice", "right")).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
    checker.clear();
    expect(await checker.verify(users, "alice", "right")).toBe(true);
    expect(compare).toHaveBeenCalledTimes(2);
    // A changed hash (the file was edited) is another cache key.
    expect(await checker.verify(new Map([["alice", bcrypt.hashSync("new", 4)]]), "alice", "right")).toBe(
      false,
    );
  });

  it("parses Basic credentials; a password may contain colons", () => {
    const h = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
    expect(basicCredentials(h("u:p:q"))).toEqual({ user: "u", password: "p:q" });
    expect(basicCredentials(h("no-colon"))).toBeUndefined();
    expect(basicCredentials("Bearer abc")).toBeUndefined();
  });
});

describe("WebConfigSource", () => {
  it("a changed users list replaces the old one and forgets verified passwords; a broken one is kept out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tts-web-source-"));
    const lines: string[] = [];
    const file = join(dir, "web.yml");
    const write = (text: string, mtime: number) => {
      writeFileSync(file, text);
      utimesSync(file, mtime, mtime);
    };
    try {
      write(`basic_auth_users:\n  alice: ${HASH}\n`, 1000);
      const source = new WebConfigSource(
        file,
        new Logger({ json: true, sink: { write: (l) => void lines.push(l) } }),
        60_000,
      );
      expect(await source.auth.verify(source.current.users, "alice", "right")).toBe(true);
      write(`basic_auth_users:\n  bob: ${HASH}\n`, 2000);
      expect(source.check()).toBe(true);
      expect([...source.current.users.keys()]).toEqual(["bob"]);
      expect(await source.auth.verify(source.current.users, "alice", "right")).toBe(false);
      write("basic_auth_users: [", 3000);
      expect(source.check()).toBe(false);
      expect([...source.current.users.keys()]).toEqual(["bob"]);
      expect(source.check()).toBe(false);
      expect(lines.filter((l) => l.includes("reload rejected"))).toHaveLength(1);
      source.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("a changed http2 keeps the running value and says a restart applies it; the rest of the file applies", () => {
    const dir = mkdtempSync(join(tmpdir(), "tts-web-source-"));
    const lines: string[] = [];
    const file = join(dir, "web.yml");
    try {
      writeFileSync(file, "http_server_config:\n  http2: true\n");
      utimesSync(file, 1000, 1000);
      const source = new WebConfigSource(
        file,
        new Logger({ json: true, sink: { write: (l) => void lines.push(l) } }),
        60_000,
      );
      expect(source.current.http2).toBe(true);
      writeFileSync(file, `http_server_config:\n  http2: false\nbasic_auth_users:\n  alice: ${HASH}\n`);
      utimesSync(file, 2000, 2000);
      expect(source.check()).toBe(true);
      expect(source.current.http2).toBe(true);
      expect([...source.current.users.keys()]).toEqual(["alice"]);
      expect(lines.some((l) => l.includes("http2 changed; restart"))).toBe(true);
      source.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
