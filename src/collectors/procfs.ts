// Pure parsers for the Linux /proc files the host and process collectors read. Reading /proc is a
// few microseconds and spawns nothing, unlike systeminformation's calls (see README).

export interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

/** First line of /proc/stat: "cpu user nice system idle iowait irq softirq steal guest guest_nice". */
export function parseProcStat(text: string): CpuTimes {
  const line = text.split("\n", 1)[0] ?? "";
  const parts = line.trim().split(/\s+/);
  if (parts[0] !== "cpu" || parts.length < 5)
    throw new Error(`unexpected /proc/stat first line: ${line.slice(0, 80)}`);
  // guest and guest_nice are already counted in user and nice.
  const fields = parts.slice(1, 9).map(Number);
  if (fields.some((n) => !Number.isFinite(n))) throw new Error("non-numeric field in /proc/stat");
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** /proc/meminfo → bytes by key (the file's values are in kB). */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (m?.[1] && m[2]) out.set(m[1], Number(m[2]) * (line.includes("kB") ? 1024 : 1));
  }
  return out;
}

export interface DiskStat {
  readonly device: string;
  readonly readBytes: number;
  readonly writtenBytes: number;
}

// Partitions and virtual devices, as node_exporter's default device exclusion (SD/eMMC partitions
// such as mmcblk0p1 included, or a Raspberry Pi's reads would be counted twice).
const IGNORED_DEVICES = /^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p|mmcblk\d+p)\d+$/;

/** /proc/diskstats: sectors are always 512 bytes there, whatever the device's sector size. */
export function parseDiskstats(text: string): DiskStat[] {
  const out: DiskStat[] = [];
  for (const line of text.split("\n")) {
    const p = line.trim().split(/\s+/);
    if (p.length < 10) continue;
    const device = p[2] ?? "";
    if (IGNORED_DEVICES.test(device)) continue;
    const read = Number(p[5]);
    const written = Number(p[9]);
    if (!Number.isFinite(read) || !Number.isFinite(written)) continue;
    out.push({ device, readBytes: read * 512, writtenBytes: written * 512 });
  }
  return out;
}

export interface Mount {
  readonly device: string;
  readonly mountpoint: string;
  readonly fstype: string;
}

/** /proc/mounts, with the kernel's octal escapes (\040 for a space) decoded. */
export function parseMounts(text: string): Mount[] {
  const decode = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    const p = line.split(" ");
    if (p.length < 3 || !p[0] || !p[1] || !p[2]) continue;
    out.push({ device: decode(p[0]), mountpoint: decode(p[1]), fstype: p[2] });
  }
  return out;
}

export interface ProcessStat {
  readonly comm: string;
  readonly cpuSeconds: number;
  readonly threads: number;
}

/** /proc/<pid>/stat. The command name is in parentheses and may itself hold spaces and parentheses. */
export function parsePidStat(text: string, ticksPerSecond = 100): ProcessStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) throw new Error("unexpected /proc/<pid>/stat");
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15, num_threads field 20.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const threads = Number(rest[17]);
  if (![utime, stime, threads].every(Number.isFinite))
    throw new Error("non-numeric field in /proc/<pid>/stat");
  return { comm: text.slice(open + 1, close), cpuSeconds: (utime + stime) / ticksPerSecond, threads };
}

/** VmRSS from /proc/<pid>/status, in bytes (0 for kernel threads and zombies, which have none). */
export function parseStatusRss(text: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return m?.[1] ? Number(m[1]) * 1024 : 0;
}
