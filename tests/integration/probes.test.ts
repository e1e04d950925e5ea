import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { encodeWav16 } from "../../src/audio/decode.ts";
import { sine } from "../../src/audio/signals.ts";
import type { Engine } from "../../src/engines/types.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { closeServer } from "../../src/server/listen.ts";
import { mountProbe, probeTimeoutMs } from "../../src/server/probe-route.ts";
import { type HttpTtsServer, startHttpTtsServer } from "../helpers/tts-servers/http-tts-server.ts";
import { startWyomingServer, type WyomingTestServer } from "../helpers/tts-servers/wyoming-server.ts";

// Probe-level behaviour through the whole monitor: every failure kind becomes a bounded reason
// in tts_failures_total and tts_probe_success 0, and /metrics stays fast while a probe hangs.

const quiet = new Logger({ json: true, sink: { write: () => {} } });
let http: HttpTtsServer;
let wyoming: WyomingTestServer;
const monitors: TTSPerformanceMonitor[] = [];

beforeAll(async () => {
  http = await startHttpTtsServer();
  wyoming = await startWyomingServer();
});
afterAll(async () => {
  await http.close();
  await wyoming.close();
});
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
  http.behaviour = {};
  wyoming.behaviour = {};
});

/** `analysis: false` for a test about the probe alone: each probe's audio analysis, predicted MOS and recogniser cost seconds. */
async function start(engines: Record<string, unknown>[], { analysis = true } = {}) {
  const monitor = new TTSPerformanceMonitor({
    config: {
      engines,
      // A long interval: the first probe runs at start; the tests then probe on demand.
      probes: {
        interval_seconds: 3600,
        timeout_seconds: 5,
        texts: ["The quick brown fox jumps over the lazy dog."],
      },
      monitoring: {
        audio_analysis: analysis,
        collectors: { gpu: false, disk: false, filesystem: false, process: false },
      },
    },
    listenAddress: "127.0.0.1:0",
    logger: quiet,
  });
  monitors.push(monitor);
  await monitor.startMonitoring();
  const metrics = async () => (await fetch(`http://${monitor.address}/metrics`)).text();
  return { monitor, metrics };
}

const openai = (url: string, extra: Record<string, unknown> = {}) => ({
  name: "kokoro",
  type: "openai",
  url: `${url}/v1/audio/speech`,
  model: "kokoro",
  voice: "af_heart",
  ...extra,
});

