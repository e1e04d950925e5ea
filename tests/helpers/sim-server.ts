import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { EngineConfigOf } from "../../src/engines/context.ts";
import { atTime } from "./tts-servers/clock.ts";
import { fliteWav } from "./tts-servers/real-audio.ts";

/**
 * A simulated TTS server with a known answer: `workers` requests are served at once, each for
 * `serviceTimeMs`; the rest wait in a FIFO queue. Its capacity is therefore workers / service time
 * (4 workers × 100 ms = 40 req/s), whatever the client does: the answer a stress test must find.
 */
export interface SimServerOptions {
  /** Requests served at once; the others queue (FIFO, unbounded). */
  readonly workers: number;
  /** Time one worker spends on one request (ms), fixed or drawn per request. */
  readonly serviceTimeMs: number | (() => number);
  /**
   * Every `stallEveryMs` from the server's start, the whole server freezes for `stallMs` (a GC pause,
   * a model reload): nothing starts or finishes until the stall ends. Both or neither.
   */
  readonly stallEveryMs?: number;
  readonly stallMs?: number;
  /** Share of requests answered `errorStatus` instead of audio, spread evenly (0.25 → every 4th). */
  readonly errorRate?: number;
  /** HTTP status of those errors (default 500). */
  readonly errorStatus?: number;
  /** Only OpenAI's `POST /v1/audio/speech` for now. */
  readonly protocol?: "openai";
  /**
   * Streaming: after the service time the headers and the first of `chunks` body chunks go out,
   * then one chunk every `gapMs`; the worker stays busy until the last one.
   */
  readonly stream?: { readonly chunks: number; readonly gapMs: number };
  /** Text spoken in the answered clip (real speech from Debian's flite, synthesised once). */
  readonly clipText?: string;
}

export interface SimServerStats {
  /** Requests received (whole body read), including those still queued. */
  readonly requests: number;
  /** Most requests in service at once (never above `workers`). */
  readonly maxInFlight: number;
  /** Most requests waiting in the queue at once. */
  readonly maxQueued: number;
  /** Requests answered with audio. */
  readonly served: number;
  /** Requests answered with `errorStatus`. */
  readonly errors: number;
  /** Queued requests whose client went away before a worker took them (dropped, not served). */
  readonly abandoned: number;
}

export interface SimServer {
  /** http://127.0.0.1:port (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The clip every successful request gets (a real WAV). */
  readonly wav: Buffer;
  /** An `openai` engine config entry that points at this server (as the config schema outputs it). */
  engineConfig(name: string): EngineConfigOf<"openai">;
  stats(): SimServerStats;
  close(): Promise<void>;
}

interface Job {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  gone: boolean;
}

