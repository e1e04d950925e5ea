import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { createH2Server } from "./http2.ts";
import { clientCertAllowed, type GateOptions, gatedHandler, type WebConfigSource } from "./web-config.ts";

export class ListenError extends Error {
  override readonly name = "ListenError";
}

export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  const rawHost = address.slice(0, i);
  const host = rawHost.startsWith("[") ? rawHost.slice(1, -1) : rawHost;
  return { host: host === "" ? "0.0.0.0" : host, port: Number(address.slice(i + 1)) };
}

/** The config key that sets each server's address, named in the error. */
const SETTING: Readonly<Record<string, string>> = {
  exporter: "server.listen_address",
  "web dashboard": "server.dashboard_address",
  gateway: "gateway.listen_address",
};

/**
 * What a hostile or broken client can hold on every server (SECURITY.md lists them). A slow client
 * is cut off; many idle ones are closed, oldest first, so a scrape always finds room.
 */
export const HTTP_LIMITS = {
  /** The whole request head must arrive within this (slowloris: one header byte a second). */
  headersTimeoutMs: 10_000,
  /** The whole request, body included (a slow upload). */
  requestTimeoutMs: 60_000,
  /** An idle keep-alive connection is closed after this (longer than Prometheus' scrape interval). */
  keepAliveTimeoutMs: 65_000,
  /** How often Node checks the two timeouts above. */
  connectionsCheckingIntervalMs: 1_000,
  /** Request head size; larger is 431. */
  maxHeaderBytes: 16 * 1024,
  /** Open connections; beyond it the oldest connection without a request in flight is closed. */
  maxConnections: 1024,
  /** Requests on one keep-alive connection before it is closed (0: no limit). */
  maxRequestsPerSocket: 0,
} as const;

export type HttpLimits = { -readonly [K in keyof typeof HTTP_LIMITS]: number };

export interface ListenOptions extends GateOptions {
  /** The web config (TLS, basic auth, headers); none: plain HTTP without authentication. */
  readonly web?: WebConfigSource;
  /** Tests lower a limit to reach it cheaply. */
  readonly limits?: Partial<HttpLimits>;
}

/** Binds an HTTP server; a port in use or a bad address becomes a ListenError with one clear line. */
export function listen(
  handler: RequestListener,
  address: string,
  what: string,
  options: ListenOptions = {},
): Promise<Server> {
  const { host, port } = parseHostPort(address);
  const limits: HttpLimits = { ...HTTP_LIMITS, ...options.limits };
  const serverOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
    maxHeaderSize: limits.maxHeaderBytes,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node answers CL+TE and duplicate Content-Length with 400 unless this is set (request smuggling).
    insecureHTTPParser: false,
  };
  const web = options.web;
  const gated = web ? gatedHandler(web, handler, options) : handler;
  const tls = web?.current.tls;
  const tlsOptions = tls && {
    ...tls.context,
    requestCert: tls.clientAuth !== "NoClientCert",
    rejectUnauthorized: tls.clientAuth === "RequireAndVerifyClientCert",
  };
  // As the exporter-toolkit (Go): HTTP/2 by ALPN over TLS unless http2 is false; plain HTTP is 1.1 only.
  const server: Server = !tlsOptions
    ? createServer(serverOptions, gated)
    : web?.current.http2
      ? (createH2Server(tlsOptions, serverOptions, limits, gated) as unknown as Server)
      : (createHttpsServer(
          { ...serverOptions, ...tlsOptions, ALPNProtocols: ["http/1.1"] },
          gated,
        ) as unknown as Server);
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  boundConnections(server, limits.maxConnections);
  if (tls && web) {
    const tlsServer = server as unknown as import("node:tls").Server & {
      requestCert: boolean;
      rejectUnauthorized: boolean;
    };
    // Every connection is checked against the policy in force now (it can change with the file).
    tlsServer.on("secureConnection", (socket: TLSSocket) => {
      const current = web.current.tls;
      if (current && !clientCertAllowed(socket, current)) socket.destroy();
    });
    tlsServer.on("tlsClientError", () => {
      // A failed handshake (a plain-HTTP client, a refused certificate) is the client's problem.
    });
    const unsubscribe = web.onChange((config) => {
      if (!config.tls) return;
      tlsServer.setSecureContext(config.tls.context);
      tlsServer.requestCert = config.tls.clientAuth !== "NoClientCert";
      tlsServer.rejectUnauthorized = config.tls.clientAuth === "RequireAndVerifyClientCert";
    });
    server.once("close", unsubscribe);
  }
  const setting = SETTING[what] ?? "the address";
  return new Promise((resolve, reject) => {
    const fail = (reason: string, cause: unknown) =>
      reject(new ListenError(`cannot listen on ${address} for the ${what}: ${reason}`, { cause }));
    server.once("error", (err: NodeJS.ErrnoException) => {
      const reason =
        err.code === "EADDRINUSE"
          ? `the port is already in use (another exporter? set ${setting} or stop the other process)`
          : err.code === "EACCES"
            ? `permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; set ${setting})`
            : err.code === "EADDRNOTAVAIL"
              ? "no such local address"
              : err.code === "ENOTFOUND" || err.code === "EAI_AGAIN"
                ? `cannot resolve the host name (set ${setting})`
                : err.message;
      fail(reason, err);
    });
    try {
      server.listen(port, host, () => resolve(server));
    } catch (err) {
      // Node throws at once, rather than emitting "error", for a port out of range.
      fail(err instanceof RangeError ? "the port must be from 0 to 65535" : String(err), err);
    }
  });
}

