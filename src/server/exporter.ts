import { STATUS_CODES } from "node:http";
import express, { type ErrorRequestHandler, type Express } from "express";
import { errorMessage, type Logger } from "../log.ts";
import { negotiateFormat } from "../metrics/exposition.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";

export interface ExporterAppOptions {
  readonly registry: MetricsRegistry;
  readonly isReady: () => boolean;
  /** Where an unexpected error of a request is logged (one line; the client sees a generic 500). */
  readonly log: Logger;
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
  app.use((_req, res) => {
    res.status(404).type("text/plain").send("not found\n");
  });
  app.use(genericErrors(options.log, "exporter"));
  return app;
}

/**
 * The last handler of an app: no request ever sees a stack trace or a source path (Express's own
 * handler shows both). A client's mistake that Express or a parser reports (a malformed URL: 400)
 * keeps its status with a generic text; anything else is a 500 and one log line.
 */
export function genericErrors(log: Logger, server: string): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const status = (err as { status?: unknown } | undefined)?.status;
    const clientError = typeof status === "number" && status >= 400 && status < 500;
    if (!clientError)
      log.error("request failed", { server, method: req.method, path: req.path, error: errorMessage(err) });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res
      .status(clientError ? status : 500)
      .type("text/plain")
      .send(clientError ? `${STATUS_CODES[status]?.toLowerCase() ?? "bad request"}\n` : "internal error\n");
  };
}
