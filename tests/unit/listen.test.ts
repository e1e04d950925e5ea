import { createServer } from "node:http";
import { describe, expect, it } from "vitest";
import { closeServer, ListenError, listen } from "../../src/server/listen.ts";

const handler = () => {};

describe("listen: every failure is one ListenError line naming the setting to change", () => {
  it("a port out of range (which Node throws at once instead of emitting)", async () => {
    await expect(listen(handler, "127.0.0.1:99999", "exporter")).rejects.toThrow(
      new ListenError("cannot listen on 127.0.0.1:99999 for the exporter: the port must be from 0 to 65535"),
    );
  });

  it("the dashboard's port in use names server.dashboard_address, the exporter's server.listen_address", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const address = blocker.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      await expect(listen(handler, `127.0.0.1:${port}`, "web dashboard")).rejects.toThrow(
        /^cannot listen on 127\.0\.0\.1:\d+ for the web dashboard: the port is already in use \(another exporter\? set server\.dashboard_address or stop the other process\)$/,
      );
      await expect(listen(handler, `127.0.0.1:${port}`, "exporter")).rejects.toThrow(
        /set server\.listen_address/,
      );
    } finally {
      await closeServer(blocker);
    }
  });

  it("a host name that does not resolve", async () => {
    await expect(listen(handler, "no-such-host.invalid:0", "exporter")).rejects.toThrow(
      "cannot listen on no-such-host.invalid:0 for the exporter: cannot resolve the host name (set server.listen_address)",
    );
  });
});
