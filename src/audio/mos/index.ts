// Predicted MOS (entry module of src/audio/mos): ONNX quality models run in one low-priority
// worker thread, one clip at a time, a bounded number of windows per clip. The event loop never
// runs inference; a clip waiting for the worker is replaced by a newer one from the same source,
// and past MAX_WAITING sources new clips are dropped (logged once).

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { workerUrl } from "../../util/worker-url.ts";
import type { AudioFormat } from "../format.ts";
import { MOS_WORKER_NICE } from "./limits.ts";
import { MOS_MODELS, type MosModelName } from "./models.ts";
import type { MosModelResult, MosReply, MosRequest } from "./worker.ts";

export type { MosModel, MosSession } from "./model.ts";
export { MOS_MODELS, type MosModelName } from "./models.ts";
export type { MosModelResult } from "./worker.ts";

export interface MosLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface MosOptions {
  logger?: MosLogger;
  /** Windows scored per clip at most (monitoring.mos_max_windows). */
  maxWindows?: number;
  /** Folder holding the models (default: the package's models/). */
  modelDir?: string;
  models?: MosModelName[];
  /** Nice value of the inference thread (monitoring.mos_nice), default MOS_WORKER_NICE. */
  nice?: number;
}

/** What one clip got: values per model, or why it has none. */
export interface MosOutcome {
  audioSeconds?: number;
  results: MosModelResult[];
  /** This clip has no value (too short, silent, undecodable, dropped): its series must go. */
  absent?: string;
}

/** Sources (engine/voice) that may wait for the worker at once. */
export const MAX_WAITING = 8;
export const DEFAULT_MAX_WINDOWS = 3;
/** How long close() waits for the worker to finish its clip before terminating it. */
export const CLOSE_WAIT_MS = 60_000;

/** The package's models/ folder: the nearest ancestor of this module that has one. */
export function defaultModelDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "models");
    if (existsSync(join(candidate, "dnsmos"))) return candidate;
    const up = dirname(dir);
    if (up === dir) return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "models");
    dir = up;
  }
}

interface Waiting {
  key: string;
  bytes: Uint8Array;
  format: AudioFormat | undefined;
  maxSeconds: number | undefined;
  resolve: (o: MosOutcome) => void;
}

export class MosScorer {
  readonly #logger: MosLogger | undefined;
  readonly #maxWindows: number;
  readonly #modelDir: string;
  readonly #models: MosModelName[];
  readonly #nice: number;
  readonly #warned = new Set<string>();
  readonly #waiting: Waiting[] = [];
  #worker: Worker | undefined;
  #inFlight: { id: number; resolve: (r: MosReply) => void } | undefined;
  #nextId = 1;
  #closed = false;

  constructor(options: MosOptions = {}) {
    this.#logger = options.logger;
    this.#maxWindows = Math.max(1, Math.floor(options.maxWindows ?? DEFAULT_MAX_WINDOWS));
    this.#modelDir = options.modelDir ?? defaultModelDir();
    this.#models = options.models ?? (Object.keys(MOS_MODELS) as MosModelName[]);
    this.#nice = options.nice ?? MOS_WORKER_NICE;
  }

  /**
   * Scores one clip (encoded bytes, as the analyser takes them). `key` names its source: a clip
   * still waiting from the same source is superseded (it resolves absent). Audio longer than
   * `maxSeconds` (ingest.max_audio_seconds) resolves absent after decoding, before any resampling
   * or inference: the analyser refuses it too, and resampling an hour of audio holds the worker
   * (and a stop, which waits for the clip in progress) for many seconds. Never rejects.
   */
  score(
    bytes: Uint8Array,
    format: AudioFormat | undefined,
    key = "",
    maxSeconds?: number,
  ): Promise<MosOutcome> {
    if (this.#closed) return Promise.resolve({ results: [], absent: "closed" });
    return new Promise<MosOutcome>((resolve) => {
      const same = this.#waiting.findIndex((w) => w.key === key);
      if (same >= 0) {
        this.#waiting[same]?.resolve({ results: [], absent: "superseded by a newer clip" });
        this.#waiting.splice(same, 1);
      } else if (this.#waiting.length >= MAX_WAITING) {
        this.#warnOnce("backlog", "predicted MOS backlog full; clips dropped until it drains", {
          waiting: this.#waiting.length,
        });
        resolve({ results: [], absent: "backlog full" });
        return;
      }
      // A real copy: a Node Buffer's slice() is a view of its pool, and the copy's buffer is transferred.
      this.#waiting.push({ key, bytes: new Uint8Array(bytes), format, maxSeconds, resolve });
      this.#pump();
    });
  }

  #warnOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger?.warn(msg, fields);
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(workerUrl("worker", import.meta.url), { workerData: { nice: this.#nice } });
    worker.on("message", (reply: MosReply) => {
      if (this.#inFlight?.id === reply.id) this.#inFlight.resolve(reply);
    });
    const fail = (message: string) => {
      this.#worker = undefined;
      this.#inFlight?.resolve({ id: this.#inFlight.id, ok: false, decode: false, message });
    };
    worker.on("error", (err) => fail(`predicted MOS worker crashed: ${err.message}`));
    worker.on("exit", (code) => {
      if (this.#worker === worker) fail(`predicted MOS worker exited with code ${code}`);
    });
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #pump(): void {
    if (this.#inFlight || this.#closed) return;
    const next = this.#waiting.shift();
    if (!next) return;
    const worker = this.#start();
    const id = this.#nextId++;
    worker.ref();
    this.#inFlight = {
      id,
      resolve: (reply) => {
        this.#inFlight = undefined;
        if (this.#worker) this.#worker.unref();
        next.resolve(this.#outcome(reply));
        this.#pump();
      },
    };
    const req: MosRequest = {
      id,
      bytes: next.bytes,
      format: next.format,
      models: this.#models,
      modelDir: this.#modelDir,
      maxWindows: this.#maxWindows,
      ...(next.maxSeconds !== undefined && { maxSeconds: next.maxSeconds }),
    };
    worker.postMessage(req, [next.bytes.buffer as ArrayBuffer]);
  }

  #outcome(reply: MosReply): MosOutcome {
    if (!reply.ok) {
      if (!reply.decode && !this.#closed)
        this.#warnOnce(`error:${reply.message}`, "predicted MOS failed", { error: reply.message });
      return { results: [], absent: reply.decode ? `undecodable audio: ${reply.message}` : reply.message };
    }
    for (const u of reply.unavailable)
      this.#warnOnce(`unavailable:${u.model}`, "predicted MOS disabled: model unavailable", {
        model: u.model,
        reason: u.reason,
      });
    return {
      audioSeconds: reply.audioSeconds,
      results: reply.results,
      ...(reply.absent !== undefined
        ? { absent: reply.absent }
        : reply.results.length === 0
          ? { absent: "no model available" }
          : {}),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) w.resolve({ results: [], absent: "closed" });
    const worker = this.#worker;
    this.#worker = undefined;
    this.#inFlight?.resolve({ id: this.#inFlight.id, ok: false, decode: false, message: "closed" });
    if (!worker) return;
    // Ask, do not terminate: terminating a thread inside onnxruntime aborts the process. The worker
    // ends after the clip in progress (seconds); terminate() only if it has not within CLOSE_WAIT_MS.
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    worker.postMessage({ close: true });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), CLOSE_WAIT_MS);
    });
    const outcome = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (outcome === "late") await worker.terminate();
  }
}
