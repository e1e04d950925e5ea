import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { encodeWav16 } from "../../src/audio/decode.ts";
import { sine } from "../../src/audio/signals.ts";
import type { Engine } from "../../src/engines/types.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { type ProbeResult, runProbe } from "../../src/probes/probe.ts";
import { createExporterApp } from "../../src/server/exporter.ts";
import { closeServer } from "../../src/server/listen.ts";
import { mountProbe, probeTimeoutMs } from "../../src/server/probe-route.ts";
import { sampleValue } from "../helpers/http.ts";
import { waitFor } from "../helpers/tools.ts";

// GET /probe is bounded per engine (probe_concurrency): the excess is answered 429 at once, so a
// flood of /probe requests neither queues nor starves the scheduled probes and /metrics; every
// numeric scrape timeout is honoured; no request ever sees a stack trace.

const servers: Server[] = [];
const monitors: TTSPerformanceMonitor[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => closeServer(s)));
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});

function listenOn(app: express.Express): Promise<string> {
  return new Promise((resolve) => {
    const server = app.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
    servers.push(server);
  });
}

/** An engine whose syntheses wait until released (or aborted), counting how many run at once. */
function heldEngine() {
  const waiting: Array<() => void> = [];
  const state = { running: 0, most: 0, started: 0 };
  const engine: Engine = {
    name: "held",
    type: "test",
    voice: "v",
    synthesize({ signal }) {
      state.running++;
      state.started++;
      state.most = Math.max(state.most, state.running);
      return new Promise((resolve, reject) => {
        const done = () => {
          state.running--;
          const t = performance.now();
          resolve({
            audio: encodeWav16(sine(220, 16_000, 0.2, 0.25), 16_000),
            format: { kind: "wav" },
            timings: { start: t, requestSent: t, firstByte: t, firstAudio: t, end: t },
            voice: "v",
          });
        };
        waiting.push(done);
        signal.addEventListener("abort", () => {
          state.running--;
          reject(signal.reason);
        });
      });
    },
  };
  return { engine, state, release: () => waiting.splice(0).forEach((f) => f()) };
}

async function probeApp(engine: Engine, maxConcurrent: number) {
  const registry = new MetricsRegistry();
  const app = express();
  mountProbe(app, {
    engine: (name) => (name === engine.name ? engine : undefined),
    configured: (name) => (name === engine.name ? "enabled" : undefined),
    timeoutMs: () => 20_000,
    maxConcurrent: () => maxConcurrent,
    registry,
    text: () => "Hello.",
  });
  return { url: await listenOn(app), registry };
}

describe("GET /probe is bounded per engine", () => {
  it("runs at most probe_concurrency probes at once and answers the rest 429 with Retry-After at once", async () => {
    const { engine, state, release } = heldEngine();
    const { url, registry } = await probeApp(engine, 2);
    const first = [1, 2].map(() => fetch(`${url}/probe?target=held`));
    await waitFor("both probes running", () => (state.running === 2 ? true : undefined));
    // 200 more while two are held: none may start, each is answered without waiting for the engine.
    const burst = await Promise.all(Array.from({ length: 200 }, () => fetch(`${url}/probe?target=held`)));
    expect(burst.map((r) => r.status)).toEqual(Array(200).fill(429));
    expect(burst[0]?.headers.get("retry-after")).toBe("20");
    expect(await burst[0]?.text()).toMatch(/already running \(probe_concurrency 2\)/);
    expect(state.started).toBe(2);
    release();
    for (const res of await Promise.all(first)) {
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('tts_probe_success{engine="held"} 1');
    }
    expect(state.most).toBe(2);
    const text = (await registry.render(false)).body;
    expect(sampleValue(text, 'tts_exporter_probe_rejected_total{engine="held"}')).toBe(200);
    // Once the running probes end, the slots are free again.
    const again = fetch(`${url}/probe?target=held`);
    await waitFor("the next probe running", () => (state.running === 1 ? true : undefined));
    release();
    expect((await again).status).toBe(200);
  });

  it("honours every numeric X-Prometheus-Scrape-Timeout-Seconds, fractions included", async () => {
    const { engine, release } = heldEngine();
    const { url } = await probeApp(engine, 1);
    for (const value of ["1.2345", "0.003", "0.0000001", "2.5e-1"]) {
      const res = await fetch(`${url}/probe?target=held`, {
        headers: { "X-Prometheus-Scrape-Timeout-Seconds": value },
      });
      expect(res.status, value).toBe(200);
      expect(res.headers.get("content-type"), value).toMatch(/^text\/plain/);
      const body = await res.text();
      expect(body, value).toContain('tts_probe_success{engine="held"} 0');
      expect(body, value).toContain('reason="timeout"} 1');
    }
    release();
  });
});

