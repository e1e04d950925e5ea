// Issue 9, bad input and faults: an engine switched off and on again, a reload that removes an
// engine, an analysis worker that crashes and a recogniser that hangs each leave /metrics (a real
// exporter over HTTP) with no series of the absent thing, one log line, counters that explain it,
// and the exporter serving.

import { writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { AudioAnalyzer } from "../../src/audio/analyzer.ts";
import { decodeAudio } from "../../src/audio/decode.ts";
import { Intelligibility } from "../../src/audio/intelligibility.ts";
import { AnalysisPipeline } from "../../src/ingest/analysis.ts";
import { SynthesisRecorder } from "../../src/ingest/recorder.ts";
import { Logger } from "../../src/log.ts";
import { catalog, isMetricName } from "../../src/metrics/catalog.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { createExporterApp } from "../../src/server/exporter.ts";
import { boundAddress, closeServer, listen } from "../../src/server/listen.ts";
import { SeriesLifetimes } from "../../src/state/lifetimes.ts";
import { synthesizeWav } from "../fixtures/audio/speech.ts";
import { tempDir } from "../helpers/exporter.ts";
import { FIXTURES, requireBinary, waitFor } from "../helpers/tools.ts";

const TEXT = "The quick brown fox jumps over the lazy dog.";

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = new Logger({ json: true, sink: { write: (l) => lines.push(JSON.parse(l)) } });
  return { log, lines };
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((f) => f()));
});

const get = async (address: string | undefined, path = "/metrics") => {
  const res = await fetch(`http://${address}${path}`);
  return { status: res.status, body: await res.text() };
};

/** Series lines of gauge families that carry engine="<engine>" (counters and histograms may stay). */
function gaugesOf(body: string, engine: string): string[] {
  return body
    .split("\n")
    .filter((l) => !l.startsWith("#") && l.includes(`engine="${engine}"`))
    .filter((l) => {
      const name = l.split(/[{ ]/)[0] ?? "";
      return isMetricName(name) && catalog[name].type === "gauge";
    });
}

function espeakEngine(name: string) {
  return { name, type: "command", command: ["espeak-ng", "--stdout", "{text}"], output: "stdout" };
}

async function startMonitor(options: { config?: Record<string, unknown>; configPath?: string }) {
  const { log, lines } = capture();
  const monitor = new TTSPerformanceMonitor({
    ...(options.config !== undefined && { config: options.config }),
    ...(options.configPath !== undefined && { configPath: options.configPath }),
    listenAddress: "127.0.0.1:0",
    logger: log,
  });
  cleanup.push(() => monitor.stop());
  await monitor.startMonitoring();
  return { monitor, lines };
}

const BASE = {
  monitoring: { collectors: { gpu: false, disk: false, filesystem: false, process: false } },
  probes: { interval_seconds: 3600, timeout_seconds: 20, texts: [TEXT] },
};

describe("engines switched off, on again, or removed", () => {
  it("switching an engine off removes every gauge series of it; on again, they come back", async () => {
    requireBinary("/usr/bin/espeak-ng", "espeak-ng");
    const { monitor, lines } = await startMonitor({
      config: { ...BASE, engines: [espeakEngine("one"), espeakEngine("two")] },
    });
    const body = await waitFor(
      "both engines probed and analysed",
      async () => {
        const b = (await get(monitor.address)).body;
        return b.includes('tts_quality_score{engine="one"') && b.includes('tts_quality_score{engine="two"')
          ? b
          : undefined;
      },
      60_000,
      250,
    );
    expect(gaugesOf(body, "one").length).toBeGreaterThan(10);

    monitor.setEngineEnabled("one", false);
    const off = await get(monitor.address);
    expect(off.status).toBe(200);
    expect(gaugesOf(off.body, "one")).toEqual([]);
    expect(off.body).toMatch(/tts_requests_total\{engine="one",[^}]*result="success"\} 1/); // counters stay
    expect(off.body).toContain('tts_probe_success{engine="two"} 1');
    expect(monitor.getCurrentMetrics().engines.one).toBeUndefined();
    expect(monitor.lastProbes.has("one")).toBe(false);
    expect(lines.filter((l) => l.msg === "engine series removed")).toEqual([
      expect.objectContaining({ engine: "one", why: "switched off" }),
    ]);
    // A probe asked for while it is off records nothing.
    await monitor.probe("one");
    expect(gaugesOf((await get(monitor.address)).body, "one")).toEqual([]);

    monitor.setEngineEnabled("one", true);
    await waitFor(
      "the engine probed again",
      async () =>
        (await get(monitor.address)).body.includes('tts_probe_success{engine="one"} 1') ? true : undefined,
      30_000,
      250,
    );
    expect(monitor.getCurrentMetrics().engines.one?.successRatio).toBe(1);
  }, 120_000);

  it("a reload that removes an engine removes its series, with one log line", async () => {
    requireBinary("/usr/bin/espeak-ng", "espeak-ng");
    const file = join(tempDir("tts-lifetimes-"), "config.json");
    const config = (engines: unknown[]) => ({
      ...BASE,
      monitoring: { ...BASE.monitoring, audio_analysis: false },
      engines,
    });
    writeFileSync(file, JSON.stringify(config([espeakEngine("one"), espeakEngine("two")])));
    const { monitor, lines } = await startMonitor({ configPath: file });
    await waitFor(
      "both engines probed",
      async () => {
        const b = (await get(monitor.address)).body;
        return b.includes('tts_probe_success{engine="one"}') && b.includes('tts_probe_success{engine="two"}')
          ? true
          : undefined;
      },
      30_000,
      250,
    );
    writeFileSync(file, JSON.stringify(config([espeakEngine("one")])));
    expect(monitor.reload()).toBe(true);
    const after = await get(monitor.address);
    expect(after.status).toBe(200);
    expect(gaugesOf(after.body, "two")).toEqual([]);
    expect(after.body).toContain('tts_probe_success{engine="one"} 1');
    expect(after.body).toContain("tts_exporter_config_last_reload_successful 1");
    expect(lines.filter((l) => l.msg === "engine series removed")).toEqual([
      expect.objectContaining({ engine: "two", why: "removed from the config" }),
    ]);
  }, 90_000);
});

