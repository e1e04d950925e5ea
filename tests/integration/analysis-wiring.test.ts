import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { QUALITY_SCORE_VERSION } from "../../src/audio/quality-score.ts";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { runCliArgs, tempDir } from "../helpers/exporter.ts";
import { requireBinary, waitFor } from "../helpers/tools.ts";

// Issue 4 wiring: every probe's audio and every ingested event with audio is analysed, and
// `tts-monitor analyze` prints every measure of one file.

const TEXT = "The quick brown fox jumps over the lazy dog.";
const quiet = new Logger({ json: true, sink: { write: () => {} } });
const monitors: TTSPerformanceMonitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});

function fliteWav(): { file: string; bytes: Buffer } {
  requireBinary("/usr/bin/flite", "flite");
  const file = join(tempDir(), "fox.wav");
  execFileSync("flite", ["-t", TEXT, "-o", file]);
  return { file, bytes: readFileSync(file) };
}

async function start(config: Record<string, unknown>) {
  const monitor = new TTSPerformanceMonitor({
    config: {
      monitoring: { collectors: { gpu: false, disk: false, filesystem: false, process: false } },
      ...config,
    },
    listenAddress: "127.0.0.1:0",
    logger: quiet,
  });
  monitors.push(monitor);
  await monitor.startMonitoring();
  return { monitor, metrics: async () => (await fetch(`http://${monitor.address}/metrics`)).text() };
}

const value = (body: string, series: string) => {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("analysis of probe audio", () => {
  it("the embedded engine's probe gets a quality score, measures and an intelligibility ratio", async () => {
    const { monitor, metrics } = await start({
      engines: [{ name: "embedded", type: "embedded", voice: "slt" }],
      probes: { interval_seconds: 3600, texts: [TEXT] },
    });
    const body = await waitFor(
      "the analysis of the first probe",
      async () => {
        const b = await metrics();
        return b.includes('tts_intelligibility_ratio{engine="embedded"') ? b : undefined;
      },
      30_000,
      200,
    );
    const score = value(body, 'tts_quality_score{engine="embedded",voice="slt"}');
    expect(score).toBeGreaterThanOrEqual(0.8);
    expect(value(body, 'tts_audio_f0_mean_hertz{engine="embedded",voice="slt"}')).toBeGreaterThan(120); // slt: a female voice
    expect(value(body, 'tts_audio_clipping_ratio{engine="embedded",voice="slt"}')).toBeLessThan(0.01);
    expect(
      value(body, 'tts_intelligibility_ratio{engine="embedded",voice="slt",asr="pocketsphinx"}'),
    ).toBeGreaterThanOrEqual(0.9);
    expect(monitor.getCurrentMetrics().qualityScore).toBe(score);
    expect(monitor.getCurrentMetrics().engines.embedded?.qualityScore).toBe(score);
  });

  it("audio_analysis: false exports no audio measures", async () => {
    const { monitor, metrics } = await start({
      engines: [{ name: "embedded", type: "embedded" }],
      monitoring: { audio_analysis: false, collectors: { gpu: false } },
      probes: { interval_seconds: 3600 },
    });
    await monitor.probe("embedded");
    await new Promise((r) => setTimeout(r, 500));
    const body = await metrics();
    expect(body).toMatch(/tts_latency_seconds_count\{engine="embedded"/);
    expect(body).not.toMatch(/^tts_quality_score\{/m);
  });
});

describe("analysis of ingested audio", () => {
  it("an event with audio_wav_base64 gets the same measures; clean speech scores higher than the same speech clipped", async () => {
    const { metrics, monitor } = await start({ engines: [] });
    const { bytes } = fliteWav();
    // The same WAV hard-clipped at 30 % of full scale: a degraded copy of the same speech.
    const clipped = Buffer.from(bytes);
    const dataAt = clipped.indexOf("data") + 8;
    for (let i = dataAt; i + 1 < clipped.length; i += 2) {
      const v = clipped.readInt16LE(i);
      clipped.writeInt16LE(Math.max(-9830, Math.min(9830, v * 3)), i);
    }
    const post = (engine: string, wav: Buffer) =>
      fetch(`http://${monitor.address}/api/v1/syntheses`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          engine,
          voice: "slt",
          text: TEXT,
          latency_ms: 120,
          audio_wav_base64: wav.toString("base64"),
        }),
      });
    expect((await post("clean", bytes)).status).toBe(202);
    expect((await post("clipped", clipped)).status).toBe(202);
    const body = await waitFor(
      "both analyses",
      async () => {
        const b = await metrics();
        return b.includes('tts_quality_score{engine="clean"') &&
          b.includes('tts_quality_score{engine="clipped"')
          ? b
          : undefined;
      },
      20_000,
      100,
    );
    const clean = value(body, 'tts_quality_score{engine="clean",voice="slt"}') ?? 0;
    const bad = value(body, 'tts_quality_score{engine="clipped",voice="slt"}') ?? 1;
    expect(clean).toBeGreaterThanOrEqual(0.8);
    expect(bad).toBeLessThan(0.8);
    expect(value(body, 'tts_audio_clipping_ratio{engine="clipped",voice="slt"}')).toBeGreaterThan(0.01);
  });
});

describe("tts-monitor analyze", () => {
  it("prints a table of every measure, and JSON with --json", async () => {
    const { file } = fliteWav();
    const table = await runCliArgs(["analyze", file, "--text", TEXT], 30_000);
    expect(table.code, table.stderr).toBe(0);
    for (const row of [
      "quality score",
      "SNR (WADA, blind)",
      "HNR",
      "clipping",
      "clicks",
      "silence",
      "spectral centroid",
      "F0 mean (YIN)",
      "jitter",
      "shimmer",
      "truncation",
      "intelligibility",
    ]) {
      expect(table.stdout).toContain(row);
    }
    const json = await runCliArgs(["analyze", file, "--json"], 30_000);
    const report = JSON.parse(json.stdout) as { analysis: Record<string, unknown> };
    expect(report.analysis.qualityScore).toMatchObject({ version: QUALITY_SCORE_VERSION });
    expect(report.analysis.durationSeconds).toBeGreaterThan(2);
    expect(typeof report.analysis.snrDb).toBe("number");
  });

  it("corrupt input: one clear line, exit 1, no stack trace", async () => {
    const file = join(tempDir(), "bad.wav");
    execFileSync("sh", ["-c", `printf 'RIFF\\x10\\x00\\x00\\x00WAVEjunk' > ${file}`]);
    const r = await runCliArgs(["analyze", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tts-monitor: cannot analyse .*bad\.wav: /);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