/** Every open connection of a server from listen(), for closeServer (an http2 server has no closeAllConnections). */
const OPEN_SOCKETS = new WeakMap<object, ReadonlyMap<string, { socket: Socket }>>();

/**
 * Keeps at most `max` connections: a new one past the bound closes the oldest connection that has no
 * request in flight (an idle keep-alive, or one still sending its head), or itself when every one is busy.
 * An HTTP/2 connection counts once, however many streams it carries; it is busy while any is open.
 */
function boundConnections(server: Server, max: number): void {
  // Insertion order is age order; the value counts the requests in flight on it.
  const open = new Map<string, { socket: Socket; inFlight: number }>();
  OPEN_SOCKETS.set(server, open);
  const keyOf = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;
  server.on("connection", (socket: Socket) => {
    const key = keyOf(socket);
    if (open.size >= max) {
      let victim: string | undefined;
      for (const [k, v] of open) {
        if (v.inFlight === 0) {
          victim = k;
          break;
        }
      }
      if (victim === undefined) {
        socket.destroy();
        return;
      }
      open.get(victim)?.socket.destroy();
      open.delete(victim);
    }
    open.set(key, { socket, inFlight: 0 });
    socket.once("close", () => {
      if (open.get(key)?.socket === socket) open.delete(key);
    });
  });
  server.on("request", (req: IncomingMessage, res) => {
    // With TLS the request's socket is the TLS one (over HTTP/2, a proxy of it); its remote
    // address and port are the TCP one's.
    const entry = open.get(keyOf(req.socket));
    if (!entry) return;
    entry.inFlight++;
    res.once("close", () => {
      entry.inFlight--;
    });
  });
}

export function boundAddress(server: Server): string {
  const a = server.address();
  if (a === null || typeof a === "string") return String(a);
  return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // An http2 server's close() already sends GOAWAY to its sessions and closes idle HTTP/1.1 ones.
    if (typeof server.closeIdleConnections === "function") server.closeIdleConnections();
    setTimeout(() => {
      for (const { socket } of OPEN_SOCKETS.get(server)?.values() ?? []) socket.destroy();
      if (typeof server.closeAllConnections === "function") server.closeAllConnections();
    }, 2000).unref();
  });
}
