// Background threads yield the CPU to the event loop that answers scrapes: on a busy 2-core host a
// synthesis or an analysis must not push a scrape back (docs/benchmarks.md, "Start-up").
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/** The nice value of the worker threads (the main thread keeps the process's). */
export const WORKER_NICE = 10;

/**
 * Lowers the calling thread's priority. Linux only: there a thread's id is a pid for setpriority(2),
 * so only this thread changes; elsewhere (no /proc/thread-self) it does nothing and says so.
 */
export function lowerThisThreadPriority(nice = WORKER_NICE): boolean {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
