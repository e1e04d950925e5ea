import type { EventEmitter } from "node:events";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import { isIPv4, isIPv6 } from "node:net";
import { fileURLToPath } from "node:url";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type { AlertEvaluator } from "../alerts/evaluator.ts";
import type { AlertEvent } from "../alerts/types.ts";
import { ConfigError, readSecretFile } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { errorMessage, type Logger } from "../log.ts";
import type { ProbeResult } from "../probes/probe.ts";
import type { CurrentMetrics } from "../state/snapshot.ts";
import { bearerMatches } from "./bearer.ts";
import { HistoryRing, newMeasurements, ROWS_PER_INTERVAL, toCsv, toJson } from "./dashboard-history.ts";
import { boundAddress, closeServer, listen, parseHostPort } from "./listen.ts";
import type { WebConfigSource } from "./web-config.ts";

// The built-in web dashboard (SPEC §9, port 8080): a static page, a server-sent event stream that
// pushes each new measurement (looked for once per sample interval), the recorded history as
// CSV/JSON downloads, and the controls (probe interval, probe text, thresholds, engines) that call
// the monitor's run-time setters. It depends on DashboardControls, not on the monitor class.

const WEB_DIR = fileURLToPath(new URL("../web/", import.meta.url));
const require = createRequire(import.meta.url);
/** The chart library, installed from npm and served from disk: the page works offline. */
const VENDOR: Record<string, { file: string; type: string }> = {
  "uPlot.iife.min.js": { file: require.resolve("uplot/dist/uPlot.iife.min.js"), type: "text/javascript" },
  "uPlot.min.css": { file: require.resolve("uplot/dist/uPlot.min.css"), type: "text/css" },
};
const ASSETS: Record<string, string> = {
  "app.js": "text/javascript",
  "charts.js": "text/javascript",
  "style.css": "text/css",
  "favicon.svg": "image/svg+xml",
};
/** The controls' request body limit (probe texts are at most 5000 characters each). */
const CONTROLS_BODY_LIMIT = "64kb";
/** The smallest probe interval the controls accept (the page's input has the same minimum). */
const MIN_PROBE_INTERVAL_SECONDS = 0.1;
/** Rows sent with the initial state and replayed to a reconnecting client; the full history is in the exports. */
const INITIAL_SAMPLES = 5000;
/** The charts' window: rows measured this long before now go with the initial state. */
const CHART_WINDOW_MS = 300_000;

/**
 * What the dashboard needs of the monitor (TTSPerformanceMonitor has it): the config, the log, its
 * events, the one snapshot of the state, the alert list, and the run-time setters of the controls.
 */
export interface DashboardControls {
  readonly config: Config;
  readonly log: Logger;
  /** "probe" (ProbeResult), "alert" and "alert-notification" (AlertEvent), "config-change". */
  readonly events: EventEmitter;
  readonly alerts: Pick<AlertEvaluator, "firing" | "rules" | "enable" | "start">;
  getCurrentMetrics(): CurrentMetrics;
  setProbeInterval(seconds: number): void;
  setProbeTexts(texts: readonly string[]): void;
  setThresholds(changes: Partial<Config["thresholds"]>): void;
  setEngineEnabled(name: string, enabled: boolean): void;
  /** TLS, basic auth and headers of --web.config.file (the exporter's); none: plain HTTP. */
  readonly webConfig?: WebConfigSource;
}

export type LogKind = "probe" | "alert" | "config" | "info" | "optimizer";
export interface LogEntry {
  readonly at: number;
  readonly kind: LogKind;
  readonly level: "info" | "warn" | "error";
  readonly text: string;
}

export interface DashboardOptions {
  /** host:port; default the config's server.dashboard_address. */
  readonly address?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** SSE clients served at once (default 100); more get 503. */
  readonly maxStreamClients?: number;
  /** Unsent bytes an SSE client may leave queued before it is disconnected (default 1 MiB). */
  readonly maxClientBufferBytes?: number;
}

