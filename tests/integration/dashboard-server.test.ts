// The web dashboard's HTTP side against the real monitor (in-process): static page and vendored
// chart library, the SSE stream, the exports, and the controls with their guards.
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { type Dashboard, startDashboard } from "../../src/server/dashboard.ts";
import { waitFor } from "../helpers/tools.ts";

const running: Array<{ monitor: TTSPerformanceMonitor; dashboard: Dashboard }> = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.dashboard.close();
    await r.monitor.stop();
  }
});

async function start(
  config: Record<string, unknown> = {},
  options: { address?: string; env?: Record<string, string> } = {},
) {
  const lines: string[] = [];
  const monitor = new TTSPerformanceMonitor({
    config: {
      monitoring: { interval_seconds: 1 },
      probes: { interval_seconds: 1, timeout_seconds: 2 },
      // A command engine that always fails: probe failures for the event log, and an engine to switch off.
      engines: [{ name: "broken", type: "command", command: ["false"] }],
      ...config,
    },
    serve: false,
    logger: new Logger({ json: true, sink: { write: (l) => lines.push(l) } }),
    env: options.env ?? {},
  });
  await monitor.startMonitoring();
  const dashboard = await startDashboard(monitor, {
    address: options.address ?? "127.0.0.1:0",
    env: options.env ?? {},
  });
  running.push({ monitor, dashboard });
  const port = /:(\d+)$/.exec(dashboard.address)?.[1];
  const base = `http://127.0.0.1:${port}`;
  return { monitor, dashboard, base, lines };
}

