// Stress generator benchmark (issue 12): the open-model generator's own ceiling against a null
// server on this machine (the highest offered rate it holds with < 1 % of sends more than 10 ms
// late and the answers keeping up), beside autocannon's closed-loop rate against the same server in
// the same run, the anchor. The null server runs in its own process and answers a 0.1 s WAV at once.
// Our generator goes through the real openai engine (one connection per request, as the engine
// does); autocannon keeps its connections alive, so its rate is the server's ceiling, not a peer.
// Usage: npx tsx bench/stress.ts [-- --rates 100,200,400,800,1600 --seconds 3 --connections 10]
import { type ChildProcess, spawn } from "node:child_process";
import os from "node:os";
import autocannon from "autocannon";
import { createEngine } from "../src/engines/index.ts";
import { runStress } from "../src/stress/run.ts";
import { parseRates } from "../src/stress/schedule.ts";
import { parseSlo } from "../src/stress/slo.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const RATES = parseRates(arg("rates", "100,200,400,800,1600"));
const SECONDS = Number(arg("seconds", "3"));
const CONNECTIONS = Number(arg("connections", "10"));

// A WAV header and 0.1 s of 16 kHz silence-free samples, answered at once.
const NULL_SERVER = `
const http = require("node:http");
const rate = 16000, n = 1600, wav = Buffer.alloc(44 + n * 2);
wav.write("RIFF", 0); wav.writeUInt32LE(36 + n * 2, 4); wav.write("WAVEfmt ", 8); wav.writeUInt32LE(16, 16);
wav.writeUInt16LE(1, 20); wav.writeUInt16LE(1, 22); wav.writeUInt32LE(rate, 24); wav.writeUInt32LE(rate * 2, 28);
wav.writeUInt16LE(2, 32); wav.writeUInt16LE(16, 34); wav.write("data", 36); wav.writeUInt32LE(n * 2, 40);
for (let i = 0; i < n; i++) wav.writeInt16LE(Math.round(8000 * Math.sin(i / 10)), 44 + i * 2);
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => { res.writeHead(200, { "Content-Type": "audio/wav", "Content-Length": wav.length }); res.end(wav); });
});
server.keepAliveTimeout = 5000;
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
`;

async function startNullServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["-e", NULL_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim())));
    child.once("exit", (code) => reject(new Error(`null server exited (${code})`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

async function main(): Promise<void> {
  const server = await startNullServer();
  try {
    const load = () =>
      os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ");
    console.log(
      `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, load ${load()}, node ${process.version}`,
    );

    const anchor = await autocannon({
      url: `${server.url}/v1/audio/speech`,
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "null", input: "Hello.", voice: "null" }),
      connections: CONNECTIONS,
      duration: SECONDS,
    });
    const anchorRps = anchor.requests.average;
    console.log(
      `autocannon closed loop, ${CONNECTIONS} connections, ${SECONDS} s: ${anchorRps.toFixed(0)} req/s (p99 ${anchor.latency.p99} ms)`,
    );

    const engine = createEngine(
      {
        name: "null",
        type: "openai",
        enabled: true,
        url: `${server.url}/v1/audio/speech`,
        model: "null",
        voice: "null",
        response_format: "wav",
      },
      { defaultTimeoutSeconds: 10, env: {} },
    );
    const report = await runStress(engine, {
      rates: RATES,
      arrival: "constant",
      stepDurationMs: SECONDS * 1000,
      warmupMs: 500,
      slo: parseSlo("p99_latency<1s,error_rate<1%"),
      texts: ["Hello."],
      textsSource: "bench",
      timeoutMs: 10_000,
      maxRequests: 10_000_000,
      maxDurationMs: 600_000,
      maxRate: 100_000,
      stopAfterFailures: 2,
      seed: 1,
      lateSendMs: 10,
      maxLateRatio: 0.01,
    });
    let ceiling = 0;
    let throughput = 0;
    for (const s of report.steps) {
      const keepsUp = s.achieved_rps >= 0.95 * (s.offered_rps ?? 0) && s.failed === 0;
      const keeps = s.valid && keepsUp;
      if (keeps) ceiling = Math.max(ceiling, s.offered_rps ?? 0);
      if (keepsUp) throughput = Math.max(throughput, s.offered_rps ?? 0);
      console.log(
        `generator ${s.offered_rps} req/s: achieved ${s.achieved_rps.toFixed(1)}, late ${(s.late_send_ratio * 100).toFixed(2)} %, max lag ${(s.max_send_lag_seconds * 1000).toFixed(1)} ms, p99 ${((s.latency_seconds.p99 ?? 0) * 1000).toFixed(1)} ms, errors ${s.failed} → ${keeps ? "held" : "not held"}`,
      );
    }
    console.log(`generator ceiling: ${ceiling} req/s (< 1 % late sends, answers keeping up)`);
    console.log(`generator throughput ceiling (answers keeping up, late sends aside): ${throughput} req/s`);
    console.log(`ratio generator ceiling / autocannon closed loop: ${(ceiling / anchorRps).toFixed(2)}`);
    console.log(`ratio throughput ceiling / autocannon closed loop: ${(throughput / anchorRps).toFixed(2)}`);
    console.log(`load after: ${load()}`);
    await engine.close?.();
  } finally {
    server.child.kill();
  }
}

await main();
