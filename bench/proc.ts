// Memory of a process and every process under it, from /proc (Linux). The exporter runs its
// predicted-MOS worker as a child process (src/audio/mos/index.ts) and pocketsphinx per clip, so
// the exporter's own RSS alone would leave their memory out of every figure.
import { readdirSync, readFileSync } from "node:fs";

/** The process and its descendants, each listed once (a process that ended meanwhile is skipped). */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    out.push(p);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let children = "";
      try {
        children = readFileSync(`/proc/${p}/task/${t}/children`, "utf8");
      } catch {
        continue;
      }
      for (const c of children.trim().split(/\s+/)) if (c !== "") visit(Number(c));
    }
  };
  visit(pid);
  return out;
}

function statusKb(pid: number, key: string): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Resident memory in bytes of `pid` and its descendants: `rss` now, and `hwm`, the sum of each
 * one's peak (an upper bound of the tree's peak, as the peaks need not coincide). `own` is the
 * process alone.
 */
export function memory(pid: number): { rss: number; hwm: number; own: number } {
  const tree = processTree(pid);
  let rss = 0;
  let hwm = 0;
  for (const p of tree) {
    rss += statusKb(p, "VmRSS");
    hwm += statusKb(p, "VmHWM");
  }
  return { rss, hwm, own: statusKb(pid, "VmRSS") };
}
