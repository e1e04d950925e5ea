import { readFile, statfs } from "node:fs/promises";
import os from "node:os";
import type { Sample } from "../metrics/registry.ts";
import { DEFAULT_HOST_ROOT, hostPath } from "./host-root.ts";
import { type Mount, parseDiskstats, parseMeminfo, parseMounts, parseProcStat } from "./procfs.ts";
import type { Collector } from "./types.ts";

const linux = () => process.platform === "linux";
const onlyLinux = () =>
  linux()
    ? { ok: true as const }
    : { ok: false as const, reason: `reads /proc, which ${process.platform} lacks` };

/** Where the host collectors find the host: `hostRoot` is `monitoring.host_root` ("/" by default). */
export interface HostRootOption {
  readonly hostRoot?: string;
}

/** CPU usage ratio (from the change in /proc/stat since the previous run), load averages and core count. */
export function cpuCollector(options: HostRootOption = {}): Collector {
  const statFile = hostPath(options.hostRoot ?? DEFAULT_HOST_ROOT, "/proc/stat");
  let previous: { busy: number; total: number } | undefined;
  const readTimes = async () => {
    if (linux()) return parseProcStat(await readFile(statFile, "utf8"));
    let busy = 0;
    let total = 0;
    for (const c of os.cpus()) {
      const t = c.times;
      busy += t.user + t.nice + t.sys + t.irq;
      total += t.user + t.nice + t.sys + t.irq + t.idle;
    }
    return { busy, total };
  };
  return {
    name: "cpu",
    metrics: [
      "tts_host_cpu_usage_ratio",
      "tts_host_cpu_cores",
      "tts_host_load1",
      "tts_host_load5",
      "tts_host_load15",
    ],
    supported: () => ({ ok: true }),
    async collect() {
      const now = await readTimes();
      const [l1, l5, l15] = os.loadavg();
      const samples: Sample[] = [
        { metric: "tts_host_cpu_cores", labels: {}, value: os.availableParallelism() },
        { metric: "tts_host_load1", labels: {}, value: l1 ?? 0 },
        { metric: "tts_host_load5", labels: {}, value: l5 ?? 0 },
        { metric: "tts_host_load15", labels: {}, value: l15 ?? 0 },
      ];
      // The ratio needs two readings; the first run exports none rather than an average since boot.
      if (previous && now.total > previous.total) {
        const ratio = (now.busy - previous.busy) / (now.total - previous.total);
        samples.push({
          metric: "tts_host_cpu_usage_ratio",
          labels: {},
          value: Math.min(1, Math.max(0, ratio)),
        });
      }
      previous = now;
      return samples;
    },
  };
}

/** RAM and swap from /proc/meminfo (used = MemTotal - MemAvailable, as free(1) and node_exporter users compute it). */
export function memoryCollector(
  options: HostRootOption & { meminfo?: () => Promise<string> } = {},
): Collector {
  const meminfoFile = hostPath(options.hostRoot ?? DEFAULT_HOST_ROOT, "/proc/meminfo");
  const readMeminfo = options.meminfo ?? (() => readFile(meminfoFile, "utf8"));
  return {
    name: "memory",
    metrics: [
      "tts_host_memory_total_bytes",
      "tts_host_memory_used_bytes",
      "tts_host_memory_usage_ratio",
      "tts_host_swap_total_bytes",
      "tts_host_swap_used_bytes",
      "tts_host_swap_usage_ratio",
    ],
    supported: () => ({ ok: true }),
    async collect() {
      let total: number;
      let available: number;
      let swapTotal: number | undefined;
      let swapFree: number | undefined;
      if (linux()) {
        const info = parseMeminfo(await readMeminfo());
        const t = info.get("MemTotal");
        // Kernels before 3.14 (and some container views of /proc) have no MemAvailable: estimate it
        // as free(1) did, free + buffers + page cache + reclaimable slab.
        const free = info.get("MemFree");
        const a =
          info.get("MemAvailable") ??
          (free === undefined
            ? undefined
            : free +
              (info.get("Buffers") ?? 0) +
              (info.get("Cached") ?? 0) +
              (info.get("SReclaimable") ?? 0));
        if (t === undefined || a === undefined) throw new Error("/proc/meminfo lacks MemTotal or MemFree");
        total = t;
        available = a;
        swapTotal = info.get("SwapTotal");
        swapFree = info.get("SwapFree");
      } else {
        total = os.totalmem();
        available = os.freemem();
      }
      const used = Math.max(0, total - available);
      const samples: Sample[] = [
        { metric: "tts_host_memory_total_bytes", labels: {}, value: total },
        { metric: "tts_host_memory_used_bytes", labels: {}, value: used },
        { metric: "tts_host_memory_usage_ratio", labels: {}, value: total > 0 ? used / total : 0 },
      ];
      if (swapTotal !== undefined && swapFree !== undefined) {
        const swapUsed = Math.max(0, swapTotal - swapFree);
        samples.push(
          { metric: "tts_host_swap_total_bytes", labels: {}, value: swapTotal },
          { metric: "tts_host_swap_used_bytes", labels: {}, value: swapUsed },
          {
            metric: "tts_host_swap_usage_ratio",
            labels: {},
            value: swapTotal > 0 ? swapUsed / swapTotal : 0,
          },
        );
      }
      return samples;
    },
  };
}