describe("probe results become metrics", () => {
  it("a successful probe records latency, TTFA, RTF, throughput and speaking rate", async () => {
    const { monitor, metrics } = await start([openai(http.url)]);
    const r = await monitor.probe("kokoro");
    expect(r.success).toBe(true);
    await monitor.probe("kokoro");
    const body = await metrics();
    expect(body).toMatch(/tts_latency_seconds_count\{engine="kokoro",voice="af_heart",source="probe"\} [23]/);
    expect(body).toMatch(
      /tts_time_to_first_audio_seconds_count\{engine="kokoro",voice="af_heart",source="probe"\} [23]/,
    );
    for (const name of [
      "tts_real_time_factor",
      "tts_throughput_characters_per_second",
      "tts_throughput_words_per_minute",
      "tts_speaking_rate_words_per_minute",
      "tts_audio_duration_seconds",
    ]) {
      const v = Number(
        new RegExp(`^${name}\\{engine="kokoro",voice="af_heart",source="probe"\\} (\\S+)$`, "m").exec(
          body,
        )?.[1],
      );
      expect(v, name).toBeGreaterThan(0);
    }
    expect(body).toContain('tts_probe_success{engine="kokoro"} 1');
    expect(body).toMatch(
      /tts_request_temperature_latency_seconds\{engine="kokoro",voice="af_heart",temperature="cold"\} /,
    );
    expect(body).toMatch(
      /tts_request_temperature_latency_seconds\{engine="kokoro",voice="af_heart",temperature="warm"\} /,
    );
    const duration = Number(/tts_audio_duration_seconds\{[^}]*\} (\S+)/.exec(body)?.[1]);
    expect(duration).toBeGreaterThan(1.5); // flite says the sentence in about 2.5 s
    expect(duration).toBeLessThan(5);
  });

  const cases: [string, Partial<HttpTtsServer["behaviour"]>, string][] = [
    ["HTTP 500", { status: 500 }, "http_status"],
    ["HTTP 401", { status: 401 }, "auth"],
    ["an empty body", { body: "empty" }, "empty_audio"],
    ["a body that is not audio", { body: "html" }, "bad_audio"],
    ["a truncated WAV", { body: "truncated-wav" }, "bad_audio"],
  ];
  for (const [what, behaviour, reason] of cases) {
    it(`${what} → reason="${reason}"`, async () => {
      const { monitor, metrics } = await start([openai(http.url)]);
      await monitor.probe("kokoro"); // settles the first probe (success)
      http.behaviour = behaviour;
      const r = await monitor.probe("kokoro");
      expect(r.success).toBe(false);
      expect(r.reason).toBe(reason);
      const body = await metrics();
      expect(body).toContain('tts_probe_success{engine="kokoro"} 0');
      expect(body).toContain(
        `tts_failures_total{engine="kokoro",voice="af_heart",source="probe",reason="${reason}"} 1`,
      );
    });
  }

  it("connection refused → reason=connection", async () => {
    const { monitor, metrics } = await start([openai("http://127.0.0.1:1")]);
    const r = await monitor.probe("kokoro");
    expect(r.reason).toBe("connection");
    expect(await metrics()).toMatch(
      /tts_failures_total\{engine="kokoro",voice="af_heart",source="probe",reason="connection"\} [12]/,
    );
  });

  it("a hung engine times out within timeout + 1 s while /metrics keeps answering", async () => {
    const { monitor, metrics } = await start([openai(http.url, { timeout_seconds: 1.5 })]);
    await monitor.probe("kokoro");
    http.behaviour = { body: "hang" };
    const t0 = performance.now();
    const probe = monitor.probe("kokoro");
    const scrapeTimes: number[] = [];
    while (performance.now() - t0 < 1200) {
      const s = performance.now();
      await metrics();
      scrapeTimes.push(performance.now() - s);
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await probe;
    const elapsed = performance.now() - t0;
    expect(r.reason).toBe("timeout");
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(2500);
    expect(Math.max(...scrapeTimes)).toBeLessThan(1000); // a scrape held by the probe would wait for its timeout
    expect(await metrics()).toContain('reason="timeout"} 1');
  });

  it("Wyoming error event → protocol, broken framing → protocol", async () => {
    const { monitor, metrics } = await start([
      { name: "piper-wy", type: "wyoming", url: wyoming.url, voice: "en_US-lessac-medium" },
    ]);
    expect((await monitor.probe("piper-wy")).success).toBe(true);
    wyoming.behaviour = { error: { text: "voice not found", code: "voice-not-found" } };
    const e = await monitor.probe("piper-wy");
    expect(e.success).toBe(false);
    wyoming.behaviour = { broken: "garbage-header" };
    const b = await monitor.probe("piper-wy");
    expect(b.reason).toBe("protocol");
    const body = await metrics();
    expect(body).toMatch(
      /tts_failures_total\{engine="piper-wy",voice="en_US-lessac-medium",source="probe",reason="protocol"\} [12]/,
    );
    expect(body).toContain('tts_probe_success{engine="piper-wy"} 0');
  });
});

