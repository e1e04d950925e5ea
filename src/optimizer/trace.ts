import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { TRACE_VERSION, type TraceEntry } from "../gateway/contract.ts";

/** What reading a trace found: the entries it could use and what it had to skip. */
export interface TraceRead {
  readonly entries: TraceEntry[];
  /** Non-empty lines read. */
  readonly lines: number;
  /** Lines that are not JSON or not a trace entry. */
  readonly corrupt: number;
  /** Entries of an older shape (no `v`, or v below TRACE_VERSION). */
  readonly olderVersion: number;
  /** Entries of a newer shape than this reader knows. */
  readonly newerVersion: number;
  /** The last line was cut (no newline and not valid JSON): a file still being written, or cut. */
  readonly truncated: boolean;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** The entry when `v` has TraceEntry's version-1 shape; a version number when it has another version. */
export function asTraceEntry(v: unknown): TraceEntry | "older" | "newer" | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (o.v === undefined || (isNum(o.v) && o.v < TRACE_VERSION)) return "older";
  if (isNum(o.v) && o.v > TRACE_VERSION) return "newer";
  if (o.v !== TRACE_VERSION) return undefined;
  const ok =
    typeof o.key === "string" &&
    o.key.length > 0 &&
    typeof o.engine === "string" &&
    typeof o.voice === "string" &&
    isNum(o.chars) &&
    o.chars >= 0 &&
    isNum(o.bytes) &&
    o.bytes >= 0 &&
    isNum(o.start_ms) &&
    isNum(o.end_ms) &&
    o.end_ms >= o.start_ms &&
    (o.first_byte_ms === undefined || isNum(o.first_byte_ms)) &&
    typeof o.cache_hit === "boolean" &&
    typeof o.coalesced === "boolean" &&
    typeof o.result === "string" &&
    isNum(o.status) &&
    (o.engine_ms === undefined || (isNum(o.engine_ms) && o.engine_ms >= 0));
  return ok ? (o as unknown as TraceEntry) : undefined;
}

class TraceAccumulator {
  entries: TraceEntry[] = [];
  lines = 0;
  corrupt = 0;
  olderVersion = 0;
  newerVersion = 0;
  lastBad = false;

  line(text: string): void {
    if (text.trim() === "") return;
    this.lines++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.corrupt++;
      this.lastBad = true;
      return;
    }
    this.lastBad = false;
    this.add(parsed);
  }

  add(parsed: unknown): void {
    const e = asTraceEntry(parsed);
    if (e === "older") this.olderVersion++;
    else if (e === "newer") this.newerVersion++;
    else if (e === undefined) this.corrupt++;
    else this.entries.push(e);
  }

  result(endsWithNewline: boolean): TraceRead {
    const truncated = this.lastBad && !endsWithNewline;
    return {
      entries: this.entries,
      lines: this.lines,
      // A cut last line is reported as truncation, not as corruption.
      corrupt: this.corrupt - (truncated ? 1 : 0),
      olderVersion: this.olderVersion,
      newerVersion: this.newerVersion,
      truncated,
    };
  }
}

/** Parses a JSONL trace held in memory. */
export function parseTrace(text: string): TraceRead {
  const acc = new TraceAccumulator();
  for (const line of text.split("\n")) acc.line(line);
  return acc.result(text.endsWith("\n") || text === "");
}

/** The entries of an array that came over HTTP (the evidence endpoint), counted like a file's lines. */
export function traceFromArray(items: readonly unknown[]): TraceRead {
  const acc = new TraceAccumulator();
  for (const item of items) {
    acc.lines++;
    acc.add(item);
  }
  return acc.result(true);
}

/** Streams a JSONL trace file line by line (a million-line trace is never one string). */
export async function readTraceFile(path: string): Promise<TraceRead> {
  const acc = new TraceAccumulator();
  let lastChar = "";
  const stream = createReadStream(path, { encoding: "utf8" });
  stream.on("data", (chunk) => {
    if (chunk.length > 0) lastChar = String(chunk).slice(-1);
  });
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) acc.line(line);
  return acc.result(lastChar === "\n" || lastChar === "");
}
