import { createHash } from "node:crypto";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { AudioFormat } from "../audio/format.ts";
import type { GatewayConfig } from "../config/schema.ts";
import { chunkStats } from "../engines/chunk-stats.ts";
import type { Engine, FailureReason } from "../engines/types.ts";
import { ChunkClock, EngineError } from "../engines/types.ts";
import { probeWavHeader } from "../engines/wav-header.ts";
import type { SynthesisEvent } from "../ingest/event.ts";
import type { Logger } from "../log.ts";
import type { MetricName } from "../metrics/catalog.ts";
import { catalog } from "../metrics/catalog.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { bearerMatches } from "../server/bearer.ts";
import type { GatewaySnapshot } from "../state/snapshot.ts";
import { CONTENT_TYPES, createConverter, findFfmpeg, needsEncoder, RESPONSE_FORMATS } from "./audio-out.ts";
import { AudioCache, type CacheEntry } from "./cache.ts";
import { type GatewayControls, type LimitSettings, TRACE_VERSION, type TraceEntry } from "./contract.ts";
import { Flight, type FlightOutcome, type FlightSubscriber } from "./flight.ts";
import { AdaptiveLimiter, LimitRejected } from "./limiter.ts";
import {
  ApiError,
  engineFailure,
  parseSpeechRequest,
  type SpeechRequest,
  sendError,
  sendJson,
} from "./openai-api.ts";
import { type EngineQuality, type RouteReason, Router } from "./router.ts";
import { HIT_DELTA_BYTES, SSE_HEADERS, writeDelta, writeDone, writeStreamError } from "./sse-out.ts";
import { RequestTrace } from "./trace.ts";

/** What the gateway needs from the rest of the house (src/monitor.ts provides it). */
export interface GatewayDeps {
  readonly config: GatewayConfig;
  /** Enabled engines by name (read per request: a reload's changes apply at once). */
  readonly engines: () => ReadonlyMap<string, Engine>;
  readonly registry: MetricsRegistry;
  readonly log: Logger;
  /** Bearer token clients must send (none: no auth). */
  readonly token?: string | undefined;
  /** Records one request like an ingested event (source="gateway"); returns the labels used. */
  readonly record: (event: SynthesisEvent) => { readonly engine: string; readonly voice: string };
  /**
   * Records the gaps (ms) between an upstream answer's audio chunks in the series record() returned
   * the labels of (tts_inter_chunk_gap_seconds and tts_stall_seconds, source="gateway").
   */
  readonly recordChunkGaps: (
    labels: { readonly engine: string; readonly voice: string },
    gapsMs: readonly number[],
  ) => void;
  /** Sends a sampled synthesis's audio to the audio analysis (absent: analysis off). */
  readonly analyse?: (job: {
    readonly engine: string;
    readonly voice: string;
    readonly text: string;
    readonly audio: Uint8Array;
    readonly format: AudioFormat;
  }) => void;
  /** The snapshot's latest quality score and predicted MOS of an engine. */
  readonly quality?: (engine: string) => EngineQuality | undefined;
  /** ffmpeg's path; default: looked up on PATH ("none": act as if there were none). */
  readonly ffmpeg?: string;
  readonly random?: () => number;
}

type Served = "hit" | "miss" | "coalesced";

/** The gateway: OpenAI's speech API in front of the engines, with cache, coalescing, limit, routes. */
export class Gateway implements GatewayControls {
  readonly cache: AudioCache;
  readonly router: Router;
  readonly #trace: RequestTrace;
  readonly #flights = new Map<string, Flight>();
  readonly #limiters = new Map<string, AdaptiveLimiter>();
  readonly #bounds = new Map<string, { min: number; max: number }>();
  readonly #ffmpeg: string | undefined;
  readonly #config: GatewayConfig;
  readonly #stats = { hits: 0, lookups: 0, coalesced: 0, rejected: 0 };

