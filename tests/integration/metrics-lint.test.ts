// The whole /metrics output through Prometheus' own linter, a golden list of families and types,
// and the OpenMetrics format when the scraper asks for it.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type FakeNvidiaSmi, type RunningExporter, startExporter } from "../helpers/exporter.ts";
import { httpGet, sampleLines, sampleValue } from "../helpers/http.ts";
import { PROMTOOL } from "../helpers/prometheus.ts";
import { FIXTURES, requireBinary, waitFor } from "../helpers/tools.ts";

/** What Prometheus 2.x sends (scrape_protocols default): OpenMetrics first. */
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

function promtoolCheck(body: string): { status: number | null; output: string } {
  const r = spawnSync(requireBinary(PROMTOOL, "prometheus"), ["check", "metrics"], {
    input: body,
    encoding: "utf8",
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Starts the exporter and waits until every collector has run twice (the CPU ratio needs two readings). */
async function fullExporter(nvidiaSmi: FakeNvidiaSmi): Promise<{ exporter: RunningExporter; body: string }> {
  const exporter = await startExporter({ nvidiaSmi });
  const body = await waitFor(
    "every collector to have reported, and the CPU ratio",
    async () => {
      const { body } = await httpGet(`${exporter.url}/metrics`);
      const collectors = ["cpu", "memory", "disk", "filesystem", "process", "gpu"];
      const done = collectors.every(
        (c) => sampleValue(body, `tts_exporter_collector_success{collector="${c}"}`) !== undefined,
      );
      return done && sampleValue(body, "tts_host_cpu_usage_ratio") !== undefined ? body : undefined;
    },
    10_000,
  );
  return { exporter, body };
}

const typeLines = (body: string) => body.split("\n").filter((l) => l.startsWith("# TYPE "));
const golden = () =>
  readFileSync(join(FIXTURES, "golden/metric-families.txt"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("# TYPE "));

function checkStructure(body: string): void {
  // Each family declared once, with HELP then TYPE, and every sample under its own family.
  const declared = typeLines(body).map((l) => l.split(" ")[2] ?? "");
  expect(new Set(declared).size).toBe(declared.length);
  let current = "";
  let type = "";
  for (const line of body.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      [, , current = "", type = ""] = line.split(" ");
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? "";
    const allowed =
      type === "histogram" ? [`${current}_bucket`, `${current}_sum`, `${current}_count`] : [current];
    expect([line, allowed.includes(name)]).toEqual([line, true]);
  }
}

describe("/metrics passes promtool check metrics with no finding", () => {
  for (const [what, nvidiaSmi] of [
    ["without a GPU", { kind: "none" }],
    ["with the 4-GPU fixture", { kind: "fixture", fixture: "a100x4.csv" }],
    ["with the RTX 3090 fixture", { kind: "fixture", fixture: "rtx3090.csv" }],
  ] as const) {
    it(what, async () => {
      const { exporter, body } = await fullExporter(nvidiaSmi);
      const gpu = sampleLines(body).filter((l) => l.startsWith("tts_gpu_"));
      if (nvidiaSmi.kind === "none") expect(gpu).toEqual([]);
      else expect(gpu.length).toBeGreaterThan(5);
      const lint = promtoolCheck(body);
      expect(lint).toEqual({ status: 0, output: "" });
      checkStructure(body);
      // Golden: the families and their types, as committed (edit the file when a change is intended).
      expect(typeLines(body).sort()).toEqual(golden());
      await exporter.stop();
    });
  }
});

describe("content negotiation", () => {
  it("the text format by default; OpenMetrics when Accept asks, ending with # EOF; each scrape leaves the other intact", async () => {
    const { exporter } = await fullExporter({ kind: "fixture", fixture: "rtx3090.csv" });
    const plain = await httpGet(`${exporter.url}/metrics`);
    expect(plain.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(plain.body).not.toContain("# EOF");

    const om = await httpGet(`${exporter.url}/metrics`, { headers: { Accept: PROMETHEUS_ACCEPT } });
    expect(om.status).toBe(200);
    expect(om.headers["content-type"]).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
    expect(om.body.endsWith("\n# EOF\n")).toBe(true);
    expect(om.body.split("# EOF").length).toBe(2);
    expect(om.body).not.toMatch(/\n\n/); // no blank lines in OpenMetrics
    // Counter families are named without _total, their samples keep it.
    expect(om.body).toContain("# TYPE tts_host_disk_read_bytes counter\n");
    expect(om.body).toMatch(/\ntts_host_disk_read_bytes_total\{device="[^"]+"\} \d+/);
    expect(om.body).toContain("# TYPE tts_gpu_usage_percent gauge\n");
    expect(om.body).toMatch(
      /\ntts_gpu_usage_percent\{gpu="0",name="NVIDIA GeForce RTX 3090",uuid="GPU-[^"]+"\} 37\n/,
    );

    // An OpenMetrics scrape must not change what the next text scrape says (prom-client renamed counters in place).
    const after = await httpGet(`${exporter.url}/metrics`, {
      headers: { Accept: "text/plain;version=0.0.4" },
    });
    expect(after.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(after.body).toContain("# TYPE tts_host_disk_read_bytes_total counter\n");
    expect(promtoolCheck(after.body)).toEqual({ status: 0, output: "" });
    expect(typeLines(after.body).sort()).toEqual(golden());

    // q values decide: a scraper that prefers the text format gets it, although it also lists OpenMetrics.
    const textFirst = await httpGet(`${exporter.url}/metrics`, {
      headers: {
        Accept: "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,*/*;q=0.3",
      },
    });
    expect(textFirst.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(promtoolCheck(textFirst.body)).toEqual({ status: 0, output: "" });
    // Prometheus 3 asks for text 1.0.0 with UTF-8 escaping when OpenMetrics is off: our names need none.
    const prom3Text = await httpGet(`${exporter.url}/metrics`, {
      headers: { Accept: "text/plain;version=1.0.0;escaping=allow-utf-8,*/*;q=0.1" },
    });
    expect(prom3Text.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(promtoolCheck(prom3Text.body)).toEqual({ status: 0, output: "" });
    const om001 = await httpGet(`${exporter.url}/metrics`, {
      headers: { Accept: "application/openmetrics-text;version=0.0.1" },
    });
    expect(om001.headers["content-type"]).toBe("application/openmetrics-text; version=0.0.1; charset=utf-8");
    expect(om001.body.endsWith("\n# EOF\n")).toBe(true);
    await exporter.stop();
  });
});