export interface Dashboard {
  readonly address: string;
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** The host name of a Host header ("localhost:8080", "[::1]:8080"), without port and brackets. */
export function hostHeaderName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    return new URL(`http://${header}`).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    return undefined;
  }
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIPv4(host)) return host.startsWith("127.");
  if (isIPv6(host)) return host === "::1" || /^::ffff:127\./i.test(host);
  return false;
}

/** Reads the controls' bearer token from dashboard.token_file or the env variable dashboard.token_env. */
export function controlsToken(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const d = config.dashboard;
  if (d.token_file) return readSecretFile(d.token_file, "$.dashboard.token_file", d.token_file);
  return env[d.token_env]?.trim() || undefined;
}

/** The dashboard's state: history ring, event log, SSE clients. */
class DashboardState {
  history: HistoryRing;
  readonly log: LogEntry[] = [];
  readonly clients = new Set<Response>();
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #unsubscribe: Array<() => void> = [];
  /** The config the page last saw, to notice a reload (SIGHUP), which emits no event. */
  #seenConfig: Config;
  #intervalSeconds: number;
  #historySeconds: number;
  /** Source → time of its last recorded measurement: a measurement is recorded once. */
  readonly #seen = new Map<string, number>();
  /** The firing alerts last sent, to send the list again only when it changes. */
  #sentFiring = "[]";

  constructor(
    private readonly monitor: DashboardControls,
    private readonly limits: { readonly maxClients: number; readonly maxClientBufferBytes: number },
  ) {
    const d = monitor.config.dashboard;
    this.#seenConfig = monitor.config;
    this.#intervalSeconds = d.sample_interval_seconds;
    this.#historySeconds = d.history_seconds;
    this.history = new HistoryRing(ringCapacity(d), d.history_seconds * 1000);
  }

  get intervalSeconds(): number {
    return this.#intervalSeconds;
  }

  get historySeconds(): number {
    return this.#historySeconds;
  }

