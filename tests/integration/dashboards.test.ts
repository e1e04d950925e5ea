// Every panel of every generated dashboard returns data: a real exporter (embedded engine probing, the
// fixture nvidia-smi first on PATH, ingested events for the cache, time to first audio and failures)
// scraped by a real Prometheus that evaluates the generated recording rules; each panel's query, with
// its variables substituted as "All", is run through Prometheus' HTTP API.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.ts";
import { dashboards, panelQueries } from "../../src/monitoring/dashboards/index.ts";
import { localPrometheusConfig } from "../../src/monitoring/local-stack.ts";
import { rulesYaml } from "../../src/monitoring/monitoring-files.ts";
import { productionProfile } from "../../src/monitoring/profile.ts";
import { type RunningExporter, startExporter, tempDir } from "../helpers/exporter.ts";
import { type RunningPrometheus, startPrometheus } from "../helpers/prometheus.ts";
import { REPO_ROOT, sleep, waitFor } from "../helpers/tools.ts";
import { type SseSpeechServer, startSseSpeechServer } from "../helpers/tts-servers/sse-speech-server.ts";

/** Grafana's variables as Grafana would expand them with "All" selected. */
export function substituteVariables(expr: string): string {
  return expr
    .replaceAll("$__rate_interval", "1m")
    .replaceAll("$instance", ".*")
    .replaceAll("$engine", ".*")
    .replaceAll("$voice", ".*");
}

