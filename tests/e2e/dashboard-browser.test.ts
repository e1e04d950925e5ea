// The web dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core; no browser download). The exporter runs as a user runs it: the CLI with
// --web-dashboard, probing the embedded engine every second, so the charts move for real.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type ConsoleMessage, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, parseJsonLines } from "../helpers/exporter.ts";
import { REPO_ROOT, requireBinary, waitFor } from "../helpers/tools.ts";

const ARTIFACTS = join(REPO_ROOT, "test-artifacts");
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let browser: Browser;
let child: ChildProcess;
let stderr = "";
let url: string;
const dir = mkdtempSync(join(tmpdir(), "tts-dashboard-e2e-"));

// One exporter for the whole file (tests/helpers/exporter.ts kills its children after each test).
beforeAll(async () => {
  const executablePath = requireBinary("/usr/bin/chromium", "chromium");
  mkdirSync(ARTIFACTS, { recursive: true });
  const config = join(dir, "config.json");
  writeFileSync(
    config,
    JSON.stringify({
      monitoring: { interval_seconds: 1 },
      probes: { interval_seconds: 1, timeout_seconds: 5 },
      // Far above the embedded engine's latency even on a loaded machine: the alert test starts with
      // no alert firing and makes one by lowering this threshold.
      thresholds: { latency_max_ms: 5000 },
      server: { listen_address: "127.0.0.1:0", dashboard_address: "127.0.0.1:0" },
    }),
  );
  child = spawn(process.execPath, [...CLI, "--prometheus-export", "--web-dashboard", "--config", config], {
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
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
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
  rmSync(dir, { recursive: true, force: true });
});

/** A page that records every console error and uncaught exception. */
async function open(width = 1280, height = 800): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // The event stream is cut when the page closes; anything else failing is a bug.
    if (!r.url().endsWith("/api/stream")) errors.push(`request failed: ${r.url()}`);
  });
  await page.goto(url);
  await page.waitForSelector("#connection.live", { timeout: 10_000 }).catch((e) => {
    throw new Error(`${e}\n${errors.join("\n")}`);
  });
  return { page, errors };
}

const latest = (page: Page, chart: string) =>
  page.evaluate((id) => document.getElementById(`chart-${id}`)?.dataset.latest ?? "", chart);

