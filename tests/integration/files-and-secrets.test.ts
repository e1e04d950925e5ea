import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Intelligibility } from "../../src/audio/intelligibility.ts";
import { ConfigError, loadConfig, readSecretFile } from "../../src/config/load.ts";
import { excerpt } from "../../src/engines/errors.ts";
import { createEngine } from "../../src/engines/index.ts";
import { clip, Logger } from "../../src/log.ts";
import { runProbe } from "../../src/probes/probe.ts";
import { closeServer } from "../../src/server/listen.ts";
import { speech } from "../fixtures/audio/speech.ts";
import { CLI } from "../helpers/exporter.ts";
import { PROMTOOL } from "../helpers/prometheus.ts";
import { REPO_ROOT, requireBinary } from "../helpers/tools.ts";

// Files the config names are read only when they are regular files of a bounded size; secrets are
// masked before any text is cut; `generate` reports config problems like the exporter; stopping
// the recogniser leaves no temporary directory.

const dirs: string[] = [];
const servers: Server[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tts-hostile-"));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => closeServer(s)));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs the CLI to its end (or kills it after `limitMs`); the exit code, stderr and how long it took. */
function cli(args: readonly string[], limitMs = 20_000) {
  return new Promise<{ code: number | null; stderr: string; stdout: string; ms: number }>((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...CLI, ...args], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout, ms: performance.now() - t0 });
    });
  });
}

describe("the config loader reads only bounded regular files", () => {
  it("a FIFO, /dev/zero, /dev/urandom, a directory and an oversized file are config errors, at once", () => {
    const dir = tempDir();
    const fifo = join(dir, "config.fifo");
    execFileSync(requireBinary("/usr/bin/mkfifo", "coreutils"), [fifo]);
    const big = join(dir, "big.json");
    writeFileSync(big, `{"tool_info":{"name":"${"x".repeat(1024 * 1024)}"}}`);
    const cases: Array<[string, RegExp]> = [
      [fifo, /a FIFO \(named pipe\), not a regular file/],
      ["/dev/zero", /a character device, not a regular file/],
      ["/dev/urandom", /a character device, not a regular file/],
      [dir, /a directory, not a regular file/],
      [big, /more than the limit of 1048576/],
    ];
    for (const [file, why] of cases) {
      let error: unknown;
      try {
        loadConfig(file, {});
      } catch (err) {
        error = err;
      }
      expect(error, file).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message, file).toMatch(why);
    }
    // A token file is read the same way.
    expect(() => readSecretFile(fifo, "$.ingest.token_file", "config.json")).toThrow(/a FIFO/);
    expect(() => readSecretFile("/dev/zero", "$.ingest.token_file", "config.json")).toThrow(
      /character device/,
    );
  });

  it("the exporter started on a FIFO or /dev/urandom exits 2 with one message, without hanging", async () => {
    const dir = tempDir();
    const fifo = join(dir, "config.fifo");
    execFileSync("/usr/bin/mkfifo", [fifo]);
    for (const file of [fifo, "/dev/urandom"]) {
      const r = await cli(["--prometheus-export", "--config", file]);
      expect(r.code, `${file}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(
        /^tts-monitor: invalid configuration in .*\n {2}\$: expected a readable JSON file/,
      );
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe("generate takes what the exporter takes", () => {
  it("latency_max_ms: 1 writes rules whose promtool tests pass", async () => {
    const dir = tempDir();
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ thresholds: { latency_max_ms: 1 } }));
    const r = await cli(["generate", "--config", config, "--out", join(dir, "out")], 60_000);
    expect(r.code, r.stderr).toBe(0);
    const promtool = requireBinary(PROMTOOL, "prometheus");
    const out = execFileSync(promtool, ["test", "rules", "alerting-rules/tests/tts-monitor.test.yml"], {
      cwd: join(dir, "out"),
      encoding: "utf8",
    });
    expect(out).toMatch(/SUCCESS/);
  }, 90_000);

  it("a threshold no rule can express, or a broken config, is exit 2 with one message and no stack", async () => {
    const dir = tempDir();
    const high = join(dir, "high.json");
    writeFileSync(high, JSON.stringify({ thresholds: { latency_max_ms: 60_000 } }));
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ thresholds: { latency_max_ms: "fast" } }));
    for (const [file, why] of [
      [high, /\$\.thresholds\.latency_max_ms: expected a latency below 30000 ms/],
      [bad, /\$\.thresholds\.latency_max_ms: expected number/],
      ["/dev/zero", /character device/],
    ] as const) {
      const r = await cli(["generate", "--config", file, "--out", join(dir, "out2")]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe("");
    }
  });
});

describe("secrets are masked before text is cut", () => {
  const SECRET = "https://hooks.slack.com/services/T0000/B0000/SECRET12SECRET12";

  it("clip() and excerpt() mask a secret that straddles the cut", () => {
    new Logger({ json: true, sink: { write: () => {} } }).addSecret(SECRET);
    const text = `${"x".repeat(100)} ${SECRET} trailing`;
    expect(clip(text, 120)).toBe(`${"x".repeat(100)} <redacted> trailing`.slice(0, 120));
    expect(clip(text, 120)).not.toMatch(/SECRET12|services/);
    const shown = excerpt(Buffer.from(text));
    expect(shown).not.toMatch(/SECRET12|services|T0000/);
    expect(shown).toContain("<redac");
  });

  it("an engine's error body echoing the webhook past the cut never reaches a log line", async () => {
    const lines: string[] = [];
    const log = new Logger({ json: true, sink: { write: (l) => lines.push(l) } });
    log.addSecret(SECRET);
    const server = createServer((_req, res) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`upstream said: ${"e".repeat(90)} ${SECRET}`);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const engine = createEngine(
      { name: "echo", type: "piper", url: `http://127.0.0.1:${port}`, enabled: true },
      { defaultTimeoutSeconds: 5, env: {} },
    );
    const r = await runProbe(engine, "Hello.", 5000);
    expect(r.success).toBe(false);
    log.warn("probe failed", { engine: r.engine, reason: r.reason, error: r.error });
    expect(r.error).toMatch(/HTTP 500/);
    expect(lines.join("")).not.toMatch(/SECRET12|services\/T|hooks\.slack/);
  });
});

