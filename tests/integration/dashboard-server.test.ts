// The web dashboard's HTTP side against the real monitor (in-process): static page and vendored
// chart library, the SSE stream, the exports, and the controls with their guards.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { type Dashboard, startDashboard } from "../../src/server/dashboard.ts";
import { csvField } from "../../src/server/dashboard-history.ts";
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
  options: {
    address?: string;
    env?: Record<string, string>;
    /** Write the config to this file and load it from there (so that reload() works). */
    configFile?: string;
    maxStreamClients?: number;
    maxClientBufferBytes?: number;
  } = {},
) {
  const lines: string[] = [];
  const full = {
    monitoring: { interval_seconds: 1 },
    probes: { interval_seconds: 1, timeout_seconds: 2 },
    // A command engine that always fails: probe failures for the event log, and an engine to switch off.
    engines: [{ name: "broken", type: "command", command: ["false"] }],
    ...config,
  };
  if (options.configFile) writeFileSync(options.configFile, JSON.stringify(full));
  const monitor = new TTSPerformanceMonitor({
    ...(options.configFile ? { configPath: options.configFile } : { config: full }),
    serve: false,
    logger: new Logger({ json: true, sink: { write: (l) => lines.push(l) } }),
    env: options.env ?? {},
  });
  await monitor.startMonitoring();
  const dashboard = await startDashboard(monitor, {
    address: options.address ?? "127.0.0.1:0",
    env: options.env ?? {},
    ...(options.maxStreamClients ? { maxStreamClients: options.maxStreamClients } : {}),
    ...(options.maxClientBufferBytes ? { maxClientBufferBytes: options.maxClientBufferBytes } : {}),
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
  headers: Record<string, string> = {},
): Promise<Array<{ event: string; data: unknown; at: number; id?: string }>> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  const events: Array<{ event: string; data: unknown; at: number; id?: string }> = [];
  try {
    const res = await fetch(url, { signal: ctrl.signal, headers });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("cache-control")).toMatch(/no-store/);
    expect(res.headers.get("x-accel-buffering")).toBe("no");
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
        const id = /^id: (.*)$/m.exec(frame)?.[1];
        if (event && data)
          events.push({ event, data: JSON.parse(data), at: Date.now(), ...(id === undefined ? {} : { id }) });
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

/** A strict RFC 4180 reader: quoted fields with doubled quotes, CRLF between records. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error("unterminated quoted field");
        field += text.slice(i, q);
        if (text[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
    } else {
      const m = /^[^,\r\n"]*/.exec(text.slice(i))?.[0] ?? "";
      field = m;
      i += m.length;
    }
    row.push(field);
    if (text[i] === ",") i++;
    else if (text.startsWith("\r\n", i)) {
      rows.push(row);
      row = [];
      i += 2;
    } else if (i < text.length) throw new Error(`bad CSV at ${i}: ${JSON.stringify(text.slice(i, i + 10))}`);
  }
  if (row.length) rows.push(row);
  return rows;
}

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
    // Names of Object.prototype's members are files like any other: 404, not a 500 and an error log.
    for (const path of [
      "/assets/constructor",
      "/assets/__proto__",
      "/assets/toString",
      "/vendor/constructor",
      "/vendor/hasOwnProperty",
      "/assets/..%2f..%2fpackage.json",
      "/vendor/..%2f..%2fpackage.json",
    ]) {
      const r = await fetch(`${base}${path}`);
      expect(r.status, path).toBe(404);
    }
  });

  it("pushes each new measurement over SSE, with ingested values per engine", async () => {
    const { base, monitor } = await start();
    const feed = setInterval(
      () =>
        monitor.recordSynthesis({ engine: "kokoro", latencyMs: 200 + Math.random() * 50, cacheHit: true }),
      200,
    );
    try {
      type Row = { sample: { t: number; source: string; seq: number; v: Record<string, number> } };
      const rowsOf = (e: Array<{ event: string; data: unknown }>, source: string) =>
        e.filter((x) => x.event === "sample" && (x.data as Row).sample.source === source);
      const events = await readEvents(
        `${base}/api/stream`,
        (e) => rowsOf(e, "engine:kokoro").length >= 4 && rowsOf(e, "collector:cpu").length >= 1,
      );
      const kokoro = rowsOf(events, "engine:kokoro").map((e) => (e.data as Row).sample);
      expect(kokoro.length).toBeGreaterThanOrEqual(4);
      // Each row is a newer measurement than the one before: its own time, never a repeat.
      for (let i = 1; i < kokoro.length; i++)
        expect(kokoro[i]?.t).toBeGreaterThan((kokoro[i - 1] as { t: number }).t);
      const last = kokoro.at(-1)?.v ?? {};
      expect(last["engine.kokoro.latency_ms"]).toBeGreaterThanOrEqual(200);
      expect(last["engine.kokoro.latency_p95_ms"]).toBeGreaterThanOrEqual(200);
      expect(last["engine.kokoro.cache_hit_rate"]).toBe(1);
      const cpu = (rowsOf(events, "collector:cpu")[0]?.data as Row).sample.v;
      expect(cpu["host.cpu_percent"]).toBeGreaterThanOrEqual(0);
      // A row holds only what its source measured.
      expect(Object.keys(cpu)).toEqual(["host.cpu_percent"]);
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
    // The p95 over 5 min within the histogram's buckets: one 120 ms request in (0.1 s, 0.2 s] is 195 ms.
    expect(note.summary).toBe("TTSLatencyHigh: latency_p95_5m of engine kokoro is 195 ms (> 100 ms)");
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
    const reject = async (path: string, body: string, message: RegExp) => {
      const r = await fetch(`${base}/api/controls/${path}`, { method: "POST", headers: json, body });
      expect(r.status, body).toBe(400);
      expect(((await r.json()) as { error: string }).error, body).toMatch(message);
    };
    await reject("probe-interval", '{"seconds":0.000001}', /seconds: expected at least 0.1, got 0.000001/);
    await reject("probe-interval", '{"seconds":-1}', /seconds: expected at least 0.1, got -1/);
    await reject("probe-interval", '{"seconds":86401}', /must be in \(0, 86400\]/);
    await reject("probe-interval", '{"seconds":1e400}', /got Infinity/);
    await reject("probe-interval", '{"seconds":"5"}', /seconds: expected a number/);
    await reject("probe-interval", "null", /the body must be a JSON object/);
    await reject("thresholds", "{}", /expected at least one threshold/);
    await reject("thresholds", '{"nope":1}', /unknown threshold "nope"/);
    await reject("thresholds", '{"__proto__":{"latency_max_ms":1}}', /unknown threshold "__proto__"/);
    await reject("thresholds", '{"latency_max_ms":"100"}', /latency_max_ms: expected a number/);
    await reject("probe-texts", '{"texts":"hello"}', /texts: expected an array of strings/);
    await reject("engines/broken", '{"enabled":"false"}', /enabled: expected true or false/);
    const huge = await fetch(`${base}/api/controls/probe-texts`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ texts: ["a".repeat(10 * 1024 * 1024)] }),
    });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: string }).error).toBe("the body is larger than 64kb");
    expect(monitor.config.probes.interval_seconds).toBe(2.5);
    expect(monitor.config.probes.texts).toEqual(["Hello there."]);
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
    // A browser that marks the request as cross-site, even without an Origin header.
    for (const site of ["cross-site", "same-site"])
      expect(
        (
          await fetch(`${base}/api/controls/probe-interval`, {
            method: "POST",
            headers: { ...json, "sec-fetch-site": site },
            body: '{"seconds":1}',
          })
        ).status,
        site,
      ).toBe(403);
    expect(monitor.config.probes.interval_seconds).toBe(2.5);
    const own = await fetch(`${base}/api/controls/probe-interval`, {
      method: "POST",
      headers: { ...json, origin: base, "sec-fetch-site": "same-origin" },
      body: '{"seconds":2}',
    });
    expect(own.status).toBe(200);
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

  it("exports the recorded history as CSV and JSON downloads: one row per measurement", async () => {
    const { base, monitor } = await start({
      dashboard: { sample_interval_seconds: 0.25, history_seconds: 10 },
    });
    const before = Date.now();
    monitor.recordSynthesis({ engine: "kokoro", latencyMs: 321 });
    const after = Date.now();
    await new Promise((r) => setTimeout(r, 1200));
    const csv = await fetch(`${base}/api/export.csv`);
    expect(csv.headers.get("content-disposition")).toMatch(
      /^attachment; filename="tts-monitor-history-.*\.csv"$/,
    );
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const text = await csv.text();
    // RFC 4180: CRLF after every record, the last one included.
    expect(text.endsWith("\r\n")).toBe(true);
    expect(text.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
    const rows = text.trim().split("\r\n");
    const header = (rows[0] as string).split(",");
    expect(header.slice(0, 3)).toEqual(["timestamp", "unix_ms", "source"]);
    const col = header.indexOf("engine.kokoro.latency_ms");
    expect(col).toBeGreaterThan(2);
    // Probes of "broken" and collector runs measured things too in 1.2 s.
    expect(rows.length).toBeGreaterThanOrEqual(4);
    // One synthesis is one measurement: one row (at the time it was recorded), however many samples were taken since.
    const records = rows.slice(1).map((r) => r.split(","));
    const kokoro = records.filter((r) => r[col] !== "");
    expect(kokoro.map((r) => [r[2], r[col]])).toEqual([["engine:kokoro", "321"]]);
    const t = Number(kokoro[0]?.[1]);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(after);
    expect(kokoro[0]?.[0]).toBe(new Date(t).toISOString());
    // No source has two rows with one time.
    const keys = records.map((r) => `${r[2]} ${r[1]}`);
    expect(new Set(keys).size).toBe(keys.length);
    const body = (await (await fetch(`${base}/api/export.json`)).json()) as {
      interval_seconds: number;
      history_seconds: number;
      series: string[];
      samples: Array<{ t: number; source: string; v: Record<string, number> }>;
    };
    expect(body.series).toContain("engine.kokoro.latency_ms");
    // Fetched after the CSV: a collector may have measured a new series in between.
    expect(body.series).toEqual(expect.arrayContaining(header.slice(3)));
    expect(body.samples.length).toBeGreaterThanOrEqual(rows.length - 1);
    expect(body.samples.filter((s) => s.v["engine.kokoro.latency_ms"] === 321)).toEqual([
      { t, source: "engine:kokoro", v: expect.objectContaining({ "engine.kokoro.latency_ms": 321 }) },
    ]);
    // Retention: nothing measured more than 10 s before the newest row.
    const times = body.samples.map((s) => s.t);
    expect(Math.max(...times) - Math.min(...times)).toBeLessThanOrEqual(10_000);
    expect(body).toMatchObject({ interval_seconds: 0.25, history_seconds: 10 });
  });

  it("records a probe once, however often the dashboard looks, and failed probes too", async () => {
    // "broken" is probed every second and fails; the dashboard looks four times a second.
    const { base } = await start({ dashboard: { sample_interval_seconds: 0.25 } });
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 3200));
    const body = (await (await fetch(`${base}/api/export.json`)).json()) as {
      samples: Array<{ t: number; source: string; v: Record<string, number> }>;
    };
    const elapsed = (Date.now() - started) / 1000;
    const probes = body.samples.filter((s) => s.source === "probe:broken");
    expect(probes.length).toBeGreaterThanOrEqual(2);
    // At most one row per probe run (one a second, and one at start), each at its own time.
    expect(probes.length).toBeLessThanOrEqual(Math.ceil(elapsed) + 1);
    expect(new Set(probes.map((s) => s.t)).size).toBe(probes.length);
    for (const p of probes) expect(p.v).toEqual({ "engine.broken.probe_success": 0 });
  });

  it("quotes engine names in the CSV (RFC 4180) and never lets one start a formula", async () => {
    const { base, monitor } = await start({ dashboard: { sample_interval_seconds: 0.25 } });
    const odd = ['a,b "c"', "=HYPERLINK(1)", "-2+3", "@SUM(A1)"];
    for (const engine of odd) monitor.recordSynthesis({ engine, latencyMs: 100 });
    await new Promise((r) => setTimeout(r, 600));
    const text = await (await fetch(`${base}/api/export.csv`)).text();
    const rows = parseCsv(text);
    const header = rows[0] as string[];
    for (const engine of odd) expect(header).toContain(`engine.${engine}.latency_ms`);
    expect(rows.slice(1).every((r) => r.length === header.length)).toBe(true);
    for (const engine of odd) expect(rows.map((r) => r[2])).toContain(`engine:${engine}`);
    for (const cell of rows.flat()) expect(cell, cell).not.toMatch(/^[=+@\t\r]|^-[^\d]/);
    // The quoting and the guard themselves.
    expect(csvField('a,b "c"')).toBe('"a,b ""c"""');
    expect(csvField("line\nbreak")).toBe('"line\nbreak"');
    expect(csvField("=1+2")).toBe("'=1+2");
    expect(csvField("+1,2")).toBe(`"'+1,2"`);
    expect(csvField("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvField("-1")).toBe("'-1");
    expect(csvField("engine.x.rtf")).toBe("engine.x.rtf");
  });

  it("applies a new retention and sample interval from a config reload", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tts-dashboard-"));
    try {
      const file = join(dir, "config.json");
      const config = { dashboard: { sample_interval_seconds: 0.25, history_seconds: 10 } };
      const { base, monitor } = await start(config, { configFile: file });
      await new Promise((r) => setTimeout(r, 1600));
      const before = (await (await fetch(`${base}/api/export.json`)).json()) as { samples: unknown[] };
      expect(before.samples.length).toBeGreaterThan(4);
      // 10 s looked at every 2 s: a ring of 5 × 16 rows, the newest kept.
      writeFileSync(
        file,
        JSON.stringify({
          probes: { interval_seconds: 1, timeout_seconds: 2 },
          engines: [{ name: "broken", type: "command", command: ["false"] }],
          dashboard: { sample_interval_seconds: 2, history_seconds: 10 },
        }),
      );
      expect(monitor.reload()).toBe(true);
      const after = await waitFor("the ring resized", async () => {
        const body = (await (await fetch(`${base}/api/export.json`)).json()) as {
          interval_seconds: number;
          history_seconds: number;
          samples: unknown[];
        };
        return body.interval_seconds === 2 ? body : undefined;
      });
      expect(after).toMatchObject({ interval_seconds: 2, history_seconds: 10 });
      expect(after.samples.length).toBeLessThanOrEqual(80);
      const state = (await (await fetch(`${base}/api/state`)).json()) as {
        interval_seconds: number;
        log: Array<{ kind: string; text: string }>;
      };
      expect(state.interval_seconds).toBe(2);
      expect(state.log.some((l) => l.kind === "config" && l.text === "configuration reloaded")).toBe(true);
      expect(state.log.map((l) => l.text)).toContain(
        "history now 10 s, new measurements looked for every 2 s (at most 80 kept)",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("disconnects an SSE client that stops reading instead of buffering for it without bound", async () => {
    const { base, monitor } = await start({}, { maxClientBufferBytes: 64 * 1024, maxStreamClients: 3 });
    const port = Number(new URL(base).port);
    const listeners = monitor.events.listenerCount("probe");
    // Many clients come and go (3 at most at once): each one's slot is freed when it leaves.
    for (let i = 0; i < 30; i++) {
      const ctrl = new AbortController();
      await waitFor("a free slot", async () => {
        const res = await fetch(`${base}/api/stream`, { signal: ctrl.signal });
        return res.status === 200 ? res : undefined;
      });
      ctrl.abort();
    }
    expect(monitor.events.listenerCount("probe")).toBe(listeners);
    // A client that never reads; large frames (settings with long probe texts) pile up.
    const slow = connect(port, "127.0.0.1");
    slow.write(`GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await new Promise((r) => slow.once("data", r));
    slow.pause();
    let closed = false;
    slow.on("close", () => {
      closed = true;
    });
    const texts = Array.from({ length: 12 }, (_, i) => `${i} ${"word ".repeat(900)}`);
    try {
      for (let k = 0; k < 150 && !closed; k++) {
        const r = await fetch(`${base}/api/controls/probe-texts`, {
          method: "POST",
          headers: json,
          body: JSON.stringify({ texts: [...texts, `v${k}`] }),
        });
        expect(r.status).toBe(200);
      }
      slow.resume();
      slow.on("data", () => {});
      await waitFor("the slow client disconnected", () => closed || undefined);
    } finally {
      slow.destroy();
    }
  });

  it("limits the number of SSE clients and answers HEAD without holding the connection", async () => {
    const { base } = await start({}, { maxStreamClients: 2 });
    const ctrls = [new AbortController(), new AbortController()];
    try {
      for (const c of ctrls)
        expect((await fetch(`${base}/api/stream`, { signal: c.signal })).status).toBe(200);
      const third = await fetch(`${base}/api/stream`);
      expect(third.status).toBe(503);
      expect(third.headers.get("retry-after")).toBe("10");
    } finally {
      for (const c of ctrls) c.abort();
    }
    await waitFor("a free slot", async () => {
      const r = await fetch(`${base}/api/stream`, { method: "HEAD", signal: AbortSignal.timeout(2000) });
      return r.status === 200 ? r : undefined;
    });
  });

  it("sends the samples a reconnecting client missed (Last-Event-ID)", async () => {
    const { base } = await start({ dashboard: { sample_interval_seconds: 0.25 } });
    type Row = { sample: { seq: number } };
    const samplesOf = (e: Array<{ event: string; data: unknown; id?: string }>) =>
      e.filter((x) => x.event === "sample");
    const first = samplesOf(await readEvents(`${base}/api/stream`, (e) => samplesOf(e).length >= 3));
    // The event id is the row's sequence number.
    expect(first.every((e) => e.id === String((e.data as Row).sample.seq))).toBe(true);
    const ids = first.map((e) => e.id);
    const again = samplesOf(
      await readEvents(`${base}/api/stream`, (e) => samplesOf(e).length >= 2, 4000, {
        "last-event-id": String(ids[0]),
      }),
    );
    expect(again.slice(0, 2).map((e) => e.id)).toEqual(ids.slice(1, 3));
  });

  it("requires the bearer token for the controls when one is set", async () => {
    const { base, lines } = await start({}, { env: { TTS_MONITOR_DASHBOARD_TOKEN: "let-me-in-123" } });
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/api/controls/probe-interval`, {
        method: "POST",
        headers: { ...json, ...headers },
        body: '{"seconds":3}',
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: "Bearer wrong" })).status).toBe(401);
    expect((await post({ authorization: "Bearer let-me-in-123" })).status).toBe(200);
    expect((await post({ authorization: "Bearer let-me-in-1234" })).status).toBe(401);
    // The token is the proof, not the Origin: the owner behind a TLS-terminating proxy gets in.
    expect(
      (await post({ authorization: "Bearer let-me-in-123", origin: "https://monitor.example" })).status,
    ).toBe(200);
    const denied = await post({ authorization: "Bearer let-me-in-12" });
    expect(await denied.text()).not.toContain("let-me-in");
    expect(lines.join("")).not.toContain("let-me-in-123");
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
