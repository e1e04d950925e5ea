// A flood of GET /probe requests for the embedded engine (the issue-18 case): N concurrent
// requests while /metrics is scraped every 100 ms and the scheduled probe runs every second.
// Reports the answers by status, the probes that failed, the scheduled probes' outcomes and the
// /metrics latencies during the flood. Run: npx tsx bench/probe-flood.ts [N, default 1000]
import { Agent, request } from "node:http";
import { Logger } from "../src/log.ts";
import { TTSPerformanceMonitor } from "../src/monitor.ts";
import type { ProbeResult } from "../src/probes/probe.ts";

const N = Number(process.argv[2] ?? 1000);
const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", (e) => resolve({ status: 0, body: String(e) }));
    req.end();
  });
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

const monitor = new TTSPerformanceMonitor({
  config: {
    engines: [{ name: "embedded", type: "embedded", voice: "slt" }],
    probes: {
      interval_seconds: 1,
      timeout_seconds: 10,
      texts: ["The quick brown fox jumps over the lazy dog."],
    },
    monitoring: { audio_analysis: false, collectors: { gpu: false } },
  },
  listenAddress: "127.0.0.1:0",
  logger: new Logger({ json: true, sink: { write: () => {} } }),
});
const scheduled: ProbeResult[] = [];
monitor.events.on("probe", (r: ProbeResult) => scheduled.push(r));
await monitor.startMonitoring();
const base = `http://${monitor.address}`;
await new Promise((r) => setTimeout(r, 2000));

const scrapes: number[] = [];
let flooding = true;
const scraper = (async () => {
  while (flooding) {
    const t0 = performance.now();
    await get(`${base}/metrics`);
    scrapes.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 100));
  }
})();
const before = scheduled.length;
const t0 = performance.now();
const answers = await Promise.all(Array.from({ length: N }, () => get(`${base}/probe?target=embedded`)));
const floodSeconds = (performance.now() - t0) / 1000;
// The scheduled probes keep going for 3 s after the flood.
await new Promise((r) => setTimeout(r, 3000));
flooding = false;
await scraper;
const during = scheduled.slice(before);
const byStatus = new Map<number, number>();
for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
const failedProbes = answers
  .filter((a) => a.status === 200 && a.body.includes("tts_probe_success{"))
  .filter((a) => /tts_probe_success\{[^}]*\} 0/.test(a.body)).length;
console.log(`/probe flood: ${N} concurrent requests, all answered in ${floodSeconds.toFixed(1)} s`);
console.log(`  answers by status: ${[...byStatus].map(([s, n]) => `${s}: ${n}`).join(", ")}`);
console.log(`  200 answers reporting a failed probe: ${failedProbes}`);
console.log(
  `  scheduled probes during and 3 s after: ${during.length}, failed: ${during.filter((r) => !r.success).length}`,
);
console.log(
  `  /metrics during the flood: ${scrapes.length} scrapes, p50 ${percentile(scrapes, 50).toFixed(0)} ms, p99 ${percentile(scrapes, 99).toFixed(0)} ms, max ${Math.max(...scrapes).toFixed(0)} ms`,
);
await monitor.stop();
