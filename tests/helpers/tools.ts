import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURES = resolve(REPO_ROOT, "tests/fixtures");

/**
 * The path of a system binary the test needs. A missing one fails the test with the Debian package
 * to install: a test that skips itself silently proves nothing.
 */
export function requireBinary(path: string, debianPackage: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(
      `${path} is missing: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}); npm test's pretest step does it as root`,
    );
  }
  return path;
}

/** A loopback port free right now (for programs that cannot listen on port 0 and report it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a value other than undefined, or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
      );
    }
    await sleep(everyMs);
  }
}
