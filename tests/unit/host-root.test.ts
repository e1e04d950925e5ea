// monitoring.host_root (TTS_MONITOR_HOST_ROOT): the exporter in a container, the host's / mounted at
// /host. A fake host root of real files in a temp dir: every host collector must read it, not the
// test machine's /proc, and label mount points as the host sees them (no prefix).
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, statfsSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  cpuCollector,
  diskCollector,
  filesystemCollector,
  memoryCollector,
} from "../../src/collectors/host.ts";
import { hostPath } from "../../src/collectors/host-root.ts";
import { collectorTable, enabledCollectors } from "../../src/collectors/index.ts";
import { processCollector } from "../../src/collectors/process.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { Sample } from "../../src/metrics/registry.ts";
import { tempDir } from "../helpers/exporter.ts";

// Pids of the fake TTS servers; never the test's own pid, which the name lookup skips.
const BY_NAME_PID = process.pid === 4242 ? 4243 : 4242;
const BY_FILE_PID = process.pid === 5151 ? 5152 : 5151;

/** /proc/<pid>/stat with utime, stime (jiffies) and num_threads set. */
const pidStat = (pid: number, comm: string, utime: number, stime: number, threads: number) =>
  `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${utime} ${stime} 0 0 20 0 ${threads} 0 1000 123456789 500 18446744073709551615 1 1 0 0 0 0 0 16781312 0 0 0 17 3 0 0 0 0 0\n`;

/** A host root like the compose stack's /host: proc files, a pid file, directories for the mounts. */
function fakeHostRoot(): string {
  const root = tempDir("tts-host-root-");
  const put = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  put("proc/stat", "cpu  1000 0 500 8000 500 0 0 0 0 0\ncpu0 1000 0 500 8000 500 0 0 0 0 0\n");
  put(
    "proc/meminfo",
    "MemTotal:        4000 kB\nMemFree:         1000 kB\nMemAvailable:    3000 kB\nSwapTotal:       2000 kB\nSwapFree:         500 kB\n",
  );
  put(
    "proc/diskstats",
    [
      " 259       0 nvme7n1 100 0 2000 10 50 0 4000 20 0 30 30 0 0 0 0",
      " 259       1 nvme7n1p1 100 0 2000 10 50 0 4000 20 0 30 30 0 0 0 0",
      "   7       0 loop0 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0",
    ].join("\n"),
  );
  // The host init's mount table: host paths, no /host prefix.
  put(
    "proc/1/mounts",
    [
      "/dev/fake1 / ext4 rw,relatime 0 0",
      "proc /proc proc rw 0 0",
      "/dev/fake2 /tts-host-root-test/data xfs rw 0 0",
      "/dev/fake3 /tts-host-root-test/my\\040models ext4 ro 0 0",
      "/dev/fake4 /tts-host-root-test/gone ext4 rw 0 0", // no such directory: statfs fails, skipped
      "tmpfs /run tmpfs rw 0 0",
    ].join("\n"),
  );
  mkdirSync(join(root, "tts-host-root-test/data"), { recursive: true });
  mkdirSync(join(root, "tts-host-root-test/my models"), { recursive: true });
  // A TTS server found by name (python3 /opt/piper/piper) and one named by its pid file.
  put(`proc/${BY_NAME_PID}/stat`, pidStat(BY_NAME_PID, "python3", 250, 50, 7));
  put(`proc/${BY_NAME_PID}/status`, "Name:\tpython3\nVmRSS:\t    2048 kB\nThreads:\t7\n");
  put(`proc/${BY_NAME_PID}/comm`, "python3\n");
  put(`proc/${BY_NAME_PID}/cmdline`, "python3\0/opt/piper/piper\0--debug\0");
  put(`proc/${BY_FILE_PID}/stat`, pidStat(BY_FILE_PID, "kokoro", 100, 100, 3));
  put(`proc/${BY_FILE_PID}/status`, "Name:\tkokoro\nVmRSS:\t    1024 kB\nThreads:\t3\n");
  put(`proc/${BY_FILE_PID}/comm`, "kokoro\n");
  put(`proc/${BY_FILE_PID}/cmdline`, "kokoro\0");
  put("run/kokoro.pid", `${BY_FILE_PID}\n`);
  return root;
}

