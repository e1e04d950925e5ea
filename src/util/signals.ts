// A signal that aborts when `signal` aborts or `timeoutMs` passes, whichever comes first: what
// AbortSignal.any([signal, AbortSignal.timeout(ms)]) does, without its leak. On Node 20,
// AbortSignal.any() keeps a WeakRef to every signal it made in each source signal, for as long as
// the source lives: combining the monitor's lifetime signal with each probe's deadline kept about
// 60 bytes per probe forever (the soak's heap snapshots, docs/benchmarks.md). Here the listener on
// the source is removed as soon as the combined signal aborts, and it aborts at the latest when the
// timer fires, so the source holds nothing past the deadline.

import { setMaxListeners } from "node:events";

/** The reason a deadline aborts with, as AbortSignal.timeout's: a DOMException named TimeoutError. */
export function timeoutReason(): DOMException {
  return new DOMException("The operation was aborted due to timeout", "TimeoutError");
}

/** `signal` (when given) combined with a deadline of `timeoutMs` milliseconds (any non-negative number). */
export function withTimeout(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const ms = Math.max(1, Math.ceil(timeoutMs));
  if (signal === undefined) return AbortSignal.timeout(ms);
  const combined = new AbortController();
  if (signal.aborted) {
    combined.abort(signal.reason);
    return combined.signal;
  }
  const onSourceAbort = () => combined.abort(signal.reason);
  const timer = setTimeout(() => combined.abort(timeoutReason()), ms);
  // Like AbortSignal.timeout: a pending deadline does not keep the process alive.
  timer.unref();
  // Removed by hand, not with addEventListener's `signal` option: on Node 20 that option holds its
  // remover weakly, and only the newest remover per source survives a garbage collection (a WeakMap
  // keyed by the source), so with several operations in flight the older listeners stayed on the
  // lifetime signal forever, each holding its aborted signal and its TimeoutError's stack (soak run 2).
  combined.signal.addEventListener(
    "abort",
    () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onSourceAbort);
    },
    { once: true },
  );
  // A lifetime signal carries one listener per operation in flight (every probe, every engine
  // request): past Node's default of 10 it would print a "possible memory leak" warning that is not
  // one, since each listener leaves with its operation.
  setMaxListeners(0, signal);
  signal.addEventListener("abort", onSourceAbort, { once: true });
  return combined.signal;
}

/** Whether `signal` was aborted by its deadline (withTimeout's or AbortSignal.timeout's). */
export function timedOut(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof DOMException && signal.reason.name === "TimeoutError";
}
