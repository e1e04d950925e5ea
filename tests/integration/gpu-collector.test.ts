// The GPU collector against a fake nvidia-smi first on PATH, through the real exporter process:
// whatever nvidia-smi does, the exporter stays up, /metrics keeps answering, and a failure costs only
// the GPU series (success 0, one log line, no fake zeros). How fast a scrape is belongs to
// bench/scrape.ts; here a scrape only has to answer within what a user (or Prometheus) would notice.
import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { delimiter, join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  deepMerge,
  type ExporterOptions,
  type FakeNvidiaSmi,
  processesMatching,
  processGroupMembers,
  type RunningExporter,
  startExporter as startAnyExporter,
  tempDir,
} from "../helpers/exporter.ts";
import { httpGet, percentile, sampleLines, sampleValue } from "../helpers/http.ts";
import { FIXTURES, sleep, waitFor } from "../helpers/tools.ts";

const GPU_SUCCESS = 'tts_exporter_collector_success{collector="gpu"}';
/** What a user would see fail: a scrape that nvidia-smi holds up would take its timeout (3 s in the hang test). */
const SCRAPE_BOUND_MS = 1000;
const MiB = 1024 * 1024;
/**
 * The exporter without engines: no probe, synthesis, analysis or predicted-MOS worker competes with
 * the GPU collector for these two cores (their start-up cost is bench/scrape.ts's to measure), so a
 * slow scrape here is the GPU collector's doing. A 0.5 s interval (nvidia-smi's --loop-ms=500)
 * unless a test needs whole seconds: "several more runs" then takes half the wait.
 */
const INTERVAL_MS = 500;
/** A few more runs of the collector than a test has seen. */
const SOME_RUNS_MS = 3 * INTERVAL_MS;
const startExporter = (options: ExporterOptions) =>
  startAnyExporter({
    ...options,
    config: deepMerge(
      { engines: [], monitoring: { interval_seconds: INTERVAL_MS / 1000 } },
      options.config ?? {},
    ),
  });
const RTX3090 = '{gpu="0",name="NVIDIA GeForce RTX 3090",uuid="GPU-5a3c9f1e-7b2d-4c8a-9e61-0f4d2b8c7a13"}';

async function scrape(exporter: RunningExporter): Promise<{ body: string; ms: number }> {
  const res = await httpGet(`${exporter.url}/metrics`);
  expect(res.status).toBe(200);
  return res;
}

/** Waits until the GPU collector has reported `value` (0 or 1), and returns that scrape's body. */
function gpuSuccess(exporter: RunningExporter, value: 0 | 1, timeoutMs = 30_000): Promise<string> {
  return waitFor(
    `${GPU_SUCCESS} ${value}`,
    async () => {
      const { body } = await scrape(exporter);
      return sampleValue(body, GPU_SUCCESS) === value ? body : undefined;
    },
    timeoutMs,
  );
}

/** `n` scrapes, `gapMs` apart: the latencies in ms. */
async function scrapeLoop(exporter: RunningExporter, n: number, gapMs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const { body, ms } = await scrape(exporter);
    expect(body).toContain("tts_host_memory_total_bytes ");
    times.push(ms);
    if (gapMs > 0) await sleep(gapMs);
  }
  return times;
}

const gpuLines = (body: string) => sampleLines(body).filter((l) => l.startsWith("tts_gpu_"));
const gpuFailureLogs = (exporter: RunningExporter) =>
  exporter.logs().filter((l) => l.msg === "collector failed" && l.collector === "gpu");