  start(): void {
    const m = this.monitor;
    const on = <T>(event: string, fn: (payload: T) => void) => {
      m.events.on(event, fn);
      this.#unsubscribe.push(() => m.events.off(event, fn));
    };
    on<ProbeResult>("probe", (r) => {
      if (!r.success)
        this.addLog(
          "probe",
          "warn",
          `probe of ${r.engine} failed (${r.reason ?? "other"}): ${r.error ?? ""}`,
        );
    });
    on<AlertEvent>("alert", (e) =>
      this.addLog(
        "alert",
        e.status === "firing" ? "error" : "info",
        `${e.status.toUpperCase()} ${e.summary}`,
      ),
    );
    on<AlertEvent>("alert-notification", (e) => this.broadcast("notification", e));
    on<Record<string, unknown>>("optimizer-decision", (d) =>
      this.addLog(
        "optimizer",
        "info",
        `${d.applied ? "" : "(dry run) "}${String(d.lever)} ${String(d.action)}${d.engine === undefined ? "" : ` ${String(d.engine)}`}: ${String(d.from)} → ${String(d.to)} (${String(d.reason)})`,
      ),
    );
    on<Record<string, unknown>>("config-change", (c) => {
      const { setting, at: _at, ...rest } = c;
      // A setter keeps the dashboard settings object: a new one means a reload came first.
      if (m.config.dashboard !== this.#seenConfig.dashboard) this.#reloaded();
      this.#seenConfig = m.config;
      this.addLog("config", "info", `${String(setting)} changed: ${JSON.stringify(rest)}`);
      this.broadcast("settings", settings(m));
    });
    this.#tick();
    this.#schedule();
    // Comments keep idle proxies from closing the stream.
    this.#heartbeat = setInterval(() => {
      for (const c of this.clients) this.#send(c, ": keep-alive\n\n");
    }, 15_000);
    this.#heartbeat.unref();
  }

  #schedule(): void {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#tick(), this.#intervalSeconds * 1000);
    this.#timer.unref();
  }

  /** Records and pushes the measurements made since the last tick, and the alert list when it changed. */
  #tick(): void {
    const m = this.monitor;
    if (m.config !== this.#seenConfig) this.#reloaded();
    try {
      const rows = newMeasurements(m.getCurrentMetrics(), this.#seen, (e) => engineEnabled(m.config, e));
      for (const row of rows) {
        const sample = this.history.push(row);
        this.broadcast("sample", { sample }, String(sample.seq));
      }
      if (this.history.evictedEarly > 0)
        m.log.once(
          "dashboard-history-full",
          "warn",
          "dashboard history full: the oldest measurements go before dashboard.history_seconds",
          { capacity: this.history.capacity, history_seconds: this.#historySeconds },
        );
    } catch (err) {
      m.log.once("dashboard-sample", "error", "dashboard: cannot read the measurements", {
        error: errorMessage(err),
      });
    }
    const firing = m.alerts.firing();
    const key = JSON.stringify(firing);
    if (key !== this.#sentFiring) {
      this.#sentFiring = key;
      this.broadcast("firing", { firing });
    }
  }

  /** The config file was reloaded: apply a new retention or sample interval, show the new settings. */
  #reloaded(): void {
    const m = this.monitor;
    this.#seenConfig = m.config;
    const d = m.config.dashboard;
    if (d.history_seconds !== this.#historySeconds || d.sample_interval_seconds !== this.#intervalSeconds) {
      const intervalChanged = d.sample_interval_seconds !== this.#intervalSeconds;
      this.#historySeconds = d.history_seconds;
      this.#intervalSeconds = d.sample_interval_seconds;
      this.history = this.history.resized(ringCapacity(d), d.history_seconds * 1000);
      if (intervalChanged) this.#schedule();
      this.addLog(
        "config",
        "info",
        `history now ${d.history_seconds} s, new measurements looked for every ${d.sample_interval_seconds} s (at most ${this.history.capacity} kept)`,
      );
    }
    this.addLog("config", "info", "configuration reloaded");
    this.broadcast("settings", settings(m));
  }

  addLog(kind: LogKind, level: LogEntry["level"], text: string): void {
    const entry: LogEntry = { at: Date.now(), kind, level, text };
    this.log.push(entry);
    const max = this.monitor.config.dashboard.max_events;
    if (this.log.length > max) this.log.splice(0, this.log.length - max);
    this.broadcast("log", entry);
  }

  /** True when no more SSE clients are taken. */
  get full(): boolean {
    return this.clients.size >= this.limits.maxClients;
  }

  addClient(res: Response): void {
    this.clients.add(res);
    res.on("close", () => this.clients.delete(res));
  }

  broadcast(event: string, data: unknown, id?: string): void {
    if (this.clients.size === 0) return;
    const frame = `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) this.#send(c, frame);
  }

  /**
   * Writes to one SSE client. A client that does not read (a stalled tab, a slow link, a hostile
   * peer) would make the server buffer every frame in memory for as long as it stays connected:
   * past maxClientBufferBytes unsent, it is disconnected (an EventSource reconnects by itself and
   * gets the missed samples back with Last-Event-ID).
   */
  #send(c: Response, frame: string): void {
    if (c.writableLength > this.limits.maxClientBufferBytes) {
      this.clients.delete(c);
      c.destroy();
      return;
    }
    c.write(frame);
  }

  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#heartbeat);
    for (const u of this.#unsubscribe.splice(0)) u();
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

/** True when an Origin header names this very server (scheme, host and port). */
function sameOrigin(origin: string, req: Request): boolean {
  try {
    return new URL(origin).origin === new URL(`${req.protocol}://${req.get("host")}`).origin;
  } catch {
    return false;
  }
}

/** Rows the history ring holds: ROWS_PER_INTERVAL per sample interval of dashboard.history_seconds. */
function ringCapacity(d: Config["dashboard"]): number {
  return Math.ceil(d.history_seconds / d.sample_interval_seconds) * ROWS_PER_INTERVAL;
}

function engineEnabled(config: Config, name: string): boolean {
  return config.engines.find((e) => e.name === name)?.enabled ?? true;
}