/** The exporter's app over a registry fed by a recorder, the lifetimes and analysis pipelines. */
async function analysisExporter() {
  const { log, lines } = capture();
  const registry = new MetricsRegistry();
  const recorder = new SynthesisRecorder(registry, { cacheWindowSeconds: 60, maxEngines: 10, maxVoices: 10 });
  const lifetimes = new SeriesLifetimes(registry, recorder, log, {
    seriesTtlSeconds: 600,
    probed: ["espeak"],
  });
  const server: Server = await listen(
    createExporterApp({ registry, isReady: () => true, log }),
    "127.0.0.1:0",
    "exporter",
  );
  const pipelines: AnalysisPipeline[] = [];
  cleanup.push(async () => {
    await Promise.all(pipelines.map((p) => p.close()));
    await closeServer(server);
  });
  const pipeline = (options: ConstructorParameters<typeof AnalysisPipeline>[1] = {}) => {
    const p = new AnalysisPipeline(lifetimes, options);
    pipelines.push(p);
    return p;
  };
  const wav = synthesizeWav("espeak-ng", TEXT);
  const job = { engine: "espeak", voice: "en", text: TEXT, audio: wav, decoded: decodeAudio(wav) };
  return { address: boundAddress(server), lines, pipeline, job, lifetimes };
}

