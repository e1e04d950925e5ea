import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sample, speech, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { type HttpTtsServer, startHttpTtsServer } from "../helpers/tts-servers/http-tts-server.ts";
import { type SseSpeechServer, startSseSpeechServer } from "../helpers/tts-servers/sse-speech-server.ts";

// Inter-chunk timing at the gateway: real streaming engines (OpenAI's SSE speech and a chunked
// OpenAI-shaped HTTP answer, real flite audio) behind the real gateway, with a stall injected
// between the first audio and the rest. The gateway records each upstream answer's gaps once in
// tts_inter_chunk_gap_seconds and its longest in tts_stall_seconds, source="gateway".

const SLACK_MS = 1000; // the timing tests' accuracy (tests/integration/engines-timing.test.ts)
const FIRST_MS = 50;
const STALL_MS = 700;

let sse: SseSpeechServer;
let http: HttpTtsServer;
let gw: TestGateway;
let n = 0;
const text = (what: string) => `Chunk gaps ${what}, number ${++n}. A second sentence follows it.`;

beforeAll(async () => {
  sse = await startSseSpeechServer();
  http = await startHttpTtsServer();
  const base = {
    type: "openai",
    enabled: true,
    model: "tts-1",
    voice: "alloy",
    response_format: "wav",
  } as const;
  gw = await startTestGateway([
    { ...base, name: "sse", url: `${sse.url}/v1/audio/speech`, stream_format: "sse" },
    { ...base, name: "chunked", url: `${http.url}/v1/audio/speech` },
  ]);
});
afterAll(async () => {
  await gw?.close();
  await sse?.close();
  await http?.close();
});

const labels = (engine: string) => ({ engine, voice: "alloy", source: "gateway" });
const read = (name: string, engine: string) => sample(gw.registry, name, labels(engine));

describe.each([
  ["sse", () => (sse.behaviour = { stream: { firstMs: FIRST_MS, restMs: STALL_MS } })],
  ["chunked", () => (http.behaviour = { stream: { firstMs: FIRST_MS, restMs: STALL_MS } })],
] as const)("the gateway in front of a streaming engine (%s)", (engine, inject) => {
  it(`a ${STALL_MS} ms stall upstream is the one tts_stall_seconds observation, within the timing accuracy`, async () => {
    inject();
    const res = await speech(gw.url, {
      model: engine,
      input: text("stall"),
      voice: "alloy",
      response_format: "wav",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-tts-gateway-cache")).toBe("miss");
    expect(await read("tts_stall_seconds_count", engine)).toBe(1);
    const gaps = await read("tts_inter_chunk_gap_seconds_count", engine);
    expect(gaps).toBeGreaterThanOrEqual(1);
    const stallMs = (await read("tts_stall_seconds_sum", engine)) * 1000;
    const gapSumMs = (await read("tts_inter_chunk_gap_seconds_sum", engine)) * 1000;
    expect(gapSumMs).toBeGreaterThanOrEqual(stallMs);
    // The rest cannot reach the gateway before the server sent it: a first chunk read late shortens
    // the stall only by what it adds to the time to first audio (ms clocks: 5 ms of rounding).
    const ttfaMs = (await read("tts_time_to_first_audio_seconds_sum", engine)) * 1000;
    expect(ttfaMs + stallMs).toBeGreaterThanOrEqual(FIRST_MS + STALL_MS - 5);
    expect(stallMs).toBeLessThan(STALL_MS + SLACK_MS);
  });

  it("a cache hit records no gap; requests that share one upstream answer record it once", async () => {
    inject();
    const stalls = await read("tts_stall_seconds_count", engine);
    const gaps = await read("tts_inter_chunk_gap_seconds_count", engine);
    const body = { model: engine, input: text("shared"), voice: "alloy", response_format: "wav" };
    const answers = await Promise.all([speech(gw.url, body), speech(gw.url, body), speech(gw.url, body)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.headers.get("x-tts-gateway-cache")).sort()).toEqual([
      "coalesced",
      "coalesced",
      "miss",
    ]);
    expect(await read("tts_stall_seconds_count", engine)).toBe(stalls + 1);
    const added = (await read("tts_inter_chunk_gap_seconds_count", engine)) - gaps;
    expect(added).toBeGreaterThanOrEqual(1);

    const hit = await speech(gw.url, body);
    expect(hit.headers.get("x-tts-gateway-cache")).toBe("hit");
    expect(hit.body.equals(answers[0]?.body as Buffer)).toBe(true);
    expect(await read("tts_stall_seconds_count", engine)).toBe(stalls + 1);
    expect(await read("tts_inter_chunk_gap_seconds_count", engine)).toBe(gaps + added);
    // Every request was recorded (the 3 shared and the hit), the gaps once per upstream answer.
    expect(await sample(gw.registry, "tts_requests_total", { ...labels(engine), result: "success" })).toBe(5);
  });
});

it("an SSE stream that stalls and then ends without done: a failure, and its stall recorded", async () => {
  sse.behaviour = { stream: { firstMs: FIRST_MS, restMs: STALL_MS }, fault: "no-done" };
  const stalls = await read("tts_stall_seconds_count", "sse");
  const before = await read("tts_stall_seconds_sum", "sse");
  // The audio went out before the stream broke: the client's answer is cut.
  await expect(
    speech(gw.url, { model: "sse", input: text("broken"), voice: "alloy", response_format: "wav" }),
  ).rejects.toThrow();
  await expect.poll(() => read("tts_stall_seconds_count", "sse")).toBe(stalls + 1);
  const stallMs = ((await read("tts_stall_seconds_sum", "sse")) - before) * 1000;
  expect(stallMs).toBeGreaterThan(0);
  expect(stallMs).toBeLessThan(STALL_MS + SLACK_MS);
  expect(await sample(gw.registry, "tts_failures_total", labels("sse"))).toBe(1);
  sse.behaviour = {};
});