function settings(m: DashboardControls) {
  const c = m.config;
  return {
    thresholds: c.thresholds,
    probes: { interval_seconds: c.probes.interval_seconds, texts: c.probes.texts },
    engines: c.engines.map((e) => ({ name: e.name, type: e.type, enabled: e.enabled })),
    rules: m.alerts.rules(),
  };
}

type ControlsMode =
  | { readonly kind: "open" }
  | { readonly kind: "token"; readonly token: string }
  | {
      readonly kind: "off";
      readonly reason: string;
    };

export function createDashboardApp(
  monitor: DashboardControls,
  state: DashboardState,
  controls: ControlsMode,
): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use((_req, res, next) => {
    res.set({
      "Content-Security-Policy":
        "default-src 'self'; img-src 'self' data:; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
    });
    next();
  });

  const page = (_req: Request, res: Response) => {
    res.type("html").set("Cache-Control", "no-store").sendFile("index.html", { root: WEB_DIR });
  };
  app.get("/", page);
  app.get("/index.html", page);
  app.get("/assets/:file", (req, res) => {
    const file = String(req.params.file);
    // Own keys only: "constructor" or "__proto__" must be a 404, not Object.prototype's members.
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (!type) return void res.status(404).type("text/plain").send("not found\n");
    res.type(type).set("Cache-Control", "no-cache").sendFile(file, { root: WEB_DIR });
  });
  app.get("/vendor/:file", (req, res) => {
    const file = String(req.params.file);
    const v = Object.hasOwn(VENDOR, file) ? VENDOR[file] : undefined;
    if (!v) return void res.status(404).type("text/plain").send("not found\n");
    res.type(v.type).set("Cache-Control", "public, max-age=86400").sendFile(v.file);
  });
  app.get("/-/healthy", (_req, res) => {
    res.type("text/plain").send("OK\n");
  });

  app.get("/api/state", (_req, res) => {
    res.set("Cache-Control", "no-store").json({
      /** The server's clock (Unix ms): the page computes the age of values against it. */
      now: Date.now(),
      interval_seconds: state.intervalSeconds,
      history_seconds: state.historySeconds,
      settings: settings(monitor),
      firing: monitor.alerts.firing(),
      log: state.log.slice(-200),
      samples: state.history.samples(INITIAL_SAMPLES).filter((r) => r.t >= Date.now() - CHART_WINDOW_MS),
      controls:
        controls.kind === "off"
          ? { enabled: false, reason: controls.reason }
          : { enabled: true, token: controls.kind === "token" },
      popups: monitor.config.alerts.dashboard_alerts,
      gateway: monitor.getCurrentMetrics().gateway ?? null,
    });
  });

  // The gateway's part of the snapshot (null while no gateway runs), polled by the page.
  app.get("/api/gateway", (_req, res) => {
    res.set("Cache-Control", "no-store").json(monitor.getCurrentMetrics().gateway ?? null);
  });

  app.get("/api/stream", (req, res) => {
    if (state.full) {
      res.set("Retry-After", "10").status(503).json({ error: "too many live connections to the dashboard" });
      return;
    }
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-store, no-transform",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    if (req.method === "HEAD") return void res.end();
    res.write(`retry: 2000\n\n`);
    // A reconnecting EventSource sends the id (sequence number) of the last row it got: send the ones it missed.
    const last = Number(req.get("last-event-id"));
    if (req.get("last-event-id") && Number.isSafeInteger(last)) {
      for (const sample of state.history.samplesAfter(last, INITIAL_SAMPLES))
        res.write(`id: ${sample.seq}\nevent: sample\ndata: ${JSON.stringify({ sample })}\n\n`);
      res.write(`event: firing\ndata: ${JSON.stringify({ firing: monitor.alerts.firing() })}\n\n`);
    }
    state.addClient(res);
  });

  const exportName = (ext: string) =>
    `tts-monitor-history-${new Date().toISOString().replace(/[:.]/g, "-")}.${ext}`;
  app.get("/api/export.csv", (_req, res) => {
    res
      .type("text/csv; charset=utf-8")
      .set("Content-Disposition", `attachment; filename="${exportName("csv")}"`)
      .set("Cache-Control", "no-store")
      .send(toCsv(state.history.samples()));
  });
  app.get("/api/export.json", (_req, res) => {
    res
      .type("application/json")
      .set("Content-Disposition", `attachment; filename="${exportName("json")}"`)
      .set("Cache-Control", "no-store")
      .send(toJson(state.history.samples(), state.intervalSeconds, state.historySeconds));
  });

  // --- Controls ---
  const guard = (req: Request, res: Response, next: NextFunction) => {
    if (controls.kind === "off") return void res.status(403).json({ error: controls.reason });
    // Open controls trust "only this machine can connect". A web page can break that by DNS
    // rebinding (its own name resolving to 127.0.0.1, so its requests are same-origin): such a
    // request carries the page's name in Host, never a loopback name.
    if (controls.kind === "open") {
      const name = hostHeaderName(req.get("host"));
      if (name === undefined || !isLoopback(name))
        return void res.status(403).json({
          error: `controls without a token answer only requests addressed to localhost or a loopback address (Host: ${req.get("host") ?? "none"}); set a token to use them through another name`,
        });
    }
    if (controls.kind === "token" && !bearerMatches(req.get("authorization"), controls.token)) {
      res.set("WWW-Authenticate", 'Bearer realm="tts-monitor dashboard"');
      return void res.status(401).json({ error: "a valid bearer token is required for the controls" });
    }
    // A JSON body cannot be sent cross-site without a CORS preflight, which is never granted here,
    // so a page on another site cannot drive the controls of a dashboard on localhost.
    if (!req.is("application/json"))
      return void res.status(415).json({ error: "send the body as application/json" });
    // Open controls have no credential of their own: refuse what a browser marks as sent by
    // another origin. (With a token, the bearer header is the proof: a browser never adds it by
    // itself, so a reverse proxy that changes the scheme or Host does not lock the owner out.)
    if (controls.kind === "open") {
      const site = req.get("sec-fetch-site");
      const origin = req.get("origin");
      if ((site && site !== "same-origin" && site !== "none") || (origin && !sameOrigin(origin, req)))
        return void res.status(403).json({ error: "cross-origin request refused" });
    }
    next();
  };
  const controlsRouter = express.Router();
  controlsRouter.use(guard, express.json({ limit: CONTROLS_BODY_LIMIT }));
  const apply = (res: Response, what: string, fn: () => void) => {
    try {
      fn();
      res.json({ ok: true, settings: settings(monitor) });
    } catch (err) {
      const message =
        err instanceof ConfigError
          ? err.problems.map((p) => `${p.path}: expected ${p.expected}, got ${p.got}`).join("; ")
          : errorMessage(err);
      monitor.log.warn("dashboard control rejected", { control: what, error: message });
      res.status(400).json({ error: message });
    }
  };
  controlsRouter.post("/probe-interval", (req, res) => {
    const seconds = (req.body as { seconds?: unknown })?.seconds;
    apply(res, "probe-interval", () => {
      if (typeof seconds !== "number") throw new TypeError("seconds: expected a number");
      // The page's own floor: a typo such as 0.0001 would send probes back to back at the engines.
      if (seconds < MIN_PROBE_INTERVAL_SECONDS)
        throw new RangeError(`seconds: expected at least ${MIN_PROBE_INTERVAL_SECONDS}, got ${seconds}`);
      monitor.setProbeInterval(seconds);
    });
  });
  controlsRouter.post("/probe-texts", (req, res) => {
    const texts = (req.body as { texts?: unknown })?.texts;
    apply(res, "probe-texts", () => {
      if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string"))
        throw new TypeError("texts: expected an array of strings");
      monitor.setProbeTexts(texts as string[]);
    });
  });
  controlsRouter.post("/thresholds", (req, res) => {
    const body = req.body as Record<string, unknown>;
    apply(res, "thresholds", () => {
      if (typeof body !== "object" || body === null || Array.isArray(body))
        throw new TypeError("expected an object of thresholds");
      const known = Object.keys(monitor.config.thresholds);
      if (Object.keys(body).length === 0)
        throw new TypeError(`expected at least one threshold (known: ${known.join(", ")})`);
      for (const [k, v] of Object.entries(body)) {
        if (!known.includes(k))
          throw new TypeError(`unknown threshold ${JSON.stringify(k)} (known: ${known.join(", ")})`);
        if (typeof v !== "number") throw new TypeError(`${k}: expected a number`);
      }
      monitor.setThresholds(body as Partial<Config["thresholds"]>);
    });
  });
  controlsRouter.post("/engines/:name", (req, res) => {
    const enabled = (req.body as { enabled?: unknown })?.enabled;
    apply(res, "engine", () => {
      if (typeof enabled !== "boolean") throw new TypeError("enabled: expected true or false");
      monitor.setEngineEnabled(String(req.params.name), enabled);
    });
  });
  app.use("/api/controls", controlsRouter);

  app.use((_req, res) => {
    res.status(404).type("text/plain").send("not found\n");
  });
  // A bad JSON body or any other error: a clear 400/500, never a stack trace to the browser.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status ?? 500;
    const type = (err as { type?: string }).type;
    if (status >= 500) monitor.log.error("dashboard request failed", { error: errorMessage(err) });
    const message =
      status >= 500
        ? "internal error"
        : type === "entity.too.large"
          ? `the body is larger than ${CONTROLS_BODY_LIMIT}`
          : type === "entity.parse.failed"
            ? `the body must be a JSON object: ${errorMessage(err)}`
            : errorMessage(err);
    res.status(status).json({ error: message });
  });
  return app;
}

