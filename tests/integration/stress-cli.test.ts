import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.ts";
import { STRESS_DEFAULTS, type StressArgs, stressCommand } from "../../src/stress/index.ts";
import type { StressReport } from "../../src/stress/run.ts";
import { runCliArgs, tempDir } from "../helpers/exporter.ts";
import { type SimServer, startSimServer } from "../helpers/sim-server.ts";
import { REPO_ROOT, waitFor } from "../helpers/tools.ts";

let sim: SimServer | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function simConfig(): Promise<string> {
  sim = await startSimServer({ workers: 4, serviceTimeMs: 20 });
  const file = join(tempDir(), "config.json");
  writeFileSync(
    file,
    JSON.stringify({
      probes: { texts: ["Hello there, this is a stress test."] },
      engines: [sim.engineConfig("sim"), { name: "embedded", type: "embedded" }],
    }),
  );
  return file;
}

describe("tts-monitor stress", () => {
  it.each([
    [{ engine: "nosuch" }, 'no engine named "nosuch"'],
    [{ rates: "1,fast" }, '--rates: "fast"'],
    [{ ramp: "1:32:x1" }, "--ramp"],
    [{ ramp: "1:10000:+1" }, "more than 64 steps"],
    [{ slo: "p99_latency<quick" }, "--slo clause"],
    [{ rates: "900" }, "--max-rate"],
    [{ stepDuration: "long" }, "--step-duration"],
    [{ rates: "1", concurrency: "2" }, "only one of"],
    [{ maxRequests: "lots" }, "--max-requests"],
    [{ monitor: "not a url" }, "--monitor"],
  ] as [Partial<StressArgs>, string][])(
    "bad input %j: a message naming the argument, exit 2, nothing sent",
    async (args, message) => {
      const file = await simConfig();
      let stderr = "";
      let stdout = "";
      const code = await stressCommand(
        { engine: "sim", ...STRESS_DEFAULTS, ...args },
        loadConfig(file),
        file,
        {
          stdout: { write: (s: string) => ((stdout += s), true) } as NodeJS.WritableStream,
          stderr: { write: (s: string) => ((stderr += s), true) } as NodeJS.WritableStream,
          env: {},
          signal: new AbortController().signal,
        },
      );
      expect(code, stderr).toBe(2);
      expect(stderr).toContain(message);
      expect(stdout).toBe("");
      expect(sim?.stats().requests).toBe(0);
    },
  );

  it("the CLI: an unknown engine exits 2 naming it and the configured ones", async () => {
    const config = await simConfig();
    const r = await runCliArgs(["stress", "nosuch", "--config", config], 30_000);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('no engine named "nosuch"');
    expect(r.stderr).toContain("configured: sim, embedded");
  }, 40_000);

  it("runs the steps, writes the JSON, Markdown and SVG reports, and exits 1 below --fail-below", async () => {
    const config = await simConfig();
    const dir = tempDir();
    const json = join(dir, "r.json");
    const r = await runCliArgs(
      [
        "stress",
        "sim",
        "--rates",
        "5,10",
        "--step-duration",
        "1s",
        "--warmup",
        "0s",
        "--slo",
        "p99_latency<2s,error_rate<1%",
        "--fail-below",
        "1000",
        "--max-late",
        "100%",
        "--json",
        json,
        "--report",
        join(dir, "report"),
        "--config",
        config,
      ],
      60_000,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain("sim: FAIL");
    expect(r.stdout).toContain("below --fail-below 1000");
    const report = JSON.parse(readFileSync(json, "utf8")) as StressReport;
    expect(report).toMatchObject({ engine: "sim", slo: "p99_latency<2s,error_rate<1%", model: "open" });
    expect(report.steps.map((s) => s.offered_rps)).toEqual([5, 10]);
    for (const s of report.steps) {
      expect(s).toHaveProperty("achieved_rps");
      expect(s).toHaveProperty("goodput_rps");
      expect(s).toHaveProperty("late_send_ratio");
      expect(s.latency_seconds.p99).toBeGreaterThan(0.019);
      expect(s.ttfa_seconds.p50).toBeGreaterThan(0.019);
      expect(s.errors).toEqual({});
      expect(s.max_in_flight).toBeGreaterThanOrEqual(1);
    }
    expect(report.max_sustainable_rps).toBeGreaterThan(5);
    expect(report.knee).toHaveProperty("kneedle_rps");
    expect(report.knee).toHaveProperty("usl");
    expect(report.verdict.passed).toBe(false);
    const md = readFileSync(join(dir, "report", "stress.md"), "utf8");
    expect(md).toContain("The verdict uses the SLO rule");
    const svg = readFileSync(join(dir, "report", "stress.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("latency from intended send");
    expect(JSON.parse(readFileSync(join(dir, "report", "stress.json"), "utf8"))).toEqual(report);
  }, 70_000);

  it("Ctrl-C stops at once and still writes the partial report", async () => {
    const config = await simConfig();
    const json = join(tempDir(), "partial.json");
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/main.ts",
        "stress",
        "sim",
        "--rates",
        "5,10",
        "--step-duration",
        "60s",
        "--warmup",
        "0s",
        "--json",
        json,
        "--config",
        config,
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Once requests are flowing, interrupt.
    await waitFor(
      "stress requests reaching the server",
      () => ((sim?.stats().served ?? 0) >= 3 ? true : undefined),
      30_000,
      50,
    );
    const t = performance.now();
    child.kill("SIGINT");
    const code = await exited;
    expect(code, stderr).toBe(130);
    // "At once": far sooner than the 60 s step it was in (a generous bound for a loaded machine).
    expect(performance.now() - t).toBeLessThan(20_000);
    expect(existsSync(json)).toBe(true);
    const report = JSON.parse(readFileSync(json, "utf8")) as StressReport;
    expect(report.complete).toBe(false);
    expect(report.stopped_by).toBe("interrupted");
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]?.complete).toBe(false);
    expect(report.steps[0]?.sent).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it("--stress-test stresses the enabled engines with the defaults; Ctrl-C ends it with the verdict so far", async () => {
    sim = await startSimServer({ workers: 4, serviceTimeMs: 20 });
    const config = join(tempDir(), "config.json");
    writeFileSync(
      config,
      JSON.stringify({
        engines: [sim.engineConfig("sim"), { name: "off", type: "embedded", enabled: false }],
      }),
    );
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/main.ts", "--stress-test", "--config", config],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const s = sim;
    // The default ramp starts at 1 req/s (its warm-up requests count here).
    await waitFor(
      "--stress-test requests reaching the server",
      () => (s.stats().served >= 2 ? true : undefined),
      30_000,
      50,
    );
    child.kill("SIGINT");
    expect(await exited, stderr).toBe(130);
    expect(stderr).toContain("stress test of sim");
    expect(stderr).not.toContain("stress test of off");
    expect(stdout).toContain("sim: FAIL");
    expect(stdout).toContain("partial: stopped by interrupted");
  }, 60_000);
});