const signal = () => new AbortController().signal;
const values = (samples: readonly Sample[]) =>
  Object.fromEntries(samples.map((s) => [`${s.metric}${JSON.stringify(s.labels)}`, s.value]));

describe("hostPath", () => {
  it("'/' leaves paths as they are; another root prefixes them, '/' itself becomes the root", () => {
    expect(hostPath("/", "/proc/stat")).toBe("/proc/stat");
    expect(hostPath("/", "run/x.pid")).toBe("run/x.pid");
    expect(hostPath("/host", "/proc/1/mounts")).toBe("/host/proc/1/mounts");
    expect(hostPath("/host", "/")).toBe("/host");
    expect(hostPath("/host/", "/mnt/a b")).toBe("/host/mnt/a b");
  });
});

describe("host collectors under a host root", () => {
  it("cpu: the usage ratio from <root>/proc/stat", async () => {
    const root = fakeHostRoot();
    const cpu = cpuCollector({ hostRoot: root });
    await cpu.collect(signal());
    // 100 jiffies more, 25 of them busy.
    writeFileSync(join(root, "proc/stat"), "cpu  1020 0 505 8070 505 0 0 0 0 0\n");
    const ratio = (await cpu.collect(signal())).find((s) => s.metric === "tts_host_cpu_usage_ratio");
    expect(ratio?.value).toBeCloseTo(0.25, 12);
  });

  it("memory: RAM and swap from <root>/proc/meminfo", async () => {
    const v = values(await memoryCollector({ hostRoot: fakeHostRoot() }).collect(signal()));
    expect(v["tts_host_memory_total_bytes{}"]).toBe(4000 * 1024);
    expect(v["tts_host_memory_used_bytes{}"]).toBe(1000 * 1024);
    expect(v["tts_host_swap_used_bytes{}"]).toBe(1500 * 1024);
  });

  it("disk: <root>/proc/diskstats, partitions and loop devices skipped", async () => {
    const samples = await diskCollector({ hostRoot: fakeHostRoot() }).collect(signal());
    expect(values(samples)).toEqual({
      'tts_host_disk_read_bytes_total{"device":"nvme7n1"}': 2000 * 512,
      'tts_host_disk_written_bytes_total{"device":"nvme7n1"}': 4000 * 512,
    });
  });

  it("filesystem: the host's mount table, statfs under the root, mount points labelled without the prefix", async () => {
    const root = fakeHostRoot();
    const samples = await filesystemCollector(["proc", "tmpfs"], { hostRoot: root }).collect(signal());
    const sizes = samples.filter((s) => s.metric === "tts_host_filesystem_size_bytes");
    expect(sizes.map((s) => s.labels)).toEqual([
      { mountpoint: "/", device: "/dev/fake1", fstype: "ext4" },
      { mountpoint: "/tts-host-root-test/data", device: "/dev/fake2", fstype: "xfs" },
      { mountpoint: "/tts-host-root-test/my models", device: "/dev/fake3", fstype: "ext4" },
    ]);
    // The directories exist only under the root, so these sizes are statfs of <root>/<mountpoint>:
    // all on the temp dir's filesystem.
    const st = statfsSync(root);
    for (const s of sizes) expect(s.value).toBe(st.blocks * st.bsize);
    for (const s of samples) expect(s.labels.mountpoint?.startsWith(root)).toBe(false);
  });

  it("process: TTS servers by name in <root>/proc and by a pid file under the root; the exporter from its own /proc", async () => {
    const samples = await processCollector(
      [
        { label: "exporter", self: true },
        { label: "piper", name: "piper" },
        { label: "kokoro", pidFile: "/run/kokoro.pid" },
      ],
      { hostRoot: fakeHostRoot() },
    ).collect(signal());
    const v = values(samples);
    expect(v['tts_process_instances{"process":"piper"}']).toBe(1);
    expect(v['tts_process_threads{"process":"piper"}']).toBe(7);
    expect(v['tts_process_cpu_seconds_total{"process":"piper"}']).toBeCloseTo(3, 12);
    expect(v['tts_process_resident_memory_bytes{"process":"piper"}']).toBe(2048 * 1024);
    expect(v['tts_process_instances{"process":"kokoro"}']).toBe(1);
    expect(v['tts_process_threads{"process":"kokoro"}']).toBe(3);
    expect(v['tts_process_cpu_seconds_total{"process":"kokoro"}']).toBeCloseTo(2, 12);
    expect(v['tts_process_resident_memory_bytes{"process":"kokoro"}']).toBe(1024 * 1024);
    expect(v['tts_process_instances{"process":"exporter"}']).toBeGreaterThanOrEqual(1);
    expect(v['tts_process_threads{"process":"exporter"}']).toBeGreaterThan(0);
  });

  it("process: the exporter counts its child processes (the predicted-MOS worker) with itself", async () => {
    const collect = async () =>
      values(await processCollector([{ label: "exporter", self: true }]).collect(signal()));
    // A Node child: tens of MB resident, well above what the parent's RSS moves by during a read.
    const child = spawn(process.execPath, ["-e", "console.log('up'); setInterval(() => {}, 1000)"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.once("data", () => resolve());
        child.once("error", reject);
      });
      const rssOf = (pid: number | string) =>
        Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) * 1024;
      const before = rssOf("self");
      const v = await collect();
      const own = Math.min(before, rssOf("self"));
      const childRss = rssOf(child.pid ?? 0);
      expect(childRss).toBeGreaterThan(10 * 2 ** 20);
      expect(v['tts_process_instances{"process":"exporter"}']).toBeGreaterThanOrEqual(2);
      expect(v['tts_process_resident_memory_bytes{"process":"exporter"}']).toBeGreaterThan(
        own + 0.8 * childRss,
      );
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("process: a pid file missing under the root is a server not running, not a failure", async () => {
    const samples = await processCollector([{ label: "kokoro", pidFile: "/run/none.pid" }], {
      hostRoot: fakeHostRoot(),
    }).collect(signal());
    expect(values(samples)).toEqual({ 'tts_process_instances{"process":"kokoro"}': 0 });
  });
});

describe("monitoring.host_root reaches every host collector", () => {
  it("the collectors built from config read the fake host", async () => {
    const root = fakeHostRoot();
    const config = parseConfig(
      {
        monitoring: { collectors: { gpu: false } },
        engines: [
          { name: "piper", type: "embedded", process: { name: "piper" } },
          { name: "kokoro", type: "embedded", process: { pid_file: "/run/kokoro.pid" } },
        ],
      },
      "config.json",
      { TTS_MONITOR_HOST_ROOT: root },
    );
    expect(config.monitoring.host_root).toBe(root);
    const byName = Object.fromEntries(enabledCollectors(config).map((c) => [c.name, c]));
    expect(Object.keys(byName).sort()).toEqual(["cpu", "disk", "filesystem", "memory", "process"]);
    const memory = values((await byName.memory?.collect(signal())) ?? []);
    expect(memory["tts_host_memory_total_bytes{}"]).toBe(4000 * 1024);
    const disk = values((await byName.disk?.collect(signal())) ?? []);
    expect(Object.keys(disk)).toEqual([
      'tts_host_disk_read_bytes_total{"device":"nvme7n1"}',
      'tts_host_disk_written_bytes_total{"device":"nvme7n1"}',
    ]);
    const fs = (await byName.filesystem?.collect(signal())) ?? [];
    expect(new Set(fs.map((s) => s.labels.mountpoint))).toEqual(
      new Set(["/", "/tts-host-root-test/data", "/tts-host-root-test/my models"]),
    );
    const proc = values((await byName.process?.collect(signal())) ?? []);
    expect(proc['tts_process_instances{"process":"piper"}']).toBe(1);
    expect(proc['tts_process_instances{"process":"kokoro"}']).toBe(1);
    await byName.cpu?.collect(signal());
    writeFileSync(join(root, "proc/stat"), "cpu  1050 0 500 8050 500 0 0 0 0 0\n");
    const cpu = (await byName.cpu?.collect(signal())) ?? [];
    expect(cpu.find((s) => s.metric === "tts_host_cpu_usage_ratio")?.value).toBeCloseTo(0.5, 12);
  });

  it("the default '/' reads the machine's own /proc", async () => {
    const config = parseConfig({}, "config.json", {});
    expect(config.monitoring.host_root).toBe("/");
    const memory = values(await collectorTable.memory(config).collect(signal()));
    expect(memory["tts_host_memory_total_bytes{}"]).toBe(os.totalmem());
  });
});
