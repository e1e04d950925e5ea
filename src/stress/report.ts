import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { StepResult } from "./generator.ts";
import type { StressReport } from "./run.ts";

/** Why the verdict reads the SLO rule, said in every Markdown report (docs/stress.md says more). */
export const VERDICT_REASON =
  "The verdict uses the SLO rule: it is the only one of the three that is a measurement of the user's own objective at a rate that was actually held. Kneedle finds where latency starts to bend whatever the objective, and the USL extrapolates a model's peak; both are shown to see how close the verdict is to the engine's limit.";

const fmt = (v: number | null | undefined, digits = 3) =>
  v === null || v === undefined ? "—" : String(Number(v.toFixed(digits)));
const ms = (v: number | null) => (v === null ? "—" : `${(v * 1000).toFixed(1)}`);
const load = (s: StepResult) => (s.model === "open" ? `${fmt(s.offered_rps)}` : `${s.concurrency} workers`);

export function markdownReport(r: StressReport): string {
  const lines: string[] = [];
  lines.push(`# Stress test of engine \`${r.engine}\` (${r.engine_type})`, "");
  lines.push(
    `${r.started_at} → ${r.finished_at}; ${r.model} model${r.arrival ? ` (${r.arrival} arrivals)` : ""}; SLO \`${r.slo}\`.`,
    "",
  );
  if (!r.complete) lines.push(`**Partial report**: the run was stopped (${r.stopped_by}).`, "");
  lines.push("## Verdict", "");
  lines.push(`${r.verdict.passed ? "**Passed**" : "**Failed**"}: ${r.verdict.summary}.`, "");
  lines.push(
    `Maximum sustainable throughput: **${fmt(r.max_sustainable_rps)} requests/s**, ${fmt(r.max_sustainable_cps, 1)} characters/s.`,
    "",
  );
  lines.push("## The knee, three ways", "");
  lines.push("| method | requests/s | notes |", "|---|---|---|");
  lines.push(
    `| SLO rule (verdict) | ${fmt(r.knee.slo_rule_rps)} | highest valid step meeting every threshold |`,
  );
  lines.push(`| Kneedle | ${fmt(r.knee.kneedle_rps)} | p99 latency against achieved throughput |`);
  const u = r.knee.usl;
  lines.push(
    u
      ? `| USL fit | ${fmt(u.max_rps)} | σ=${fmt(u.sigma, 4)}, κ=${fmt(u.kappa, 5)}, λ=${fmt(u.lambda)} req/s, peak at N=${fmt(u.peak_concurrency, 1)}, R²=${fmt(u.r2)}, N from ${u.from === "closed" ? "workers" : "mean in-flight"} (${u.points} points) |`
      : "| USL fit | — | fewer than two distinct concurrency points |",
  );
  lines.push("", VERDICT_REASON, "");
  lines.push("## Steps", "");
  lines.push(
    "| load (req/s) | achieved | goodput | p50 ms | p90 ms | p99 ms | p99.9 ms | TTFA p99 ms | errors | in flight mean/max | late sends | valid | SLO |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  );
  for (const s of r.steps) {
    const errs = Object.entries(s.errors)
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ");
    lines.push(
      `| ${load(s)} | ${fmt(s.achieved_rps, 2)} | ${fmt(s.goodput_rps, 2)} | ${ms(s.latency_seconds.p50)} | ${ms(s.latency_seconds.p90)} | ${ms(s.latency_seconds.p99)} | ${ms(s.latency_seconds.p999)} | ${ms(s.ttfa_seconds.p99)} | ${errs || "0"} | ${fmt(s.mean_in_flight, 1)}/${s.max_in_flight} | ${(s.late_send_ratio * 100).toFixed(1)} % | ${s.valid ? "yes" : "**no**"} | ${s.meets_slo ? "met" : s.valid ? `broke ${s.slo_breaches.map((b) => b.threshold).join(", ")}` : "—"} |`,
    );
  }
  const invalid = r.steps.filter((s) => !s.valid);
  if (invalid.length > 0) {
    lines.push("", "Invalid steps (not counted):", "");
    for (const s of invalid) lines.push(`- ${load(s)}: ${s.invalid_reason}`);
  }
  const streaming = r.steps.filter((s) => s.chunk_gap_seconds.count > 0);
  if (streaming.length > 0) {
    lines.push("", "Inter-chunk gaps (streaming): ", "");
    for (const s of streaming)
      lines.push(
        `- ${load(s)}: p50 ${ms(s.chunk_gap_seconds.p50)} ms, p99 ${ms(s.chunk_gap_seconds.p99)} ms, max ${ms(s.chunk_gap_seconds.max)} ms`,
      );
  }
  lines.push("", "## Method", "");
  lines.push(
    `Latency and time to first audio are measured from each request's intended send time (coordinated-omission correction), in HDR histograms (3 significant digits). A send more than ${r.self_check.late_send_ms} ms late counts as late; a step with more than ${r.self_check.max_late_ratio * 100} % late sends is invalid. Texts: ${r.texts.count} from ${r.texts.source}, ${r.texts.characters_min}–${r.texts.characters_max} characters (mean ${fmt(r.texts.characters_mean, 1)}). Caps: ${r.caps.max_requests} requests, ${r.caps.max_duration_seconds} s, ${r.caps.max_rate} req/s.`,
    "",
    "![latency and goodput against load](stress.svg)",
    "",
  );
  return lines.join("\n");
}

/** A Vega-Lite chart of latency percentiles and goodput against the load, rendered to SVG in-process. */
export async function svgChart(r: StressReport): Promise<string> {
  const [vega, vl] = await Promise.all([import("vega"), import("vega-lite")]);
  const x = r.model === "open" ? "offered requests/s" : "workers (closed model)";
  const latency: Record<string, unknown>[] = [];
  const rates: Record<string, unknown>[] = [];
  for (const s of r.steps) {
    const load = s.offered_rps ?? s.concurrency;
    for (const [name, v] of [
      ["p50", s.latency_seconds.p50],
      ["p90", s.latency_seconds.p90],
      ["p99", s.latency_seconds.p99],
      ["p99.9", s.latency_seconds.p999],
    ] as const)
      if (v !== null) latency.push({ load, percentile: name, seconds: v, valid: s.valid });
    rates.push(
      { load, series: "achieved", rps: s.achieved_rps },
      { load, series: "goodput", rps: s.goodput_rps },
    );
  }
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: `${r.engine}: latency and goodput against load (SLO ${r.slo})`,
    width: 640,
    height: 260,
    vconcat: [
      {
        data: { values: latency },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "load", type: "quantitative", title: x },
          y: {
            field: "seconds",
            type: "quantitative",
            title: "latency from intended send (s)",
            scale: { type: "log" },
          },
          color: { field: "percentile", type: "nominal" },
        },
        width: 640,
        height: 260,
      },
      {
        data: { values: rates },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "load", type: "quantitative", title: x },
          y: { field: "rps", type: "quantitative", title: "requests/s" },
          color: { field: "series", type: "nominal" },
        },
        width: 640,
        height: 200,
      },
    ],
  };
  const compiled = vl.compile(spec as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function writeJsonReport(r: StressReport, file: string): Promise<void> {
  await writeFile(file, `${JSON.stringify(r, null, 2)}\n`);
}

/** Writes stress.md, stress.svg and stress.json into `dir`; returns their paths. */
export async function writeReportDir(r: StressReport, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = [join(dir, "stress.md"), join(dir, "stress.svg"), join(dir, "stress.json")];
  await writeFile(files[0] as string, markdownReport(r));
  await writeFile(files[1] as string, await svgChart(r));
  await writeJsonReport(r, files[2] as string);
  return files;
}
