// Predicted MOS (entry module of src/audio/mos): ONNX quality models run in one low-priority
// child process, one clip at a time, a bounded number of windows per clip. The event loop never
// runs inference; a clip waiting for the worker is replaced by a newer one from the same source,
// and past MAX_WAITING sources new clips are dropped (logged once).
//
// A process, not a worker thread: a thread cannot be stopped while onnxruntime runs (terminate(),
// or process.exit() at shutdown, aborts the whole process with "terminate called after throwing
// an instance of 'Napi::Error'"), and a window at nice 10 on a loaded host takes tens of seconds,
// so a stop had to wait for it or abort. A process is killed at once, whatever it is doing.

import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
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
  #worker: ChildProcess | undefined;
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
      // A real copy: a Node Buffer's slice() is a view of a pool that may be reused while this waits.
      this.#waiting.push({ key, bytes: new Uint8Array(bytes), format, maxSeconds, resolve });
      this.#pump();
    });
  }

  #warnOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger?.warn(msg, fields);
  }

  /** The worker process's id while it runs (for tests and diagnostics). */
  get workerPid(): number | undefined {
    return this.#worker?.pid;
  }

  #start(): ChildProcess {
    if (this.#worker) return this.#worker;
    // execArgv empty: the parent's flags (--inspect, --expose-gc, a loader) are not the worker's;
    // the .mjs bootstrap of the TypeScript sources registers its own loader.
    const worker = fork(fileURLToPath(workerUrl("worker", import.meta.url)), [String(this.#nice)], {
      execArgv: [],
      serialization: "advanced",
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    worker.on("message", (reply: MosReply) => {
      if (this.#inFlight?.id === reply.id) this.#inFlight.resolve(reply);
    });
    const fail = (message: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#inFlight?.resolve({ id: this.#inFlight.id, ok: false, decode: false, message });
    };
    worker.on("error", (err) => fail(`predicted MOS worker failed: ${err.message}`));
    worker.on("exit", (code, signal) => fail(`predicted MOS worker exited (${signal ?? `code ${code}`})`));
    this.#worker = worker;
    this.#idle(worker);
    return worker;
  }

  /** An idle worker must not keep a one-shot CLI (`tts-monitor analyze`) alive. */
  #idle(worker: ChildProcess): void {
    worker.unref();
    worker.channel?.unref();
  }

  #pump(): void {
    if (this.#inFlight || this.#closed) return;
    const next = this.#waiting.shift();
    if (!next) return;
    const worker = this.#start();
    const id = this.#nextId++;
    worker.ref();
    worker.channel?.ref();
    this.#inFlight = {
      id,
      resolve: (reply) => {
        this.#inFlight = undefined;
        if (this.#worker) this.#idle(this.#worker);
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
    worker.send(req);
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

  /** Stops at once: a clip in inference resolves absent ("closed"), the worker process is killed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) w.resolve({ results: [], absent: "closed" });
    const worker = this.#worker;
    this.#worker = undefined;
    this.#inFlight?.resolve({ id: this.#inFlight.id, ok: false, decode: false, message: "closed" });
    if (!worker) return;
    if (worker.exitCode === null && worker.signalCode === null) {
      const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
      // Held until it is gone: an idle worker is unreferenced, and close() must not resolve never.
      worker.ref();
      // Nothing to save: the clip in progress is dropped, and the process holds no state but its
      // sessions. SIGKILL, so that no handler a dependency installs can delay the stop.
      worker.kill("SIGKILL");
      await exited;
    }
  }
}
