// Issue 18 item 1 against the real exporter: the cardinality attacks through
// POST /api/v1/syntheses with the shipped defaults, then /metrics through promtool.
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { PROMTOOL } from "../helpers/prometheus.ts";
import { requireBinary } from "../helpers/tools.ts";

const quiet = new Logger({ json: true, sink: { write: () => {} } });
const monitors: TTSPerformanceMonitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});

async function start(): Promise<string> {
  const monitor = new TTSPerformanceMonitor({
    config: { engines: [], monitoring: { collectors: { gpu: false } } },
    listenAddress: "127.0.0.1:0",
    logger: quiet,
  });
  monitors.push(monitor);
  await monitor.startMonitoring();
  return `http://${monitor.address}`;
}

async function post(base: string, events: unknown[]): Promise<void> {
  const res = await fetch(`${base}/api/v1/syntheses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(events),
  });
  expect(res.status).toBe(202);
}

const samples = (body: string) => body.split("\n").filter((l) => l.length > 0 && !l.startsWith("#"));
const total = (body: string, prefix: string) =>
  samples(body)
    .filter((l) => l.startsWith(prefix))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);

describe("the series budget on the real exporter (defaults)", () => {
  it("50 POSTs × 200 voices: at most 50 ingested series, /metrics under 1 MB, every event counted, promtool clean", async () => {
    const base = await start();
    for (let e = 0; e < 50; e++) {
      await post(
        base,
        Array.from({ length: 200 }, (_, v) => [
          {
            engine: `engine-${e}`,
            voice: `voice-${v}`,
            latency_ms: 120,
            ttfa_ms: 40,
            audio_duration_ms: 2000,
          },
          {
            engine: `engine-${e}`,
            voice: `voice-${v}`,
            latency_ms: 3000,
            success: false,
            error_reason: "timeout",
          },
        ]).flat(),
      );
    }
    const body = await (await fetch(`${base}/metrics`)).text();
    expect(Buffer.byteLength(body)).toBeLessThan(1024 * 1024);
    const pairs = new Set(
      samples(body)
        .filter((l) => l.startsWith("tts_requests_total{"))
        .map((l) => /engine="([^"]*)",voice="([^"]*)"/.exec(l)?.slice(1).join("/")),
    );
    // At most 49 of their own and (other, other); the 768 KiB byte ceiling may bind first.
    expect(pairs.size).toBeLessThanOrEqual(50);
    expect(pairs.size).toBeGreaterThanOrEqual(40);
    expect(pairs.has("other/other")).toBe(true);
    // The 20,000 events add up across the series, folded ones in "other".
    expect(total(body, 'tts_requests_total{engine="')).toBe(20_000);
    expect(total(body, "tts_latency_seconds_count{")).toBe(10_000);
    expect(total(body, "tts_time_to_first_audio_seconds_count{")).toBe(10_000);
    expect(body).toMatch(
      /^tts_exporter_series_limit_reached_total\{limit="(series|bytes)",data="ingest"\} [1-9]/m,
    );
    const lint = spawnSync(requireBinary(PROMTOOL, "prometheus"), ["check", "metrics"], {
      input: body,
      encoding: "utf8",
    });
    expect({ status: lint.status, output: `${lint.stdout}${lint.stderr}` }).toEqual({
      status: 0,
      output: "",
    });
  }, 120_000);

  it("10,000 distinct engine and voice names: the samples stay bounded", async () => {
    const base = await start();
    const idle = samples(await (await fetch(`${base}/metrics`)).text()).length;
    for (let b = 0; b < 10; b++) {
      await post(
        base,
        Array.from({ length: 1000 }, (_, i) => ({
          engine: `e${b * 1000 + i}`,
          voice: `v${b * 1000 + i}`,
          latency_ms: 100,
          ttfa_ms: 40,
          audio_duration_ms: 1000,
        })),
      );
    }
    const body = await (await fetch(`${base}/metrics`)).text();
    // 50 series; these events (successes with TTFA and audio duration, no audio analysis) fill at most
    // 77 samples each, beside what the exporter shows idle (and its counters).
    expect(samples(body).length).toBeLessThanOrEqual(idle + 50 * 77 + 20);
    expect(total(body, 'tts_requests_total{engine="')).toBe(10_000);
  }, 120_000);
});
