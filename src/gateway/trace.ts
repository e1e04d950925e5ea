import { createWriteStream, openSync, renameSync, statSync, type WriteStream } from "node:fs";
import type { TraceEntry } from "./contract.ts";

/** Bytes of lines waiting to be written before further lines are dropped (and counted). */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/**
 * The gateway's request trace: a ring of the newest `entries`, and optionally a JSON Lines file
 * rotated to `<file>.1` once it passes `maxFileBytes` (one old file kept, so at most twice that on disk).
 */
export class RequestTrace {
  readonly #ring: (TraceEntry | undefined)[];
  #next = 0;
  #count = 0;
  #stream: WriteStream | undefined;
  #fileBytes = 0;
  dropped = 0;

  constructor(
    capacity: number,
    private readonly file?: { readonly path: string; readonly maxFileBytes: number },
    private readonly onError: (err: Error) => void = () => {},
  ) {
    this.#ring = new Array(capacity);
    if (file) {
      try {
        this.#fileBytes = statSync(file.path).size;
      } catch {
        this.#fileBytes = 0;
      }
      this.#open();
    }
  }

  #open(): void {
    if (!this.file) return;
    // Opened here, not when the stream gets to it: a rotation right after must find the file.
    let fd: number;
    try {
      fd = openSync(this.file.path, "a");
    } catch (err) {
      this.onError(err as Error);
      return;
    }
    this.#stream = createWriteStream("", { fd });
    this.#stream.on("error", (err) => {
      this.onError(err);
      this.#stream = undefined;
    });
  }

  add(entry: TraceEntry): void {
    this.#ring[this.#next] = entry;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#count = Math.min(this.#count + 1, this.#ring.length);
    if (!this.file || !this.#stream) return;
    const line = `${JSON.stringify(entry)}\n`;
    if (this.#stream.writableLength > MAX_PENDING_BYTES) {
      this.dropped++;
      return;
    }
    if (this.#fileBytes + line.length > this.file.maxFileBytes && this.#fileBytes > 0) this.#rotate();
    this.#stream?.write(line);
    this.#fileBytes += line.length;
  }

  #rotate(): void {
    if (!this.file) return;
    const old = this.#stream;
    const path = this.file.path;
    // Lines already handed to the old stream still land in the renamed file (same inode).
    try {
      renameSync(path, `${path}.1`);
    } catch (err) {
      this.onError(err as Error);
    }
    old?.end();
    this.#fileBytes = 0;
    this.#open();
  }

  /** The newest entries, oldest first (at most `max`). */
  entries(max?: number): TraceEntry[] {
    const n = Math.min(this.#count, max ?? this.#count);
    const out: TraceEntry[] = [];
    for (let i = n; i > 0; i--) {
      const e = this.#ring[(this.#next - i + this.#ring.length) % this.#ring.length];
      if (e) out.push(e);
    }
    return out;
  }

  close(): Promise<void> {
    const s = this.#stream;
    this.#stream = undefined;
    return new Promise((resolve) => (s ? s.end(() => resolve()) : resolve()));
  }
}
