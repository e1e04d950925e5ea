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

/** Binds an HTTP server; a port in use or a bad address becomes a ListenError with one clear line. */
export function listen(handler: RequestListener, address: string, what: string): Promise<Server> {
  const { host, port } = parseHostPort(address);
  const server = createServer(handler);
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const reason =
        err.code === "EADDRINUSE"
          ? "the port is already in use (another exporter? set server.listen_address or stop the other process)"
          : err.code === "EACCES"
            ? "permission denied"
            : err.code === "EADDRNOTAVAIL"
              ? "no such local address"
              : err.message;
      reject(new ListenError(`cannot listen on ${address} for the ${what}: ${reason}`, { cause: err }));
    });
    server.listen(port, host, () => resolve(server));
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
