/** One cached answer: the bytes exactly as a client received them, and how to label them. */
export interface CacheEntry {
  readonly engine: string;
  readonly audio: Buffer;
  readonly contentType: string;
  /** Epoch ms when it was stored. */
  readonly storedAt: number;
  /** Duration of the audio (for the recorded event's real-time factor), when known. */
  readonly audioDurationMs?: number;
}

export interface CacheEvents {
  evicted(reason: "capacity" | "expired", entry: CacheEntry): void;
}

/**
 * The gateway's audio cache: bounded in bytes, least recently used first out, optional TTL. A Map
 * keeps insertion order, so re-inserting on a hit makes its first key the least recently used one.
 */
export class AudioCache {
  readonly #entries = new Map<string, CacheEntry>();
  #bytes = 0;

  constructor(
    private capacity: number,
    private readonly ttlMs: number | undefined,
    private readonly events: CacheEvents,
    private readonly now: () => number = Date.now,
  ) {}

  get bytes(): number {
    return this.#bytes;
  }
  get size(): number {
    return this.#entries.size;
  }
  get capacityBytes(): number {
    return this.capacity;
  }

  get(key: string): CacheEntry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (this.ttlMs !== undefined && this.now() - entry.storedAt >= this.ttlMs) {
      this.#bytes -= entry.audio.length;
      this.events.evicted("expired", entry);
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry;
  }

  /** Stores a complete answer; one larger than the whole capacity is not stored. */
  set(key: string, entry: CacheEntry): boolean {
    const old = this.#entries.get(key);
    if (old) {
      this.#entries.delete(key);
      this.#bytes -= old.audio.length;
    }
    if (entry.audio.length > this.capacity) return false;
    this.#entries.set(key, entry);
    this.#bytes += entry.audio.length;
    this.#shrink();
    return true;
  }

  setCapacity(bytes: number): void {
    if (!(Number.isInteger(bytes) && bytes >= 0))
      throw new RangeError(`cache capacity must be an integer ≥ 0 bytes, got ${bytes}`);
    this.capacity = bytes;
    this.#shrink();
  }

  #shrink(): void {
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.capacity) break;
      this.#entries.delete(key);
      this.#bytes -= entry.audio.length;
      this.events.evicted("capacity", entry);
    }
  }
}
