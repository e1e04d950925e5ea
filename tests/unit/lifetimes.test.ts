import { describe, expect, it } from "vitest";
import type { MetricSample } from "../../src/audio/metrics.ts";
import { SynthesisRecorder } from "../../src/ingest/recorder.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import type { ProbeResult } from "../../src/probes/probe.ts";
import { registryAudioSink, SeriesLifetimes } from "../../src/state/lifetimes.ts";

// src/state/lifetimes.ts on its own: which series exist after each event, with a clock the test moves.

function setup(probed: string[] = ["kokoro"], ttlSeconds = 600) {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const registry = new MetricsRegistry();
  const recorder = new SynthesisRecorder(registry, {
    cacheWindowSeconds: 300,
    successWindowSeconds: 60,
    maxEngines: 10,
    maxVoices: 10,
    knownEngines: probed,
    now: clock,
  });
  const lines: Array<Record<string, unknown>> = [];
  const log = new Logger({ json: true, sink: { write: (l) => lines.push(JSON.parse(l)) } });
  const forgotten: string[] = [];
  const lifetimes = new SeriesLifetimes(registry, recorder, log, {
    seriesTtlSeconds: ttlSeconds,
    probed,
    onForget: (e) => forgotten.push(e),
    now: clock,
  });
  const text = async () => (await registry.render(false)).body;
  /** Series lines (not comments) that carry the label engine="<engine>". */
  const seriesOf = async (engine: string) =>
    (await text()).split("\n").filter((l) => !l.startsWith("#") && l.includes(`engine="${engine}"`));
  const names = async (engine: string) => new Set((await seriesOf(engine)).map((l) => l.split(/[{ ]/)[0]));
  return {
    registry,
    recorder,
    lifetimes,
    lines,
    forgotten,
    text,
    seriesOf,
    names,
    advance: (ms: number) => {
      now += ms;
    },
    now: clock,
  };
}

function probe(engine: string, success: boolean, at: number): ProbeResult {
  return {
    engine,
    voice: "af_heart",
    text: "Hello.",
    characters: 6,
    words: 1,
    success,
    ...(success
      ? { latencyMs: 200, audioDurationMs: 900 }
      : { reason: "timeout" as const, error: "timed out" }),
    durationMs: success ? 210 : 10_000,
    finishedAt: at,
  };
}

const measures = (engine: string, voice: string): MetricSample[] => [
  { metric: "tts_quality_score", labels: { engine, voice }, value: 0.9 },
  { metric: "tts_audio_snr_db", labels: { engine, voice }, value: 30 },
];

/** Gauge families fed by last observations: none of them may stay for an absent engine. */
const GAUGES_GONE = [
  "tts_probe_success",
  "tts_probe_duration_seconds",
  "tts_probe_last_run_timestamp_seconds",
  "tts_quality_score",
  "tts_audio_snr_db",
  "tts_audio_analysis_timestamp_seconds",
  "tts_intelligibility_ratio",
  "tts_intelligibility_timestamp_seconds",
  "tts_real_time_factor",
  "tts_audio_duration_seconds",
  "tts_last_request_timestamp_seconds",
  "tts_last_success_timestamp_seconds",
  "tts_request_temperature_latency_seconds",
  "tts_cache_hit_rate",
];

describe("an engine switched off or removed", () => {
  it("loses every gauge series, keeps its counters, and says so in one log line", async () => {
    const t = setup(["kokoro", "piper"]);
    for (const e of ["kokoro", "piper"]) {
      expect(t.lifetimes.probeResult(probe(e, true, t.now()))).toBe(true);
      t.lifetimes.measured({ engine: e, voice: "af_heart" }, measures(e, "af_heart"), 0.9, t.now());
      t.lifetimes.recognised({ engine: e, voice: "af_heart" }, { asr: "pocketsphinx", ratio: 1 }, t.now());
    }
    t.recorder.record({ engine: "kokoro", voice: "other", latencyMs: 100, cacheHit: true }, "ingest");
    const before = await t.names("kokoro");
    for (const name of GAUGES_GONE) expect(before, name).toContain(name);

    t.lifetimes.setProbed(["piper"], ["kokoro", "piper"]);

    const after = await t.names("kokoro");
    for (const name of GAUGES_GONE) expect(after, name).not.toContain(name);
    // Cumulative families stay, as Prometheus conventions allow.
    expect(after).toContain("tts_requests_total");
    expect(after).toContain("tts_latency_seconds_count");
    expect(after).toContain("tts_cache_lookups_total");
    // The other engine is untouched.
    for (const name of GAUGES_GONE.filter((n) => n !== "tts_cache_hit_rate"))
      expect(await t.names("piper"), name).toContain(name);
    expect(t.recorder.summary().has("kokoro")).toBe(false);
    expect(t.lifetimes.latestQuality.has("kokoro")).toBe(false);
    expect(t.forgotten).toEqual(["kokoro"]);
    const removed = t.lines.filter((l) => l.msg === "engine series removed");
    expect(removed).toEqual([expect.objectContaining({ engine: "kokoro", why: "switched off" })]);

    t.lifetimes.setProbed([], ["kokoro"]);
    expect(t.lines.filter((l) => l.msg === "engine series removed").at(-1)).toMatchObject({
      engine: "piper",
      why: "removed from the config",
    });
  });

  it("a probe or an analysis that was in flight when it went does not bring a series back", async () => {
    const t = setup(["kokoro"]);
    const submitted = t.now();
    t.advance(1000);
    t.lifetimes.setProbed([], ["kokoro"]);
    t.advance(1000);
    expect(t.lifetimes.probeResult(probe("kokoro", true, t.now()))).toBe(false);
    t.lifetimes.measured(
      { engine: "kokoro", voice: "af_heart" },
      measures("kokoro", "af_heart"),
      0.9,
      submitted,
    );
    t.lifetimes.recognised(
      { engine: "kokoro", voice: "af_heart" },
      { asr: "pocketsphinx", ratio: 1 },
      submitted,
    );
    expect(await t.seriesOf("kokoro")).toEqual([]);
    // Switched on again: new results count.
    t.lifetimes.setProbed(["kokoro"], ["kokoro"]);
    expect(t.lifetimes.probeResult(probe("kokoro", false, t.now()))).toBe(true);
    t.lifetimes.measured(
      { engine: "kokoro", voice: "af_heart" },
      measures("kokoro", "af_heart"),
      0.9,
      t.now(),
    );
    expect(await t.text()).toContain('tts_probe_success{engine="kokoro"} 0');
    expect(await t.text()).toContain('tts_quality_score{engine="kokoro",voice="af_heart"} 0.9');
  });
});

describe("a failed analysis or recognition", () => {
  it("an analysis failure removes that engine/voice's audio gauges only, and counts the reason", async () => {
    const t = setup(["kokoro"]);
    for (const voice of ["a", "b"]) {
      t.lifetimes.measured({ engine: "kokoro", voice }, measures("kokoro", voice), 0.9, t.now());
      t.lifetimes.recognised({ engine: "kokoro", voice }, { asr: "pocketsphinx", ratio: 0.8 }, t.now());
    }
    t.lifetimes.failed({ engine: "kokoro", voice: "a" }, "worker", "audio analysis worker crashed");
    const body = await t.text();
    expect(body).not.toMatch(/tts_(quality_score|audio_snr_db|intelligibility_ratio)\{[^}]*voice="a"/);
    expect(body).not.toMatch(/tts_audio_analysis_timestamp_seconds\{[^}]*voice="a"/);
    expect(body).toContain('tts_quality_score{engine="kokoro",voice="b"} 0.9');
    expect(body).toContain('tts_audio_analysis_failures_total{engine="kokoro",reason="worker"} 1');
    expect(t.lines.filter((l) => l.level === "warn")).toHaveLength(1);
    expect(t.lifetimes.latestQuality.has("kokoro")).toBe(true); // voice b still measured
  });

  it("a recognition failure removes the intelligibility series and keeps the fresh measures", async () => {
    const t = setup(["kokoro"]);
    t.lifetimes.measured({ engine: "kokoro", voice: "a" }, measures("kokoro", "a"), 0.9, t.now());
    t.lifetimes.recognised({ engine: "kokoro", voice: "a" }, { asr: "pocketsphinx", ratio: 0.8 }, t.now());
    t.lifetimes.failed({ engine: "kokoro", voice: "a" }, "recogniser_timeout", "pocketsphinx killed");
    const body = await t.text();
    expect(body).not.toContain("tts_intelligibility_ratio{");
    expect(body).not.toContain("tts_intelligibility_timestamp_seconds{");
    expect(body).toContain('tts_quality_score{engine="kokoro",voice="a"} 0.9');
    expect(body).toContain(
      'tts_audio_analysis_failures_total{engine="kokoro",reason="recogniser_timeout"} 1',
    );
  });

  it("analyses dropped for a full backlog are counted, logged once, and leave the older measures", async () => {
    const t = setup(["kokoro"]);
    t.lifetimes.measured({ engine: "kokoro", voice: "a" }, measures("kokoro", "a"), 0.9, t.now());
    for (let i = 0; i < 5; i++) t.lifetimes.failed({ engine: "kokoro", voice: "a" }, "backlog", "full");
    const body = await t.text();
    expect(body).toContain('tts_audio_analysis_failures_total{engine="kokoro",reason="backlog"} 5');
    expect(body).toContain('tts_quality_score{engine="kokoro",voice="a"} 0.9');
    expect(t.lines.filter((l) => String(l.msg).includes("backlog"))).toHaveLength(1);
  });

  it("GET /probe's fresh registry gets the same removal and count", async () => {
    const registry = new MetricsRegistry();
    const sink = registryAudioSink(registry);
    sink.measured({ engine: "e", voice: "v" }, measures("e", "v"), 0.9, 1_700_000_000_000);
    sink.recognised({ engine: "e", voice: "v" }, { asr: "pocketsphinx", ratio: 1 }, 1_700_000_000_000);
    sink.failed({ engine: "e", voice: "v" }, "recogniser", "exit 1");
    let body = (await registry.render(false)).body;
    expect(body).toContain("tts_quality_score{");
    expect(body).not.toContain("tts_intelligibility_ratio{");
    sink.failed({ engine: "e", voice: "v" }, "decode", "not a WAV");
    body = (await registry.render(false)).body;
    expect(body).not.toContain("tts_quality_score{");
    expect(body).toContain('tts_audio_analysis_failures_total{engine="e",reason="decode"} 1');
  });
});

describe("ingest-only engines and voices not reported for ingest.series_ttl_seconds", () => {
  it("lose their gauges; probed engines and recently reported ones keep theirs", async () => {
    const t = setup(["kokoro"], 60);
    t.lifetimes.probeResult(probe("kokoro", true, t.now()));
    t.recorder.record({ engine: "vendor", voice: "old", latencyMs: 100, audioDurationMs: 900 }, "ingest");
    t.lifetimes.measured({ engine: "vendor", voice: "old" }, measures("vendor", "old"), 0.7, t.now());
    t.advance(45_000);
    t.recorder.record({ engine: "vendor", voice: "new", latencyMs: 100, audioDurationMs: 900 }, "ingest");
    t.advance(20_000); // "old" is 65 s old, "new" 20 s, kokoro's probe 65 s
    t.lifetimes.sweep();
    const body = await t.text();
    expect(body).not.toMatch(
      /tts_(real_time_factor|quality_score|last_request_timestamp_seconds)\{[^}]*voice="old"/,
    );
    expect(body).toContain(
      'tts_requests_total{engine="vendor",voice="old",source="ingest",result="success"} 1',
    );
    expect(body).toMatch(/tts_real_time_factor\{engine="vendor",voice="new"/);
    expect(body).toContain('tts_probe_success{engine="kokoro"} 1');
    expect(body).toMatch(/tts_real_time_factor\{engine="kokoro"/);
    expect(t.lifetimes.latestQuality.has("vendor")).toBe(false);
    const line = t.lines.find((l) => String(l.msg).includes("series_ttl_seconds"));
    expect(line).toMatchObject({ count: 1, series: ["vendor/old"], ttl_seconds: 60 });
    t.advance(60_000);
    t.lifetimes.sweep();
    expect(t.recorder.summary().has("vendor")).toBe(false);
    expect(t.recorder.summary().has("kokoro")).toBe(true);
  });
});
