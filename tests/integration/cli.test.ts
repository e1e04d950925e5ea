// The CLI as a user runs it: what it prints and how it exits.
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import pkg from "../../package.json" with { type: "json" };
import { BASE_CONFIG, CLI, runCli, runCliArgs, startExporter, tempDir } from "../helpers/exporter.ts";
import { httpGet } from "../helpers/http.ts";
import { freePort, REPO_ROOT, requireBinary, waitFor } from "../helpers/tools.ts";

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const lines = (text: string) => text.split("\n").filter((l) => l.trim() !== "");

describe("bad config: exit 2 with the message, nothing started", () => {
  it("a wrong type: one message naming file, JSON path, expected and got; the port never opened", async () => {
    const port = await freePort();
    const res = await runCli({
      config: { server: { listen_address: `127.0.0.1:${port}` }, monitoring: { interval_seconds: "fast" } },
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      `tts-monitor: invalid configuration in ${res.configFile}:\n  $.monitoring.interval_seconds: expected number, got string "fast"\n`,
    );
    expect(res.stdout).toBe("");
    expect(await listening(port)).toBe(false);
  });

  it("malformed JSON: line and column, exit 2", async () => {
    const res = await runCli({ configText: '{\n  "server": { "listen_address": "127.0.0.1:0", }\n}\n' });
    expect(res.code).toBe(2);
    expect(lines(res.stderr)).toHaveLength(2);
    expect(res.stderr).toContain(`invalid configuration in ${res.configFile}:`);
    expect(res.stderr).toContain("$ (line 2, column 48): expected valid JSON");
  });

  it("several problems at once are all reported", async () => {
    const res = await runCli({
      config: { thresholds: { gpu_temp_max: 300 }, engines: [{ name: "x", type: "festival" }], extra: true },
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("$.thresholds.gpu_temp_max: expected ≤ 120, got number 300");
    expect(res.stderr).toContain("$.engines[0].type: expected an engine type");
    expect(res.stderr).toContain("$.extra: expected no such key");
    expect(res.stderr).not.toContain("exporter listening");
  });

  it("the Slack webhook never reaches stderr: not from a misspelt key, not from the environment", async () => {
    const secret = "https://hooks.slack.com/services/T0SECRET/B0SECRET/abcdefghijklmnopqrstuvwx";
    const bad = await runCli({
      config: { alerts: { slack_webhok: secret } },
      env: { TTS_MONITOR_SLACK_WEBHOOK: secret },
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("$.alerts.slack_webhok: expected no such key");
    expect(bad.stderr).not.toContain("T0SECRET");
    // A running exporter with the webhook from the environment, at debug level, then SIGTERM.
    const exporter = await startExporter({
      args: ["--prometheus-export", "--log-level", "debug"],
      env: { TTS_MONITOR_SLACK_WEBHOOK: secret },
      nvidiaSmi: { kind: "none" },
    });
    await httpGet(`${exporter.url}/metrics`);
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
    expect(exporter.stderr()).not.toContain("T0SECRET");
    expect(exporter.stdout()).not.toContain("T0SECRET");
  });

  it("--config without a file name: exit 2, nothing started (not the default file in silence)", async () => {
    for (const args of [["--prometheus-export", "--config"], ["--config="], ["-c"]]) {
      const res = await runCliArgs(args);
      expect([args, res.code]).toEqual([args, 2]);
      expect(res.stderr).toMatch(
        /^tts-monitor: (Not enough arguments following: c(onfig)?|--config needs a file name) \(see tts-monitor --help\)\n$/,
      );
      expect(res.stderr).not.toContain("exporter listening");
    }
  });

  it("a config file that does not exist", async () => {
    const missing = join(tempDir(), "missing.json");
    const res = await runCliArgs(["--prometheus-export", "--config", missing]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      `tts-monitor: invalid configuration in ${missing}:\n  $: expected a readable JSON file, got no such file (ENOENT)\n`,
    );
  });
});

describe("port already in use", () => {
  it("one clear line on stderr and a non-zero exit, in both modes", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const address = blocker.address();
    const port = typeof address === "object" && address ? address.port : 0;
    // A killed exporter's temporary directory (its pid has exited): swept, and logged, only by an
    // exporter that got its port, so it adds no line to this error.
    const dead = spawn("true");
    await new Promise((r) => dead.once("exit", r));
    const stale = join(tmpdir(), `tts-monitor-${dead.pid}-Stale1`);
    mkdirSync(stale, { recursive: true });
    try {
      for (const args of [["--prometheus-export"], []]) {
        const res = await runCli({ args, config: { server: { listen_address: `127.0.0.1:${port}` } } });
        expect(res.code).not.toBe(0);
        expect(res.code).not.toBeNull();
        expect(res.stderr).toBe(
          `tts-monitor: cannot listen on 127.0.0.1:${port} for the exporter: the port is already in use (another exporter? set server.listen_address or stop the other process)\n`,
        );
        expect(res.stdout).toBe("");
      }
    } finally {
      blocker.close();
      rmSync(stale, { recursive: true, force: true });
    }
  });
});

describe("flags", () => {
  // Every flag --help offers, with the test that shows it works. A flag added to the CLI without a
  // working behaviour (and a line here) fails the first test.
  const REAL_FLAGS = [
    "--alerts",
    "--config",
    "--dashboard",
    "--desktop-notifications",
    "--help",
    "--json",
    "--log-level",
    "--optimization-report",
    "--prometheus-export",
    "--report",
    "--stress-report",
    // tests/integration/stress-cli.test.ts
    "--stress-test",
    "--trace",
    "--version",
    "--web-dashboard",
    // tests/integration/security-web-config.test.ts
    "--web.config.file",
  ];

  it("--help lists only real flags and the generate command, and exits 0", async () => {
    const res = await runCliArgs(["--help"]);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe("");
    const offered = [...new Set(res.stdout.match(/--[a-z][a-z.-]*[a-z]/g) ?? [])].sort();
    expect(offered).toEqual(REAL_FLAGS);
    expect(res.stdout).toMatch(/-c, --config/);
    expect(res.stdout).toContain("tts-monitor generate");
    expect(res.stdout).toContain("Prometheus exporter for text-to-speech services");
  });

  it("--version prints the package version", async () => {
    const res = await runCliArgs(["--version"]);
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(pkg.version);
  });

  it("an unknown flag or command: a non-zero exit naming it, nothing started", async () => {
    const flag = await runCliArgs(["--prometheus-export", "--web-dashbord"]);
    expect(flag.code).not.toBe(0);
    expect(flag.stderr).toMatch(/Unknown arguments?: web-dashbord/);
    expect(flag.stderr).not.toContain("exporter listening");
    const command = await runCliArgs(["frobnicate"]);
    expect(command.code).not.toBe(0);
    expect(command.stderr).toMatch(/frobnicate/);
    const level = await runCliArgs(["--log-level", "loud"]);
    expect(level.code).not.toBe(0);
    expect(level.stderr).toMatch(/Invalid values/);
  });

  it("--log-level error silences the info and warn lines", async () => {
    const dir = tempDir();
    const file = join(dir, "config.json");
    writeFileSync(
      file,
      JSON.stringify({ ...BASE_CONFIG, monitoring: { nvidia_smi_path: join(dir, "no-such-nvidia-smi") } }),
    );
    const child = spawn(
      process.execPath,
      [...CLI, "--prometheus-export", "--log-level", "error", "--config", file],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    // The exporter is up once it serves /-/ready; its port is not logged at this level, so find it in /proc.
    const port = await waitFor(
      "the silent exporter to listen",
      () => listeningPortOf(child.pid ?? -1),
      15_000,
      100,
    );
    expect((await httpGet(`http://127.0.0.1:${port}/-/ready`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1200)); // the GPU collector has failed by now
    child.kill("SIGTERM");
    const code = await new Promise((r) => child.once("exit", (c) => r(c)));
    expect(code).toBe(0);
    expect(stderr).toBe("");
  });
});

/** The TCP port a process listens on, from /proc/net/tcp and its socket inodes. */
async function listeningPortOf(pid: number): Promise<number | undefined> {
  const { readdirSync, readlinkSync, readFileSync } = await import("node:fs");
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    }
  } catch {
    return undefined;
  }
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address is f[1] (hex ip:port), st is f[3] ("0A" = LISTEN), inode is f[9].
    if (f[3] === "0A" && f[9] && inodes.has(f[9])) return Number.parseInt(f[1]?.split(":")[1] ?? "", 16);
  }
  return undefined;
}

describe("signals", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal}: graceful shutdown, exit 0, the port closed`, async () => {
      const exporter = await startExporter();
      expect((await httpGet(`${exporter.url}/metrics`)).status).toBe(200);
      const status = await exporter.stop(signal);
      expect(status).toEqual({ code: 0, signal: null });
      expect(exporter.logs().some((l) => l.msg === "shutting down" && l.signal === signal)).toBe(true);
      expect(await listening(exporter.port)).toBe(false);
    });
  }
});

describe("SIGHUP reloads the config", () => {
  it("a collector switched off loses its series; a bad file is refused and the running config stays", async () => {
    const exporter = await startExporter({ nvidiaSmi: { kind: "fixture", fixture: "rtx3090.csv" } });
    const gpuSeries = (body: string) =>
      body.split("\n").filter((l) => l.startsWith("tts_gpu_") || l.includes('collector="gpu"'));
    await waitFor("GPU series", async () => {
      const { body } = await httpGet(`${exporter.url}/metrics`);
      return body.includes('tts_exporter_collector_success{collector="gpu"} 1') &&
        body.includes('tts_exporter_collector_success{collector="memory"} 1')
        ? true
        : undefined;
    });
    const port = exporter.port;
    const config = (over: Record<string, unknown>) =>
      `${JSON.stringify({ ...BASE_CONFIG, ...over, server: { listen_address: `127.0.0.1:${port}` } })}\n`;

    writeFileSync(
      exporter.configFile,
      config({ monitoring: { interval_seconds: 1, collectors: { gpu: false } } }),
    );
    exporter.child.kill("SIGHUP");
    const after = await waitFor("the reload", async () => {
      const { body } = await httpGet(`${exporter.url}/metrics`);
      return gpuSeries(body).length === 0 ? body : undefined;
    });
    expect(after).toContain("tts_exporter_config_last_reload_successful 1");
    expect(after).toContain('tts_exporter_collector_success{collector="memory"} 1');
    expect(exporter.logs().filter((l) => l.msg === "collector failed")).toEqual([]);

    writeFileSync(exporter.configFile, '{ "monitoring": { "interval_seconds": "x" } }\n');
    exporter.child.kill("SIGHUP");
    const refused = await waitFor("the refused reload", async () => {
      const { body } = await httpGet(`${exporter.url}/metrics`);
      return body.includes("tts_exporter_config_last_reload_successful 0") ? body : undefined;
    });
    expect(refused).toContain('tts_exporter_collector_success{collector="memory"} 1');
    const error = exporter.logs().find((l) => l.msg === "config reload rejected; keeping the running config");
    expect(String(error?.error)).toContain('$.monitoring.interval_seconds: expected number, got string "x"');
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
  });
});

describe("SIGHUP reloads the engines", () => {
  it("an added engine is probed at once, a removed one loses its probe gauges, an unchanged one keeps running", async () => {
    requireBinary("/usr/bin/espeak-ng", "espeak-ng");
    requireBinary("/usr/bin/flite", "flite");
    const espeak = { name: "espeak", type: "command", command: ["espeak-ng", "--stdout", "{text}"] };
    const flite = { name: "flite", type: "command", command: ["flite", "-t", "{text}", "-o", "{out}"] };
    const exporter = await startExporter({
      config: { engines: [espeak], monitoring: { audio_analysis: false }, probes: { interval_seconds: 30 } },
    });
    const probed = (engine: string) =>
      waitFor(`a probe of ${engine}`, async () => {
        const { body } = await httpGet(`${exporter.url}/metrics`);
        return body.includes(`tts_probe_success{engine="${engine}"} 1`) ? body : undefined;
      });
    const first = await probed("espeak");
    const lastRun = (body: string, engine: string) =>
      new RegExp(`tts_probe_last_run_timestamp_seconds\\{engine="${engine}"\\} (\\S+)`).exec(body)?.[1];
    const espeakRun = lastRun(first, "espeak");
    const port = exporter.port;
    const write = (engines: unknown[]) =>
      writeFileSync(
        exporter.configFile,
        `${JSON.stringify({
          ...BASE_CONFIG,
          engines,
          monitoring: { interval_seconds: 1, audio_analysis: false },
          probes: { interval_seconds: 30 },
          server: { listen_address: `127.0.0.1:${port}` },
        })}\n`,
      );

    write([espeak, flite]);
    exporter.child.kill("SIGHUP");
    const both = await probed("flite");
    // The unchanged engine was not rebuilt: no new probe of it before its 30 s interval.
    expect(lastRun(both, "espeak")).toBe(espeakRun);

    write([flite]);
    exporter.child.kill("SIGHUP");
    const after = await waitFor("espeak's probe gauges to go", async () => {
      const { body } = await httpGet(`${exporter.url}/metrics`);
      return body.includes('tts_probe_success{engine="espeak"}') ? undefined : body;
    });
    expect(after).toContain('tts_probe_success{engine="flite"} 1');
    expect(after).toContain("tts_exporter_config_last_reload_successful 1");
    expect(await exporter.stop()).toEqual({ code: 0, signal: null });
  });

  it("an engine that cannot run refuses the reload and the running engines stay", async () => {
    const exporter = await startExporter({ config: { monitoring: { audio_analysis: false } } });
    await waitFor("a probe of the embedded engine", async () => {
      const { body } = await httpGet(`${exporter.url}/metrics`);
      return body.includes('tts_probe_success{engine="embedded"} 1') ? true : undefined;
    });
    writeFileSync(
      exporter.configFile,
      `${JSON.stringify({
        ...BASE_CONFIG,
        engines: [{ name: "embedded", type: "embedded", voice: "no-such-voice" }],
        server: { listen_address: `127.0.0.1:${exporter.port}` },
      })}\n`,
    );
    exporter.child.kill("SIGHUP");
    const refused = await waitFor("the refused reload", async () => {
      const { body } = await httpGet(`${exporter.url}/metrics`);
      return body.includes("tts_exporter_config_last_reload_successful 0") ? body : undefined;
    });
    expect(refused).toContain('tts_probe_success{engine="embedded"} 1');
    const error = exporter.logs().find((l) => l.msg === "config reload rejected; keeping the running config");
    expect(String(error?.error)).toContain("$.engines[0]");
  });
});

describe("tool_info.enabled: false", () => {
  it("switches collectors and scheduled probes off; the endpoints and ingestion stay up", async () => {
    const exporter = await startExporter({ config: { tool_info: { enabled: false } } });
    await new Promise((r) => setTimeout(r, 2500));
    const posted = await fetch(`${exporter.url}/api/v1/syntheses`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ engine: "mine", latency_ms: 120 }),
    });
    expect(posted.status).toBe(202);
    const { body } = await httpGet(`${exporter.url}/metrics`);
    expect(body).toMatch(/tts_exporter_build_info\{[^}]*quality_score_version="\d+"\} 1/);
    expect(body).not.toMatch(/^tts_host_/m);
    expect(body).not.toContain("tts_exporter_collector_success{");
    expect(body).not.toContain("tts_probe_success{");
    expect(body).toContain('tts_latency_seconds_count{engine="mine",voice="default",source="ingest"} 1');
    expect((await httpGet(`${exporter.url}/-/ready`)).status).toBe(200);
    expect(exporter.logs().some((l) => String(l.msg).startsWith("monitoring is switched off"))).toBe(true);
  });
});

describe("secrets in files", () => {
  it("an ingestion token file that cannot be read: exit 2 naming the key, no stack trace, nothing started", async () => {
    const port = await freePort();
    const missing = join(tempDir(), "token");
    const res = await runCli({
      config: { server: { listen_address: `127.0.0.1:${port}` }, ingest: { token_file: missing } },
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      `tts-monitor: invalid configuration in ${res.configFile}:\n  $.ingest.token_file: expected a readable file holding the secret, got ${missing}: no such file (ENOENT)\n`,
    );
    // An empty token file would leave ingestion without authentication: refused too.
    writeFileSync(missing, "\n");
    const empty = await runCli({
      config: { server: { listen_address: `127.0.0.1:${port}` }, ingest: { token_file: missing } },
    });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain(
      `$.ingest.token_file: expected a file holding the secret, got ${missing}: an empty file`,
    );
    expect(await listening(port)).toBe(false);
  });
});

/** Runs a bash command line under a pseudo-terminal (util-linux `script`) and returns what it printed. */
/**
 * Shell: waits (30 s at most) until process $pid listens on a TCP port, i.e. has started up and
 * installed its signal handlers; a fixed sleep is too short for a loaded machine.
 */
const untilListening = `for i in $(seq 300); do ss -Hltnp | grep -q "pid=$pid," && break; sleep 0.1; done`;

function inTerminal(script: string, inner: string): Promise<string> {
  requireBinary("/usr/bin/ss", "iproute2");
  return new Promise<string>((resolve, reject) => {
    const child = spawn(script, ["-qfec", `bash -c '${inner}'`, "/dev/null"], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, COLUMNS: "120", LINES: "40", TERM: "xterm" },
    });
    let text = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      text += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(text);
    });
    child.once("error", reject);
  });
}

describe("the default mode in a terminal", () => {
  it("shows the live summary and redraws it in place with cursor-up sequences", async () => {
    const script = requireBinary("/usr/bin/script", "util-linux");
    const dir = tempDir();
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify(BASE_CONFIG));
    // Run under a pseudo-terminal; stop it with SIGTERM 3 s after it listens and print its exit code.
    const inner = `node ${CLI.join(" ")} --config ${file} & pid=$!; ${untilListening}; sleep 3; kill -TERM $pid; wait $pid; echo "exit=$?"`;
    const out = await inTerminal(script, inner);
    expect(out).toContain("exit=0");
    // The summary: title, host line, GPU line, collectors line.
    expect(out).toMatch(/TTS performance monitor — .*\(Ctrl-C to stop\)/);
    expect(out).toMatch(/ {2}CPU .*load \d+\.\d\d .*RAM \d+\.\d % \(\d+\.\d GiB \/ \d+\.\d GiB\)/);
    expect(out).toMatch(/ {2}GPU {2}none/);
    expect(out).toMatch(/collectors: \d+ running/);
    // Redrawn in place: cursor up over the previous summary and clear to the end of the screen, ≥ 2 times.
    const redraws = out.match(/\x1b\[(\d+)A\r\x1b\[J/g) ?? [];
    expect(redraws.length).toBeGreaterThanOrEqual(2);
    expect(out.split("TTS performance monitor —").length - 1).toBeGreaterThanOrEqual(3);
    // Human log lines, not JSON, in a terminal.
    expect(out).toMatch(/INFO {2}exporter listening address="127\.0\.0\.1:\d+"/);
    expect(out).not.toContain('{"time"');
  });

  it("SIGHUP (the terminal closed) stops it cleanly, exit 0, rather than reloading into a dead terminal", async () => {
    const script = requireBinary("/usr/bin/script", "util-linux");
    const file = join(tempDir(), "config.json");
    writeFileSync(file, JSON.stringify(BASE_CONFIG));
    const inner = `node ${CLI.join(" ")} --config ${file} & pid=$!; ${untilListening}; sleep 1; kill -HUP $pid; wait $pid; echo "exit=$?"`;
    const out = await inTerminal(script, inner);
    expect(out).toMatch(/INFO {2}shutting down signal="SIGHUP"/);
    expect(out).toContain("exit=0");
    expect(out).not.toContain("config reloaded");
  });
});