async function failingCase(nvidiaSmi: FakeNvidiaSmi, expectedError: RegExp) {
  const exporter = await startExporter({ nvidiaSmi });
  const body = await gpuSuccess(exporter, 0);
  expect(gpuLines(body)).toEqual([]);
  // Still failing after more runs, still one log line (not one per interval).
  await sleep(SOME_RUNS_MS);
  const times = await scrapeLoop(exporter, 20, 10);
  const later = await scrape(exporter);
  expect(sampleValue(later.body, GPU_SUCCESS)).toBe(0);
  expect(gpuLines(later.body)).toEqual([]);
  expect(sampleValue(later.body, 'tts_exporter_collector_success{collector="memory"}')).toBe(1);
  const logs = gpuFailureLogs(exporter);
  expect(logs).toHaveLength(1);
  expect(String(logs[0]?.error)).toMatch(expectedError);
  expect(logs[0]?.level).toBe("warn");
  expect(Math.max(...times)).toBeLessThan(SCRAPE_BOUND_MS);
  expect(exporter.child.exitCode).toBeNull();
  expect((await httpGet(`${exporter.url}/-/healthy`)).status).toBe(200);
  expect(await exporter.stop()).toEqual({ code: 0, signal: null });
}

describe("GPU collector with a fake nvidia-smi first on PATH", () => {
  it("(a) one RTX 3090: GPU series with the right labels and values in bytes, °C and W", async () => {
    const exporter = await startExporter({ nvidiaSmi: { kind: "fixture", fixture: "rtx3090.csv" } });
    const body = await gpuSuccess(exporter, 1);
    const labels = '{gpu="0",name="NVIDIA GeForce RTX 3090",uuid="GPU-5a3c9f1e-7b2d-4c8a-9e61-0f4d2b8c7a13"}';
    expect(sampleValue(body, `tts_gpu_usage_percent${labels}`)).toBe(37);
    expect(sampleValue(body, `tts_gpu_temperature_celsius${labels}`)).toBe(54);
    expect(sampleValue(body, `tts_gpu_memory_used_bytes${labels}`)).toBe(3821 * MiB);
    expect(sampleValue(body, `tts_gpu_memory_total_bytes${labels}`)).toBe(24576 * MiB);
    expect(sampleValue(body, `tts_gpu_memory_usage_ratio${labels}`)).toBeCloseTo(3821 / 24576, 12);
    expect(sampleValue(body, `tts_gpu_power_draw_watts${labels}`)).toBe(112.45);
    expect(sampleValue(body, `tts_gpu_power_limit_watts${labels}`)).toBe(350);
    expect(sampleValue(body, `tts_gpu_fan_speed_percent${labels}`)).toBe(41);
    expect(sampleValue(body, `tts_gpu_sm_clock_hertz${labels}`)).toBe(1.695e9);
    expect(gpuLines(body)).toHaveLength(10);
    expect(gpuFailureLogs(exporter)).toEqual([]);
    const times = await scrapeLoop(exporter, 20, 10);
    expect(Math.max(...times)).toBeLessThan(SCRAPE_BOUND_MS);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
  });

  it("(a) a 4-GPU host: four GPUs, N/A fan and Not Supported power absent rather than zero", async () => {
    const exporter = await startExporter({ nvidiaSmi: { kind: "fixture", fixture: "a100x4.csv" } });
    const body = await gpuSuccess(exporter, 1);
    const usage = gpuLines(body).filter((l) => l.startsWith("tts_gpu_usage_percent{"));
    expect(usage.map((l) => /gpu="(\d)"/.exec(l)?.[1])).toEqual(["0", "1", "2", "3"]);
    expect(gpuLines(body).filter((l) => l.startsWith("tts_gpu_fan_speed_percent"))).toEqual([]);
    const power = gpuLines(body).filter((l) => l.startsWith("tts_gpu_power_draw_watts"));
    expect(power.map((l) => /gpu="(\d)"/.exec(l)?.[1])).toEqual(["0", "1", "3"]);
    expect(
      sampleValue(
        body,
        'tts_gpu_memory_total_bytes{gpu="3",name="NVIDIA A100-SXM4-80GB",uuid="GPU-3f1b5da4-6c8e-4a01-95f9-ae4b2a7c6db3"}',
      ),
    ).toBe(81920 * MiB);
    await exporter.stop();
  });

  it("(b) nvidia-smi hangs 60 s: every scrape answers within 1 s while it hangs, then success 0 and one log line", async () => {
    // A 3 s collector timeout so that the test sees the hang, the kill and a second hang.
    const exporter = await startExporter({
      nvidiaSmi: { kind: "hang" },
      config: { monitoring: { interval_seconds: 1, collector_timeout_seconds: 3 } },
    });
    const bin = exporter.fakeBin ?? "";
    const hung = () => processesMatching(`${bin}/nvidia-smi`);
    // A hung one with bash and its sleep both running (bash may be seen a moment before it has
    // started the sleep; on a slow machine one may already be killed at its timeout by then, and the
    // next run hangs again).
    const script = await waitFor(
      "a fake nvidia-smi hanging in its sleep",
      () => hung().find((p) => processGroupMembers(p.pid).length >= 2),
      20_000,
      20,
    );

    // While it hangs (3 s, longer than the 1 s bound): scrapes, each timed to the last byte, for as
    // long as the hung one lives (however slow this machine is, each of them ran during the hang).
    const times: number[] = [];
    while (processGroupMembers(script.pid).length > 0 && times.length < 200) {
      times.push(...(await scrapeLoop(exporter, 1, 15)));
    }
    expect(times.length).toBeGreaterThanOrEqual(2);
    console.log(
      `(b) ${times.length} scrapes while nvidia-smi hangs: median ${percentile(times, 50).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms`,
    );
    expect(Math.max(...times)).toBeLessThan(SCRAPE_BOUND_MS);
    // The exporter's own event-loop lag (p99 over the last interval) stays far below the hang.
    const lag = sampleValue((await scrape(exporter)).body, "tts_exporter_event_loop_lag_seconds");
    expect(lag).toBeLessThan(SCRAPE_BOUND_MS / 1000);

    const body = await gpuSuccess(exporter, 0);
    expect(gpuLines(body)).toEqual([]);
    // The timeout killed the whole process group: the script's orphaned `sleep 60` is gone too.
    await waitFor(
      "the first hung nvidia-smi and its sleep to be killed",
      () => (processGroupMembers(script.pid).length === 0 ? true : undefined),
      10_000,
      20,
    );
    // Hangs again on the next runs; still a single log line, and still fast scrapes.
    await sleep(2500);
    const again = await scrapeLoop(exporter, 30, 15);
    expect(Math.max(...again)).toBeLessThan(SCRAPE_BOUND_MS);
    const logs = gpuFailureLogs(exporter);
    expect(logs).toHaveLength(1);
    expect(String(logs[0]?.error)).toMatch(/timed out after 3 s/);
    const skipped = sampleValue(
      (await scrape(exporter)).body,
      'tts_exporter_collector_skipped_total{collector="gpu"}',
    );
    expect(skipped).toBeGreaterThan(0);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
    // Stopping the exporter aborts the run in flight: no fake nvidia-smi is left behind.
    await waitFor("no fake nvidia-smi left", () => (hung().length === 0 ? true : undefined), 10_000, 20);
  });

  it("(c) nvidia-smi exits 9: success 0, no GPU series, one log line with the exit code and message", async () => {
    await failingCase(
      { kind: "exit9" },
      /exit code 9: NVIDIA-SMI has failed because it couldn't communicate/,
    );
  });

  it("(d) nvidia-smi prints garbage: success 0, no GPU series, one log line naming the bad output", async () => {
    await failingCase({ kind: "garbage" }, /unexpected nvidia-smi output, line 3: 4 fields instead of 12/);
  });

  it("no nvidia-smi at all: success 0, no GPU series, one clear log line", async () => {
    await failingCase(
      { kind: "none" },
      /nvidia-smi not found on PATH: no NVIDIA driver here, so no GPU metrics/,
    );
  });

  it("an nvidia-smi installed while the exporter runs is found (PATH is searched again), and its GPU comes", async () => {
    const later = join(tempDir(), "bin");
    mkdirSync(later);
    const exporter = await startExporter({
      nvidiaSmi: { kind: "none" },
      env: { PATH: `${later}${delimiter}${process.env.PATH ?? ""}` },
    });
    await gpuSuccess(exporter, 0);
    symlinkSync(join(FIXTURES, "nvidia-smi", "print-fixture.sh"), join(later, "nvidia-smi"));
    const body = await gpuSuccess(exporter, 1);
    expect(sampleValue(body, `tts_gpu_usage_percent${RTX3090}`)).toBe(37);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
    await waitFor(
      "no fake nvidia-smi left",
      () => (processesMatching(`${later}/nvidia-smi`).length === 0 ? true : undefined),
      10_000,
    );
  });
});

