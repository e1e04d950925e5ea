import { readdir, readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { Sample } from "../metrics/registry.ts";
import { DEFAULT_HOST_ROOT, hostPath } from "./host-root.ts";
import { parsePidStat, parseStatusRss } from "./procfs.ts";
import type { Collector } from "./types.ts";

/** A process to watch: the exporter itself, or a TTS server named in an engine's `process` key. */
export type ProcessTarget =
  | { readonly label: string; readonly self: true }
  | { readonly label: string; readonly pidFile: string }
  | { readonly label: string; readonly name: string };

interface PidReading {
  readonly cpuSeconds: number;
  readonly threads: number;
  readonly rss: number;
}

/** `proc` is the procfs to read: `/proc`, or the host's `<host_root>/proc`. */
async function readPid(proc: string, pid: number): Promise<PidReading | undefined> {
  try {
    const [stat, status] = await Promise.all([
      readFile(`${proc}/${pid}/stat`, "utf8"),
      readFile(`${proc}/${pid}/status`, "utf8"),
    ]);
    const s = parsePidStat(stat);
    return { cpuSeconds: s.cpuSeconds, threads: s.threads, rss: parseStatusRss(status) };
  } catch {
    return undefined; // exited between listing and reading
  }
}

/** The process's descendants (Linux 3.5+: /proc/<pid>/task/<tid>/children), each once. */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const visit = async (p: number): Promise<void> => {
    let tasks: string[] = [];
    try {
      tasks = await readdir(`/proc/${p}/task`);
    } catch {
      return; // ended meanwhile
    }
    const children = await Promise.all(
      tasks.map((t) => readFile(`/proc/${p}/task/${t}/children`, "utf8").catch(() => "")),
    );
    for (const c of children.join(" ").trim().split(/\s+/)) {
      if (c === "") continue;
      out.push(Number(c));
      await visit(Number(c));
    }
  };
  await visit(pid);
  return out;
}

/** True when the process's comm, or the base name of any argv entry, equals `name` ("piper" matches "python3 /opt/piper/piper"). */
export function matchesName(name: string, comm: string, argv: readonly string[]): boolean {
  return comm === name || argv.some((a) => basename(a) === name);
}

async function pidsByName(proc: string, name: string): Promise<number[]> {
  const entries = await readdir(proc);
  const pids: number[] = [];
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
      .map(async (e) => {
        try {
          const [comm, cmdline] = await Promise.all([
            readFile(`${proc}/${e}/comm`, "utf8"),
            readFile(`${proc}/${e}/cmdline`, "utf8"),
          ]);
          if (matchesName(name, comm.trim(), cmdline.split("\0").filter(Boolean))) pids.push(Number(e));
        } catch {
          // gone, or not ours to read
        }
      }),
  );
  return pids;
}

async function pidFromFile(file: string): Promise<number[]> {
  try {
    const pid = Number((await readFile(file, "utf8")).trim());
    return Number.isInteger(pid) && pid > 0 ? [pid] : [];
  } catch {
    return []; // no pid file: the server is not running, which tts_process_instances 0 says
  }
}

/**
 * Threads, CPU seconds and resident memory of the TTS server processes and of the exporter itself.
 * With a host root other than "/" (the exporter in a container, `pid: host`, the host's `/` mounted
 * at the root), the TTS servers are looked up in `<root>/proc` and their pid files read under the
 * root; the exporter itself is always read from its own `/proc`.
 */
export function processCollector(
  targets: readonly ProcessTarget[],
  options: { hostRoot?: string } = {},
): Collector {
  const root = options.hostRoot ?? DEFAULT_HOST_ROOT;
  const hostProc = hostPath(root, "/proc");
  return {
    name: "process",
    metrics: [
      "tts_process_instances",
      "tts_process_threads",
      "tts_process_cpu_seconds_total",
      "tts_process_resident_memory_bytes",
    ],
    supported: () =>
      process.platform === "linux"
        ? { ok: true }
        : { ok: false, reason: `reads /proc, which ${process.platform} lacks` },
    async collect() {
      const samples: Sample[] = [];
      for (const target of targets) {
        const proc = "self" in target ? "/proc" : hostProc;
        // The exporter with its child processes (the predicted-MOS worker, a recogniser run):
        // their memory and CPU are the exporter's cost.
        const pids =
          "self" in target
            ? [process.pid, ...(await descendants(process.pid))]
            : "pidFile" in target
              ? await pidFromFile(hostPath(root, target.pidFile))
              : await pidsByName(hostProc, target.name);
        const readings = (await Promise.all(pids.map((pid) => readPid(proc, pid)))).filter(
          (r): r is PidReading => r !== undefined,
        );
        const labels = { process: target.label };
        samples.push({ metric: "tts_process_instances", labels, value: readings.length });
        if (readings.length === 0) continue;
        samples.push(
          { metric: "tts_process_threads", labels, value: readings.reduce((a, r) => a + r.threads, 0) },
          {
            metric: "tts_process_cpu_seconds_total",
            labels,
            value: readings.reduce((a, r) => a + r.cpuSeconds, 0),
          },
          {
            metric: "tts_process_resident_memory_bytes",
            labels,
            value: readings.reduce((a, r) => a + r.rss, 0),
          },
        );
      }
      return samples;
    },
  };
}
