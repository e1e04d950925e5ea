import { describe, expect, it } from "vitest";
import { filesystemCollector } from "../../src/collectors/host.ts";

const MOUNTS =
  "/dev/vda1 / ext4 rw 0 0\nnfs:/export /mnt/nfs nfs4 rw 0 0\n/dev/vdb1 /data xfs rw 0 0\nproc /proc proc rw 0 0\n";

describe("filesystem collector", () => {
  it("a hung mount's statfs is not retried while pending: one stuck call at most, other mounts still reported", async () => {
    const calls: string[] = [];
    let release: (() => void) | undefined;
    const statfs = (path: string) => {
      calls.push(path);
      if (path === "/mnt/nfs" && release === undefined)
        return new Promise<{ blocks: number; bsize: number; bavail: number }>((resolve) => {
          release = () => resolve({ blocks: 10, bsize: 4096, bavail: 5 });
        });
      return Promise.resolve({ blocks: 100, bsize: 4096, bavail: 50 });
    };
    const collector = filesystemCollector(["proc"], { statfs, mounts: async () => MOUNTS });
    // First run: stuck on the NFS mount (the runner's timeout would abort it).
    const first = collector.collect(new AbortController().signal);
    await new Promise((r) => setTimeout(r, 10));
    // Next runs skip the pending mount and report the others.
    for (let i = 0; i < 5; i++) {
      const samples = await collector.collect(new AbortController().signal);
      expect(samples.map((s) => s.labels.mountpoint)).toEqual(["/", "/", "/data", "/data"]);
    }
    expect(calls.filter((c) => c === "/mnt/nfs")).toHaveLength(1);
    // Once it answers, it is read again.
    release?.();
    await first;
    const samples = await collector.collect(new AbortController().signal);
    expect(samples.filter((s) => s.labels.mountpoint === "/mnt/nfs")).toHaveLength(2);
    expect(calls.filter((c) => c === "/mnt/nfs")).toHaveLength(2);
  });

  it("the live machine: the root filesystem, in bytes, pseudo filesystems excluded", async () => {
    const samples = await filesystemCollector(["proc", "sysfs", "tmpfs"]).collect(
      new AbortController().signal,
    );
    const root = samples.filter((s) => s.labels.mountpoint === "/");
    expect(root.map((s) => s.metric).sort()).toEqual([
      "tts_host_filesystem_free_bytes",
      "tts_host_filesystem_size_bytes",
    ]);
    for (const s of root) expect(s.value).toBeGreaterThan(0);
    expect(samples.some((s) => s.labels.fstype === "proc")).toBe(false);
  });
});
