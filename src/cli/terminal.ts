import { ageSeconds, type CurrentMetrics } from "../state/snapshot.ts";

export interface TerminalRow {
  readonly label: string;
  readonly value: string;
}

const pct = (ratio: number | undefined) => (ratio === undefined ? "—" : `${(ratio * 100).toFixed(1)} %`);
const gib = (bytes: number | undefined) =>
  bytes === undefined ? "—" : `${(bytes / 1024 ** 3).toFixed(1)} GiB`;

/** How old a value is: "3 s", "4 min", "2 h"; "—" without a time. */
export function formatAge(seconds: number | undefined): string {
  if (seconds === undefined) return "—";
  if (seconds < 120) return `${Math.floor(seconds)} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

/** The lines of the live summary. Pure, so it can be tested without a terminal. */
export function summaryLines(m: CurrentMetrics, extra: readonly string[] = []): string[] {
  const age = (at: number | undefined) => formatAge(ageSeconds(at, m.timestamp));
  const measured = (at: number | undefined) => (at === undefined ? "" : `   (${age(at)} ago)`);
  const lines = [
    `TTS performance monitor — ${new Date(m.timestamp).toLocaleTimeString()}   (Ctrl-C to stop)`,
    `  CPU ${pct(m.cpuUsageRatio).padStart(8)}   load ${m.load1 === undefined ? "—" : m.load1.toFixed(2)}   RAM ${pct(m.memoryUsageRatio)} (${gib(m.memoryUsedBytes)} / ${gib(m.memoryTotalBytes)})   swap ${pct(m.swapUsageRatio)}${measured(m.cpuAt ?? m.memoryAt)}`,
  ];
  if (m.gpus.length === 0) {
    const gpu = m.collectors.gpu;
    const why = gpu && !gpu.success && gpu.error ? gpu.error : undefined;
    lines.push(`  GPU  none${why ? ` (${why.length > 80 ? `${why.slice(0, 79)}…` : why})` : ""}`);
  }
  for (const g of m.gpus) {
    const temp = g.temperatureCelsius === undefined ? "—" : `${g.temperatureCelsius} °C`;
    const power = g.powerWatts === undefined ? "" : `   ${g.powerWatts.toFixed(0)} W`;
    lines.push(
      `  GPU${g.gpu} ${g.name}: ${g.usagePercent === undefined ? "—" : `${g.usagePercent} %`}   ${temp}   VRAM ${gib(g.memoryUsedBytes)} / ${gib(g.memoryTotalBytes)}${power}${measured(g.at)}`,
    );
  }
  const engines = Object.entries(m.engines);
  if (engines.length > 0) {
    lines.push(
      `  ${"engine".padEnd(16)} ${"p50".padStart(8)} ${"p95".padStart(8)} ${"RTF".padStart(6)} ${"success".padStart(8)} ${"cache".padStart(7)} ${"quality".padStart(8)} ${"age".padStart(7)}`,
    );
    for (const [name, e] of engines) {
      const ms = (v: number | undefined) => (v === undefined ? "—" : `${v.toFixed(0)} ms`);
      lines.push(
        `  ${name.slice(0, 16).padEnd(16)} ${ms(e.latencyP50Ms).padStart(8)} ${ms(e.latencyP95Ms).padStart(8)} ${(e.realTimeFactor === undefined ? "—" : e.realTimeFactor.toFixed(2)).padStart(6)} ${pct(e.successRatio).padStart(8)} ${pct(e.cacheHitRate).padStart(7)} ${(e.qualityScore === undefined ? "—" : e.qualityScore.toFixed(2)).padStart(8)} ${age(e.lastAttemptAt).padStart(7)}`,
      );
    }
  }
  lines.push(...extra);
  const failing = Object.entries(m.collectors)
    .filter(([, s]) => !s.success)
    .map(([n]) => n);
  lines.push(
    `  collectors: ${Object.keys(m.collectors).length} running${failing.length ? `, failing: ${failing.join(", ")}` : ", all ok"}`,
  );
  return lines;
}

/**
 * A summary that redraws in place: it moves the cursor up over its previous lines and clears them.
 * Log lines are written above it, so logs and summary never overwrite each other.
 */
export class LiveSummary {
  #drawn = 0;
  #last: string[] = [];

  constructor(private readonly out: NodeJS.WriteStream) {}

  #erase(): string {
    return this.#drawn > 0 ? `\x1b[${this.#drawn}A\r\x1b[J` : "";
  }

  draw(lines: readonly string[]): void {
    const width = this.out.columns || 120;
    this.#last = lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
    this.out.write(`${this.#erase()}${this.#last.join("\n")}\n`);
    this.#drawn = this.#last.length;
  }

  /** Writes a log line above the summary, then redraws the summary under it. */
  writeAbove(text: string): void {
    this.out.write(`${this.#erase()}${text}${text.endsWith("\n") ? "" : "\n"}`);
    this.#drawn = 0;
    if (this.#last.length) this.draw(this.#last);
  }

  clear(): void {
    this.out.write(this.#erase());
    this.#drawn = 0;
  }
}