describe("GET /probe?target=", () => {
  it("runs one probe and returns only that probe's metrics", async () => {
    const { monitor } = await start([openai(http.url)]);
    const res = await fetch(`http://${monitor.address}/probe?target=kokoro`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('tts_probe_success{engine="kokoro"} 1');
    expect(body).toContain('tts_latency_seconds_count{engine="kokoro",voice="af_heart",source="probe"} 1');
    expect(body).not.toContain("tts_host_");
    expect(body).not.toContain("tts_exporter_");
  });

  it("a failed probe is still 200 with tts_probe_success 0", async () => {
    const { monitor } = await start([openai(http.url)]);
    http.behaviour = { status: 500 };
    const res = await fetch(`http://${monitor.address}/probe?target=kokoro`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('tts_probe_success{engine="kokoro"} 0');
    expect(body).toContain('reason="http_status"} 1');
  });

  it("takes its timeout from X-Prometheus-Scrape-Timeout-Seconds minus the offset", async () => {
    const { monitor } = await start([openai(http.url, { timeout_seconds: 10 })]);
    http.behaviour = { body: "hang" };
    const t0 = performance.now();
    const res = await fetch(`http://${monitor.address}/probe?target=kokoro`, {
      headers: { "X-Prometheus-Scrape-Timeout-Seconds": "1.5" },
    });
    const elapsed = performance.now() - t0;
    expect(await res.text()).toContain('reason="timeout"} 1');
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(5000); // the header's 1 s, not the engine's 10 s (the offset: probeTimeoutMs below)
  });

  it("a scrape timeout that is not a number is 400; zero or negative leaves the engine's timeout", async () => {
    const { monitor } = await start([openai(http.url)], { analysis: false });
    const probe = (value: string) =>
      fetch(`http://${monitor.address}/probe?target=kokoro`, {
        headers: { "X-Prometheus-Scrape-Timeout-Seconds": value },
      });
    for (const garbage of ["abc", "10s", "Infinity", "0x10", "1e999"]) {
      const res = await probe(garbage);
      expect(res.status, garbage).toBe(400);
      expect(await res.text()).toMatch(/X-Prometheus-Scrape-Timeout-Seconds/);
    }
    for (const none of ["0", "-5", ""]) {
      const res = await probe(none);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('tts_probe_success{engine="kokoro"} 1');
    }
  });

  it("a scrape timeout shorter than twice the offset keeps half of it for the probe", async () => {
    expect(probeTimeoutMs(10_000, undefined)).toBe(10_000);
    expect(probeTimeoutMs(10_000, 15)).toBe(10_000);
    expect(probeTimeoutMs(10_000, 4)).toBe(3500);
    expect(probeTimeoutMs(10_000, 1)).toBe(500);
    expect(probeTimeoutMs(10_000, 0.6)).toBe(300);
    const { monitor } = await start([openai(http.url, { timeout_seconds: 10 })]);
    http.behaviour = { body: "hang" };
    const t0 = performance.now();
    const res = await fetch(`http://${monitor.address}/probe?target=kokoro`, {
      headers: { "X-Prometheus-Scrape-Timeout-Seconds": "0.6" },
    });
    expect(await res.text()).toContain('reason="timeout"} 1');
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(5000); // the probe's 300 ms, not the engine's 10 s
  });

  it("the audio analysis shares the probe's deadline", async () => {
    const engine: Engine = {
      name: "quick",
      type: "test",
      voice: "v",
      async synthesize() {
        const t = performance.now();
        return {
          audio: toneWav(),
          format: { kind: "wav" },
          timings: { start: t, requestSent: t, firstByte: t, firstAudio: t, end: t },
          voice: "v",
        };
      },
    };
    const app = express();
    mountProbe(app, {
      engine: (name) => (name === "quick" ? engine : undefined),
      configured: (name) => (name === "quick" ? "enabled" : undefined),
      timeoutMs: () => 10_000,
      maxConcurrent: () => 1,
      registry: new MetricsRegistry(),
      text: () => "Hello.",
      analyse: () => new Promise(() => {}), // an analysis that never ends
    });
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const t0 = performance.now();
      const res = await fetch(
        `http://127.0.0.1:${(server.address() as AddressInfo).port}/probe?target=quick`,
        {
          headers: { "X-Prometheus-Scrape-Timeout-Seconds": "1.5" },
        },
      );
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('tts_probe_success{engine="quick"} 1');
      expect(performance.now() - t0).toBeLessThan(5000); // the probe's 1 s deadline, not an analysis that never ends
    } finally {
      await closeServer(server);
    }
  });

  it("concurrent probes of one engine each get their own answer", async () => {
    const { monitor } = await start([openai(http.url)]);
    const bodies = await Promise.all(
      [1, 2, 3, 4].map(async () => (await fetch(`http://${monitor.address}/probe?target=kokoro`)).text()),
    );
    for (const body of bodies) {
      expect(body).toContain('tts_probe_success{engine="kokoro"} 1');
      expect(body).toContain('tts_latency_seconds_count{engine="kokoro",voice="af_heart",source="probe"} 1');
    }
  });

  it("an unknown or missing target is 400 with a message", async () => {
    const { monitor } = await start([openai(http.url)]);
    const unknown = await fetch(`http://${monitor.address}/probe?target=nope`);
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toMatch(/unknown target.*nope/);
    expect((await fetch(`http://${monitor.address}/probe`)).status).toBe(400);
  });
});

/** A 16-bit mono WAV of a 220 Hz tone. */
function toneWav(seconds = 0.5, rate = 16_000): Uint8Array {
  return encodeWav16(sine(220, rate, seconds, 8000 / 32768), rate);
}
