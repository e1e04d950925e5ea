import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { type Family, formatFamilies, negotiateFormat } from "../../src/metrics/exposition.ts";
import { PROMTOOL } from "../helpers/prometheus.ts";
import { requireBinary } from "../helpers/tools.ts";

const OM_1 = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const OM_0 = "application/openmetrics-text; version=0.0.1; charset=utf-8";
const TEXT = "text/plain; version=0.0.4; charset=utf-8";

describe("content negotiation by Accept, as real scrapers send it", () => {
  const cases: Array<[string, string | undefined, string]> = [
    [
      "Prometheus 2 default",
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      OM_1,
    ],
    [
      "Prometheus 2.49+ default (q on every range)",
      "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
      OM_1,
    ],
    [
      "Prometheus 3 default, with escaping",
      "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
      OM_1,
    ],
    [
      "Prometheus 3, scrape_protocols: [PrometheusText1.0.0]",
      "text/plain;version=1.0.0;escaping=allow-utf-8,*/*;q=0.1",
      TEXT,
    ],
    [
      "scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]: text preferred",
      "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,*/*;q=0.3",
      TEXT,
    ],
    ["OpenMetrics 0.0.1 only", "application/openmetrics-text;version=0.0.1", OM_0],
    ["OpenMetrics without a version", "application/openmetrics-text", OM_1],
    ["OpenMetrics refused with q=0", "application/openmetrics-text;q=0,text/plain;q=0.1", TEXT],
    ["an OpenMetrics version we do not speak", "application/openmetrics-text;version=2.0.0", TEXT],
    ["spaces and upper case", "Application/OpenMetrics-Text; Version=1.0.0 ; q=1 , text/plain", OM_1],
    ["curl's default", "*/*", TEXT],
    ["no Accept header", undefined, TEXT],
    ["nothing we serve", "application/json", TEXT],
  ];
  for (const [what, accept, expected] of cases) {
    it(what, () => {
      const n = negotiateFormat(accept);
      expect(n.contentType).toBe(expected);
      expect(n.openMetrics).toBe(expected !== TEXT);
    });
  }
});

describe("escaping", () => {
  const families: Family[] = [
    {
      name: "tts_gpu_usage_percent",
      help: 'GPU "utilisation" \\ percent\nsecond line',
      type: "gauge",
      values: [{ labels: { gpu: "0", name: 'NVIDIA "Quoted" \\ GPU\nline two', uuid: "GPU-1" }, value: 5 }],
    },
    {
      name: "tts_requests_total",
      help: "Requests.",
      type: "counter",
      values: [{ labels: { voice: "café ☕" }, value: 3 }],
    },
  ];

  it("label values escape backslash, quote and newline; HELP escapes backslash and newline", () => {
    const text = formatFamilies(families, false);
    expect(text).toContain(
      'tts_gpu_usage_percent{gpu="0",name="NVIDIA \\"Quoted\\" \\\\ GPU\\nline two",uuid="GPU-1"} 5\n',
    );
    expect(text).toContain('# HELP tts_gpu_usage_percent GPU "utilisation" \\\\ percent\\nsecond line\n');
    const lint = spawnSync(requireBinary(PROMTOOL, "prometheus"), ["check", "metrics"], {
      input: text,
      encoding: "utf8",
    });
    expect({ status: lint.status, output: `${lint.stdout}${lint.stderr}` }).toEqual({
      status: 0,
      output: "",
    });
  });

  it("OpenMetrics also escapes the double quote in HELP", () => {
    const om = formatFamilies(families, true);
    expect(om).toContain('# HELP tts_gpu_usage_percent GPU \\"utilisation\\" \\\\ percent\\nsecond line\n');
    expect(om).toContain('# TYPE tts_requests counter\ntts_requests_total{voice="café ☕"} 3\n# EOF\n');
  });
});
