import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { memoryCollector } from "../../src/collectors/host.ts";
import {
  parseDiskstats,
  parseMeminfo,
  parseMounts,
  parsePidStat,
  parseProcStat,
  parseStatusRss,
} from "../../src/collectors/procfs.ts";

// Texts copied from a Debian 12 host (trimmed); the live /proc of the test machine cross-checks them.

describe("/proc/stat", () => {
  it("busy and total jiffies; iowait counts as idle, guest is not counted twice", () => {
    const t = parseProcStat(
      "cpu  22639 10 5113 117153 278 0 72 27 500 3\ncpu0 11202 0 2299 59081 35 0 17 11 0 0\n",
    );
    expect(t.total).toBe(22639 + 10 + 5113 + 117153 + 278 + 0 + 72 + 27);
    expect(t.busy).toBe(t.total - 117153 - 278);
  });
  it("an old kernel with only four fields", () => {
    expect(parseProcStat("cpu 10 0 5 85\n")).toEqual({ busy: 15, total: 100 });
  });
  it("rejects anything else", () => {
    expect(() => parseProcStat("intr 1 2 3\n")).toThrow(/unexpected \/proc\/stat/);
    expect(() => parseProcStat("cpu 1 x 3 4 5\n")).toThrow(/non-numeric/);
  });
  it("the live file parses and only grows", () => {
    const a = parseProcStat(readFileSync("/proc/stat", "utf8"));
    const b = parseProcStat(readFileSync("/proc/stat", "utf8"));
    expect(b.total).toBeGreaterThanOrEqual(a.total);
    expect(a.busy).toBeLessThanOrEqual(a.total);
  });
});

describe("/proc/meminfo", () => {
  const text = `MemTotal:       24684084 kB
MemFree:        23200000 kB
MemAvailable:   24279780 kB
Buffers:           10000 kB
SwapTotal:       2097148 kB
SwapFree:        2097148 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
Active(anon):     120000 kB
`;
  it("values in bytes; counts without kB stay counts", () => {
    const m = parseMeminfo(text);
    expect(m.get("MemTotal")).toBe(24684084 * 1024);
    expect(m.get("MemAvailable")).toBe(24279780 * 1024);
    expect(m.get("SwapTotal")).toBe(2097148 * 1024);
    expect(m.get("HugePages_Total")).toBe(0);
    expect(m.get("Active(anon)")).toBe(120000 * 1024);
  });
  it("the live MemTotal equals os.totalmem()", () => {
    expect(parseMeminfo(readFileSync("/proc/meminfo", "utf8")).get("MemTotal")).toBe(os.totalmem());
  });
});

describe("memory collector", () => {
  const collect = async (text: string) =>
    Object.fromEntries(
      (await memoryCollector({ meminfo: async () => text }).collect(new AbortController().signal)).map(
        (s) => [s.metric, s.value],
      ),
    );

  it("a kernel without MemAvailable (before 3.14): free + buffers + cache + reclaimable slab", async () => {
    const m = await collect(
      "MemTotal:        1000 kB\nMemFree:          100 kB\nBuffers:           50 kB\nCached:           200 kB\nSReclaimable:      50 kB\nSwapTotal:          0 kB\nSwapFree:           0 kB\n",
    );
    expect(m.tts_host_memory_used_bytes).toBe(600 * 1024);
    expect(m.tts_host_memory_usage_ratio).toBeCloseTo(0.6, 12);
    expect(m.tts_host_swap_usage_ratio).toBe(0);
  });

  it("a container view where MemAvailable exceeds MemTotal: used is 0, never negative", async () => {
    const m = await collect("MemTotal:        1000 kB\nMemFree:          900 kB\nMemAvailable:    1200 kB\n");
    expect(m.tts_host_memory_used_bytes).toBe(0);
    expect(m.tts_host_memory_usage_ratio).toBe(0);
    expect(m.tts_host_swap_total_bytes).toBeUndefined();
  });

  it("no MemTotal: the collector fails with a message naming the file", async () => {
    await expect(collect("Nonsense: 1 kB\n")).rejects.toThrow(/\/proc\/meminfo lacks MemTotal/);
  });
});