describe("analysis faults", () => {
  it("an analysis worker that crashes removes the audio series and counts reason=worker", async () => {
    const t = await analysisExporter();
    const good = t.pipeline({ recogniser: new Intelligibility({ timeoutMs: 30_000 }) });
    await good.submit(t.job);
    expect(good.latestQuality.get("espeak")?.score).toBeGreaterThan(0);
    let m = await get(t.address);
    expect(m.body).toMatch(/tts_quality_score\{engine="espeak",voice="en"\} 0\.\d+/);
    expect(m.body).toMatch(/tts_intelligibility_ratio\{engine="espeak",voice="en",asr="pocketsphinx"\}/);

    const crashing = t.pipeline({
      analyzer: new AudioAnalyzer({ workerUrl: pathToFileURL(join(FIXTURES, "faults/crash-worker.mjs")) }),
    });
    await crashing.submit(t.job);
    m = await get(t.address);
    expect(m.status).toBe(200);
    expect(gaugesOf(m.body, "espeak")).toEqual([]);
    expect(good.latestQuality.has("espeak")).toBe(false); // getCurrentMetrics() forgets the score too
    expect(m.body).toContain('tts_audio_analysis_failures_total{engine="espeak",reason="worker"} 1');
    const warned = t.lines.filter((l) => l.level === "warn");
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ engine: "espeak", voice: "en", reason: "worker" });
    expect(String(warned[0]?.error)).toMatch(/worker crashed/);
    // The next job starts a fresh worker (which crashes again): counted again, the exporter serves.
    await crashing.submit(t.job);
    m = await get(t.address);
    expect(m.body).toContain('tts_audio_analysis_failures_total{engine="espeak",reason="worker"} 2');
    expect((await get(t.address, "/-/healthy")).status).toBe(200);
  }, 90_000);

  it("a recogniser that hangs is killed at its timeout: its series removed, reason=recogniser_timeout", async () => {
    requireBinary("/usr/bin/pocketsphinx_continuous", "pocketsphinx");
    const t = await analysisExporter();
    await t.pipeline({ recogniser: new Intelligibility({ timeoutMs: 30_000 }) }).submit(t.job);
    expect((await get(t.address)).body).toMatch(/tts_intelligibility_ratio\{engine="espeak"/);

    const hung = t.pipeline({
      recogniser: new Intelligibility({
        binary: join(FIXTURES, "faults/hang-recogniser.sh"),
        timeoutMs: 1500,
      }),
    });
    const done = hung.submit(t.job);
    // While the recogniser hangs, /metrics answers.
    expect((await get(t.address)).status).toBe(200);
    await done;
    const m = await get(t.address);
    expect(m.body).not.toContain("tts_intelligibility_ratio{");
    expect(m.body).not.toContain("tts_intelligibility_timestamp_seconds{");
    expect(m.body).toMatch(/tts_quality_score\{engine="espeak",voice="en"\}/); // this audio's measures are fresh
    expect(m.body).toContain(
      'tts_audio_analysis_failures_total{engine="espeak",reason="recogniser_timeout"} 1',
    );
    const warned = t.lines.filter((l) => l.level === "warn");
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ reason: "recogniser_timeout" });
  }, 90_000);

  it("audio dropped for a full backlog is counted per engine", async () => {
    const t = await analysisExporter();
    const p = t.pipeline({ maxPending: 1, recogniser: new Intelligibility({ timeoutMs: 30_000 }) });
    const first = p.submit(t.job);
    await Promise.all([p.submit(t.job), p.submit(t.job)]);
    await first;
    const m = await get(t.address);
    expect(m.body).toContain('tts_audio_analysis_failures_total{engine="espeak",reason="backlog"} 2');
    expect(m.body).toMatch(/tts_quality_score\{engine="espeak",voice="en"\}/);
    expect(t.lines.filter((l) => String(l.msg).includes("backlog"))).toHaveLength(1);
  }, 60_000);
});

describe("the config keys do what their names say", () => {
  it("ingest.series_ttl_seconds removes an ingest-only engine's gauges; ingest.success_window_seconds sets the window", async () => {
    const { monitor, lines } = await startMonitor({
      config: {
        ...BASE,
        monitoring: { ...BASE.monitoring, audio_analysis: false },
        engines: [],
        ingest: { series_ttl_seconds: 2, success_window_seconds: 7 },
      },
    });
    monitor.recordSynthesis({
      engine: "vendor",
      voice: "v1",
      text: TEXT,
      latencyMs: 120,
      audioDurationMs: 2000,
    });
    const before = await get(monitor.address);
    expect(gaugesOf(before.body, "vendor").length).toBeGreaterThanOrEqual(5);
    expect(monitor.getCurrentMetrics().engines.vendor).toMatchObject({ successRatio: 1, windowSeconds: 7 });
    await waitFor(
      "the sweep after 2 s without a report",
      async () => (gaugesOf((await get(monitor.address)).body, "vendor").length === 0 ? true : undefined),
      20_000,
      250,
    );
    const after = await get(monitor.address);
    expect(after.body).toMatch(
      /tts_requests_total\{engine="vendor",voice="v1",source="ingest",result="success"\} 1/,
    );
    expect(monitor.getCurrentMetrics().engines.vendor).toBeUndefined();
    expect(lines.filter((l) => String(l.msg).includes("series_ttl_seconds"))).toEqual([
      expect.objectContaining({ series: ["vendor/v1"], ttl_seconds: 2 }),
    ]);
  }, 60_000);
});