/** Reads server-sent events from the stream until `until` returns true or the time is up. */
async function readEvents(
  url: string,
  until: (events: Array<{ event: string; data: unknown }>) => boolean,
  timeoutMs = 8000,
): Promise<Array<{ event: string; data: unknown; at: number }>> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  const events: Array<{ event: string; data: unknown; at: number }> = [];
  try {
    const res = await fetch(url, { signal: ctrl.signal });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i = buf.indexOf("\n\n");
      while (i >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data), at: Date.now() });
        i = buf.indexOf("\n\n");
      }
      if (until(events)) break;
    }
    ctrl.abort();
  } catch (err) {
    if (!ctrl.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  return events;
}

const json = { "content-type": "application/json" };

describe("web dashboard server", () => {
  it("serves the page, its assets and the chart library from node_modules, with a strict CSP", async () => {
    const { base } = await start();
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script src="/vendor/uPlot.iife.min.js"');
    expect(html).not.toMatch(/https?:\/\//); // nothing from a CDN: works offline
    const lib = await fetch(`${base}/vendor/uPlot.iife.min.js`);
    expect(lib.headers.get("content-type")).toMatch(/javascript/);
    expect(await lib.text()).toContain("uPlot");
    for (const asset of ["app.js", "charts.js", "style.css", "favicon.svg", "../dashboard.ts"]) {
      const r = await fetch(`${base}/assets/${asset}`);
      expect(r.status, asset).toBe(asset.startsWith("..") ? 404 : 200);
    }
  });

  it("pushes a sample at least once a second over SSE, with ingested values per engine", async () => {
    const { base, monitor } = await start();
    const feed = setInterval(
      () =>
        monitor.recordSynthesis({ engine: "kokoro", latencyMs: 200 + Math.random() * 50, cacheHit: true }),
      200,
    );
    try {
      const events = await readEvents(
        `${base}/api/stream`,
        (e) => e.filter((x) => x.event === "sample").length >= 4,
      );
      const samples = events.filter((e) => e.event === "sample");
      expect(samples.length).toBeGreaterThanOrEqual(4);
      const gaps = samples.slice(1).map((s, i) => s.at - (samples[i] as { at: number }).at);
      expect(Math.max(...gaps)).toBeLessThan(1500);
      const last = (samples.at(-1)?.data as { sample: { v: Record<string, number> } }).sample.v;
      expect(last["engine.kokoro.latency_ms"]).toBeGreaterThanOrEqual(200);
      expect(last["engine.kokoro.latency_p95_ms"]).toBeGreaterThanOrEqual(200);
      expect(last["engine.kokoro.cache_hit_rate"]).toBe(1);
      expect(last["host.cpu_percent"]).toBeGreaterThanOrEqual(0);
    } finally {
      clearInterval(feed);
    }
  });

  it("controls take effect at once, are logged, and a lowered threshold fires an alert", async () => {
    const { base, monitor, lines } = await start();
    monitor.recordSynthesis({ engine: "kokoro", latencyMs: 120 });
    const stream = readEvents(`${base}/api/stream`, (e) => e.some((x) => x.event === "notification"));
    const r = await fetch(`${base}/api/controls/thresholds`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ latency_max_ms: 100 }),
    });
    expect(r.status).toBe(200);
    expect(monitor.config.thresholds.latency_max_ms).toBe(100);
    const events = await stream;
    const note = events.find((e) => e.event === "notification")?.data as { status: string; summary: string };
    expect(note).toMatchObject({ status: "firing" });
    expect(note.summary).toBe("TTSLatencyHigh: latency of engine kokoro is 120 ms (> 100 ms)");
    expect(events.some((e) => e.event === "settings")).toBe(true);
    const state = (await (await fetch(`${base}/api/state`)).json()) as {
      firing: Array<{ id: string }>;
      log: Array<{ kind: string; text: string }>;
    };
    expect(state.firing.map((a) => a.id)).toEqual(['TTSLatencyHigh{engine="kokoro"}']);
    expect(state.log.some((l) => l.kind === "config" && l.text.includes("thresholds changed"))).toBe(true);
    expect(state.log.some((l) => l.kind === "alert" && l.text.startsWith("FIRING TTSLatencyHigh"))).toBe(
      true,
    );

    expect(
      (
        await fetch(`${base}/api/controls/probe-interval`, {
          method: "POST",
          headers: json,
          body: '{"seconds":2.5}',
        })
      ).status,
    ).toBe(200);
    expect(monitor.config.probes.interval_seconds).toBe(2.5);
    expect(
      (
        await fetch(`${base}/api/controls/probe-texts`, {
          method: "POST",
          headers: json,
          body: JSON.stringify({ texts: ["Hello there.", "  "] }),
        })
      ).status,
    ).toBe(200);
    expect(monitor.config.probes.texts).toEqual(["Hello there."]);
    expect(
      (
        await fetch(`${base}/api/controls/engines/broken`, {
          method: "POST",
          headers: json,
          body: '{"enabled":false}',
        })
      ).status,
    ).toBe(200);
    expect(monitor.config.engines[0]?.enabled).toBe(false);
    expect(lines.join("")).toMatch(
      /"msg":"setting changed","setting":"engine.enabled","engine":"broken","value":false/,
    );

    // Mistakes: a clear 400, nothing changed.
    const bad = await fetch(`${base}/api/controls/thresholds`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ quality_score_min: 7 }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(
      /thresholds\.quality_score_min: expected ≤ 1, got number 7/,
    );
    expect(monitor.config.thresholds.quality_score_min).toBe(0.8);
    const unknown = await fetch(`${base}/api/controls/engines/nope`, {
      method: "POST",
      headers: json,
      body: '{"enabled":true}',
    });
    expect(((await unknown.json()) as { error: string }).error).toMatch(/no engine named "nope"/);
    // A form post (no JSON) and a cross-site request are refused.
    expect(
      (await fetch(`${base}/api/controls/probe-interval`, { method: "POST", body: "seconds=1" })).status,
    ).toBe(415);
    expect(
      (
        await fetch(`${base}/api/controls/probe-interval`, {
          method: "POST",
          headers: { ...json, origin: "http://evil.example" },
          body: '{"seconds":1}',
        })
      ).status,
    ).toBe(403);
  });

  it("logs probe failures in the event log", async () => {
    const { base } = await start();
    const entry = await waitFor("a probe failure in the event log", async () => {
      const state = (await (await fetch(`${base}/api/state`)).json()) as {
        log: Array<{ kind: string; text: string }>;
      };
      return state.log.find((l) => l.kind === "probe");
    });
    expect(entry.text).toMatch(/^probe of broken failed/);
  });

  it("exports the recorded history as CSV and JSON downloads", async () => {
    const { base, monitor } = await start({
      dashboard: { sample_interval_seconds: 0.25, history_seconds: 10 },
    });
    monitor.recordSynthesis({ engine: "kokoro", latencyMs: 321 });
    await new Promise((r) => setTimeout(r, 1200));
    const csv = await fetch(`${base}/api/export.csv`);
    expect(csv.headers.get("content-disposition")).toMatch(
      /^attachment; filename="tts-monitor-history-.*\.csv"$/,
    );
    const rows = (await csv.text()).trim().split("\n");
    const header = (rows[0] as string).split(",");
    expect(header.slice(0, 2)).toEqual(["timestamp", "unix_ms"]);
    const col = header.indexOf("engine.kokoro.latency_ms");
    expect(col).toBeGreaterThan(1);
    expect(rows.length).toBeGreaterThanOrEqual(4);
    // The first sample was taken at start, before the synthesis: its cell is empty.
    const cells = rows.slice(1).map((r) => r.split(",")[col]);
    expect(cells.filter((c) => c === "321").length).toBeGreaterThanOrEqual(3);
    expect(cells.every((c) => c === "321" || c === "")).toBe(true);
    const body = (await (await fetch(`${base}/api/export.json`)).json()) as {
      series: string[];
      samples: Array<{ t: number; v: Record<string, number> }>;
    };
    expect(body.series).toContain("engine.kokoro.latency_ms");
    expect(body.samples.length).toBeGreaterThanOrEqual(rows.length - 1);
    expect(body.samples.filter((s) => s.v["engine.kokoro.latency_ms"] === 321).length).toBeGreaterThanOrEqual(
      3,
    );
    // Retention: 10 s at 0.25 s per sample is a ring of 40.
    expect(body.samples.length).toBeLessThanOrEqual(40);
  });

  it("requires the bearer token for the controls when one is set", async () => {
    const { base } = await start({}, { env: { TTS_MONITOR_DASHBOARD_TOKEN: "let-me-in-123" } });
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/api/controls/probe-interval`, {
        method: "POST",
        headers: { ...json, ...headers },
        body: '{"seconds":3}',
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: "Bearer wrong" })).status).toBe(401);
    expect((await post({ authorization: "Bearer let-me-in-123" })).status).toBe(200);
    const state = (await (await fetch(`${base}/api/state`)).json()) as { controls: unknown };
    expect(state.controls).toEqual({ enabled: true, token: true });
  });

  it("turns the controls off beyond loopback without a token", async () => {
    const { base, lines } = await start({}, { address: "0.0.0.0:0" });
    const r = await fetch(`${base}/api/controls/probe-interval`, {
      method: "POST",
      headers: json,
      body: '{"seconds":3}',
    });
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: string }).error).toMatch(
      /beyond loopback, and no token is set \(set TTS_MONITOR_DASHBOARD_TOKEN/,
    );
    expect(lines.join("")).toContain("dashboard controls are off");
  });

  it("open (loopback, no token) controls refuse a request addressed to another name (DNS rebinding)", async () => {
    const { base, monitor } = await start();
    const port = Number(new URL(base).port);
    const post = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        // node:http, because fetch does not let a caller set Host.
        const req = request(
          {
            host: "127.0.0.1",
            port,
            method: "POST",
            path: "/api/controls/probe-interval",
            headers: { ...json, host },
          },
          (res) => {
            let body = "";
            res.setEncoding("utf8").on("data", (c: string) => {
              body += c;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end('{"seconds":3}');
      });
    const rebound = await post(`attacker.example:${port}`);
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain("loopback");
    expect(monitor.config.probes.interval_seconds).toBe(1);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`])
      expect((await post(host)).status, host).toBe(200);
    expect(monitor.config.probes.interval_seconds).toBe(3);
  });
});