  constructor(private readonly deps: GatewayDeps) {
    const config = deps.config;
    this.#config = config;
    this.#ffmpeg = deps.ffmpeg === "none" ? undefined : (deps.ffmpeg ?? findFfmpeg());
    const evictions = deps.registry.counter("tts_gateway_cache_evictions_total");
    for (const reason of ["capacity", "expired"]) evictions.inc({ reason }, 0);
    this.cache = new AudioCache(
      config.cache.max_bytes,
      config.cache.ttl_seconds === undefined ? undefined : config.cache.ttl_seconds * 1000,
      { evicted: (reason) => evictions.inc({ reason }) },
    );
    this.router = new Router({
      failures: config.breaker.failures,
      openMs: config.breaker.open_seconds * 1000,
      slo: {
        latencyMs: config.slo.latency_ms,
        maxErrorRate: config.slo.max_error_rate,
        ...(config.slo.min_quality !== undefined && { minQuality: config.slo.min_quality }),
        ...(config.slo.min_mos !== undefined && { minMos: config.slo.min_mos }),
      },
      quality: (engine) => deps.quality?.(engine),
      events: {
        opened: (engine, failures) =>
          deps.log.warn("gateway: circuit opened, engine taken out of the routes", {
            engine,
            consecutive_failures: failures,
            retry_after_seconds: config.breaker.open_seconds,
          }),
        closed: (engine) => deps.log.info("gateway: circuit closed, engine back in the routes", { engine }),
      },
    });
    this.#trace = new RequestTrace(
      config.trace.entries,
      config.trace.file === undefined
        ? undefined
        : { path: config.trace.file, maxFileBytes: config.trace.max_file_bytes },
      (err) =>
        deps.log.warn("gateway: cannot write the trace file", {
          file: config.trace.file,
          error: err.message,
        }),
    );
    this.#installGauges();
    for (const engine of deps.engines().keys()) this.#zeroCounters(engine);
  }

  /** Counters start at 0 for every engine, so that rates exist before the first event. */
  #zeroCounters(engine: string): void {
    const r = this.deps.registry;
    for (const name of [
      "tts_gateway_cache_hits_total",
      "tts_gateway_cache_lookups_total",
      "tts_gateway_coalesced_total",
    ] as const)
      r.counter(name).inc({ engine }, 0);
    for (const reason of ["queue_full", "queue_timeout", "circuit_open"])
      r.counter("tts_gateway_rejected_total").inc({ engine, reason }, 0);
    for (const reason of ["requested", "auto", "fallback"])
      r.counter("tts_gateway_route_total").inc({ engine, reason }, 0);
  }

  /** Response formats this gateway can serve (mp3, opus, aac, flac need ffmpeg). */
  get formats(): readonly string[] {
    return this.#ffmpeg ? RESPONSE_FORMATS : ["wav", "pcm"];
  }

  // --- GatewayControls (src/gateway/contract.ts) ---

  trace(max?: number): readonly TraceEntry[] {
    return this.#trace.entries(max);
  }
  cacheCapacityBytes(): number {
    return this.cache.capacityBytes;
  }
  setCacheCapacityBytes(bytes: number): void {
    this.cache.setCapacity(bytes);
    this.deps.log.info("gateway: cache capacity set", { bytes });
  }
  limits(): Readonly<Record<string, LimitSettings>> {
    const out: Record<string, LimitSettings> = {};
    for (const name of this.deps.engines().keys()) {
      const l = this.#limiter(name);
      out[name] = { limit: l.limit, min: l.min, max: l.max };
    }
    return out;
  }
  setLimitBounds(engine: string, bounds: { readonly min: number; readonly max: number }): void {
    if (!this.deps.engines().has(engine))
      throw new RangeError(`no enabled engine named ${JSON.stringify(engine)}`);
    this.#limiter(engine).setBounds(bounds.min, bounds.max);
    this.#bounds.set(engine, { min: bounds.min, max: bounds.max });
    this.deps.log.info("gateway: limit bounds set", { engine, min: bounds.min, max: bounds.max });
  }
  routeWeights(): Readonly<Record<string, number>> {
    return this.router.weights();
  }
  setRouteWeight(engine: string, weight: number): void {
    this.router.setWeight(engine, weight);
    this.deps.log.info("gateway: route weight set", { engine, weight });
  }

  /** The gateway's part of the one snapshot (src/state/snapshot.ts). */
  snapshot(): GatewaySnapshot {
    const engines: Record<string, GatewaySnapshot["engines"][string]> = Object.create(null);
    for (const name of this.deps.engines().keys()) {
      const l = this.#limiter(name);
      engines[name] = {
        limit: l.limit,
        inFlight: l.inFlight,
        queued: l.queueLength,
        circuitOpen: this.router.isOpen(name),
        ...(l.minRttMs !== undefined && { minRttMs: l.minRttMs }),
      };
    }
    const s = this.#stats;
    return {
      cacheBytes: this.cache.bytes,
      cacheCapacityBytes: this.cache.capacityBytes,
      cacheEntries: this.cache.size,
      cacheHitRatio: s.lookups > 0 ? s.hits / s.lookups : undefined,
      coalesced: s.coalesced,
      rejected: s.rejected,
      engines,
    };
  }

  #limiter(engine: string): AdaptiveLimiter {
    let l = this.#limiters.get(engine);
    if (!l) {
      const c = this.#config.limits;
      l = new AdaptiveLimiter({
        initial: c.initial,
        min: c.min,
        max: c.max,
        queue: c.queue,
        queueTimeoutMs: c.queue_timeout_ms,
        minRttIntervalMs: c.min_rtt_interval_seconds * 1000,
        sampleSize: c.sample_size,
        tolerance: c.tolerance,
      });
      this.#limiters.set(engine, l);
    }
    return l;
  }

  /** The limiter of an engine (tests and the dashboards read its state). */
  limiter(engine: string): AdaptiveLimiter {
    return this.#limiter(engine);
  }

  #installGauges(): void {
    const r = this.deps.registry;
    const family = (name: MetricName, values: { labels: Record<string, string>; value: number }[]) => ({
      name,
      help: catalog[name].help,
      type: catalog[name].type,
      values,
    });
    const perEngine = (name: MetricName, pick: (engine: string) => number) =>
      r.override(name, {
        get: () =>
          family(
            name,
            [...this.deps.engines().keys()].map((engine) => ({ labels: { engine }, value: pick(engine) })),
          ),
      });
    perEngine("tts_gateway_concurrency_limit", (e) => this.#limiter(e).limit);
    perEngine("tts_gateway_in_flight", (e) => this.#limiter(e).inFlight);
    perEngine("tts_gateway_queue_length", (e) => this.#limiter(e).queueLength);
    perEngine("tts_gateway_circuit_open", (e) => (this.router.isOpen(e) ? 1 : 0));
    const single = (name: MetricName, value: () => number) =>
      r.override(name, { get: () => family(name, [{ labels: {}, value: value() }]) });
    single("tts_gateway_cache_bytes", () => this.cache.bytes);
    single("tts_gateway_cache_capacity_bytes", () => this.cache.capacityBytes);
    single("tts_gateway_cache_entries", () => this.cache.size);
  }

  /** The request handler (listenGateway binds it). */
  readonly handler: RequestListener = (req, res) => {
    this.#handle(req, res).catch((err: unknown) => {
      this.deps.log.error("gateway: request failed unexpectedly", {
        error: err instanceof Error ? err.message : String(err),
      });
      sendError(res, new ApiError(500, "server_error", "internal error in the gateway"));
    });
  };

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (this.deps.token !== undefined && !bearerMatches(req.headers.authorization, this.deps.token)) {
      req.resume();
      return sendError(
        res,
        new ApiError(
          401,
          "authentication_error",
          "a valid bearer token is required",
          null,
          "invalid_api_key",
        ),
      );
    }
    if (path === "/v1/models" && req.method === "GET") {
      const created = Math.floor(Date.now() / 1000);
      const ids = ["auto", ...this.deps.engines().keys()];
      return sendJson(res, 200, {
        object: "list",
        data: ids.map((id) => ({ id, object: "model", created, owned_by: "tts-monitor" })),
      });
    }
    if (path === "/v1/audio/speech") {
      if (req.method !== "POST") {
        req.resume();
        res.setHeader("Allow", "POST");
        return sendError(res, new ApiError(405, "invalid_request_error", "use POST for /v1/audio/speech"));
      }
      return this.#speech(req, res);
    }
    req.resume();
    return sendError(
      res,
      new ApiError(404, "invalid_request_error", `no route ${req.method} ${path}`, null, "not_found"),
    );
  }

  #readBody(req: IncomingMessage): Promise<Buffer> {
    const max = this.#config.max_body_bytes;
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on("data", (b: Buffer) => {
        if (over) return;
        size += b.length;
        if (size > max) {
          over = true;
          reject(
            new ApiError(
              413,
              "invalid_request_error",
              `request body over ${max} bytes (gateway.max_body_bytes)`,
              "body",
            ),
          );
          return;
        }
        parts.push(b);
      });
      req.on("end", () => {
        if (!over) resolve(Buffer.concat(parts));
      });
      req.on("error", reject);
    });
  }

  async #speech(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startMs = Date.now();
    const start = performance.now();
    let request: SpeechRequest;
    try {
      const body = await this.#readBody(req);
      let json: unknown;
      try {
        json = JSON.parse(body.toString("utf8"));
      } catch {
        throw new ApiError(400, "invalid_request_error", "the request body is not valid JSON", "body");
      }
      request = parseSpeechRequest(json, {
        maxInputChars: this.#config.max_input_chars,
        defaultFormat: this.#ffmpeg ? "mp3" : "wav",
      });
      if (needsEncoder(request.format, request.speed) && !this.#ffmpeg)
        throw new ApiError(
          400,
          "invalid_request_error",
          request.speed !== 1
            ? "a speed other than 1.0 needs ffmpeg on the gateway's PATH (Debian package ffmpeg)"
            : `response_format ${request.format} needs ffmpeg on the gateway's PATH (Debian package ffmpeg); available: wav, pcm`,
          request.speed !== 1 ? "speed" : "response_format",
          "unsupported_format",
        );
    } catch (err) {
      if (err instanceof ApiError) {
        if (err.status === 413) res.setHeader("Connection", "close");
        return sendError(res, err);
      }
      throw err;
    }
    const candidates = this.#candidates(request.model);
    if (candidates instanceof ApiError) return sendError(res, candidates);

    let last: ApiError | undefined;
    let lastEngine = candidates[0]?.engine ?? request.model;
    let circuitRefused = false;
    for (const { engine: name, reason } of candidates) {
      const engine = this.deps.engines().get(name);
      if (!engine) continue;
      lastEngine = name;
      const voice = request.voice ?? engine.voice;
      const key = cacheKey(name, engine.type, voice, request);
      // 1. The cache.
      const lookups = this.deps.registry.counter("tts_gateway_cache_lookups_total");
      lookups.inc({ engine: name });
      this.#stats.lookups++;
      const hit = this.#config.cache.max_bytes > 0 ? this.cache.get(key) : undefined;
      if (hit) {
        this.deps.registry.counter("tts_gateway_cache_hits_total").inc({ engine: name });
        this.#stats.hits++;
        this.#route(name, reason);
        return this.#serveHit(res, hit, request, voice, key, startMs, start);
      }
      // 2. An identical synthesis in flight, or 3. a new one, if the circuit lets it.
      let flight = this.#flights.get(key);
      let served: Served = "coalesced";
      if (flight) {
        this.deps.registry.counter("tts_gateway_coalesced_total").inc({ engine: name });
        this.#stats.coalesced++;
      } else {
        if (!this.router.admit(name)) {
          circuitRefused = true;
          continue;
        }
        served = "miss";
        flight = this.#startFlight(key, engine, voice, request);
      }
      this.#route(name, reason);
      const result = await this.#stream(res, flight, served, request);
      const outcome = result.outcome;
      if (outcome.ok || result.sent || result.clientClosed || !outcome.retriable) {
        this.#finish({ request, voice, engine: name, key, startMs, start, served, result, flight });
        if (!outcome.ok && !result.sent && !result.clientClosed) {
          const code = outcome.error.code;
          // Each client turned away counts, not each shared synthesis.
          if (code === "queue_full" || code === "queue_timeout") {
            this.deps.registry.counter("tts_gateway_rejected_total").inc({ engine: name, reason: code });
            this.#stats.rejected++;
          }
          sendError(res, outcome.error);
        }
        return;
      }
      // Failed before any byte reached the client: the next candidate may serve it.
      last = outcome.error;
      // Recorded and traced as the failure it is; the response comes from the next candidate.
      this.#finish({ request, voice, engine: name, key, startMs, start, served, result, flight });
    }
    if (last === undefined && circuitRefused) {
      this.deps.registry
        .counter("tts_gateway_rejected_total")
        .inc({ engine: lastEngine, reason: "circuit_open" });
      this.#stats.rejected++;
      last = new ApiError(
        503,
        "server_error",
        `engine ${lastEngine} is out of service after repeated failures; retry later`,
        null,
        "circuit_open",
        Math.ceil(this.#config.breaker.open_seconds),
      );
      this.#traceEntry({
        key: "",
        engine: lastEngine,
        voice: request.voice ?? "default",
        chars: [...request.input].length,
        bytes: 0,
        startMs,
        cacheHit: false,
        coalesced: false,
        result: "rejected",
        status: 503,
      });
    }
    sendError(
      res,
      last ?? new ApiError(503, "server_error", "no engine can serve this request", null, "no_engine"),
    );
  }

  /** The engines to try, in order, each with why it is tried; an ApiError when the model is unknown. */
  #candidates(model: string): { engine: string; reason: RouteReason }[] | ApiError {
    const engines = this.deps.engines();
    if (model === "auto") {
      const routes = (this.#config.routes ?? [...engines.keys()]).filter((e) => engines.has(e));
      if (routes.length === 0)
        return new ApiError(503, "server_error", "no engine is enabled", "model", "no_engine");
      return this.router.rank(routes).map((engine, i) => ({ engine, reason: i === 0 ? "auto" : "fallback" }));
    }
    if (!engines.has(model))
      return new ApiError(
        404,
        "invalid_request_error",
        `the model ${JSON.stringify(model)} does not exist; models: auto, ${[...engines.keys()].join(", ")}`,
        "model",
        "model_not_found",
      );
    const fallbacks = (this.#config.fallback[model] ?? []).filter((e) => e !== model && engines.has(e));
    return [
      { engine: model, reason: "requested" },
      ...fallbacks.map((engine) => ({ engine, reason: "fallback" as const })),
    ];
  }

  #route(engine: string, reason: RouteReason): void {
    this.deps.registry.counter("tts_gateway_route_total").inc({ engine, reason });
    if (reason === "fallback")
      this.deps.log.info("gateway: request switched to a fallback engine", { engine });
  }

  #startFlight(key: string, engine: Engine, voice: string, request: SpeechRequest): Flight {
    const flight = new Flight(key, engine.name, CONTENT_TYPES[request.format]);
    this.#flights.set(key, flight);
    void this.#runFlight(flight, engine, voice, request).finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    });
    return flight;
  }

  async #runFlight(flight: Flight, engine: Engine, voice: string, request: SpeechRequest): Promise<void> {
    const signal = flight.controller.signal;
    const limiter = this.#limiter(engine.name);
    let permit: Awaited<ReturnType<AdaptiveLimiter["acquire"]>>;
    try {
      permit = await limiter.acquire(signal);
    } catch (err) {
      this.router.abandoned(engine.name);
      if (err instanceof LimitRejected) {
        flight.finish({
          ok: false,
          cancelled: false,
          retriable: false,
          error: new ApiError(
            429,
            "rate_limit_error",
            `engine ${engine.name} is at its concurrency limit (${err.message}); retry later`,
            null,
            err.reason,
            err.retryAfterSeconds,
          ),
        });
      } else flight.finish(cancelledOutcome());
      return;
    }
    const converter = createConverter(request.format, request.speed, this.#ffmpeg, (b) => flight.push(b));
    const t0 = performance.now();
    let chunks = 0;
    // Arrival of each upstream chunk, for the gaps of an answer that breaks before it settles.
    const arrivals = new ChunkClock();
    let engineDone = false;
    try {
      const result = await engine.synthesize({
        text: request.input,
        voice,
        signal,
        onChunk: (c) => {
          chunks++;
          arrivals.mark(c.at);
          converter.write(c.bytes, c.format);
        },
      });
      engineDone = true;
      flight.chunkGapsMs = chunkStats(result.timings).gapsMs;
      if (chunks === 0) converter.write(result.audio, result.format);
      const engineMs = performance.now() - t0;
      permit.release(engineMs);
      this.router.result(engine.name, true, engineMs);
      await converter.end();
      const audioDurationMs = durationMs(result.audio, result.format);
      const audio = flight.audio();
      if (this.#config.cache.max_bytes > 0)
        this.cache.set(flight.key, {
          engine: engine.name,
          audio,
          contentType: flight.contentType,
          storedAt: Date.now(),
          ...(audioDurationMs !== undefined && { audioDurationMs }),
        });
      const ratio = this.#config.analysis_sample_ratio;
      if (this.deps.analyse && ratio > 0 && (this.deps.random ?? Math.random)() < ratio)
        flight.sampled = { audio: result.audio, format: result.format };
      flight.finish({ ok: true, audioDurationMs, engineMs });
    } catch (err) {
      converter.destroy();
      if (!engineDone) {
        permit.release();
        // A stream that stalled and then broke was heard stalling (the engine's own timings are lost).
        const at = arrivals.times;
        flight.chunkGapsMs = at.slice(1).map((t, i) => t - (at[i] as number));
      }
      if (flight.cancelled && !engineDone) {
        this.router.abandoned(engine.name);
        flight.finish(cancelledOutcome());
        return;
      }
      if (!engineDone) this.router.result(engine.name, false, undefined);
      const error = engineDone
        ? new ApiError(502, "server_error", "the gateway could not encode the audio", null, "encoder_failed")
        : engineFailure(engine.name, err);
      this.deps.log.warn("gateway: synthesis failed", {
        engine: engine.name,
        reason: err instanceof EngineError ? err.reason : engineDone ? "encoder" : "other",
        error: err instanceof Error ? err.message : String(err),
        bytes_sent: flight.bytes,
      });
      flight.finish({ ok: false, cancelled: false, retriable: !engineDone, error, ...reasonOf(err) });
    }
  }

  /** Streams a flight to one client; resolves when the flight ended for it. */
  #stream(
    res: ServerResponse,
    flight: Flight,
    served: Served,
    request: SpeechRequest,
  ): Promise<{
    outcome: FlightOutcome;
    sent: boolean;
    firstByteMs: number | undefined;
    clientClosed: boolean;
    bytes: number;
  }> {
    const sse = request.streamFormat === "sse";
    return new Promise((resolve) => {
      let firstByteMs: number | undefined;
      let bytes = 0;
      let settled = false;
      const settle = (outcome: FlightOutcome, clientClosed: boolean) => {
        if (settled) return;
        settled = true;
        res.off("close", onClose);
        resolve({ outcome, sent: firstByteMs !== undefined, firstByteMs, clientClosed, bytes });
      };
      const sub: FlightSubscriber = {
        chunk: (b) => {
          if (firstByteMs === undefined) {
            firstByteMs = Date.now();
            res.writeHead(200, {
              ...(sse ? SSE_HEADERS : { "Content-Type": flight.contentType }),
              "X-TTS-Gateway-Engine": flight.engine,
              "X-TTS-Gateway-Cache": served,
            });
          }
          bytes += b.length;
          if (sse) writeDelta(res, b);
          else res.write(b);
        },
        end: (outcome) => {
          if (outcome.ok) {
            if (firstByteMs === undefined) sub.chunk(new Uint8Array(0));
            if (sse) writeDone(res, [...request.input].length);
            else res.end();
          } else if (firstByteMs !== undefined) {
            // Part of the audio already went out: an SSE client gets an error event; a plain audio
            // stream can only be cut, abruptly, so that the client sees it incomplete.
            if (sse) writeStreamError(res, "the engine failed mid-stream", outcome.reason ?? "engine_error");
            else res.destroy();
          }
          settle(outcome, false);
        },
      };
      const onClose = () => {
        if (res.writableFinished) return;
        flight.unsubscribe(sub);
        settle(cancelledOutcome(), true);
      };
      res.on("close", onClose);
      flight.subscribe(sub);
    });
  }

  #serveHit(
    res: ServerResponse,
    hit: CacheEntry,
    request: SpeechRequest,
    voice: string,
    key: string,
    startMs: number,
    start: number,
  ): void {
    if (request.streamFormat === "sse") {
      res.writeHead(200, {
        ...SSE_HEADERS,
        "X-TTS-Gateway-Engine": hit.engine,
        "X-TTS-Gateway-Cache": "hit",
      });
      for (let at = 0; at < hit.audio.length; at += HIT_DELTA_BYTES)
        writeDelta(res, hit.audio.subarray(at, at + HIT_DELTA_BYTES));
      writeDone(res, [...request.input].length);
    } else {
      res.writeHead(200, {
        "Content-Type": hit.contentType,
        "Content-Length": hit.audio.length,
        "X-TTS-Gateway-Engine": hit.engine,
        "X-TTS-Gateway-Cache": "hit",
      });
      res.end(hit.audio);
    }
    const latencyMs = performance.now() - start;
    this.deps.record({
      engine: hit.engine,
      voice,
      characters: [...request.input].length,
      latencyMs,
      ttfaMs: latencyMs,
      cacheHit: true,
      ...(hit.audioDurationMs !== undefined && { audioDurationMs: hit.audioDurationMs }),
    });
    this.#traceEntry({
      key,
      engine: hit.engine,
      voice,
      chars: [...request.input].length,
      bytes: hit.audio.length,
      startMs,
      firstByteMs: Date.now(),
      cacheHit: true,
      coalesced: false,
      result: "success",
      status: 200,
    });
  }

  #finish(a: {
    request: SpeechRequest;
    voice: string;
    engine: string;
    key: string;
    startMs: number;
    start: number;
    served: Served;
    result: { outcome: FlightOutcome; firstByteMs: number | undefined; clientClosed: boolean; bytes: number };
    flight: Flight;
  }): void {
    const { outcome, clientClosed } = a.result;
    const chars = [...a.request.input].length;
    const latencyMs = performance.now() - a.start;
    const reason: FailureReason | undefined = outcome.ok ? undefined : (outcome.reason ?? "other");
    if (!clientClosed && !(outcome.ok === false && outcome.error.status === 429)) {
      const labels = this.deps.record({
        engine: a.engine,
        voice: a.voice,
        characters: chars,
        latencyMs,
        ...(a.result.firstByteMs !== undefined && { ttfaMs: a.result.firstByteMs - a.startMs }),
        cacheHit: false,
        success: outcome.ok,
        ...(outcome.ok &&
          outcome.audioDurationMs !== undefined && { audioDurationMs: outcome.audioDurationMs }),
        ...(reason !== undefined && { errorReason: reason }),
      });
      // Every upstream answer's chunk gaps once, with the first request recorded for it (a request
      // that joined it shares the answer; a cache hit has no upstream chunks).
      const gaps = a.flight.takeChunkGaps();
      if (gaps.length > 0) this.deps.recordChunkGaps(labels, gaps);
      // Sampled audio is analysed under the labels the recorder used (its cardinality guard holds).
      const sampled = a.served === "miss" ? a.flight.sampled : undefined;
      if (sampled && this.deps.analyse)
        this.deps.analyse({ engine: labels.engine, voice: labels.voice, text: a.request.input, ...sampled });
    }
    this.#traceEntry({
      key: a.key,
      engine: a.engine,
      voice: a.voice,
      chars,
      bytes: a.result.bytes,
      startMs: a.startMs,
      ...(a.result.firstByteMs !== undefined && { firstByteMs: a.result.firstByteMs }),
      cacheHit: false,
      coalesced: a.served === "coalesced",
      result: clientClosed
        ? "client_closed"
        : outcome.ok
          ? "success"
          : outcome.error.status === 429
            ? "rejected"
            : (reason ?? "other"),
      status: clientClosed
        ? 499
        : outcome.ok
          ? 200
          : a.result.firstByteMs !== undefined
            ? 200
            : outcome.error.status,
      ...(outcome.ok && a.served === "miss" && { engineMs: outcome.engineMs }),
    });
  }

  #traceEntry(e: {
    key: string;
    engine: string;
    voice: string;
    chars: number;
    bytes: number;
    startMs: number;
    firstByteMs?: number;
    cacheHit: boolean;
    coalesced: boolean;
    result: string;
    status: number;
    engineMs?: number;
  }): void {
    this.#trace.add({
      v: TRACE_VERSION,
      key: e.key,
      engine: e.engine,
      voice: e.voice,
      chars: e.chars,
      bytes: e.bytes,
      start_ms: e.startMs,
      ...(e.firstByteMs !== undefined && { first_byte_ms: e.firstByteMs }),
      end_ms: Date.now(),
      cache_hit: e.cacheHit,
      coalesced: e.coalesced,
      result: e.result,
      status: e.status,
      ...(e.engineMs !== undefined && { engine_ms: Math.round(e.engineMs * 1000) / 1000 }),
    });
  }

  async close(): Promise<void> {
    for (const f of this.#flights.values())
      f.controller.abort(new DOMException("gateway stopping", "AbortError"));
    await this.#trace.close();
  }
}