/**
 * Starts the dashboard on `address` (default server.dashboard_address). Turns on the threshold
 * alerts for its alert panel. Throws ListenError when the port cannot be bound.
 */
export async function startDashboard(
  monitor: DashboardControls,
  options: DashboardOptions = {},
): Promise<Dashboard> {
  const address = options.address ?? monitor.config.server.dashboard_address;
  const { host } = parseHostPort(address);
  const token = controlsToken(monitor.config, options.env ?? process.env);
  monitor.log.addSecret(token);
  let controls: ControlsMode;
  if (token) controls = { kind: "token", token };
  else if (isLoopback(host)) controls = { kind: "open" };
  else {
    controls = {
      kind: "off",
      reason: `controls are off: the dashboard listens on ${address}, beyond loopback, and no token is set (set ${monitor.config.dashboard.token_env} or dashboard.token_file)`,
    };
    monitor.log.warn("dashboard controls are off: no token for a dashboard beyond loopback", {
      address,
      token_env: monitor.config.dashboard.token_env,
    });
  }
  monitor.alerts.enable({ thresholds: true });
  monitor.alerts.start();
  const state = new DashboardState(monitor, {
    maxClients: options.maxStreamClients ?? 100,
    maxClientBufferBytes: options.maxClientBufferBytes ?? 1024 * 1024,
  });
  const app = createDashboardApp(monitor, state, controls);
  const server = await listen(app, address, "web dashboard", {
    ...(monitor.webConfig && { web: monitor.webConfig }),
    // The controls' bearer token authenticates the controls beside basic auth (SECURITY.md).
    bearerRoute: (req) => controls.kind === "token" && (req.url ?? "").startsWith("/api/controls/"),
  });
  state.start();
  state.addLog(
    "info",
    "info",
    `dashboard started; controls ${controls.kind === "open" ? "open (loopback)" : controls.kind === "token" ? "need the bearer token" : "off"}`,
  );
  const bound = boundAddress(server);
  const port = /:(\d+)$/.exec(bound)?.[1] ?? "";
  const scheme = monitor.webConfig?.current.tls ? "https" : "http";
  const url = `${scheme}://${isLoopback(host) || host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host}:${port}/`;
  monitor.log.info("dashboard listening", { address: bound, url });
  return {
    address: bound,
    url,
    server,
    async close() {
      state.stop();
      await closeServer(server);
    },
  };
}