describe("/proc/diskstats", () => {
  const text = `   7       0 loop0 12 0 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 35011 9410 2415304 9000 41113 30810 3263944 30000 0 40000 60000 0 0 0 0 0 0
 254       1 vda1 34000 9400 2400000 9000 41000 30800 3260000 30000 0 40000 60000
 259       0 nvme0n1 100 0 4000 1 200 0 8000 2 0 3 3
 259       1 nvme0n1p1 100 0 4000 1 200 0 8000 2 0 3 3
 179       0 mmcblk0 10 0 80 0 20 0 160 0 0 0 0
 179       1 mmcblk0p1 10 0 80 0 20 0 160 0 0 0 0
 253       0 dm-0 7 0 56 0 9 0 72 0 0 0 0
   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0
 252       0 zram0 5 0 40 0 5 0 40 0 0 0 0
`;
  it("whole disks in bytes (512-byte sectors); loop, ram and partitions skipped", () => {
    const d = parseDiskstats(text);
    expect(d.map((x) => x.device)).toEqual(["vda", "nvme0n1", "mmcblk0", "dm-0"]);
    expect(d[0]).toEqual({ device: "vda", readBytes: 2415304 * 512, writtenBytes: 3263944 * 512 });
  });
  it("the live file parses", () => {
    for (const d of parseDiskstats(readFileSync("/proc/diskstats", "utf8"))) {
      expect(d.readBytes).toBeGreaterThanOrEqual(0);
      expect(Number.isInteger(d.writtenBytes)).toBe(true);
    }
  });
});

describe("/proc/mounts", () => {
  it("octal escapes decoded (a space in a mount point)", () => {
    const m = parseMounts(
      "/dev/vda1 / ext4 rw,relatime 0 0\n/dev/sdb1 /mnt/My\\040Disk vfat rw 0 0\nproc /proc proc rw 0 0\n\n",
    );
    expect(m).toEqual([
      { device: "/dev/vda1", mountpoint: "/", fstype: "ext4" },
      { device: "/dev/sdb1", mountpoint: "/mnt/My Disk", fstype: "vfat" },
      { device: "proc", mountpoint: "/proc", fstype: "proc" },
    ]);
  });
  it("the live file has a root mount", () => {
    expect(parseMounts(readFileSync("/proc/mounts", "utf8")).some((m) => m.mountpoint === "/")).toBe(true);
  });
});

describe("/proc/<pid>/stat and status", () => {
  it("a command name holding spaces and parentheses", () => {
    const s = parsePidStat(
      "4242 (tts (worker) 1) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 73004 3932160 517 18446744073709551615",
    );
    expect(s).toEqual({ comm: "tts (worker) 1", cpuSeconds: 3.25, threads: 9 });
  });
  it("rejects a truncated line", () => {
    expect(() => parsePidStat("4242 (x) S 1 2")).toThrow(/non-numeric/);
    expect(() => parsePidStat("garbage")).toThrow(/unexpected/);
  });
  it("the live stat of this process: threads match /proc/self/task, CPU time near process.cpuUsage()", () => {
    const s = parsePidStat(readFileSync(`/proc/${process.pid}/stat`, "utf8"));
    expect(s.threads).toBe(readdirSync(`/proc/${process.pid}/task`).length);
    const usage = process.cpuUsage();
    const cpu = (usage.user + usage.system) / 1e6;
    // Jiffies are 10 ms; allow for the time between the two readings.
    expect(Math.abs(s.cpuSeconds - cpu)).toBeLessThan(0.1);
  });
  it("VmRSS in bytes; kernel threads have none", () => {
    expect(parseStatusRss("Name:\tnode\nVmRSS:\t  114344 kB\nThreads:\t12\n")).toBe(114344 * 1024);
    expect(parseStatusRss("Name:\tkthreadd\nThreads:\t1\n")).toBe(0);
    const live = parseStatusRss(readFileSync("/proc/self/status", "utf8"));
    expect(Math.abs(live - process.memoryUsage.rss()) / live).toBeLessThan(0.2);
  });
});
