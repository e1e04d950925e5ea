import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  parseConfig,
  readSecret,
  readSecretFile,
  SecretFileError,
} from "../../src/config/load.ts";
import { controlsToken } from "../../src/server/dashboard.ts";

const dir = mkdtempSync(join(tmpdir(), "tts-secret-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the one secret-file reader", () => {
  it("returns the trimmed text; an empty or missing file is a SecretFileError saying why", () => {
    const ok = join(dir, "ok");
    writeFileSync(ok, "  s3cret\n");
    expect(readSecret(ok)).toBe("s3cret");
    const empty = join(dir, "empty");
    writeFileSync(empty, " \n");
    expect(() => readSecret(empty)).toThrow(new SecretFileError(empty, "an empty file"));
    const missing = join(dir, "missing");
    expect(() => readSecret(missing)).toThrow(`${missing}: no such file (ENOENT)`);
  });

  it("a config key's caller turns the failure into a ConfigError naming the key; the dashboard token too", () => {
    const empty = join(dir, "empty-token");
    writeFileSync(empty, "");
    const err = (() => {
      try {
        readSecretFile(empty, "$.ingest.token_file", "config.json");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      { path: "$.ingest.token_file", expected: "a file holding the secret", got: `${empty}: an empty file` },
    ]);
    // An empty token file no longer leaves the controls open as if no token were set.
    const config = parseConfig({ dashboard: { token_file: empty } }, "<test>", {});
    expect(() => controlsToken(config, {})).toThrow(ConfigError);
    const token = join(dir, "token");
    writeFileSync(token, "let-me-in\n");
    expect(controlsToken(parseConfig({ dashboard: { token_file: token } }, "<test>", {}), {})).toBe(
      "let-me-in",
    );
  });
});
