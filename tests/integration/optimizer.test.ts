import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { GatewayControls, LimitSettings, TraceEntry } from "../../src/gateway/contract.ts";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import type { OptimizationReport } from "../../src/optimizer/report.ts";
import { runCliArgs } from "../helpers/exporter.ts";
import { syntheticTrace, toJsonl } from "../helpers/optimizer-trace.ts";

const quiet = new Logger({ json: true, sink: { write: () => {} } });
const monitors: TTSPerformanceMonitor[] = [];
const dir = mkdtempSync(join(tmpdir(), "tts-optimizer-"));
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const trace = syntheticTrace({ requests: 1500, keys: 120, gapMs: 30, engines: { kokoro: 120 } });

/** A gateway's controls over a fixed trace (what the real gateway attaches to the monitor). */
function controls(entries: readonly TraceEntry[]): GatewayControls {
  const limits: Record<string, LimitSettings> = { kokoro: { limit: 3, min: 1, max: 16 } };
  return {
    trace: (max) => (max === undefined ? entries : entries.slice(-max)),
    cacheCapacityBytes: () => 1_000_000,
    setCacheCapacityBytes: () => {},
    limits: () => limits,
    setLimitBounds: () => {},
    routeWeights: () => ({}),
    setRouteWeight: () => {},
  };
}

async function start(env: Record<string, string> = {}) {
  const monitor = new TTSPerformanceMonitor({
    config: {
      engines: [],
      monitoring: { collectors: { gpu: false, process: false, disk: false, filesystem: false } },
    },
    listenAddress: "127.0.0.1:0",
    logger: quiet,
    env,
  });
  monitors.push(monitor);
  await monitor.startMonitoring();
  return { monitor, base: `http://${monitor.address}` };
}

describe("GET /api/v1/optimizer/evidence", () => {
  it("serves the attached gateway's trace and settings, and stress reports, read-only", async () => {
    const { monitor, base } = await start();
    let res = await fetch(`${base}/api/v1/optimizer/evidence`);
    expect(res.status).toBe(200);
    let body = await res.json();
    expect(body).toMatchObject({ version: 1, trace: [], trace_source: "none", stress_reports: [] });
    expect(body.gateway).toBeUndefined();
    monitor.attachGateway(controls(trace));
    monitor.addStressReport({ engine: "kokoro", steps: [], max_sustainable_rps: null });
    res = await fetch(`${base}/api/v1/optimizer/evidence`);
    body = await res.json();
    expect(body.trace).toHaveLength(1500);
    expect(body.trace_source).toBe("gateway");
    expect(body.gateway).toEqual({
      cache_capacity_bytes: 1_000_000,
      limits: { kokoro: { limit: 3, min: 1, max: 16 } },
      route_weights: {},
    });
    expect(body.stress_reports).toEqual([{ engine: "kokoro", steps: [], max_sustainable_rps: null }]);
    expect((await fetch(`${base}/api/v1/optimizer/evidence`, { method: "POST" })).status).toBe(404);
  });

  it("is behind the ingestion token when one is set", async () => {
    const { base } = await start({ TTS_MONITOR_INGEST_TOKEN: "s3cret-token" });
    expect((await fetch(`${base}/api/v1/optimizer/evidence`)).status).toBe(401);
    const wrong = await fetch(`${base}/api/v1/optimizer/evidence`, {
      headers: { authorization: "Bearer nope" },
    });
    expect(wrong.status).toBe(401);
    const ok = await fetch(`${base}/api/v1/optimizer/evidence`, {
      headers: { authorization: "Bearer s3cret-token" },
    });
    expect(ok.status).toBe(200);
  });
});

describe("tts-monitor --optimization-report (CLI)", () => {
  it("reads the running monitor by default, with its token, and writes the JSON and the report", async () => {
    const { monitor, base } = await start({ TTS_MONITOR_INGEST_TOKEN: "s3cret-token" });
    monitor.attachGateway(controls(trace));
    const config = join(dir, "config.json");
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "s3cret-token\n");
    writeFileSync(
      config,
      JSON.stringify({
        server: { listen_address: base.replace("http://", "") },
        ingest: { token_file: tokenFile },
      }),
    );
    const json = join(dir, "live.json");
    const r = await runCliArgs(
      ["--config", config, "--optimization-report", "--json", json, "--report", join(dir, "live")],
      90_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("# Optimisation report");
    expect(r.stdout).toContain(`Source: monitor ${base} (trace from gateway)`);
    const j = JSON.parse(readFileSync(json, "utf8")) as OptimizationReport;
    expect(j.trace.requests).toBe(1500);
    // The saving is counted from the gateway's cache as it is now (1 MB).
    expect(j.cache.status === "ok" && j.cache.current_capacity_bytes).toBe(1_000_000);
    expect(j.concurrency.kokoro?.status).toBe("ok");
    expect(readFileSync(join(dir, "live", "cache-mrc.svg"), "utf8")).toMatch(/^<svg /);
  }, 120_000);

  it("exits 1 with one line when the monitor cannot be reached, and 2 on an option without the one it goes with", async () => {
    const config = join(dir, "nowhere.json");
    writeFileSync(config, JSON.stringify({ server: { listen_address: "127.0.0.1:9" } }));
    const r = await runCliArgs(["--config", config, "--optimization-report"], 90_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^tts-monitor: cannot reach the monitor at http:\/\/127\.0\.0\.1:9\/api\/v1\/optimizer\/evidence .*--trace FILE/,
    );
    const traceFile = join(dir, "t.jsonl");
    writeFileSync(traceFile, toJsonl(trace.slice(0, 10)));
    const u = await runCliArgs(["--config", config, "--trace", traceFile], 90_000);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("go with --optimization-report");
    const d = await runCliArgs(["--config", config, "gateway", "--dry-run"], 90_000);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain("--dry-run goes with --auto-optimize");
  }, 200_000);
});
