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

  it("a mount point mounted over is the last mount's; spaces decoded; bind mounts each reported", async () => {
    const mounts = [
      "/dev/vda1 /data ext4 rw 0 0",
      "tmpfs /data tmpfs rw 0 0", // hides the ext4 /data: statfs("/data") is the tmpfs now
      "tmpfs /srv tmpfs rw 0 0",
      "/dev/vdb1 /srv xfs rw 0 0", // a disk mounted over a tmpfs
      "/dev/vdc1 /mnt/my\\040disk ext4 rw 0 0",
      "/dev/vdc1 /var/lib/tts ext4 rw 0 0", // a bind mount of the same device elsewhere
      "overlay / overlay rw 0 0",
    ].join("\n");
    const calls: string[] = [];
    const statfs = async (path: string) => {
      calls.push(path);
      return { blocks: 100, bsize: 4096, bavail: 50 };
    };
    const samples = await filesystemCollector(["tmpfs", "overlay"], {
      statfs,
      mounts: async () => mounts,
    }).collect(new AbortController().signal);
    const sizes = samples.filter((s) => s.metric === "tts_host_filesystem_size_bytes").map((s) => s.labels);
    expect(sizes).toEqual([
      { mountpoint: "/srv", device: "/dev/vdb1", fstype: "xfs" },
      { mountpoint: "/mnt/my disk", device: "/dev/vdc1", fstype: "ext4" },
      { mountpoint: "/var/lib/tts", device: "/dev/vdc1", fstype: "ext4" },
    ]);
    expect(calls).toEqual(["/srv", "/mnt/my disk", "/var/lib/tts"]);
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
