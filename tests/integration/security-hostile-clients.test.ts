// Hostile clients (issue 15, item 4): slowloris, idle keep-alive hoarding, request smuggling shapes,
// oversized heads, a slow body and 10,000 connections at once. The limits are HTTP_LIMITS
// (src/server/listen.ts, SECURITY.md); through each attack /metrics keeps answering.
import type { Server } from "node:http";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mountIngest } from "../../src/ingest/http.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { createExporterApp } from "../../src/server/exporter.ts";
import { closeServer, HTTP_LIMITS, type HttpLimits, listen } from "../../src/server/listen.ts";
import { sleep } from "../helpers/tools.ts";

const log = new Logger({ json: true, sink: { write: () => {} } });

async function exporter(limits: Partial<HttpLimits> = {}): Promise<{ server: Server; port: number }> {
  const registry = new MetricsRegistry();
  registry.gauge("tts_exporter_start_time_seconds").set(1);
  const app = createExporterApp({
    registry,
    isReady: () => true,
    log,
    mount: (a) =>
      mountIngest(a, {
        registry,
        log,
        token: undefined,
        maxBodyBytes: 1 << 20,
        maxEvents: 100,
        apply: () => {},
      }),
  });
  const server = await listen(app, "127.0.0.1:0", "exporter", { limits });
  const a = server.address();
  return { server, port: typeof a === "object" && a ? a.port : 0 };
}

async function metricsStatus(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
  await res.text();
  return res.status;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

/** Sends raw bytes and collects what comes back until the server closes (or `ms` passes). */
function raw(port: number, bytes: string, ms = 10_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.write(bytes));
    let text = "";
    s.setEncoding("latin1").on("data", (c: string) => {
      text += c;
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, ms);
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    s.on("error", () => {});
  });
}

describe("hostile clients against the exporter's HTTP server", () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    ({ server, port } = await exporter());
  });
  afterAll(() => closeServer(server));

  it("slowloris (a header byte a second) is cut off at headersTimeout while /metrics answers", {
    timeout: 60_000,
  }, async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    const closedAt: number[] = [];
    const start = Date.now();
    for (const s of sockets) {
      s.on("error", () => {});
      s.once("close", () => closedAt.push(Date.now() - start));
      s.write("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    }
    const drip = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write("a");
    }, 1000);
    try {
      while (closedAt.length < sockets.length && Date.now() - start < 40_000) {
        expect(await metricsStatus(port)).toBe(200);
        await sleep(1000);
      }
    } finally {
      clearInterval(drip);
      for (const s of sockets) s.destroy();
    }
    expect(closedAt).toHaveLength(sockets.length);
    // Cut off by the server (not by the loop's end), no earlier than the limit allows.
    for (const t of closedAt) expect(t).toBeGreaterThanOrEqual(HTTP_LIMITS.headersTimeoutMs - 1000);
    for (const t of closedAt) expect(t).toBeLessThan(40_000);
  });

  it("request smuggling shapes are refused with 400 and the connection closed", async () => {
    const smuggled = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    const shapes = [
      // CL + TE: one server reads the chunked body, another the Content-Length one.
      `POST /api/v1/syntheses HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
      // Two different Content-Length values.
      `POST /api/v1/syntheses HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\n${smuggled}`,
      // An obfuscated Transfer-Encoding.
      `POST /api/v1/syntheses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding : identity\r\n\r\n0\r\n\r\n${smuggled}`,
      // A bare LF inside the head.
      `GET /metrics HTTP/1.1\r\nHost: x\nX-Evil: 1\r\n\r\n`,
    ];
    for (const shape of shapes) {
      const { text, closed } = await raw(port, shape);
      expect(text, shape).toMatch(/^HTTP\/1\.1 400 /);
      // One answer only: the smuggled request behind it is never served.
      expect(text.match(/HTTP\/1\.1 \d{3}/g), shape).toHaveLength(1);
      expect(closed, shape).toBe(true);
    }
    expect(await metricsStatus(port)).toBe(200);
  });

  it("an oversized request head is 431", async () => {
    const { text } = await raw(
      port,
      `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(HTTP_LIMITS.maxHeaderBytes + 1024)}\r\n\r\n`,
    );
    expect(text).toMatch(/^HTTP\/1\.1 431 /);
    expect(await metricsStatus(port)).toBe(200);
  });

  it("10,000 connections at once: the oldest idle ones are closed, /metrics keeps answering", {
    timeout: 120_000,
  }, async () => {
    const sockets: Socket[] = [];
    let refused = 0;
    try {
      // Idle keep-alive connections first (each served one request), then bare ones, in batches.
      const keepAlive = await Promise.all(Array.from({ length: 200 }, () => open(port)));
      for (const s of keepAlive) {
        s.on("error", () => {});
        s.write("GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n");
      }
      sockets.push(...keepAlive);
      for (let batch = 0; batch < 20; batch++) {
        const opened = await Promise.allSettled(Array.from({ length: 490 }, () => open(port)));
        for (const o of opened) {
          if (o.status === "fulfilled") {
            o.value.on("error", () => {});
            sockets.push(o.value);
          } else refused++;
        }
        if (batch % 5 === 4) expect(await metricsStatus(port)).toBe(200);
      }
      expect(sockets.length + refused).toBe(10_000);
      await sleep(500);
      const count = await new Promise<number>((r, j) => server.getConnections((e, n) => (e ? j(e) : r(n))));
      expect(count).toBeLessThanOrEqual(HTTP_LIMITS.maxConnections);
      expect(await metricsStatus(port)).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});

describe("a slow request body", () => {
  it("is cut off at requestTimeout (lowered here to 3 s)", { timeout: 30_000 }, async () => {
    const { server, port } = await exporter({ requestTimeoutMs: 3000, headersTimeoutMs: 2000 });
    try {
      const s = await open(port);
      s.on("error", () => {});
      let text = "";
      s.setEncoding("latin1").on("data", (c: string) => {
        text += c;
      });
      const closed = new Promise<number>((r) => {
        const start = Date.now();
        s.once("close", () => r(Date.now() - start));
      });
      s.write(
        "POST /api/v1/syntheses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[",
      );
      const drip = setInterval(() => s.destroyed || s.write(" "), 500);
      const after = await Promise.race([closed, sleep(20_000).then(() => -1)]);
      clearInterval(drip);
      s.destroy();
      expect(after).toBeGreaterThan(0);
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      expect(await metricsStatus(port)).toBe(200);
    } finally {
      await closeServer(server);
    }
  });
});
