// The GPU collector against a fake nvidia-smi first on PATH, through the real exporter process:
// whatever nvidia-smi does, the exporter stays up, /metrics answers fast, and a failure costs only
// the GPU series (success 0, one log line, no fake zeros).
import { describe, expect, it } from "vitest";
import {
  type FakeNvidiaSmi,
  processesMatching,
  processGroupMembers,
  type RunningExporter,
  startExporter,
} from "../helpers/exporter.ts";
import { httpGet, percentile, sampleLines, sampleValue } from "../helpers/http.ts";
import { sleep, waitFor } from "../helpers/tools.ts";

const GPU_SUCCESS = 'tts_exporter_collector_success{collector="gpu"}';
const SCRAPE_BOUND_MS = 50;
const MiB = 1024 * 1024;

async function scrape(exporter: RunningExporter): Promise<{ body: string; ms: number }> {
  const res = await httpGet(`${exporter.url}/metrics`);
  expect(res.status).toBe(200);
  return res;
}

/** Waits until the GPU collector has reported `value` (0 or 1), and returns that scrape's body. */
function gpuSuccess(exporter: RunningExporter, value: 0 | 1, timeoutMs = 10_000): Promise<string> {
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
  await sleep(2500);
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

  it("(b) nvidia-smi hangs 60 s: every scrape stays under 50 ms while it hangs, then success 0 and one log line", async () => {
    // A 2 s collector timeout so that the test sees the hang, the kill and a second hang.
    const exporter = await startExporter({
      nvidiaSmi: { kind: "hang" },
      config: { monitoring: { collector_timeout_seconds: 2 } },
    });
    const bin = exporter.fakeBin ?? "";
    const hung = () => processesMatching(`${bin}/nvidia-smi`);
    await waitFor(
      "the fake nvidia-smi to be running",
      () => (hung().length > 0 ? true : undefined),
      5000,
      20,
    );
    const script = hung()[0];
    if (!script) throw new Error("no hung nvidia-smi");
    expect(processGroupMembers(script.pid).length).toBeGreaterThanOrEqual(2); // bash and its sleep

    // While it hangs: a loop of scrapes, each timed to the last byte.
    const times = await scrapeLoop(exporter, 60, 15);
    expect(hung().map((p) => p.pid)).toContain(script.pid); // still hung through the whole loop
    const median = percentile(times, 50);
    const max = Math.max(...times);
    console.log(
      `(b) ${times.length} scrapes while nvidia-smi hangs: median ${median.toFixed(2)} ms, max ${max.toFixed(2)} ms`,
    );
    expect(median).toBeLessThan(SCRAPE_BOUND_MS / 5);
    expect(max).toBeLessThan(SCRAPE_BOUND_MS);

    const body = await gpuSuccess(exporter, 0);
    expect(gpuLines(body)).toEqual([]);
    // The timeout killed the whole process group: the script's orphaned `sleep 60` is gone too.
    await waitFor(
      "the first hung nvidia-smi and its sleep to be killed",
      () => (processGroupMembers(script.pid).length === 0 ? true : undefined),
      3000,
      20,
    );
    // Hangs again on the next runs; still a single log line, and still fast scrapes.
    await sleep(2500);
    const again = await scrapeLoop(exporter, 30, 15);
    expect(Math.max(...again)).toBeLessThan(SCRAPE_BOUND_MS);
    const logs = gpuFailureLogs(exporter);
    expect(logs).toHaveLength(1);
    expect(String(logs[0]?.error)).toMatch(/timed out after 2 s/);
    const skipped = sampleValue(
      (await scrape(exporter)).body,
      'tts_exporter_collector_skipped_total{collector="gpu"}',
    );
    expect(skipped).toBeGreaterThan(0);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
    // Stopping the exporter aborts the run in flight: no fake nvidia-smi is left behind.
    await waitFor("no fake nvidia-smi left", () => (hung().length === 0 ? true : undefined), 3000, 20);
  });

  it("(c) nvidia-smi exits 9: success 0, no GPU series, one log line with the exit code and message", async () => {
    await failingCase(
      { kind: "exit9" },
      /exit code 9: NVIDIA-SMI has failed because it couldn't communicate/,
    );
  });

  it("(d) nvidia-smi prints garbage: success 0, no GPU series, one log line naming the bad output", async () => {
    await failingCase({ kind: "garbage" }, /unexpected nvidia-smi output, line 1/);
  });

  it("no nvidia-smi at all: success 0, no GPU series, one clear log line", async () => {
    await failingCase(
      { kind: "none" },
      /nvidia-smi not found on PATH: no NVIDIA driver here, so no GPU metrics/,
    );
  });
});