/** Bytes read and written per block device since boot, from /proc/diskstats. */
export function diskCollector(options: HostRootOption = {}): Collector {
  const diskstatsFile = hostPath(options.hostRoot ?? DEFAULT_HOST_ROOT, "/proc/diskstats");
  return {
    name: "disk",
    metrics: ["tts_host_disk_read_bytes_total", "tts_host_disk_written_bytes_total"],
    supported: onlyLinux,
    async collect() {
      const stats = parseDiskstats(await readFile(diskstatsFile, "utf8"));
      return stats.flatMap((d) => [
        { metric: "tts_host_disk_read_bytes_total", labels: { device: d.device }, value: d.readBytes },
        { metric: "tts_host_disk_written_bytes_total", labels: { device: d.device }, value: d.writtenBytes },
      ]);
    },
  };
}

type StatFs = (path: string) => Promise<{ blocks: number; bsize: number; bavail: number }>;

/**
 * Size and free space per mount point (statfs), skipping pseudo filesystems. A statfs on a hung
 * network mount never returns and holds one of libuv's four threadpool threads; retrying it every
 * interval would soon hold all four and stall every file read of the exporter. So a mount whose
 * statfs is still pending is skipped (as node_exporter does with its stuck mounts) until it answers.
 *
 * With a host root other than "/" (the exporter in a container, the host's `/` mounted there), the
 * mount table is the host's (`<root>/proc/1/mounts`, that of the host's init), statfs is called on
 * `<root><mountpoint>`, and the `mountpoint` label is the host's path, without the prefix, as
 * node_exporter's `--path.rootfs` does.
 */
export function filesystemCollector(
  excludedTypes: readonly string[],
  options: HostRootOption & { statfs?: StatFs; mounts?: () => Promise<string> } = {},
): Collector {
  const root = options.hostRoot ?? DEFAULT_HOST_ROOT;
  const excluded = new Set(excludedTypes);
  const statMount: StatFs = options.statfs ?? ((path) => statfs(path));
  // In a container, /proc/mounts is the container's own mount table; the host's is its init's.
  const mountsFile = root === DEFAULT_HOST_ROOT ? "/proc/mounts" : hostPath(root, "/proc/1/mounts");
  const readMounts = options.mounts ?? (() => readFile(mountsFile, "utf8"));
  const pending = new Set<string>();
  return {
    name: "filesystem",
    metrics: ["tts_host_filesystem_size_bytes", "tts_host_filesystem_free_bytes"],
    supported: onlyLinux,
    async collect(signal) {
      // A mount point mounted over again is listed once per mount; statfs sees the last one only.
      const visible = new Map<string, Mount>();
      for (const m of parseMounts(await readMounts())) visible.set(m.mountpoint, m);
      const samples: Sample[] = [];
      for (const m of visible.values()) {
        if (excluded.has(m.fstype) || pending.has(m.mountpoint)) continue;
        signal.throwIfAborted();
        pending.add(m.mountpoint);
        const call = statMount(hostPath(root, m.mountpoint)).finally(() => pending.delete(m.mountpoint));
        let st: Awaited<ReturnType<StatFs>>;
        try {
          st = await call;
        } catch {
          continue; // permission denied or vanished mount: not this collector's failure
        }
        if (st.blocks === 0) continue;
        const labels = { mountpoint: m.mountpoint, device: m.device, fstype: m.fstype };
        samples.push(
          { metric: "tts_host_filesystem_size_bytes", labels, value: st.blocks * st.bsize },
          { metric: "tts_host_filesystem_free_bytes", labels, value: st.bavail * st.bsize },
        );
      }
      return samples;
    },
  };
}