async function ingest(url: string, events: unknown[]): Promise<void> {
  const res = await fetch(`${url}/api/v1/syntheses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(events),
  });
  if (res.status !== 202) throw new Error(`ingest: ${res.status} ${await res.text()}`);
}

const config = loadConfig(join(REPO_ROOT, "config/config.json"), {});
const all = dashboards(config.thresholds, productionProfile);
let exporter: RunningExporter;
let prometheus: RunningPrometheus;
let sse: SseSpeechServer;
let gateway: string;

beforeAll(async () => {
  // A streaming engine (OpenAI's SSE speech, a pause after the first audio) for the inter-chunk
  // panels: its probes and the gateway's requests record gaps and stalls.
  sse = await startSseSpeechServer();
  // Under a second of speech: no predicted MOS, a quick analysis, so that its probes do not crowd
  // the analysis backlog the calibration tone below needs.
  sse.behaviour = { stream: { firstMs: 20, restMs: 150 }, say: "Hi." };
  exporter = await startExporter({
    // The gateway runs too: its row's panels need its series.
    args: ["gateway", "--prometheus-export"],
    // Predicted MOS at nice 0 and one window per clip: on a CI machine whose cores are all busy a
    // niced inference thread starves, and one window took 12 s of wall time there.
    config: {
      gateway: { listen_address: "127.0.0.1:0" },
      engines: [
        { name: "embedded", type: "embedded", voice: "slt" },
        {
          name: "streaming",
          type: "openai",
          url: `${sse.url}/v1/audio/speech`,
          model: "tts-1",
          voice: "alloy",
          response_format: "wav",
          stream_format: "sse",
        },
      ],
      probes: { interval_seconds: 1, timeout_seconds: 10 },
      monitoring: { mos_nice: 0, mos_max_windows: 1 },
    },
    nvidiaSmi: { kind: "fixture", fixture: "rtx3090.csv" },
    env: { TTS_MONITOR_INGEST_TOKEN: undefined },
  });
  const dir = tempDir("tts-dashboards-");
  const rules = join(dir, "rules.yml");
  writeFileSync(rules, rulesYaml(config, productionProfile));
  prometheus = await startPrometheus(
    localPrometheusConfig({
      exporter: `127.0.0.1:${exporter.port}`,
      ruleFiles: [rules],
      scrapeInterval: "1s",
      evaluationInterval: "1s",
    }),
  );
  // Ingested traffic: cache lookups, streaming timings, and failures with reasons (the embedded probe
  // never fails), over a few scrapes so that rate() sees them move.
  gateway = await waitFor(
    "the 'gateway listening' log line",
    () => exporter.logs().find((l) => l.msg === "gateway listening")?.address as string | undefined,
    30_000,
  );
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`http://${gateway}/v1/audio/speech`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: i < 3 ? "embedded" : "streaming",
        input: "Hello from the gateway.",
        response_format: "wav",
      }),
    });
    if (res.status !== 200) throw new Error(`gateway: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
  for (let round = 0; round < 6; round++) {
    await ingest(exporter.url, [
      {
        engine: "kokoro",
        voice: "af_heart",
        text: "Hello there.",
        latency_ms: 210,
        ttfa_ms: 80,
        audio_duration_ms: 1200,
        cache_hit: round % 2 === 0,
      },
      {
        engine: "kokoro",
        voice: "af_heart",
        text: "Hello again.",
        latency_ms: 180,
        ttfa_ms: 60,
        audio_duration_ms: 1100,
        cache_hit: false,
      },
      { engine: "kokoro", voice: "af_heart", latency_ms: 5000, success: false, error_reason: "timeout" },
    ]);
    await sleep(1000);
  }
  // SINAD and THD are measured on periodic signals only (speech never is one): a calibration tone,
  // 440 Hz with 5 % third harmonic, reported with its audio, gives those panels their data.
  await ingest(exporter.url, [
    { engine: "calibration", voice: "tone", latency_ms: 5, audio_wav_base64: toneWav().toString("base64") },
    // Audio that is not a WAV: a counted analysis failure (tts_audio_analysis_failures_total).
    {
      engine: "calibration",
      voice: "broken",
      text: "Hello.",
      latency_ms: 5,
      audio_wav_base64: Buffer.from("not a wav file").toString("base64"),
    },
  ]);
  // The predicted MOS takes seconds of CPU per clip in a worker; wait for its first value here, so
  // the panel check below does not spend its own deadline on it.
  const until = Date.now() + 70_000;
  while (!(await (await fetch(`${exporter.url}/metrics`)).text()).includes("tts_audio_predicted_mos{")) {
    if (Date.now() > until)
      throw new Error(`no tts_audio_predicted_mos after 70 s:\n${exporter.stderr().slice(-2000)}`);
    await sleep(1000);
  }
}, 150_000);

function toneWav(): Buffer {
  const rate = 16_000;
  const n = rate; // 1 s
  const wav = Buffer.alloc(44 + 2 * n);
  wav.write("RIFF", 0);
  wav.writeUInt32LE(36 + 2 * n, 4);
  wav.write("WAVEfmt ", 8);
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(2 * rate, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write("data", 36);
  wav.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const v = 0.5 * Math.sin(2 * Math.PI * 440 * t) + 0.025 * Math.sin(2 * Math.PI * 1320 * t);
    wav.writeInt16LE(Math.round(v * 32767), 44 + 2 * i);
  }
  return wav;
}

afterAll(async () => {
  await prometheus?.stop();
  await exporter?.stop();
  await sse?.close();
});

describe("dashboards against a real Prometheus scraping a real exporter", () => {
  const cases = Object.entries(all).flatMap(([file, d]) =>
    panelQueries(d).map((q) => ({ name: `${file} › ${q.panel} › ${q.expr}`, expr: q.expr })),
  );

  it("has panels to check", () => {
    expect(cases.length).toBeGreaterThan(40);
  });

  it("every panel query returns at least one series", async () => {
    const empty = new Map<string, string>();
    const deadline = Date.now() + 45_000;
    let pending = cases;
    // Recording rules and rate() need a few evaluations: retry the empty ones until the deadline.
    for (;;) {
      const still: typeof cases = [];
      for (const c of pending) {
        const result = await prometheus.query(substituteVariables(c.expr)).catch((e: unknown) => {
          empty.set(c.name, String(e));
          return [];
        });
        if (result.length === 0) still.push(c);
        else empty.delete(c.name);
      }
      pending = still;
      if (pending.length === 0 || Date.now() > deadline) break;
      await sleep(2000);
    }
    expect(
      pending.map((c) => `${c.name}${empty.has(c.name) ? ` (${empty.get(c.name)})` : ""}`),
      `exporter log tail:\n${exporter.stderr().slice(-3000)}`,
    ).toEqual([]);
  }, 90_000);

  it("the variables' own queries find values", async () => {
    for (const d of Object.values(all)) {
      for (const v of d.templating?.list ?? []) {
        if (v.type !== "query") continue;
        const def = String(v.query);
        const m = /^label_values\((.*), (\w+)\)$/.exec(def);
        expect(m, def).not.toBeNull();
        const result = await prometheus.query(substituteVariables(m?.[1] ?? ""));
        expect(
          result.some((s) => s.metric[m?.[2] ?? ""] !== undefined),
          def,
        ).toBe(true);
      }
    }
  });

  it("the stall panel shows the streaming engine's probes and its answers through the gateway", async () => {
    const engineDashboard = all["dashboards/tts-engine.json"];
    if (!engineDashboard) throw new Error("no dashboards/tts-engine.json");
    const panel = panelQueries(engineDashboard).filter(
      (q) => q.panel === "Streaming: inter-chunk gaps and stalls",
    );
    expect(panel).toHaveLength(3);
    // A fresh answer through the gateway, so that the rate window holds one.
    const res = await fetch(`http://${gateway}/v1/audio/speech`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "streaming",
        input: "One more streamed answer.",
        response_format: "wav",
      }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const deadline = Date.now() + 30_000;
    const seen = async () => {
      const found = new Set<string>();
      for (const q of panel)
        for (const s of await prometheus.query(substituteVariables(q.expr)))
          if (s.metric.engine === "streaming" && Number.isFinite(Number(s.value[1])))
            found.add(`${s.metric.source}`);
      return found;
    };
    let found = await seen();
    while (!(found.has("probe") && found.has("gateway")) && Date.now() < deadline) {
      await sleep(1000);
      found = await seen();
    }
    expect([...found].sort()).toEqual(["gateway", "probe"]);
  }, 60_000);

  it("the engine variable offers the probed engine and the one only reported by ingestion", async () => {
    const engine = all["dashboards/tts-engine.json"]?.templating?.list?.find((v) => v.name === "engine");
    const m = /^label_values\((.*), engine\)$/.exec(String(engine?.query));
    const result = await prometheus.query(substituteVariables(m?.[1] ?? ""));
    const engines = new Set(result.map((s) => s.metric.engine));
    expect([...engines].sort()).toEqual(expect.arrayContaining(["embedded", "kokoro"]));
  });
});
