import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExporter } from "../helpers/exporter.ts";
import { speech } from "../helpers/gateway.ts";
import { httpGet } from "../helpers/http.ts";
import { PROMTOOL } from "../helpers/prometheus.ts";
import { type SimServer, startSimServer } from "../helpers/sim-server.ts";
import { requireBinary, waitFor } from "../helpers/tools.ts";

// `tts-monitor gateway` as a user runs it: the gateway on its own port, its requests recorded in
// the exporter's /metrics with source="gateway", beside the gateway's own families.

describe("tts-monitor gateway", () => {
  let sim: SimServer;
  beforeAll(async () => {
    sim = await startSimServer({ workers: 2, serviceTimeMs: 50 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("serves the OpenAI speech API and its metrics land on the exporter's /metrics", async () => {
    const exporter = await startExporter({
      args: ["gateway", "--prometheus-export"],
      config: {
        engines: [sim.engineConfig("sim")],
        probes: { interval_seconds: 3600 },
        gateway: { listen_address: "127.0.0.1:0" },
      },
      env: { TTS_MONITOR_GATEWAY_TOKEN: "tok-123" },
    });
    try {
      const address = await waitFor(
        "the 'gateway listening' log line",
        () => exporter.logs().find((l) => l.msg === "gateway listening")?.address as string | undefined,
        30_000,
      );
      const url = `http://${address}`;
      expect((await speech(url, { model: "sim", input: "Hello there." })).status).toBe(401);
      const body = { model: "sim", input: "Hello there.", response_format: "wav" };
      const first = await speech(url, body, { token: "tok-123" });
      expect(first.status).toBe(200);
      expect(first.body.equals(sim.wav)).toBe(true);
      const again = await speech(url, body, { token: "tok-123" });
      expect(again.headers.get("x-tts-gateway-cache")).toBe("hit");
      const metrics = (await httpGet(`${exporter.url}/metrics`)).body;
      expect(metrics).toMatch(
        /tts_requests_total\{engine="sim",voice="sim",source="gateway",result="success"\} 2/,
      );
      expect(metrics).toContain('tts_gateway_cache_hits_total{engine="sim"} 1');
      expect(metrics).toContain('tts_cache_hit_rate{engine="sim"} 0.5');
      expect(metrics).toMatch(/tts_gateway_concurrency_limit\{engine="sim"\} \d+/);
      const lint = spawnSync(requireBinary(PROMTOOL, "prometheus"), ["check", "metrics"], {
        input: metrics,
        encoding: "utf8",
      });
      expect(lint.stdout + lint.stderr).toBe("");
      // The token never reaches the log.
      expect(exporter.stderr()).not.toContain("tok-123");
    } finally {
      await exporter.stop();
    }
  });

  it("gateway.enabled runs it beside the exporter, and the web dashboard shows its state", async () => {
    const exporter = await startExporter({
      args: ["--prometheus-export", "--web-dashboard"],
      config: {
        engines: [sim.engineConfig("sim")],
        probes: { interval_seconds: 3600 },
        server: { dashboard_address: "127.0.0.1:0" },
        gateway: { enabled: true, listen_address: "127.0.0.1:0", cache: { max_bytes: 1_000_000 } },
      },
    });
    try {
      const find = (msg: string) =>
        waitFor(
          `the '${msg}' log line`,
          () => exporter.logs().find((l) => l.msg === msg)?.address as string | undefined,
          30_000,
        );
      const gateway = await find("gateway listening");
      const dashboard = await find("dashboard listening");
      const r = await speech(`http://${gateway}`, {
        model: "sim",
        input: "Dashboard.",
        response_format: "wav",
      });
      expect(r.status).toBe(200);
      const state = JSON.parse((await httpGet(`http://${dashboard}/api/gateway`)).body);
      expect(state).toMatchObject({
        cacheBytes: sim.wav.length,
        cacheCapacityBytes: 1_000_000,
        cacheEntries: 1,
        cacheHitRatio: 0,
        engines: { sim: { circuitOpen: false, inFlight: 0, queued: 0 } },
      });
      const page = (await httpGet(`http://${dashboard}/`)).body;
      expect(page).toContain('id="gateway"');
    } finally {
      await exporter.stop();
    }
  });
});
