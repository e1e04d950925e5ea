import type { Express, Response } from "express";
import type { Engine } from "../engines/types.ts";
import { SynthesisRecorder } from "../ingest/recorder.ts";
import { catalog, metricNames } from "../metrics/catalog.ts";
import { MetricsRegistry } from "../metrics/registry.ts";
import { type ProbeResult, runProbe } from "../probes/probe.ts";
import { recordProbe } from "../probes/record.ts";

/** Seconds kept free under Prometheus' scrape timeout, so our answer arrives before it gives up. */
export const SCRAPE_TIMEOUT_OFFSET_SECONDS = 0.5;

export interface ProbeRouteOptions {
  /** Engines by name: the configured, enabled ones (targets come from config only). */
  readonly engine: (name: string) => Engine | undefined;
  readonly configured: (name: string) => "enabled" | "disabled" | undefined;
  readonly timeoutMs: (engine: Engine) => number;
  /** At most this many /probe requests of the engine run at once (`probe_concurrency`); the excess gets a 429. */
  readonly maxConcurrent: (engine: Engine) => number;
  /** Where refused requests are counted (tts_exporter_probe_rejected_total). */
  readonly registry: MetricsRegistry;
  readonly text: () => string;
  /** Runs the audio analysis of a probe into the given registry (when analysis is on). */
  readonly analyse?: (
    result: import("../probes/probe.ts").ProbeResult,
    registry: MetricsRegistry,
  ) => Promise<void>;
}

/**
 * /probe requests of one engine that may run at once when its config sets no `probe_concurrency`:
 * one for the engines that synthesise on this machine (a second would only queue behind the first
 * and delay the scheduled probe), four for network engines, which serve many clients anyway.
 */
export function defaultProbeConcurrency(engineType: string): number {
  return engineType === "embedded" || engineType === "command" ? 1 : 4;
}

const PROBE_FAMILIES = metricNames.filter((n) => ["tts", "audio", "cache"].includes(catalog[n].area));

/**
 * The header's value in seconds: undefined when it gives no limit (empty, 0 or negative, as
 * blackbox_exporter reads it), null when it is not a number at all.
 */
export function parseScrapeTimeout(header: string): number | undefined | null {
  if (header.trim() === "") return undefined;
  if (!/^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(header)) return null;
  const seconds = Number(header);
  if (!Number.isFinite(seconds)) return null;
  return seconds > 0 ? seconds : undefined;
}

/**
 * The probe's deadline: the scrape timeout less the offset, capped by the engine's timeout. A scrape
 * timeout shorter than twice the offset keeps half of it instead, so the answer still arrives in time.
 */
export function probeTimeoutMs(engineTimeoutMs: number, scrapeTimeoutSeconds: number | undefined): number {
  if (scrapeTimeoutSeconds === undefined) return engineTimeoutMs;
  const budget =
    scrapeTimeoutSeconds > 2 * SCRAPE_TIMEOUT_OFFSET_SECONDS
      ? scrapeTimeoutSeconds - SCRAPE_TIMEOUT_OFFSET_SECONDS
      : scrapeTimeoutSeconds / 2;
  // AbortSignal.timeout takes whole milliseconds: 1.2345 s less the offset is 734.5 ms.
  return Math.max(1, Math.floor(Math.min(engineTimeoutMs, budget * 1000)));
}

/** GET /probe?target=<engine>: the blackbox-exporter pattern, one probe now, a fresh registry per request. */
export function mountProbe(app: Express, options: ProbeRouteOptions): void {
  const inFlight = new Map<string, number>();
  const rejected = options.registry.counter("tts_exporter_probe_rejected_total");
  app.get("/probe", async (req, res) => {
    const target = typeof req.query.target === "string" ? req.query.target : "";
    if (!target) {
      res.status(400).type("text/plain").send("missing ?target=<engine name> (an engine from the config)\n");
      return;
    }
    const state = options.configured(target);
    const engine = options.engine(target);
    if (state === undefined || engine === undefined) {
      res
        .status(400)
        .type("text/plain")
        .send(
          `${state === "disabled" ? "engine is disabled in the config" : "unknown target: no engine named"} ${JSON.stringify(target)}\n`,
        );
      return;
    }
    const header = req.get("x-prometheus-scrape-timeout-seconds");
    const scrapeTimeout = header === undefined ? undefined : parseScrapeTimeout(header);
    if (scrapeTimeout === null) {
      res
        .status(400)
        .type("text/plain")
        .send(
          `invalid X-Prometheus-Scrape-Timeout-Seconds header ${JSON.stringify(header)}: expected a number of seconds\n`,
        );
      return;
    }
    const engineTimeoutMs = options.timeoutMs(engine);
    const running = inFlight.get(target) ?? 0;
    if (running >= options.maxConcurrent(engine)) {
      // Answered at once rather than queued: a queue of probes would outlive every scraper's
      // timeout and delay the scheduled probes. Not a failed probe: the engine is not at fault.
      rejected.inc({ engine: target });
      res
        .status(429)
        .set("Retry-After", String(Math.max(1, Math.ceil(engineTimeoutMs / 1000))))
        .type("text/plain")
        .send(
          `${running} probe(s) of ${JSON.stringify(target)} already running (probe_concurrency ${options.maxConcurrent(engine)}): try again later\n`,
        );
      return;
    }
    inFlight.set(target, running + 1);
    try {
      await probeAndAnswer(res, engine, options, probeTimeoutMs(engineTimeoutMs, scrapeTimeout));
    } finally {
      const left = (inFlight.get(target) ?? 1) - 1;
      if (left > 0) inFlight.set(target, left);
      else inFlight.delete(target);
    }
  });
}

async function probeAndAnswer(
  res: Response,
  engine: Engine,
  options: ProbeRouteOptions,
  timeoutMs: number,
): Promise<void> {
  const started = performance.now();
  const registry = new MetricsRegistry(PROBE_FAMILIES);
  const recorder = new SynthesisRecorder(registry, { cacheWindowSeconds: 60, maxEngines: 1, maxVoices: 1 });
  const result = await runProbe(engine, options.text(), timeoutMs);
  recordProbe(result, registry, recorder);
  // The audio analysis shares the deadline: what is not done by then is left out of this answer,
  // which must reach Prometheus before its scrape timeout.
  const left = timeoutMs - (performance.now() - started);
  if (result.success && options.analyse && left > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      options.analyse(result, registry),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, left);
      }),
    ]);
    clearTimeout(timer);
  }
  const { body, contentType } = await registry.render(false, { skipEmpty: true });
  res.set("Content-Type", contentType).set("Cache-Control", "no-store").send(body);
}
