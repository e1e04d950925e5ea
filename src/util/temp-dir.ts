// The one place temporary files go: a directory per owner (the recogniser of a running exporter, a
// CLI run) named <tmpdir>/tts-monitor-<pid>-XXXXXX, removed when its owner stops. A crash or a
// SIGKILL leaves it behind: the next exporter to start removes those of processes that no longer run.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PREFIX = "tts-monitor-";
const OURS = /^tts-monitor-(\d+)-[A-Za-z0-9]{6}$/;
/** Directories made by this process and not yet removed (a sweep never touches them). */
const live = new Set<string>();

/** A fresh, empty directory for one owner's temporary files. */
export function makeTempDir(root: string = tmpdir()): string {
  const dir = mkdtempSync(join(root, `${PREFIX}${process.pid}-`));
  live.add(dir);
  return dir;
}

/** Removes the directory and everything in it (nothing happens when it is already gone). */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  live.delete(dir);
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // alive, someone else's
  }
}

/**
 * Removes the temporary directories left by tts-monitor processes that no longer run, and this
 * process's own that nothing holds any more (a pid reused in a container). Returns their paths.
 */
export function sweepTempDirs(root: string = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return removed;
  }
  for (const name of names) {
    const pid = Number(OURS.exec(name)?.[1]);
    if (!pid) continue;
    const dir = join(root, name);
    if (live.has(dir) || (pid !== process.pid && running(pid))) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
