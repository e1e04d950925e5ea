import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningExporter, runCliArgs, startExporter, tempDir } from "../helpers/exporter.ts";
import { REPO_ROOT, waitFor } from "../helpers/tools.ts";

let exporter: RunningExporter | undefined;
afterEach(async () => {
  await exporter?.stop();
  exporter = undefined;
});

describe("the embedded engine out of the box", () => {
  it("with no engine configured, /metrics holds real latency samples for engine=embedded within one probe interval", async () => {
    // No "engines" key: the default is the embedded offline voice.
    exporter = await startExporter({
      config: { probes: { interval_seconds: 15 }, monitoring: { collectors: { gpu: false } } },
    });
    const url = exporter.url;
    const line = await waitFor(
      "a tts_latency_seconds sample for the embedded engine",
      async () => {
        const body = await (await fetch(`${url}/metrics`)).text();
        return /^tts_latency_seconds_count\{engine="embedded",voice="slt",source="probe"\} [1-9]/m.exec(
          body,
        )?.[0];
      },
      15_000,
      200,
    );
    expect(line).toBeTruthy();
    const body = await (await fetch(`${url}/metrics`)).text();
    expect(body).toContain('tts_probe_success{engine="embedded"} 1');
    const sum = Number(/^tts_latency_seconds_sum\{engine="embedded"[^}]*\} (\S+)/m.exec(body)?.[1]);
    expect(sum).toBeGreaterThan(0.01); // a real synthesis, not a placeholder
    expect(sum).toBeLessThan(10);
  });
});

describe("tts-monitor probe", () => {
  it("probes the embedded engine and prints JSON", async () => {
    const dir = tempDir();
    const config = join(dir, "config.json");
    writeFileSync(
      config,
      JSON.stringify({ engines: [{ name: "embedded", type: "embedded", voice: "kal" }] }),
    );
    const r = await runCliArgs(
      ["probe", "embedded", "--json", "--text", "Testing one two three.", "--config", config],
      30_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({ engine: "embedded", voice: "kal", success: true, words: 4 });
    expect(result.latencyMs).toBeGreaterThan(0);
    expect(result.audioDurationMs).toBeGreaterThan(500);
  });

  it("prints a table by default and exits 1 when the probe fails", async () => {
    const dir = tempDir();
    const config = join(dir, "config.json");
    writeFileSync(
      config,
      JSON.stringify({
        engines: [{ name: "down", type: "openai", url: "http://127.0.0.1:1/v1/audio/speech", voice: "x" }],
      }),
    );
    const r = await runCliArgs(["probe", "down", "--config", config], 30_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/result\s+failure: connection/);
  });

  it("an empty --text is a usage error (exit 2), not a probe of nothing", async () => {
    for (const args of [["--text", ""], ["--text", "   "], ["--text"]]) {
      const r = await runCliArgs(["probe", "embedded", ...args, "--config", "config/config.json"]);
      expect(r.code, JSON.stringify(args)).toBe(2);
      expect(r.stderr).toMatch(/text/);
      expect(r.stdout).toBe("");
    }
  });

  it("run from another directory, it reads the config shipped with the package", async () => {
    const cwd = tempDir();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(REPO_ROOT, "bin/tts-monitor.js"), "probe", "embedded", "--json"],
      { cwd, timeout: 30_000 },
    );
    expect(JSON.parse(stdout)).toMatchObject({ engine: "embedded", voice: "slt", success: true });
    // A config file that is named and missing is still an error.
    const missing = await promisify(execFile)(
      process.execPath,
      [join(REPO_ROOT, "bin/tts-monitor.js"), "probe", "embedded", "--config", "mine.json"],
      { cwd, timeout: 30_000 },
    ).catch((err: { code: number; stderr: string }) => err);
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringMatching(/mine\.json.*ENOENT/s) });
  });

  it("an unknown engine name is one clear line and exit 2", async () => {
    const r = await runCliArgs(["probe", "nope", "--config", "config/config.json"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/no engine named "nope".*configured: embedded/);
  });
});