describe("a flood of /probe requests against the real exporter", () => {
  it("200 concurrent /probe of the embedded engine: bounded, and the scheduled probe and /metrics go on", async () => {
    const monitor = new TTSPerformanceMonitor({
      config: {
        engines: [{ name: "embedded", type: "embedded", voice: "slt" }],
        probes: { interval_seconds: 1, timeout_seconds: 10, texts: ["Hello there."] },
        monitoring: {
          audio_analysis: false,
          collectors: { gpu: false, disk: false, filesystem: false, process: false },
        },
      },
      listenAddress: "127.0.0.1:0",
      logger: new Logger({ json: true, sink: { write: () => {} } }),
    });
    monitors.push(monitor);
    const scheduled: ProbeResult[] = [];
    monitor.events.on("probe", (r: ProbeResult) => scheduled.push(r));
    await monitor.startMonitoring();
    const base = `http://${monitor.address}`;
    await waitFor("a first scheduled probe", () => (scheduled.length > 0 ? true : undefined), 20_000);

    const flood = Promise.all(
      Array.from({ length: 200 }, () =>
        fetch(`${base}/probe?target=embedded`).then(async (r) => ({
          status: r.status,
          body: await r.text(),
        })),
      ),
    );
    const t0 = performance.now();
    const metrics = await fetch(`${base}/metrics`);
    const metricsSeconds = (performance.now() - t0) / 1000;
    expect(metrics.status).toBe(200);
    await metrics.text();
    const answers = await flood;
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(ok.length + refused.length).toBe(200);
    // One slot: each accepted probe took the slot alone, so most of a burst is refused.
    expect(refused.length).toBeGreaterThan(100);
    for (const a of ok) expect(a.body).toContain('tts_probe_success{engine="embedded"} 1');
    expect(metricsSeconds).toBeLessThan(10); // before probe_concurrency: over a minute for 1000

    // The scheduled probe still succeeds after the burst.
    const before = scheduled.length;
    const next = await waitFor(
      "a scheduled probe after the burst",
      () => scheduled[before] ?? undefined,
      20_000,
    );
    expect(next.success, next.error).toBe(true);
    const body = await (await fetch(`${base}/metrics`)).text();
    expect(sampleValue(body, 'tts_exporter_probe_rejected_total{engine="embedded"}')).toBe(refused.length);
    expect(body).toContain('tts_probe_success{engine="embedded"} 1');
  }, 60_000);
});

describe("no request gets a stack trace", () => {
  it("an error in a route is a generic 500 and one structured log line", async () => {
    const lines: string[] = [];
    const log = new Logger({ json: true, sink: { write: (l) => lines.push(l) } });
    const app = createExporterApp({
      registry: new MetricsRegistry(),
      isReady: () => true,
      log,
      mount: (a) => {
        a.get("/sync", () => {
          throw new Error("exploded\n    at secret (/src/where.ts:1:1)");
        });
        a.get("/async", async () => {
          await Promise.resolve();
          throw new TypeError("async exploded");
        });
      },
    });
    const url = await listenOn(app);
    for (const path of ["/sync", "/async"]) {
      const res = await fetch(`${url}${path}`);
      expect(res.status).toBe(500);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(await res.text()).toBe("internal error\n");
    }
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.trimEnd()).not.toContain("\n");
      expect(JSON.parse(line)).toMatchObject({ level: "error", msg: "request failed", server: "exporter" });
    }
    const notFound = await fetch(`${url}/nope`);
    expect(notFound.status).toBe(404);
    expect(await notFound.text()).toBe("not found\n");
  });
});

describe("fractional timeouts anywhere", () => {
  it("runProbe takes a deadline in fractions of a millisecond (timeout_seconds: 1.2345)", async () => {
    const { engine, release } = heldEngine();
    const r = await runProbe(engine, "Hello.", 1234.5);
    expect(r.success).toBe(false);
    expect(r.reason).toBe("timeout");
    release();
    expect(probeTimeoutMs(10_000, 1.2345)).toBe(734);
    expect(probeTimeoutMs(10_000, 0.003)).toBe(1);
  });
});
