import { createServer, type RequestListener, type Server } from "node:http";

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

/** Binds an HTTP server; a port in use or a bad address becomes a ListenError with one clear line. */
export function listen(handler: RequestListener, address: string, what: string): Promise<Server> {
  const { host, port } = parseHostPort(address);
  const server = createServer(handler);
  server.keepAliveTimeout = 65_000;
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

export function boundAddress(server: Server): string {
  const a = server.address();
  if (a === null || typeof a === "string") return String(a);
  return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 2000).unref();
  });
}
