import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/engines/index.ts";
import type { Engine } from "../../src/engines/types.ts";
import { SynthesisRecorder } from "../../src/ingest/recorder.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { runProbe } from "../../src/probes/probe.ts";
import { recordProbe } from "../../src/probes/record.ts";
import { context, timeout } from "../helpers/tts-servers/expect-engine.ts";
import { startWyomingServer, type WyomingTestServer } from "../helpers/tts-servers/wyoming-server.ts";

// Wyoming streaming synthesis speaks sentence by sentence: a slow sentence is a stall between
// audio chunks, which a probe records in tts_inter_chunk_gap_seconds and tts_stall_seconds.
const SLACK_MS = 1000;
const TEXT = "First sentence here. And a second one.";

let wyoming: WyomingTestServer;
let engine: Engine;

beforeAll(async () => {
  wyoming = await startWyomingServer();
  engine = createEngine(
    { name: "wy", type: "wyoming", enabled: true, url: wyoming.url, streaming: true },
    context,
  );
});
afterAll(() => wyoming.close());

describe("a stall between sentences of a streamed Wyoming answer", () => {
  it("is the longest gap, ending at the second sentence's first chunk, and the probe records it", async () => {
    wyoming.behaviour = { supportsStreaming: true, sentenceMs: 600 };
    const { timings: t } = await engine.synthesize({ text: TEXT, signal: timeout(10_000) });
    const times = t.chunks ?? [];
    let k = 1;
    for (let i = 2; i < times.length; i++)
      if ((times[i] as number) - (times[i - 1] as number) > (times[k] as number) - (times[k - 1] as number))
        k = i;
    const before = (times[k - 1] as number) - t.start;
    const after = (times[k] as number) - t.start;
    // The second sentence leaves the server 600 ms after the request arrived: never earlier here.
    expect(after).toBeGreaterThanOrEqual(600);
    expect(after - before).toBeLessThan(600 + SLACK_MS);

    const registry = new MetricsRegistry();
    const recorder = new SynthesisRecorder(registry, {
      cacheWindowSeconds: 300,
      maxEngines: 5,
      maxVoices: 5,
    });
    const result = await runProbe(engine, TEXT, 10_000);
    expect(result.success, result.error).toBe(true);
    recordProbe(result, registry, recorder);
    const body = (await registry.render(false)).body;
    const labels = `engine="wy",voice="${engine.voice}",source="probe"`;
    expect(body).toContain(`tts_stall_seconds_count{${labels}} 1`);
    const gaps = Number(
      new RegExp(`tts_inter_chunk_gap_seconds_count\\{${labels}\\} (\\d+)`).exec(body)?.[1],
    );
    expect(gaps).toBe((result.chunkGapsMs ?? []).length);
    expect(gaps).toBeGreaterThan(2);
    const stall = Number(new RegExp(`tts_stall_seconds_sum\\{${labels}\\} (\\S+)`).exec(body)?.[1]) * 1000;
    expect(stall).toBeCloseTo(Math.max(...(result.chunkGapsMs ?? [])), 6);
    expect(stall).toBeLessThan(600 + SLACK_MS);
  });
});
