// The web dashboard's stall chart in a real headless Chromium: the exporter (the CLI, as a user runs
// it) probes a streaming engine, OpenAI's SSE speech from a local server that pauses between the
// first audio and the rest; the chart shows that pause per engine, beside the stall_max_ms threshold.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type ConsoleMessage, chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CLI, parseJsonLines } from "../helpers/exporter.ts";
import { REPO_ROOT, requireBinary, waitFor } from "../helpers/tools.ts";
import { type SseSpeechServer, startSseSpeechServer } from "../helpers/tts-servers/sse-speech-server.ts";

const STALL_MS = 400;
const SLACK_MS = 1000; // the timing tests' accuracy

let browser: Browser;
let child: ChildProcess;
let sse: SseSpeechServer;
let stderr = "";
let url: string;
const dir = mkdtempSync(join(tmpdir(), "tts-dashboard-stall-"));

beforeAll(async () => {
  const executablePath = requireBinary("/usr/bin/chromium", "chromium");
  sse = await startSseSpeechServer();
  sse.behaviour = { stream: { firstMs: 20, restMs: STALL_MS }, say: "Hi there." };
  const config = join(dir, "config.json");
  writeFileSync(
    config,
    JSON.stringify({
      monitoring: { interval_seconds: 1 },
      probes: { interval_seconds: 1, timeout_seconds: 5 },
      server: { listen_address: "127.0.0.1:0", dashboard_address: "127.0.0.1:0" },
      engines: [
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
    }),
  );
  child = spawn(process.execPath, [...CLI, "--web-dashboard", "--config", config], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  url = await waitFor(
    "the exporter's 'dashboard listening' log line",
    () => {
      if (child.exitCode !== null) throw new Error(`the exporter exited: ${stderr}`);
      const line = parseJsonLines(stderr).find((l) => l.msg === "dashboard listening");
      return typeof line?.url === "string" ? line.url : undefined;
    },
    30_000,
  );
  browser = await chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    headless: true,
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await sse?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("shows each streaming engine's longest stall between audio chunks, latest and p95", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector("#connection.live", { timeout: 10_000 });
  await page.waitForFunction(
    () => (document.getElementById("chart-stall")?.dataset.latest ?? "") !== "",
    null,
    { timeout: 20_000 },
  );
  const text = (await page.getAttribute("#chart-stall", "data-latest")) ?? "";
  const m = /^streaming last (\d+) · streaming p95 (\d+)$/.exec(text);
  expect(m, text).not.toBeNull();
  // The pause the server makes after the first audio: never longer than it plus the slack.
  const last = Number(m?.[1]);
  expect(last).toBeGreaterThan(0);
  expect(last).toBeLessThan(STALL_MS + SLACK_MS);
  // The p95 is interpolated within the bucket of those stalls: at most 1.5 s (the bucket above 1.4 s).
  expect(Number(m?.[2])).toBeLessThanOrEqual(1500);
  expect(await page.locator("#chart-stall canvas").count()).toBeGreaterThan(0);
  expect(await page.textContent("#chart-stall h3")).toContain("Longest stall between audio chunks");
  expect(errors).toEqual([]);
  await context.close();
}, 60_000);
