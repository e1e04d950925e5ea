import type { Skipped } from "./levers/types.ts";
import type { OptimizationReport } from "./report.ts";

// The report a person reads: per lever the evidence, the saving, a confidence and the setting to apply.

const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 20 ? 3 : 1)} MiB`;
const fmt = (v: number | null, unit = "") => (v === null ? "—" : `${v}${unit}`);

function skippedBlock(s: Skipped): string {
  return `Skipped: this lever lacks ${s.lacks.join("; and ")}.\n`;
}

function chart(charts: ReadonlySet<string>, file: string, alt: string): string {
  return charts.has(file) ? `\n![${alt}](${file})\n` : "";
}

export function renderMarkdown(r: OptimizationReport, charts: ReadonlySet<string> = new Set()): string {
  const out: string[] = [];
  out.push("# Optimisation report\n");
  out.push(
    `Source: ${r.source}. Trace: ${r.trace.requests} requests over ${r.trace.window_seconds} s ` +
      `(${r.trace.lines} lines read, ${r.trace.corrupt_lines} corrupt, ${r.trace.older_version} of an older version` +
      `${r.trace.truncated ? ", last line truncated" : ""}). SLO: p95 ≤ ${r.slo.latency_p95_ms} ms, ` +
      `error rate ≤ ${pct(r.slo.error_rate_max)}, quality ≥ ${r.slo.quality_min}.\n`,
  );
  if (r.lacks.length > 0) out.push(`What this report lacks:\n\n${r.lacks.map((l) => `- ${l}`).join("\n")}\n`);

  out.push("## Cache size (LRU miss-ratio curve)\n");
  const c = r.cache;
  if (c.status === "skipped") out.push(skippedBlock(c));
  else {
    out.push(
      `Evidence: ${c.evidence.requests} successful requests, ${c.unique_keys} distinct keys (${mib(c.unique_bytes)} of audio), ` +
        `over ${c.evidence.window_seconds} s; curve by ${c.method === "exact" ? "exact stack distance" : `SHARDS (fixed size, ${c.sample_keys} keys; error estimate ${c.error_estimate})`}.\n\n` +
        `- Infinite-cache ceiling: ${pct(c.infinite_hit_ratio)}\n` +
        `- Recommended capacity: **${mib(c.recommended_bytes)}** (${c.recommended_bytes} bytes) → hit ratio ${pct(c.hit_ratio_at_recommended)}` +
        `: the smallest size within ${c.tolerance} of the hit ratio of the whole budget (${mib(c.budget_bytes)}); Kneedle's knee: ${c.knee_bytes === null ? "none clear" : mib(c.knee_bytes)}\n` +
        `- Now: ${c.current_capacity_bytes === null ? "unknown (saving counted from no cache)" : `${mib(c.current_capacity_bytes)} → ${pct(c.hit_ratio_at_current ?? 0)}`}\n` +
        `- Saving over the window: ${c.saving.requests_avoided} syntheses, ${c.saving.engine_seconds_avoided} engine-seconds, mean latency ${c.saving.latency_change_ms} ms\n` +
        `- Confidence: ${c.confidence}\n\nSetting:\n\n\`\`\`json\n${JSON.stringify(c.setting, null, 2)}\n\`\`\`\n`,
    );
    out.push(chart(charts, "cache-mrc.svg", "miss-ratio curve"));
  }

  out.push("## Coalescing of identical requests\n");
  const g = r.coalescing;
  if (g.status === "skipped") out.push(skippedBlock(g));
  else {
    out.push(
      `Evidence: ${g.evidence.requests} requests over ${g.evidence.window_seconds} s.\n\n` +
        `- Arrived while an identical one was in flight: **${pct(g.share)}** (${g.requests_coalescable}); coalesced by the gateway: ${pct(g.observed_share)}\n` +
        `- Saving still to take: ${g.saving.requests_avoided} syntheses, ${g.saving.engine_seconds_avoided} engine-seconds; mean latency ${g.saving.latency_change_ms} ms\n` +
        `- Confidence: ${g.confidence}\n- Setting: ${g.setting.gateway}\n`,
    );
    out.push(chart(charts, "coalescing.svg", "coalescing share"));
  }

  out.push("## Concurrency limit per engine\n");
  const names = Object.keys(r.concurrency);
  if (names.length === 0) out.push("Skipped: no engine in the trace or the stress reports.\n");
  for (const name of names) {
    const k = r.concurrency[name];
    if (!k) continue;
    out.push(`### ${name}\n`);
    if (k.status === "skipped") {
      out.push(skippedBlock(k));
      continue;
    }
    out.push(
      `Evidence: ${k.evidence.requests} requests that reached the engine over ${k.evidence.window_seconds} s.\n\n` +
        `- Suggested limit: **${k.suggested_limit}** (${k.basis.replaceAll("_", " ")}); expected latency there: ${k.expected_latency_ms ? `p50 ${k.expected_latency_ms.p50} ms, p90 ${k.expected_latency_ms.p90} ms` : "—"}\n` +
        `- Live: limit ${fmt(k.live_limit)}${k.saturation_seen ? "" : " (never saturated in the window: a floor, not a ceiling)"}; arrival ${k.arrival_rps} req/s, Little's L = λW = ${k.little_mean_concurrency}; min RTT ${k.min_rtt_ms} ms vs p90 ${k.p90_rtt_ms} ms (gradient ${k.gradient})\n` +
        `- Stress test: limit ${fmt(k.stress_limit)} at the knee ${fmt(k.stress_knee_rps, " req/s")}\n` +
        `- Confidence: ${k.confidence}\n\nSetting (gateway): \`${JSON.stringify(k.setting.gateway)}\`; Envoy: \`${k.setting.envoy}\`\n`,
    );
  }
  out.push(chart(charts, "concurrency.svg", "latency vs concurrency"));

  out.push("## Engine choice\n");
  if (r.engines.length === 0) out.push("Skipped: no engine in the trace.\n");
  else {
    out.push(
      "| engine | requests | p50 ms | p95 ms | error rate | quality | MOS | engine-s / 1k chars | meets SLO | notes |\n|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const e of r.engines)
      out.push(
        `| ${e.name} | ${e.requests} | ${fmt(e.latency.p50_ms)} | ${fmt(e.latency.p95_ms)} | ${e.error_rate === null ? "—" : pct(e.error_rate)} | ${fmt(e.quality)} | ${fmt(e.mos)} | ${fmt(e.cost)} | ${e.meets_slo ? "yes" : "no"}${e.near_knee ? " ⚠ near knee" : ""} | ${e.notes.join("; ")} |`,
      );
    out.push(
      `\nRoute per voice (cheapest engine meeting the SLO): ${Object.entries(r.route)
        .map(([v, e]) => `\`${v}\` → ${e ?? "none meets the SLO"}`)
        .join(", ")}. First choice of \`model: "auto"\`: ${r.auto_route ?? "none"}.\n`,
    );
    out.push(chart(charts, "engines.svg", "engine latency"));
  }

  out.push("## Batching\n");
  const b = r.batching;
  if (b.status === "skipped") out.push(skippedBlock(b));
  else
    for (const [name, e] of Object.entries(b.engines)) {
      out.push(`### ${name}\n`);
      if (e.status === "skipped") out.push(skippedBlock(e));
      else
        out.push(
          `Arrival ${e.arrival_rps} req/s over ${e.evidence.window_seconds} s, p50 ${fmt(e.p50_latency_ms, " ms")}.\n\n` +
            `| max_queue_delay ms | expected batch fill | latency cost ms (at most) |\n|---|---|---|\n` +
            e.points
              .map((p) => `| ${p.max_queue_delay_ms} | ${p.expected_batch_fill} | ${p.latency_cost_ms} |`)
              .join("\n") +
            `\n\nSuggested: ${e.suggested_delay_ms === null ? "no delay fills batches of two at under 10 % of p50: leave batching off" : `${e.suggested_delay_ms} ms; Triton: \`${e.setting?.triton}\``}\n`,
        );
    }
  out.push(chart(charts, "batching.svg", "batch fill"));

  out.push("## GPU headroom\n");
  const u = r.gpu;
  if (u.status === "skipped") out.push(skippedBlock(u));
  else {
    out.push(
      "| GPU | utilisation | memory | temperature | GPU-bound | room for one more replica | notes |\n|---|---|---|---|---|---|---|",
    );
    for (const x of u.gpus)
      out.push(
        `| ${x.gpu} ${x.name} | ${fmt(x.usage_percent, " %")} | ${x.memory_usage_ratio === null ? "—" : pct(x.memory_usage_ratio)} | ${fmt(x.temperature_celsius, " °C")} | ${x.gpu_bound ? "yes" : "no"} | ${x.headroom_one_more_replica ? "yes" : "no"} | ${x.notes.join("; ")} |`,
      );
    out.push(
      `\nThroughput over the trace: ${u.throughput_rps} req/s. Confidence: ${u.confidence} (one reading, not a series).\n`,
    );
    out.push(chart(charts, "gpu.svg", "GPU"));
  }
  return `${out.join("\n")}\n`;
}
