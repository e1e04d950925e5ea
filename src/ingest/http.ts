import express, { type ErrorRequestHandler, type Express, type RequestHandler } from "express";
import type { Logger } from "../log.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { bearerMatches } from "../server/bearer.ts";
import { fromHttpEvent, httpEventSchema, type SynthesisEvent } from "./event.ts";

export interface IngestRouteOptions {
  readonly registry: MetricsRegistry;
  readonly log: Logger;
  /** Bearer token; undefined: no authentication (the exporter is then meant for a trusted network). */
  readonly token: string | undefined;
  readonly maxBodyBytes: number;
  readonly maxEvents: number;
  /** Applies a batch of valid events (all or nothing: called only when every item is valid). */
  readonly apply: (events: readonly SynthesisEvent[]) => void;
}

export interface ItemError {
  readonly index: number;
  readonly path: string;
  readonly message: string;
}

/** Validates every item; returns the events, or every item's errors when any item is invalid. */
export function validateBatch(
  body: unknown,
  maxEvents: number,
): { events: SynthesisEvent[] } | { errors: ItemError[] } {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0)
    return { errors: [{ index: 0, path: "$", message: "expected an event or a non-empty array of events" }] };
  if (items.length > maxEvents) {
    return {
      errors: [
        {
          index: maxEvents,
          path: "$",
          message: `at most ${maxEvents} events per request, got ${items.length}`,
        },
      ],
    };
  }
  const errors: ItemError[] = [];
  const events: SynthesisEvent[] = [];
  items.forEach((item, index) => {
    const r = httpEventSchema.safeParse(item);
    if (!r.success) {
      for (const issue of r.error.issues) {
        const keys =
          issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
        for (const path of keys) {
          errors.push({
            index,
            path: `$${Array.isArray(body) ? `[${index}]` : ""}${path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`,
            message: issue.code === "unrecognized_keys" ? "unknown key" : issue.message,
          });
        }
      }
      return;
    }
    const e = r.data;
    if (e.success !== false && e.error_reason !== undefined) {
      errors.push({
        index,
        path: `$${Array.isArray(body) ? `[${index}]` : ""}.error_reason`,
        message: "error_reason given for a successful synthesis",
      });
      return;
    }
    events.push(fromHttpEvent(e));
  });
  return errors.length > 0 ? { errors } : { events };
}

/** POST /api/v1/syntheses (SPEC §2, §5). */
export function mountIngest(app: Express, options: IngestRouteOptions): void {
  const { registry, log } = options;
  const accepted = registry.counter("tts_ingest_events_total");
  accepted.inc({ outcome: "accepted" }, 0);
  accepted.inc({ outcome: "rejected" }, 0);

  const auth: RequestHandler = (req, res, next) => {
    if (options.token === undefined || bearerMatches(req.get("authorization"), options.token)) {
      next();
      return;
    }
    res
      .status(401)
      .set("WWW-Authenticate", 'Bearer realm="tts-monitor"')
      .json({ error: "missing or wrong bearer token" });
  };

  const parse = express.json({ limit: options.maxBodyBytes, strict: false, type: () => true });

  const handler: RequestHandler = (req, res) => {
    const result = validateBatch(req.body, options.maxEvents);
    if ("errors" in result) {
      const count = Array.isArray(req.body) ? req.body.length : 1;
      accepted.inc({ outcome: "rejected" }, count);
      res.status(400).json({
        error: "invalid synthesis event(s); nothing was recorded",
        errors: result.errors.slice(0, 100),
      });
      return;
    }
    options.apply(result.events);
    accepted.inc({ outcome: "accepted" }, result.events.length);
    res.status(202).json({ accepted: result.events.length });
  };

  // body-parser's errors, each a clear 4xx (never a 500 for what the client sent).
  const onError: ErrorRequestHandler = (
    err: { status?: number; type?: string; message?: string },
    _req,
    res,
    _next,
  ) => {
    const message = err.message ?? String(err);
    if (err.type === "entity.too.large" || err.status === 413) {
      res.status(413).json({ error: `body larger than ${options.maxBodyBytes} bytes` });
      return;
    }
    if (err.type === "encoding.unsupported") {
      res.status(415).json({
        error: `${message}: send the body uncompressed or with Content-Encoding gzip, deflate or br`,
      });
      return;
    }
    if (err.type === "charset.unsupported") {
      res.status(415).json({ error: `${message}: the body must be JSON in UTF-8` });
      return;
    }
    if (err.type === "entity.parse.failed") {
      res.status(400).json({ error: `body is not valid JSON: ${message}` });
      return;
    }
    if (typeof err.status === "number" && err.status >= 400 && err.status < 500) {
      // A body that could not be read: a truncated or corrupt compressed body, a Content-Length
      // that does not match, a client that went away.
      res.status(400).json({ error: `cannot read the body: ${message}` });
      return;
    }
    log.error("ingestion failed", { error: message });
    res.status(500).json({ error: "internal error" });
  };

  // Parsing and validating a large body are two long tasks: a scrape waiting between them gets in.
  const yieldToLoop: RequestHandler = (_req, _res, next) => {
    setImmediate(next);
  };
  app.post("/api/v1/syntheses", auth, parse, yieldToLoop, handler, onError);
  app.all("/api/v1/syntheses", (_req, res) => {
    res.status(405).set("Allow", "POST").json({ error: "use POST" });
  });
}
