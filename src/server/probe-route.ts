import type { Express } from "express";
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
  readonly text: () => string;
  /** Runs the audio analysis of a probe into the given registry (when analysis is on). */
  readonly analyse?: (
    result: import("../probes/probe.ts").ProbeResult,
    registry: MetricsRegistry,
  ) => Promise<void>;
}

const PROBE_FAMILIES = metricNames.filter((n) => ["tts", "audio", "cache"].includes(catalog[n].area));

/** GET /probe?target=<engine>: the blackbox-exporter pattern, one probe now, a fresh registry per request. */
export function mountProbe(app: Express, options: ProbeRouteOptions): void {
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
    let timeoutMs = options.timeoutMs(engine);
    const header = Number(req.get("x-prometheus-scrape-timeout-seconds"));
    if (Number.isFinite(header) && header > 0) {
      timeoutMs = Math.min(timeoutMs, Math.max(100, (header - SCRAPE_TIMEOUT_OFFSET_SECONDS) * 1000));
    }
    const registry = new MetricsRegistry(PROBE_FAMILIES);
    const recorder = new SynthesisRecorder(registry, { cacheWindowSeconds: 60, maxEngines: 1, maxVoices: 1 });
    const result = await runProbe(engine, options.text(), timeoutMs);
    recordProbe(result, registry, recorder);
    if (result.success && options.analyse) await options.analyse(result, registry);
    const { body, contentType } = await registry.render(false, { skipEmpty: true });
    res.set("Content-Type", contentType).set("Cache-Control", "no-store").send(body);
  });
}
