/**
 * Runs `fn` once performance.now() ≥ `target`. Node timers run on libuv's millisecond loop clock
 * and may fire up to ~1 ms before the requested delay as performance.now() sees it; a test server
 * that injects "300 ms" must never answer at 299.6 ms, or the timing tests would blame the engine.
 */
export function atTime(target: number, fn: () => void): void {
  const wait = target - performance.now();
  if (wait <= 0) fn();
  else setTimeout(() => atTime(target, fn), Math.max(1, Math.ceil(wait)));
}
