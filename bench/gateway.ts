// Gateway overhead: the latency a request gains by going through the gateway (cache off, distinct
// texts: the hit-free path) versus calling the same engine server directly, in the same run,
// interleaved; then cache hits per second. Run: npx tsx bench/gateway.ts
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { configSchema } from "../src/config/schema.ts";
import { createEngine } from "../src/engines/index.ts";
import { createGateway, listenGateway } from "../src/gateway/index.ts";
import { SynthesisRecorder } from "../src/ingest/recorder.ts";
import { Logger } from "../src/log.ts";
import { MetricsRegistry } from "../src/metrics/registry.ts";
import { boundAddress, closeServer } from "../src/server/listen.ts";

const N = Number(process.env.N ?? 2000);
const HIT_SECONDS = 3;

/** A 0.1 s, 16 kHz mono WAV, answered at once: the engine's own time is near zero. */
function wav(): Buffer {
  const n = 1600;
  const b = Buffer.alloc(44 + 2 * n);
  b.write("RIFF", 0);
  b.writeUInt32LE(36 + 2 * n, 4);
  b.write("WAVEfmt ", 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16000, 24);
  b.writeUInt32LE(32000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36);
  b.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), 44 + 2 * i);
  return b;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function post(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 200
            ? resolve(performance.now() - t0)
            : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const q = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;

async function main(): Promise<void> {
  const audio = wav();
  const engineServer = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "Content-Type": "audio/wav", "Content-Length": audio.length });
      res.end(audio);
    });
  });
  engineServer.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => engineServer.listen(0, "127.0.0.1", r));
  const engineUrl = `http://127.0.0.1:${(engineServer.address() as AddressInfo).port}/v1/audio/speech`;
  const engines = [
    { name: "fast", type: "openai", url: engineUrl, model: "m", voice: "v", response_format: "wav" },
  ];

  const start = async (gateway: Record<string, unknown>) => {
    const config = configSchema.parse({ engines, gateway });
    const built = new Map(
      config.engines.map((e) => [e.name, createEngine(e, { defaultTimeoutSeconds: 10, env: {} })]),
    );
    const registry = new MetricsRegistry();
    const recorder = new SynthesisRecorder(registry, {
      cacheWindowSeconds: 300,
      maxEngines: 50,
      maxVoices: 200,
      knownEngines: ["fast"],
    });
    const gw = createGateway({
      config: config.gateway,
      engines: () => built,
      registry,
      log: new Logger({ json: true, sink: { write: () => {} } }),
      record: (e) => recorder.record(e, "gateway"),
      recordChunkGaps: (labels, gaps) => recorder.recordChunkGaps(labels, "gateway", gaps),
    });
    const server = await listenGateway(gw, "127.0.0.1:0");
    return { url: `http://${boundAddress(server)}/v1/audio/speech`, close: () => closeServer(server) };
  };

  // 1. Added latency on the hit-free path.
  const miss = await start({ cache: { max_bytes: 0 }, limits: { initial: 64, min: 64, max: 64 } });
  const direct: number[] = [];
  const through: number[] = [];
  const body = (i: number) =>
    JSON.stringify({ model: "fast", input: `Sentence number ${i}.`, response_format: "wav" });
  for (let i = 0; i < 200; i++) {
    await post(engineUrl, body(i));
    await post(miss.url, body(i));
  }
  for (let i = 0; i < N; i++) {
    direct.push(await post(engineUrl, body(i)));
    through.push(await post(miss.url, body(i)));
  }
  direct.sort((a, b) => a - b);
  through.sort((a, b) => a - b);
  const row = (label: string, s: number[]) =>
    console.log(`${label.padEnd(34)} p50 ${q(s, 0.5).toFixed(3)} ms  p99 ${q(s, 0.99).toFixed(3)} ms`);
  row("direct to the engine", direct);
  row("through the gateway (no cache)", through);
  console.log(
    `added                              p50 ${(q(through, 0.5) - q(direct, 0.5)).toFixed(3)} ms  p99 ${(q(through, 0.99) - q(direct, 0.99)).toFixed(3)} ms`,
  );
  await miss.close();

  // 2. Cache hits per second: one text, 8 clients back to back.
  const hit = await start({});
  const one = body(0);
  await post(hit.url, one);
  let hits = 0;
  const until = performance.now() + HIT_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < until) {
        await post(hit.url, one);
        hits++;
      }
    }),
  );
  console.log(
    `cache hits                         ${Math.round(hits / HIT_SECONDS).toLocaleString("en-US")} /s (8 clients, ${audio.length} B each)`,
  );
  await hit.close();
  agent.destroy();
  await new Promise<void>((r) => engineServer.close(() => r()));
}

await main();
