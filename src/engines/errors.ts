import { clipBytes } from "../log.ts";
import { withTimeout } from "../util/signals.ts";
import { EngineError, type FailureReason } from "./types.ts";

/** The error an engine throws when its signal fired: `timeout` for a deadline, `other` for shutdown. */
export function abortError(signal: AbortSignal, where: string): EngineError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof DOMException && reason.name === "TimeoutError";
  return new EngineError(
    timedOut ? `${where}: timed out` : `${where}: aborted`,
    timedOut ? "timeout" : "other",
    { cause: reason },
  );
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "ETIMEDOUT",
  "EADDRNOTAVAIL",
]);

/** Maps a transport error (socket, DNS) to a bounded reason, keeping the original as `cause`. */
export function transportError(error: unknown, where: string): EngineError {
  if (error instanceof EngineError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const reason: FailureReason = code && CONNECTION_CODES.has(code) ? "connection" : "other";
  return new EngineError(`${where}: ${code ?? message}`, reason, { cause: error });
}

/**
 * The one way an engine's failure leaves it: an abort wins over whatever the torn-down transport
 * reported (a reset socket after our own abort is a timeout, not a connection failure).
 */
export function toEngineError(error: unknown, signal: AbortSignal, where: string): EngineError {
  if (signal.aborted) return abortError(signal, where);
  return transportError(error, where);
}

/** The request's signal combined with the engine's own deadline (whichever fires first). */
export function withDeadline(signal: AbortSignal, timeoutMs: number): AbortSignal {
  return withTimeout(signal, timeoutMs);
}

/** Throws the abort error right away when the signal has already fired. */
export function throwIfAborted(signal: AbortSignal, where: string): void {
  if (signal.aborted) throw abortError(signal, where);
}

/** A short, printable excerpt of a body that was not audio, for the error message. */
export function excerpt(bytes: Uint8Array, max = 120): string {
  // Masked before the cut: an echoed webhook URL cut in half would escape the log's mask.
  const text = clipBytes(bytes, max);
  return JSON.stringify(text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "."));
}
