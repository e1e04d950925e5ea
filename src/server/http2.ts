// HTTP/2 as the exporter-toolkit serves it (http_server_config.http2, default true): h2 negotiated by
// ALPN over TLS, HTTP/1.1 for every other client, never h2c on plain HTTP. One
// http2.createSecureServer({ allowHTTP1 }) listens; HTTP/1.1 connections reach the handler as on an
// https server, and each HTTP/2 stream is bridged in memory (a duplex pair, no port, no file) to an
// HTTP/1.1 server that runs the same handler. Express 5 cannot take Http2ServerRequest, and the bridge
// keeps basic auth, the file's headers, body limits and SSE the very same code on both protocols.
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type RequestListener,
  request,
  type Server,
  type ServerOptions,
} from "node:http";
import {
  constants,
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type SecureServerOptions,
  type ServerHttp2Session,
} from "node:http2";
import { duplexPair } from "node:stream";

/**
 * Streams one HTTP/2 connection may have open at once (Go's server allows 250, nginx 128). With the
 * connection bound of HTTP_LIMITS this bounds the requests in flight; past it a stream is refused.
 */
export const H2_MAX_CONCURRENT_STREAMS = 100;

/** The limits of listen.ts that apply to HTTP/2 (HttpLimits; a subset, so this module stays below listen.ts). */
export interface H2Limits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxHeaderBytes: number;
}

/** Connection-level headers HTTP/2 forbids and HTTP/1.1 uses between hops only: never forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "http2-settings",
]);

/**
 * An HTTP/2-over-TLS server with HTTP/1.1 fallback, both served by `handler`. `http1` carries the
 * HTTP/1.1 limits (head and request timeouts, keep-alive, head size, the strict parser), which Node
 * applies to the fallback connections of an http2 server as to an http server.
 */
export function createH2Server(
  tls: SecureServerOptions,
  http1: ServerOptions,
  limits: H2Limits,
  handler: RequestListener,
): Http2SecureServer {
  // The HTTP/1.1 side of the bridge: never listens, receives one in-memory connection per h2 stream.
  const inner = createServer({ ...http1, requestTimeout: 0 }, handler);
  const server = createSecureServer(
    {
      ...tls,
      allowHTTP1: true,
      settings: {
        maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
        maxHeaderListSize: limits.maxHeaderBytes,
        enablePush: false,
      },
    },
    (req, res) => {
      if (req.httpVersionMajor >= 2) bridge(inner, req, res, limits);
      else handler(req as unknown as IncomingMessage, res as never);
    },
  );
  // Read by Node's HTTP/1.1 connection handling on the fallback connections (as http.Server has them).
  Object.assign(server, {
    headersTimeout: http1.headersTimeout,
    requestTimeout: http1.requestTimeout,
    keepAliveTimeout: http1.keepAliveTimeout,
    connectionsCheckingInterval: http1.connectionsCheckingInterval,
    maxHeaderSize: http1.maxHeaderSize,
    insecureHTTPParser: http1.insecureHTTPParser,
    requireHostHeader: true,
  });
  server.on("session", (session) => idleTimeouts(session, limits));
  return server;
}

/**
 * HTTP/1.1's head timeout and idle keep-alive for an HTTP/2 connection: a new connection must open
 * its first stream within headersTimeoutMs, and one without an open stream is closed (GOAWAY) after
 * keepAliveTimeoutMs. A slow header block (CONTINUATION frames dribbled out) opens no stream, so it
 * is cut by the same timers.
 */
function idleTimeouts(session: ServerHttp2Session, limits: H2Limits): void {
  let open = 0;
  let served = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => {
        if (open === 0 && !session.closed && !session.destroyed) session.close();
      },
      served ? limits.keepAliveTimeoutMs : limits.headersTimeoutMs,
    );
    timer.unref();
  };
  arm();
  session.on("stream", (stream) => {
    open++;
    served = true;
    clearTimeout(timer);
    stream.once("close", () => {
      if (--open === 0) arm();
    });
  });
  session.once("close", () => clearTimeout(timer));
  // A broken connection is the client's problem; the session is destroyed either way.
  session.on("error", () => {});
}

/** Replays one HTTP/2 request on the in-memory HTTP/1.1 server and streams its answer back. */
function bridge(inner: Server, req: Http2ServerRequest, res: Http2ServerResponse, limits: H2Limits): void {
  const [near, far] = duplexPair();
  // Either end going away (the client resets the stream, the handler destroys its socket) ends both.
  near.once("close", () => far.destroy());
  far.once("close", () => near.destroy());
  const socket = req.socket;
  // What the handler may read of its socket: the peer's address (logs, loopback checks) and that the
  // connection is encrypted (Express's req.protocol, the dashboard's same-origin check).
  Object.assign(far, {
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    remoteFamily: socket.remoteFamily,
    localAddress: socket.localAddress,
    localPort: socket.localPort,
    encrypted: true,
  });
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers))
    if (!name.startsWith(":") && !HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
  headers.host = req.authority || req.headers.host || "localhost";
  headers.connection = "close";

  let failed = false;
  const fail = (status: number) => {
    // The first failure answers; what it sets off (the bridge's socket closing) is not another one.
    if (failed) return;
    failed = true;
    if (!res.headersSent && !res.stream.destroyed) {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
      res.end(status === 408 ? "request timeout\n" : status === 400 ? "bad request\n" : "bad gateway\n");
    } else if (!res.stream.destroyed) res.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    near.destroy();
  };
  // HTTP/1.1's requestTimeout: the whole request, body included, must arrive within it.
  const timer = setTimeout(() => {
    if (!req.complete) fail(408);
  }, limits.requestTimeoutMs);
  timer.unref();
  req.once("end", () => clearTimeout(timer));
  res.once("close", () => {
    clearTimeout(timer);
    near.destroy();
  });
  // Answered before the body was all sent (a 408, a 413): ask the client to stop sending, without
  // error (RFC 9113 §8.1), as HTTP/1.1 closes the connection.
  res.stream.once("finish", () => {
    if (!req.complete && !res.stream.destroyed) res.stream.close(constants.NGHTTP2_NO_ERROR);
  });

  let out: ReturnType<typeof request>;
  try {
    out = request({
      method: req.method,
      path: req.url,
      headers,
      setHost: false,
      createConnection: () => near as never,
    });
  } catch {
    // A :path or header that HTTP/1.1 cannot carry.
    clearTimeout(timer);
    fail(400);
    return;
  }
  inner.emit("connection", far);
  out.on("response", (answer) => {
    const back: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(answer.headers))
      if (!HOP_BY_HOP.has(name) && value !== undefined) back[name] = value;
    if (res.stream.destroyed) return;
    res.writeHead(answer.statusCode ?? 502, back);
    answer.pipe(res as unknown as NodeJS.WritableStream);
    answer.once("close", () => {
      if (!answer.complete) fail(502);
      // Node's HTTP/1.1 server writes some answers (431, 400) and destroys the socket at once: the
      // message is complete but its stream never emits "end" for pipe() to end the h2 response.
      else if (!res.writableEnded && !res.stream.destroyed) res.end();
    });
  });
  out.on("error", () => fail(502));
  req.pipe(out);
}