describe("web dashboard in Chromium", () => {
  it("loads with no console error, draws the charts and updates them live", async () => {
    const { page, errors } = await open();
    await page.waitForFunction(
      () => (document.getElementById("chart-latency")?.dataset.latest ?? "") !== "",
      null,
      {
        timeout: 15_000,
      },
    );
    expect(await page.locator("#chart-latency canvas").count()).toBeGreaterThan(0);
    expect(await page.locator("#chart-host canvas").count()).toBeGreaterThan(0);
    const first = await latest(page, "latency");
    expect(first).toMatch(/^embedded last \d+ · embedded p50 \d+ · embedded p95 \d+$/);
    const firstPoints = Number(await page.getAttribute("#chart-host", "data-points"));
    // A new probe every second: the latest latency value changes without reloading.
    await page.waitForFunction(
      (before) => (document.getElementById("chart-latency")?.dataset.latest ?? before) !== before,
      first,
      { timeout: 15_000 },
    );
    // The host chart moves with the collectors, on their own interval: a probe can land before the next
    // collector run, so wait for the chart to grow rather than read it at the probe's instant.
    await page.waitForFunction(
      (before) => Number(document.getElementById("chart-host")?.dataset.points ?? before) > before,
      firstPoints,
      { timeout: 15_000 },
    );
    expect(await latest(page, "ttfa")).toMatch(/^embedded \d+$/);
    expect(await latest(page, "rtf")).toMatch(/^embedded \d\.\d{3}$/);
    expect(await latest(page, "host")).toMatch(/cpu \d+\.\d · memory \d+\.\d/);
    // Each chart says how old its values are (the server's clock), measured seconds ago here.
    expect(await page.textContent("#chart-latency .age")).toMatch(/^measured \d+ s( – \d+ s)? ago$/);
    expect(Number(await page.getAttribute("#chart-host", "data-age-seconds"))).toBeLessThan(30);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-live.png") });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("lowering the latency threshold from the controls makes an alert appear, by keyboard", async () => {
    const { page, errors } = await open();
    await page.waitForFunction(() => (document.getElementById("chart-latency")?.dataset.latest ?? "") !== "");
    expect(await page.locator("#alerts li.firing").count()).toBe(0);
    // Keyboard only: the skip link, then the fields of the thresholds form, Enter submits.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to the controls");
    await page.keyboard.press("Enter");
    await page.focus("#th-latency_max_ms");
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type("1");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#alerts li.firing", { timeout: 10_000 });
    const alert = await page.textContent("#alerts li.firing");
    expect(alert).toMatch(
      /^TTSLatencyHigh: latency_p95_5m of engine embedded is [\d.]+ ms \(> 1 ms\) since /,
    );
    await page.waitForSelector(".toast.firing");
    expect(await page.textContent("#alert-count")).toBe("1");
    await page.waitForSelector('#log li[data-kind="config"]');
    expect(await page.textContent('#log li[data-kind="config"]')).toContain(
      'thresholds changed: {"latency_max_ms":1}',
    );
    expect(await page.textContent('#log li[data-kind="alert"]')).toContain("FIRING TTSLatencyHigh");
    // The picture shows the top of the page: charts, the firing alert and its notification.
    await page.evaluate(() => {
      (document.activeElement as HTMLElement | null)?.blur();
      window.scrollTo(0, 0);
    });
    const shot = await page.screenshot();
    writeFileSync(join(ARTIFACTS, "dashboard-alert.png"), shot);
    // The README's picture: regenerated on purpose only, so `npm test` leaves the tree clean.
    if (process.env.UPDATE_DOCS_SCREENSHOT === "1") {
      // A fuller picture for the README: a minute of history on the charts.
      await page.waitForFunction(
        () => Number(document.getElementById("chart-host")?.dataset.points) >= 60,
        null,
        {
          timeout: 90_000,
        },
      );
      mkdirSync(join(REPO_ROOT, "docs/screenshots"), { recursive: true });
      writeFileSync(join(REPO_ROOT, "docs/screenshots/dashboard.png"), await page.screenshot());
    }

    // Raising it again resolves the alert: a "resolved" notification, and the panel empties.
    await page.fill("#th-latency_max_ms", "60000");
    await page.click('#form-thresholds button[type="submit"]');
    await page.waitForSelector(".toast.resolved", { timeout: 10_000 });
    await page.waitForSelector("#alerts li.none");
    expect(errors).toEqual([]);
    await page.context().close();
  }, 150_000);

  it("keeps keyboard focus on an engine box it redraws, and redraws the alert list only on change", async () => {
    const { page, errors } = await open();
    // The alert list is a live region: redrawn every second, a screen reader would repeat it.
    const mutations = await page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          let n = 0;
          const o = new MutationObserver((l) => {
            n += l.length;
          });
          o.observe(document.getElementById("alerts") as HTMLElement, {
            childList: true,
            subtree: true,
            characterData: true,
          });
          setTimeout(() => {
            o.disconnect();
            resolve(n);
          }, 3000);
        }),
    );
    expect(mutations).toBe(0);
    // Space on the engine's box switches it off, then on: each time the answer and the settings event
    // rebuild the list of engines, and the focus must still be on the box.
    for (const enabled of [false, true]) {
      await page.evaluate(() => {
        (document.getElementById("controls-status") as HTMLElement).textContent = "";
      });
      await page.focus("#engine-embedded");
      await page.keyboard.press("Space");
      await page.waitForFunction(
        () => document.getElementById("controls-status")?.textContent === "Applied.",
      );
      await page.waitForTimeout(1000);
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("engine-embedded");
      expect(await page.isChecked("#engine-embedded")).toBe(enabled);
    }
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("the CSV and JSON downloads hold the recorded series", async () => {
    const { page, errors } = await open();
    const csvPath = join(ARTIFACTS, "history.csv");
    const latencies = (text: string) => {
      const [head = "", ...records] = text.trim().split("\r\n");
      const col = head.split(",").indexOf("engine.embedded.latency_ms");
      return records.map((r) => r.split(",")[col] ?? "").filter((v) => v !== "");
    };
    // How many probes are recorded by now depends on how fast this machine synthesises: download
    // again until more than three are (a loaded machine gets there later, not never).
    const csv = await waitFor(
      "a CSV download holding more than three probe latencies",
      async () => {
        const [csvDownload] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
        expect(csvDownload.suggestedFilename()).toMatch(/^tts-monitor-history-.*\.csv$/);
        await csvDownload.saveAs(csvPath);
        const text = readFileSync(csvPath, "utf8");
        return latencies(text).length > 3 ? text : undefined;
      },
      40_000,
      1000,
    );
    expect(csv.endsWith("\r\n")).toBe(true); // RFC 4180 records
    const rows = csv.trim().split("\r\n");
    const header = (rows[0] as string).split(",");
    expect(header.slice(0, 3)).toEqual(["timestamp", "unix_ms", "source"]);
    for (const col of ["engine.embedded.latency_ms", "engine.embedded.ttfa_ms", "host.cpu_percent"])
      expect(header).toContain(col);
    const values = latencies(csv);
    expect(values.length).toBeGreaterThan(3);
    expect(values.every((v) => Number(v) > 0)).toBe(true);

    const [jsonDownload] = await Promise.all([page.waitForEvent("download"), page.click("#export-json")]);
    const jsonPath = join(ARTIFACTS, "history.json");
    await jsonDownload.saveAs(jsonPath);
    const body = JSON.parse(readFileSync(jsonPath, "utf8")) as {
      series: string[];
      samples: Array<{ t: number; source: string; v: Record<string, number> }>;
    };
    expect(body.series).toEqual(header.slice(3));
    // Each probe of the engine is one row at its own time: no time repeats for a source.
    const probes = body.samples.filter((s) => s.source === "probe:embedded").map((s) => s.t);
    expect(probes.length).toBeGreaterThan(0);
    expect(new Set(probes).size).toBe(probes.length);
    expect(body.samples.length).toBeGreaterThanOrEqual(rows.length - 1);
    expect(body.samples.filter((s) => (s.v["engine.embedded.latency_ms"] ?? 0) > 0).length).toBeGreaterThan(
      3,
    );
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("fits a narrow window without horizontal scrolling, with readable contrast", async () => {
    const { page, errors } = await open(420, 900);
    await page.waitForFunction(() => (document.getElementById("chart-latency")?.dataset.latest ?? "") !== "");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    // The alerts come before the charts on a narrow window, not a few screens below them.
    const tops = await page.evaluate(() => ({
      alerts: document.getElementById("alerts-title")?.getBoundingClientRect().top ?? -1,
      charts: document.getElementById("charts")?.getBoundingClientRect().top ?? -1,
    }));
    expect(tops.alerts).toBeLessThan(tops.charts);
    expect(tops.alerts).toBeLessThan(900);
    // WCAG contrast of the text that matters, from the computed colours.
    const ratios = await page.evaluate(() => {
      const lum = (rgb: string) => {
        const [r, g, b] = (rgb.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((c) => {
          const s = Number(c) / 255;
          return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
      };
      const bgOf = (el: Element | null): string => {
        for (let e = el; e; e = e.parentElement) {
          const c = getComputedStyle(e).backgroundColor;
          if (c !== "rgba(0, 0, 0, 0)" && c !== "transparent") return c;
        }
        return "rgb(255, 255, 255)";
      };
      return ["h1", ".card h3", ".latest", ".panel h2", "label", ".alerts li", "#log li", ".button"].map(
        (sel) => {
          const el = document.querySelector(sel);
          const a = lum(getComputedStyle(el as Element).color);
          const b = lum(bgOf(el));
          return { sel, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
        },
      );
    });
    for (const r of ratios) expect(r.ratio, r.sel).toBeGreaterThanOrEqual(4.5);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-narrow.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
