// `npm run stack`: the three processes start from the repository's files and answer; SIGTERM stops
// them all and leaves no process behind (not the children, not what they started).
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/exporter.ts";
import { httpGet } from "../helpers/http.ts";
import { freePort, REPO_ROOT, requireBinary, waitFor } from "../helpers/tools.ts";

function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    // A zombie is dead (its parent may not have reaped it yet).
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("npm run stack", () => {
  it("starts exporter, Prometheus and Alertmanager, and SIGTERM leaves nothing running", async () => {
    requireBinary("/usr/bin/prometheus", "prometheus");
    requireBinary("/usr/bin/prometheus-alertmanager", "prometheus-alertmanager");
    const ports = {
      exporter: await freePort(),
      prometheus: await freePort(),
      alertmanager: await freePort(),
    };
    const dir = join(tempDir("tts-stack-"), "stack");
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "scripts/stack.ts",
        "--dir",
        dir,
        "--exporter-port",
        String(ports.exporter),
        "--prometheus-port",
        String(ports.prometheus),
        "--alertmanager-port",
        String(ports.alertmanager),
      ],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, TTS_MONITOR_INGEST_TOKEN: "" },
      },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      const pids = await waitFor(
        "the stack's URLs and pids",
        () => {
          if (child.exitCode !== null) throw new Error(`stack exited ${child.exitCode}:\n${out}`);
          const m = /pids +exporter=(\d+) alertmanager=(\d+) prometheus=(\d+)/.exec(out);
          return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
        },
        60_000,
      );
      expect(out).toContain(`http://127.0.0.1:${ports.prometheus}/`);
      expect(out).toContain(`http://127.0.0.1:${ports.alertmanager}/`);
      const metrics = await httpGet(`http://127.0.0.1:${ports.exporter}/metrics`);
      expect(metrics.body).toContain("tts_exporter_build_info");
      expect((await httpGet(`http://127.0.0.1:${ports.alertmanager}/-/healthy`)).status).toBe(200);
      // Prometheus loaded the generated rules and scrapes the exporter.
      const rules = JSON.parse((await httpGet(`http://127.0.0.1:${ports.prometheus}/api/v1/rules`)).body) as {
        data: { groups: Array<{ name: string }> };
      };
      expect(rules.data.groups.map((g) => g.name)).toContain("tts-monitor.alerts");
      await waitFor(
        "Prometheus scraping the exporter",
        async () => {
          const r = await httpGet(`http://127.0.0.1:${ports.prometheus}/api/v1/query?query=up`);
          return r.body.includes(`"127.0.0.1:${ports.exporter}"`) && r.body.includes('"1"')
            ? true
            : undefined;
        },
        20_000,
        250,
      );
      for (const pid of pids) expect(alive(pid)).toBe(true);

      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      await waitFor(
        "every stack process gone",
        () => (pids.every((p) => !alive(p)) ? true : undefined),
        10_000,
      );
      // And no process group of theirs survives (what the exporter itself started).
      const left = readdirSync("/proc")
        .filter((e: string) => /^\d+$/.test(e))
        .filter((e: string) => {
          try {
            const stat = readFileSync(`/proc/${e}/stat`, "utf8");
            const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            return pids.includes(Number(fields[2])) && fields[0] !== "Z";
          } catch {
            return false;
          }
        });
      expect(left).toEqual([]);
      expect(out).toContain("stack stopped");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 120_000);
});
