import { randomUUID } from "node:crypto";
import express, { type Express, type RequestHandler } from "express";
import { contentTypeProblem, crossSiteProblem } from "../ingest/http.ts";
import type { Logger } from "../log.ts";
import { bearerMatches } from "./bearer.ts";

/**
 * Stress leases: while `tts-monitor stress` drives an engine it holds a lease on it here, and the
 * monitor pauses that engine's scheduled probes and labels its ingested syntheses source="stress",
 * so load-test traffic never pollutes the probe and ingest series. A lease expires unless renewed,
 * so a stress process that dies (kill -9, a lost network) gives the engine back within its TTL.
 */
export const LEASE_DEFAULT_TTL_SECONDS = 30;
export const LEASE_MAX_TTL_SECONDS = 300;

export interface StressLease {
  readonly id: string;
  readonly engine: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
  readonly ttlSeconds: number;
}

export class StressLeases {
  readonly #byEngine = new Map<string, StressLease>();
  constructor(private readonly now: () => number = Date.now) {}

  #prune(): void {
    const t = this.now();
    for (const [engine, lease] of this.#byEngine) if (lease.expiresAt <= t) this.#byEngine.delete(engine);
  }

  /** A new lease, or undefined when another one holds the engine. */
  acquire(engine: string, ttlSeconds = LEASE_DEFAULT_TTL_SECONDS): StressLease | undefined {
    this.#prune();
    if (this.#byEngine.has(engine)) return undefined;
    const lease = { id: randomUUID(), engine, ttlSeconds, expiresAt: this.now() + ttlSeconds * 1000 };
    this.#byEngine.set(engine, lease);
    return lease;
  }

  renew(id: string, ttlSeconds?: number): StressLease | undefined {
    this.#prune();
    for (const [engine, lease] of this.#byEngine) {
      if (lease.id !== id) continue;
      const ttl = ttlSeconds ?? lease.ttlSeconds;
      const next = { ...lease, ttlSeconds: ttl, expiresAt: this.now() + ttl * 1000 };
      this.#byEngine.set(engine, next);
      return next;
    }
    return undefined;
  }

  release(id: string): boolean {
    for (const [engine, lease] of this.#byEngine)
      if (lease.id === id) {
        this.#byEngine.delete(engine);
        return true;
      }
    return false;
  }

  /** True while a live lease holds the engine. */
  active(engine: string): boolean {
    const lease = this.#byEngine.get(engine);
    if (lease === undefined) return false;
    if (lease.expiresAt > this.now()) return true;
    this.#byEngine.delete(engine);
    return false;
  }

  list(): StressLease[] {
    this.#prune();
    return [...this.#byEngine.values()];
  }
}

export interface StressLeaseRouteOptions {
  readonly leases: StressLeases;
  /** "enabled", "disabled", or undefined for a name the config does not have. */
  readonly configured: (engine: string) => "enabled" | "disabled" | undefined;
  /** The ingestion token: who may post measurements may also say that a stress run is on. */
  readonly token: string | undefined;
  readonly log: Logger;
  /** A finished run's report (its JSON), posted by the lease holder before it releases: for the optimiser. */
  readonly onReport?: (report: { readonly engine: string; readonly [field: string]: unknown }) => void;
}

const view = (l: StressLease) => ({
  id: l.id,
  engine: l.engine,
  ttl_seconds: l.ttlSeconds,
  expires_at: new Date(l.expiresAt).toISOString(),
});

function ttlOf(body: unknown): number | string {
  const ttl = (body as { ttl_seconds?: unknown } | undefined)?.ttl_seconds;
  if (ttl === undefined) return LEASE_DEFAULT_TTL_SECONDS;
  if (typeof ttl !== "number" || !(ttl >= 1 && ttl <= LEASE_MAX_TTL_SECONDS))
    return `ttl_seconds must be a number from 1 to ${LEASE_MAX_TTL_SECONDS}`;
  return ttl;
}

/** POST/GET /api/v1/stress/leases, PUT/DELETE /api/v1/stress/leases/:id (docs/stress.md). */
export function mountStressLeases(app: Express, options: StressLeaseRouteOptions): void {
  const { leases, log } = options;
  const guard: RequestHandler = (req, res, next) => {
    if (options.token !== undefined && !bearerMatches(req.get("authorization"), options.token)) {
      res
        .status(401)
        .set("WWW-Authenticate", 'Bearer realm="tts-monitor"')
        .json({ error: "missing or wrong bearer token" });
      return;
    }
    if (options.token === undefined) {
      const refused = crossSiteProblem(req.get("sec-fetch-site"), req.get("origin"), req.get("host"));
      if (refused !== undefined) {
        res
          .status(403)
          .json({ error: `${refused}: stress leases are not taken from web pages of other sites` });
        return;
      }
    }
    if (req.method === "POST" || req.method === "PUT") {
      const problem = contentTypeProblem(req.get("content-type"));
      if (problem !== undefined) {
        res.status(415).json({ error: problem });
        return;
      }
    }
    next();
  };
  const json = express.json({ limit: 4096, strict: false, type: () => true });
  const base = "/api/v1/stress/leases";
  app.get(base, guard, (_req, res) => {
    res.json({ leases: leases.list().map(view) });
  });
  app.post(base, guard, json, (req, res) => {
    const engine = (req.body as { engine?: unknown } | undefined)?.engine;
    if (typeof engine !== "string") {
      res.status(400).json({ error: "engine (a configured engine's name) is required" });
      return;
    }
    const state = options.configured(engine);
    if (state === undefined) {
      res.status(400).json({ error: `no engine named ${JSON.stringify(engine.slice(0, 64))} in the config` });
      return;
    }
    const ttl = ttlOf(req.body);
    if (typeof ttl === "string") {
      res.status(400).json({ error: ttl });
      return;
    }
    const lease = leases.acquire(engine, ttl);
    if (!lease) {
      res.status(409).json({ error: `engine ${engine} is already leased by another stress run` });
      return;
    }
    log.info("stress run started: scheduled probes paused, ingested syntheses labelled source=stress", {
      engine,
      ttl_seconds: ttl,
    });
    res.status(201).json(view(lease));
  });
  app.put(`${base}/:id`, guard, json, (req, res) => {
    const ttl = ttlOf(req.body);
    if (typeof ttl === "string") {
      res.status(400).json({ error: ttl });
      return;
    }
    const lease = leases.renew(String(req.params.id), ttl);
    if (!lease) res.status(404).json({ error: "no such lease (expired or released)" });
    else res.json(view(lease));
  });
  // A report of a few dozen steps is a few KiB; this leaves room for hundreds.
  const reportJson = express.json({ limit: 512 * 1024, strict: true, type: () => true });
  app.post(`${base}/:id/report`, guard, reportJson, (req, res) => {
    const lease = leases.list().find((l) => l.id === String(req.params.id));
    if (!lease) {
      res.status(404).json({ error: "no such lease (expired or released)" });
      return;
    }
    const report = req.body as { engine?: unknown; steps?: unknown } | undefined;
    if (typeof report !== "object" || report === null || report.engine !== lease.engine) {
      res.status(400).json({ error: `a stress report of engine ${lease.engine} is expected` });
      return;
    }
    if (!Array.isArray(report.steps)) {
      res.status(400).json({ error: "steps (an array) is required" });
      return;
    }
    options.onReport?.(report as { engine: string });
    log.info("stress report received for the optimiser", { engine: lease.engine });
    res.status(204).end();
  });
  app.delete(`${base}/:id`, guard, (req, res) => {
    const id = String(req.params.id);
    const engine = leases.list().find((l) => l.id === id)?.engine;
    if (!leases.release(id)) {
      res.status(404).json({ error: "no such lease (expired or released)" });
      return;
    }
    log.info("stress run ended: scheduled probes resume", { engine });
    res.status(204).end();
  });
}