export async function startSimServer(options: SimServerOptions): Promise<SimServer> {
  const { workers } = options;
  if (!Number.isInteger(workers) || workers < 1) throw new Error("workers must be an integer ≥ 1");
  if ((options.stallEveryMs === undefined) !== (options.stallMs === undefined))
    throw new Error("stallEveryMs and stallMs go together");
  if (
    options.stallEveryMs !== undefined &&
    options.stallMs !== undefined &&
    options.stallMs >= options.stallEveryMs
  )
    throw new Error("stallMs must be shorter than stallEveryMs");
  const errorRate = options.errorRate ?? 0;
  const errorStatus = options.errorStatus ?? 500;
  const wav = fliteWav(options.clipText ?? "Hello from the simulated server.");
  const serviceTime =
    typeof options.serviceTimeMs === "number"
      ? (() => {
          const ms = options.serviceTimeMs;
          return () => ms;
        })()
      : options.serviceTimeMs;

  let t0 = performance.now();
  let requests = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let maxQueued = 0;
  let served = 0;
  let errors = 0;
  let abandoned = 0;
  let closed = false;
  const queue: Job[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();

  /** The first moment at or after `t` outside a stall. */
  const awake = (t: number): number => {
    const every = options.stallEveryMs;
    const stall = options.stallMs;
    if (every === undefined || stall === undefined) return t;
    const since = t - t0;
    const k = Math.floor(since / every);
    // Stall k (k ≥ 1) covers [k·every, k·every + stall): the first one comes one period after start.
    if (k >= 1 && since < k * every + stall) return t0 + k * every + stall;
    return t;
  };
  /** When work of `ms` started at `t` ends, frozen through any stall it crosses. */
  const finishAt = (t: number, ms: number): number => {
    let at = awake(t);
    let left = ms;
    const every = options.stallEveryMs;
    const stall = options.stallMs;
    if (every === undefined || stall === undefined) return at + left;
    for (;;) {
      const nextStall = t0 + (Math.floor((at - t0) / every) + 1) * every;
      if (at + left <= nextStall) return at + left;
      left -= nextStall - at;
      at = nextStall + stall;
    }
  };
  const later = (target: number, fn: () => void) => {
    // atTime reschedules itself; track only the first timer so close() can stop the common case.
    const wait = Math.max(0, target - performance.now());
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) atTime(target, () => (closed ? undefined : fn()));
    }, Math.floor(wait));
    timers.add(timer);
  };

  const isError = (n: number) => errorRate > 0 && Math.floor(n * errorRate) > Math.floor((n - 1) * errorRate);

  const startNext = () => {
    while (inFlight < workers && queue.length > 0) {
      const job = queue.shift() as Job;
      if (job.gone) {
        abandoned++;
        continue;
      }
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      serve(job);
    }
  };
  const done = () => {
    inFlight--;
    startNext();
  };

  const serve = (job: Job) => {
    const n = served + errors + 1;
    const ends = finishAt(performance.now(), serviceTime());
    later(ends, () => {
      if (isError(n)) {
        errors++;
        job.res.writeHead(errorStatus, { "Content-Type": "application/json" });
        job.res.end(JSON.stringify({ error: { message: "simulated failure", type: "server_error" } }));
        done();
        return;
      }
      served++;
      const stream = options.stream;
      if (!stream || stream.chunks <= 1) {
        job.res.writeHead(200, { "Content-Type": "audio/wav", "Content-Length": String(wav.length) });
        job.res.end(wav);
        done();
        return;
      }
      job.res.writeHead(200, { "Content-Type": "audio/wav" });
      const size = Math.ceil(wav.length / stream.chunks);
      let i = 0;
      const sendChunk = () => {
        const chunk = wav.subarray(i * size, (i + 1) * size);
        i++;
        if (i >= stream.chunks) {
          job.res.end(chunk);
          done();
        } else {
          job.res.write(chunk);
          later(finishAt(performance.now(), stream.gapMs), sendChunk);
        }
      };
      sendChunk();
    });
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "POST" || path !== "/v1/audio/speech") {
        res.writeHead(404, { "Content-Type": "application/json" });
        res.end('{"detail":"Not Found"}');
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        body = undefined;
      }
      const b = body as Record<string, unknown> | undefined;
      if (!b || typeof b.input !== "string" || typeof b.model !== "string") {
        res.writeHead(400, { "Content-Type": "application/json" });
        res.end('{"error":{"message":"model and input are required"}}');
        return;
      }
      requests++;
      const job: Job = { req, res, gone: false };
      res.on("close", () => {
        if (!res.writableFinished) job.gone = true;
      });
      queue.push(job);
      startNext();
      maxQueued = Math.max(maxQueued, queue.length);
    });
  });
  server.keepAliveTimeout = 5_000;
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  t0 = performance.now();
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    port,
    wav,
    engineConfig: (name) => ({
      name,
      type: "openai",
      enabled: true,
      url: `${url}/v1/audio/speech`,
      model: "sim",
      voice: "sim",
      response_format: "wav",
    }),
    stats: () => ({ requests, maxInFlight, maxQueued, served, errors, abandoned }),
    close: async () => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
