import { Agent, get, type IncomingHttpHeaders } from "node:http";

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Wall time from request to the last byte of the body, in milliseconds. */
  readonly ms: number;
}

/** One keep-alive agent, as Prometheus keeps its scrape connections open. */
export const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });

/** GET with node:http (no fetch: undici's lazy start-up would be counted in the first timings). */
export function httpGet(
  url: string,
  options: { headers?: Record<string, string>; timeoutMs?: number; agent?: Agent } = {},
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = get(url, { headers: options.headers ?? {}, agent: options.agent ?? keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          ms: performance.now() - start,
        }),
      );
      res.on("error", reject);
    });
    req.setTimeout(options.timeoutMs ?? 5000, () => req.destroy(new Error(`GET ${url}: no answer in time`)));
    req.on("error", reject);
  });
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Sample lines of a text exposition: `name{labels} value`, comments and blank lines dropped. */
export function sampleLines(exposition: string): string[] {
  return exposition.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

/** The value of the one sample whose name and labels match exactly (labels in the exporter's order). */
export function sampleValue(exposition: string, series: string): number | undefined {
  for (const line of sampleLines(exposition)) {
    const space = line.lastIndexOf(" ");
    if (line.slice(0, space) === series) return Number(line.slice(space + 1));
  }
  return undefined;
}
