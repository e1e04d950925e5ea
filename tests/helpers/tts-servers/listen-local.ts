import type http from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * Listens on 127.0.0.1, port 0, and gives the test server's base URL and a close that does not
 * wait for keep-alive connections (it destroys the open sockets first).
 */
export async function listenLocal(server: http.Server): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
