// The soak's exporter (scripts/soak.ts forks it): the compiled build, as `npm start` runs it, in a
// plain Node process. No TypeScript loader is registered here: tsx would add its own module-hook
// thread and its esbuild service to the process whose memory the soak measures, which users never
// run. Answers "sample" with its RSS, its heap after a GC and V8's per-space sizes.
// argv: ttsUrl targets historySeconds
import { constants, PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";

const dist = (path) => new URL(`../dist/${path}`, import.meta.url).href;
const { TTSPerformanceMonitor } = await import(dist("monitor.js"));
const { startDashboard } = await import(dist("server/dashboard.js"));
const { Logger } = await import(dist("log.js"));

const [ttsUrl = "", targetsArg = "1", historyArg = "300"] = process.argv.slice(2);
const targets = Number(targetsArg);
const monitor = new TTSPerformanceMonitor({
  config: {
    monitoring: { interval_seconds: 1, mos: false },
    probes: { interval_seconds: 1, timeout_seconds: 5, texts: ["Soak test probe."] },
    engines: Array.from({ length: targets }, (_, i) => ({
      name: i === 0 ? "soak" : `soak${i + 1}`,
      type: "openai",
      url: ttsUrl,
      response_format: "wav",
    })),
    ingest: { max_events_per_request: 100 },
    server: { listen_address: "127.0.0.1:0", dashboard_address: "127.0.0.1:0" },
    dashboard: { history_seconds: Number(historyArg) },
  },
  logger: new Logger({ json: true, level: "error" }),
  env: {},
});
let probes = 0;
// Full (mark-compact) collections the exporter ran by itself: the samples' own gc() is left out.
const gcMajor = { count: 0, ms: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const d = e.detail ?? {};
    if (d.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
    if ((d.flags ?? 0) & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) continue;
    gcMajor.count++;
    gcMajor.ms += e.duration;
    gcMajor.maxMs = Math.max(gcMajor.maxMs, e.duration);
  }
}).observe({ entryTypes: ["gc"] });
monitor.events.on("probe", () => probes++);
await monitor.startMonitoring();
const dashboard = await startDashboard(monitor, { address: "127.0.0.1:0", env: {} });
process.on("message", () => {
  globalThis.gc?.();
  // This process's RSS: its children are short-lived (a recogniser run per clip, in or out of a
  // sample by chance); the predicted-MOS worker process is off here (mos: false).
  const m = process.memoryUsage();
  const spaces = {};
  for (const s of getHeapSpaceStatistics())
    spaces[s.space_name] = { committed: s.physical_space_size, used: s.space_used_size };
  process.send?.({ rss: m.rss, heap: m.heapUsed, external: m.external, spaces, probes, gcMajor });
});
// The soak itself gone (killed, crashed): its IPC channel closes; do not run on as an orphan.
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => {
  void dashboard
    .close()
    .then(() => monitor.stop())
    .then(() => process.exit(0));
});
process.send?.({ exporter: `http://${monitor.address}`, dashboard: dashboard.url });