describe("stopping during recognition", () => {
  it("close() kills pocketsphinx and removes its tts-monitor-* directory", async () => {
    const asr = new Intelligibility({ timeoutMs: 60_000 });
    expect(Intelligibility.available(), "apt-get install pocketsphinx pocketsphinx-en-us").toBe(true);
    const root = tempDir();
    const own = join(root, "tmp");
    mkdirSync(own);
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = own;
    try {
      const clean = speech("flite", "The quick brown fox jumps over the lazy dog.");
      // Half a minute of speech: recognition takes seconds, long enough to stop it midway.
      const long = new Float32Array(clean.samples.length * 30);
      for (let i = 0; i < 30; i++) long.set(clean.samples, i * clean.samples.length);
      const scoring = asr.score(
        { ...clean, samples: long, durationSeconds: long.length / clean.sampleRate },
        "The quick brown fox jumps over the lazy dog.",
      );
      const outcome = scoring.then(
        () => "resolved",
        () => "rejected",
      );
      const deadline = Date.now() + 20_000;
      while (readdirSync(own).filter((n) => n.startsWith("tts-monitor-")).length === 0) {
        if (Date.now() > deadline) throw new Error("no tts-monitor-* directory appeared");
        await new Promise((r) => setTimeout(r, 20));
      }
      await asr.close();
      expect(readdirSync(own)).toEqual([]);
      expect(await outcome).toBe("rejected");
      expect(await asr.score(clean, "The quick brown fox.")).toBeUndefined();
    } finally {
      process.env.TMPDIR = previous;
    }
  }, 60_000);
});