describe("GPU collector with one long-lived nvidia-smi --loop-ms", () => {
  const L4_0 = '{gpu="0",name="NVIDIA L4",uuid="GPU-4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"}';
  const L4_1 = '{gpu="1",name="NVIDIA L4",uuid="GPU-5f6a7b8c-9d0e-4f1a-b2c3-d4e5f6a7b8c9"}';
  const loopCalls = (file: string) =>
    existsSync(file)
      ? readFileSync(file, "utf8")
          .trim()
          .split("\n")
          .filter((c) => c.includes("--loop-ms="))
      : [];
  /** The fake's loop processes (`node <bin>/nvidia-smi ... --loop-ms=...`), by pid. */
  const loops = (exporter: RunningExporter) =>
    processesMatching(`${exporter.fakeBin}/nvidia-smi`).filter((p) => p.cmdline.includes("--loop-ms="));
  /** The batch number the loop-counting fake put in utilization.gpu, for both GPUs of one scrape. */
  async function batchNumbers(exporter: RunningExporter): Promise<[number | undefined, number | undefined]> {
    const { body } = await scrape(exporter);
    return [
      sampleValue(body, `tts_gpu_usage_percent${L4_0}`),
      sampleValue(body, `tts_gpu_usage_percent${L4_1}`),
    ];
  }

  it("one process for the whole run: each interval's rows come from the loop, both GPUs of one loop together", async () => {
    const log = join(tempDir(), "nvidia-smi.log");
    const exporter = await startExporter({
      nvidiaSmi: { kind: "driver", profile: "loop-counting.json", log },
    });
    await gpuSuccess(exporter, 1);
    const [first] = await waitFor("the loop's first batch", () =>
      loops(exporter).length === 1 ? loops(exporter) : undefined,
    );
    const seen = new Set<number>();
    await waitFor(
      "three batches of the loop",
      async () => {
        const [gpu0, gpu1] = await batchNumbers(exporter);
        // Both rows of one loop are stored together: a scrape never mixes two loops' rows.
        expect(gpu0).toBe(gpu1);
        if (gpu0 !== undefined && gpu0 > 0) seen.add(gpu0);
        return seen.size >= 3 ? true : undefined;
      },
      30_000,
    );
    // A one-shot query to learn the driver, then the loop: not one process per interval.
    const calls = readFileSync(log, "utf8").trim().split("\n");
    expect(calls).toHaveLength(2);
    expect(calls[0]).not.toContain("--loop-ms");
    expect(calls[1]).toMatch(
      /^--query-gpu=index,name,uuid,.*,clocks\.sm --format=csv,noheader,nounits --loop-ms=500$/,
    );
    expect(loops(exporter).map((p) => p.pid)).toEqual([first?.pid]);
    expect(gpuFailureLogs(exporter)).toEqual([]);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
    await waitFor("the loop to be killed", () => (loops(exporter).length === 0 ? true : undefined), 10_000);
  });

  it("a loop that exits is started again, at once the first time, then after a growing wait; its GPUs come back each time", async () => {
    const log = join(tempDir(), "nvidia-smi.log");
    // Whole seconds: the growing waits must stand out from how long a node process takes to start here.
    const exporter = await startExporter({
      nvidiaSmi: { kind: "driver", profile: "loop-exits.json", log },
      config: { monitoring: { interval_seconds: 1 } },
    });
    await gpuSuccess(exporter, 1);
    // When each loop started, as this test sees the fake's log grow.
    const starts: number[] = [];
    await waitFor(
      "four loop starts",
      () => {
        while (loopCalls(log).length > starts.length) starts.push(Date.now());
        return starts.length >= 4 ? true : undefined;
      },
      60_000,
      50,
    );
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] ?? t));
    console.log(`loop restarts, ms apart: ${gaps.join(", ")}`);
    // Each loop lives one interval; the first restart is at the next run, later ones wait 2, then 4 intervals.
    expect(gaps[2]).toBeGreaterThan(gaps[0] ?? Number.POSITIVE_INFINITY);
    const failures = gpuFailureLogs(exporter);
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.length).toBeLessThan(starts.length);
    for (const f of failures) {
      expect(String(f.error)).toMatch(
        /^nvidia-smi --loop-ms=1000 stopped: exit code 3: Unable to determine the device handle/,
      );
    }
    const restarted = exporter
      .logs()
      .filter((l) => l.msg === "nvidia-smi --loop-ms stopped; starting it again");
    expect(restarted).toHaveLength(1);
    await gpuSuccess(exporter, 1);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
  });

  it("a loop that goes silent: success 0 once no row came for the interval plus the timeout, that one killed, a new one started", async () => {
    const log = join(tempDir(), "nvidia-smi.log");
    const exporter = await startExporter({
      nvidiaSmi: { kind: "driver", profile: "loop-silent.json", log },
      config: { monitoring: { collector_timeout_seconds: 2 } },
    });
    await gpuSuccess(exporter, 1);
    const [silent] = await waitFor("the loop", () =>
      loops(exporter).length === 1 ? loops(exporter) : undefined,
    );
    // It printed two batches and went quiet: the scrapes keep answering meanwhile.
    const times: number[] = [];
    const body = await waitFor(
      `${GPU_SUCCESS} 0`,
      async () => {
        const { body, ms } = await scrape(exporter);
        times.push(ms);
        return sampleValue(body, GPU_SUCCESS) === 0 ? body : undefined;
      },
      30_000,
      50,
    );
    expect(Math.max(...times)).toBeLessThan(SCRAPE_BOUND_MS);
    expect(gpuLines(body)).toEqual([]);
    const [failure, ...more] = gpuFailureLogs(exporter);
    expect(more).toEqual([]);
    expect(String(failure?.error)).toBe(
      "nvidia-smi --loop-ms=500 printed no GPU row for 2.5 s: killed, starting it again",
    );
    await waitFor(
      "the silent loop to be killed",
      () => (loops(exporter).every((p) => p.pid !== silent?.pid) ? true : undefined),
      10_000,
    );
    await gpuSuccess(exporter, 1);
    await waitFor("a second loop", () => (loopCalls(log).length === 2 ? true : undefined), 30_000);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
  });
});

