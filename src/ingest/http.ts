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

  // Only what a browser cannot send cross-site without a CORS preflight is parsed: a text/plain or
  // form body (a "simple" request) gets 415 before any byte of it is read.
  const contentType: RequestHandler = (req, res, next) => {
    const problem = contentTypeProblem(req.get("content-type"));
    if (problem === undefined) next();
    else res.status(415).json({ error: problem });
  };

  // Without a token, the exporter is meant for a trusted network, and any web page a user opens
  // could post to it: a browser says where a request comes from, so a foreign page is refused.
  // With a token, a page cannot send it (no cookie carries it), so the check is not needed.
  const sameSite: RequestHandler = (req, res, next) => {
    if (options.token !== undefined) {
      next();
      return;
    }
    const refused = crossSiteProblem(req.get("sec-fetch-site"), req.get("origin"), req.get("host"));
    if (refused === undefined) next();
    else
      res.status(403).json({
        error: `${refused}: ingestion without a token accepts no requests from web pages of other sites (configure ingest.token_env or ingest.token_file to post from a browser)`,
      });
  };

  const parse = express.json({
    limit: options.maxBodyBytes,
    strict: false,
    type: () => true,
    verify: (_req, _res, body) => {
      const utf = wideUnicode(body);
      if (utf)
        throw Object.assign(new Error(`a body in ${utf}`), { status: 415, type: "charset.unsupported" });
    },
  });

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
  app.post("/api/v1/syntheses", sameSite, auth, contentType, parse, yieldToLoop, handler, onError);
  app.all("/api/v1/syntheses", (_req, res) => {
    res.status(405).set("Allow", "POST").json({ error: "use POST" });
  });
}

/** Why a Content-Type is refused (415), or undefined for `application/json` in UTF-8 (charset absent or utf-8). */
export function contentTypeProblem(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === "")
    return "no Content-Type: send the body as application/json";
  const [media = "", ...params] = header.split(";");
  if (media.trim().toLowerCase() !== "application/json")
    return `Content-Type ${JSON.stringify(media.trim())} is not application/json`;
  for (const p of params) {
    const [key = "", value = ""] = p.split("=");
    if (key.trim().toLowerCase() !== "charset") continue;
    const charset = value
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8")
      return `unsupported charset ${JSON.stringify(charset)}: the body must be JSON in UTF-8`;
  }
  return undefined;
}

/**
 * Why a request is refused as cross-site, or undefined. A browser marks every request it sends:
 * `Sec-Fetch-Site: cross-site` from another site, and an `Origin` on every POST (`null` from a
 * sandboxed frame or a file). A foreign origin on the same host (another port) is refused too; the
 * scheme is not compared, as a TLS proxy in front keeps the Host but the page's origin is https.
 * Programs (curl, a TTS service) send neither header.
 */
export function crossSiteProblem(
  fetchSite: string | undefined,
  origin: string | undefined,
  host: string | undefined,
): string | undefined {
  if (fetchSite?.trim().toLowerCase() === "cross-site") return "a cross-site request (Sec-Fetch-Site)";
  if (origin === undefined) return undefined;
  let from: string;
  try {
    from = new URL(origin).host;
  } catch {
    return `a request from the origin ${JSON.stringify(origin.slice(0, 100))}`;
  }
  if (origin === "null" || host === undefined || from.toLowerCase() !== host.toLowerCase())
    return `a request from the origin ${JSON.stringify(origin.slice(0, 100))}, not this exporter's`;
  return undefined;
}

/**
 * "UTF-16" or "UTF-32" when the body is in one of them (a byte order mark, or the zero bytes that
 * ASCII text has in them: RFC 4627 section 3), undefined otherwise. JSON on the wire is UTF-8.
 */
export function wideUnicode(body: Uint8Array): "UTF-16" | "UTF-32" | undefined {
  const [a, b, c, d] = body;
  if ((a === 0 && b === 0 && c === 0xfe && d === 0xff) || (a === 0xff && b === 0xfe && c === 0 && d === 0))
    return "UTF-32";
  if ((a === 0xfe && b === 0xff) || (a === 0xff && b === 0xfe)) return "UTF-16";
  if (body.length >= 4 && a === 0 && b === 0 && c === 0 && d !== 0) return "UTF-32";
  if (body.length >= 4 && a !== 0 && b === 0 && c === 0 && d === 0) return "UTF-32";
  if (body.length >= 2 && ((a === 0 && b !== 0) || (a !== 0 && b === 0))) return "UTF-16";
  return undefined;
}