function cancelledOutcome(): FlightOutcome {
  return {
    ok: false,
    cancelled: true,
    retriable: false,
    error: new ApiError(499, "server_error", "the client went away", null, "client_closed"),
  };
}

function reasonOf(err: unknown): { reason: FailureReason } {
  return { reason: err instanceof EngineError ? err.reason : "other" };
}

/** The cache key: hex SHA-256 of the engine, its type, the voice, speed, format and normalised text. */
export function cacheKey(engine: string, model: string, voice: string, r: SpeechRequest): string {
  return createHash("sha256")
    .update(JSON.stringify([engine, model, voice, r.speed, r.format, r.input]))
    .digest("hex");
}

const SAMPLE_BYTES = { s16le: 2, s24le: 3, s32le: 4, f32le: 4, u8: 1 } as const;

/** Duration of an engine's audio from its header or length (no decoding). */
export function durationMs(audio: Uint8Array, format: AudioFormat): number | undefined {
  if (format.kind === "pcm") {
    const frame = SAMPLE_BYTES[format.encoding] * format.channels;
    return ((audio.length / frame) * 1000) / format.sampleRate;
  }
  const probe = probeWavHeader(audio);
  if (probe.state !== "ok") return undefined;
  const l = probe.layout;
  const data = Math.min(l.dataSize ?? Number.POSITIVE_INFINITY, audio.length - l.dataOffset);
  const frame = (l.bitsPerSample / 8) * l.channels;
  return frame > 0 ? ((data / frame) * 1000) / l.sampleRate : undefined;
}