describe("GPU collector against drivers that answer differently (a fake that checks fields like nvidia-smi)", () => {
  const calls = (file: string) => readFileSync(file, "utf8").trim().split("\n");

  it("a driver that rejects a queried field (exit 2, 'not a valid field'): GPU metrics still come, the field is dropped once for all", async () => {
    const log = join(tempDir(), "nvidia-smi.log");
    const exporter = await startExporter({
      nvidiaSmi: { kind: "driver", profile: "no-clocks-sm.json", log },
    });
    const body = await gpuSuccess(exporter, 1);
    const labels = '{gpu="0",name="NVIDIA GeForce GTX 1080",uuid="GPU-a230e637-c9e1-1b61-3830-a437b874d88d"}';
    expect(sampleValue(body, `tts_gpu_usage_percent${labels}`)).toBe(23);
    expect(sampleValue(body, `tts_gpu_temperature_celsius${labels}`)).toBe(48);
    expect(sampleValue(body, `tts_gpu_memory_total_bytes${labels}`)).toBe(8192 * MiB);
    expect(sampleValue(body, `tts_gpu_power_draw_watts${labels}`)).toBe(61.37);
    expect(gpuLines(body).filter((l) => l.startsWith("tts_gpu_sm_clock_hertz"))).toEqual([]);
    await sleep(SOME_RUNS_MS);
    // The full query was tried once; every later run asks only for what this driver knows.
    const queries = calls(log).map((c) => c.split(" ")[0] ?? "");
    expect(queries.filter((q) => q.endsWith(",clocks.sm"))).toHaveLength(1);
    expect(queries.length).toBeGreaterThanOrEqual(3);
    expect(queries.slice(1).every((q) => q.endsWith(",fan.speed"))).toBe(true);
    const notes = exporter.logs().filter((l) => l.collector === "gpu");
    expect(notes.map((l) => [l.level, l.field])).toEqual([["info", "clocks.sm"]]);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
  });

  it("power.draw reads [N/A] on a recent driver: the power comes from power.draw.instant; a MIG-style [N/A] utilisation is absent", async () => {
    const log = join(tempDir(), "nvidia-smi.log");
    const exporter = await startExporter({
      nvidiaSmi: { kind: "driver", profile: "r550-power-instant.json", log },
    });
    const body = await gpuSuccess(exporter, 1);
    const gpu0 = '{gpu="0",name="NVIDIA H100 80GB HBM3",uuid="GPU-7c1e2f4a-9b3d-4e5f-8a6b-1c2d3e4f5a6b"}';
    const gpu1 = '{gpu="1",name="NVIDIA H100 80GB HBM3",uuid="GPU-8d2f3a5b-0c4e-4f6a-9b7c-2d3e4f5a6b7c"}';
    await waitFor("power of GPU 0", async () =>
      sampleValue((await scrape(exporter)).body, `tts_gpu_power_draw_watts${gpu0}`) === 71.35
        ? true
        : undefined,
    );
    const later = (await scrape(exporter)).body;
    expect(sampleValue(later, `tts_gpu_power_draw_watts${gpu1}`)).toBe(312.84); // power.draw first
    expect(sampleValue(later, `tts_gpu_usage_percent${gpu0}`)).toBeUndefined();
    expect(sampleValue(later, `tts_gpu_usage_percent${gpu1}`)).toBe(41);
    expect(sampleValue(body, `tts_gpu_memory_total_bytes${gpu0}`)).toBe(81559 * MiB);
    expect(gpuFailureLogs(exporter)).toEqual([]);
    await sleep(SOME_RUNS_MS);
    // The extra power fields are asked for from then on, not tried again and again.
    const queries = calls(log).map((c) => c.split(" ")[0] ?? "");
    expect(queries[0]?.endsWith(",clocks.sm")).toBe(true);
    expect(queries.slice(1).every((q) => q.endsWith(",power.draw.average,power.draw.instant"))).toBe(true);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
  });

  it("exit code 14 with an infoROM warning before good rows: the GPUs are exported, success 1, one warning", async () => {
    const exporter = await startExporter({ nvidiaSmi: { kind: "driver", profile: "inforom-exit14.json" } });
    const body = await gpuSuccess(exporter, 1);
    const labels = '{gpu="0",name="Tesla V100-SXM2-32GB",uuid="GPU-b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"}';
    expect(sampleValue(body, `tts_gpu_power_draw_watts${labels}`)).toBe(60.2);
    expect(sampleValue(body, `tts_gpu_usage_percent${labels}`)).toBe(10);
    await sleep(SOME_RUNS_MS);
    const notes = exporter.logs().filter((l) => l.collector === "gpu");
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ level: "warn", exit_code: 14 });
    expect(String(notes[0]?.message)).toContain("infoROM is corrupted");
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
  });
});
