import express, { type Express } from "express";
import { negotiateFormat } from "../metrics/exposition.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";

export interface ExporterAppOptions {
  readonly registry: MetricsRegistry;
  readonly isReady: () => boolean;
  /** Extra routes (probe, ingestion) mounted by later parts. */
  readonly mount?: (app: Express) => void;
}

/** The exporter's HTTP app (port 9090). /metrics only serialises stored state: it never waits on a collector. */
export function createExporterApp(options: ExporterAppOptions): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.get("/metrics", async (req, res) => {
    // OpenMetrics when the scraper prefers it by Accept (Prometheus does), the 0.0.4 text format otherwise.
    const format = negotiateFormat(req.get("accept"));
    const { body } = await options.registry.render(format.openMetrics);
    res.set("Content-Type", format.contentType).set("Cache-Control", "no-store").send(body);
  });
  app.get("/-/healthy", (_req, res) => {
    res.type("text/plain").send("OK\n");
  });
  app.get("/-/ready", (_req, res) => {
    if (options.isReady()) res.type("text/plain").send("Ready\n");
    else res.status(503).type("text/plain").send("Not ready\n");
  });
  options.mount?.(app);
  app.get("/", (_req, res) => {
    res
      .type("html")
      .send(
        '<!doctype html><html><head><meta charset="utf-8"><title>TTS performance monitor</title></head><body>' +
          "<h1>TTS performance monitor</h1><ul>" +
          '<li><a href="/metrics">/metrics</a></li><li><a href="/-/healthy">/-/healthy</a></li><li><a href="/-/ready">/-/ready</a></li>' +
          "</ul></body></html>",
      );
  });
  return app;
}
