import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readSecretFile } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { parseHostPort } from "../server/listen.ts";
import type { GpuSnapshot } from "../state/snapshot.ts";
import { EVIDENCE_VERSION, type Evidence, parseStressReport, type StressReport } from "./evidence.ts";
import { EVIDENCE_PATH } from "./evidence-route.ts";
import { renderMarkdown } from "./markdown.ts";
import { buildReport, type OptimizationReport, type ReportInputs } from "./report.ts";
import { readTraceFile, type TraceRead, traceFromArray } from "./trace.ts";

export interface ReportCommandArgs {
  readonly config: Config;
  readonly configFile: string;
  /** Offline inputs; without either, the evidence comes from the running monitor. */
  readonly traceFile?: string;
  readonly stressFiles: readonly string[];
  readonly jsonFile?: string;
  readonly reportDir?: string;
  readonly env: NodeJS.ProcessEnv;
  /** Where the Markdown goes (stdout). */
  readonly out: { write(text: string): unknown };
  /** Overrides the monitor's URL (tests). */
  readonly monitorUrl?: string;
}

/** An input the command cannot read at all (an unreachable monitor, a missing file): one clear line. */
export class EvidenceError extends Error {
  override readonly name = "EvidenceError";
}

const EMPTY_TRACE: TraceRead = {
  entries: [],
  lines: 0,
  corrupt: 0,
  olderVersion: 0,
  newerVersion: 0,
  truncated: false,
};

/** The exporter's URL as seen from this host: a wildcard listen address means this host. */
export function monitorBaseUrl(listenAddress: string): string {
  const { host, port } = parseHostPort(listenAddress);
  const h = host === "" || host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${h.includes(":") ? `[${h}]` : h}:${port}`;
}

function stressInputs(raw: readonly { what: string; value: unknown }[]): {
  stress: StressReport[];
  problems: string[];
} {
  const stress: StressReport[] = [];
  const problems: string[] = [];
  for (const { what, value } of raw) {
    const r = parseStressReport(value);
    if (typeof r === "string") problems.push(`${what}: ${r}`);
    else stress.push(r);
  }
  return { stress, problems };
}

async function offlineInputs(a: ReportCommandArgs): Promise<ReportInputs> {
  let trace = EMPTY_TRACE;
  if (a.traceFile !== undefined) {
    try {
      trace = await readTraceFile(a.traceFile);
    } catch (err) {
      throw new EvidenceError(`cannot read the trace ${a.traceFile}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const raw: { what: string; value: unknown }[] = [];
  for (const f of a.stressFiles) {
    let text: string;
    try {
      text = await readFile(f, "utf8");
    } catch (err) {
      throw new EvidenceError(`cannot read the stress report ${f}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      raw.push({ what: f, value: JSON.parse(text) });
    } catch {
      raw.push({ what: f, value: "not JSON" });
    }
  }
  const { stress, problems } = stressInputs(raw);
  const files = [a.traceFile, ...a.stressFiles].filter((f) => f !== undefined).join(", ");
  return { source: `files ${files}`, trace, stress, stressProblems: problems, engines: {}, gpus: [] };
}

async function monitorInputs(a: ReportCommandArgs): Promise<ReportInputs> {
  const base = a.monitorUrl ?? monitorBaseUrl(a.config.server.listen_address);
  const ingest = a.config.ingest;
  const token = ingest.token_file
    ? readSecretFile(ingest.token_file, "$.ingest.token_file", a.configFile)
    : a.env[ingest.token_env]?.trim() || undefined;
  const url = `${base}${EVIDENCE_PATH}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new EvidenceError(
      `cannot reach the monitor at ${url} (${(err as Error).message}); is it running? For offline analysis give --trace FILE and/or --stress-report FILE`,
      { cause: err },
    );
  }
  if (res.status === 401)
    throw new EvidenceError(
      `the monitor at ${url} refused the token (set ${ingest.token_env} or ingest.token_file as the monitor has it)`,
    );
  if (!res.ok) throw new EvidenceError(`the monitor at ${url} answered HTTP ${res.status}`);
  const body = (await res.json()) as Partial<Evidence>;
  if (body.version !== EVIDENCE_VERSION)
    throw new EvidenceError(
      `the monitor at ${url} serves evidence version ${String(body.version)}, this command reads ${EVIDENCE_VERSION}`,
    );
  const { stress, problems } = stressInputs(
    (body.stress_reports ?? []).map((value, i) => ({ what: `stress report ${i + 1}`, value })),
  );
  return {
    source: `monitor ${base} (trace from ${body.trace_source ?? "none"})`,
    trace: traceFromArray(Array.isArray(body.trace) ? body.trace : []),
    stress,
    stressProblems: problems,
    engines: body.engines ?? {},
    gpus: (body.gpus ?? []) as GpuSnapshot[],
    ...(body.gateway && { gateway: body.gateway }),
  };
}

/** Writes the report's files; returns the report. Lacking evidence is said in the report, not an error. */
export async function runOptimizationReport(a: ReportCommandArgs): Promise<OptimizationReport> {
  const offline = a.traceFile !== undefined || a.stressFiles.length > 0;
  const inputs = offline ? await offlineInputs(a) : await monitorInputs(a);
  const report = buildReport(inputs, a.config);
  const charts = new Set<string>();
  if (a.reportDir !== undefined) {
    // vega is loaded only to draw charts: the auto-optimiser and the JSON report never need it.
    const { chartSpecs, renderSvg } = await import("./charts.ts");
    await mkdir(a.reportDir, { recursive: true });
    for (const [file, spec] of Object.entries(chartSpecs(report))) {
      await writeFile(join(a.reportDir, file), await renderSvg(spec));
      charts.add(file);
    }
  }
  const markdown = renderMarkdown(report, charts);
  if (a.reportDir !== undefined) await writeFile(join(a.reportDir, "optimization-report.md"), markdown);
  if (a.jsonFile !== undefined) await writeFile(a.jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  a.out.write(markdown);
  return report;
}
