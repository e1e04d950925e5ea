import { writeFileSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningExporter, runCliArgs, startExporter, tempDir } from "../helpers/exporter.ts";
import { type SimServer, startSimServer } from "../helpers/sim-server.ts";
import { waitFor } from "../helpers/tools.ts";

// While a stress run drives an engine, the monitor's scheduled probes of it pause (their load and
// their latency would be the stress run's, not the engine's) and the syntheses the service reports
// for it are labelled source="stress"; a lease that is not renewed gives the engine back.
let exporter: RunningExporter | undefined;
let sim: SimServer | undefined;
afterEach(async () => {
  await exporter?.stop();
  await sim?.close();
  exporter = undefined;
  sim = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("stress leases on the exporter", () => {
  it("pause the engine's probes, label its ingest source=stress, and expire when not renewed", async () => {
    sim = await startSimServer({ workers: 2, serviceTimeMs: 5 });
    exporter = await startExporter({
      config: {
        probes: { interval_seconds: 0.5, texts: ["Hello."] },
        monitoring: { collectors: { gpu: false } },
        engines: [sim.engineConfig("sim")],
      },
    });
    const { url } = exporter;
    const s = sim;
    const leases = `${url}/api/v1/stress/leases`;
    const post = (body: unknown) =>
      fetch(leases, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    await waitFor(
      "scheduled probes reaching the engine",
      () => (s.stats().requests >= 2 ? true : undefined),
      20_000,
    );

    expect((await post({ engine: "nosuch" })).status).toBe(400);
    const taken = await post({ engine: "sim", ttl_seconds: 60 });
    expect(taken.status).toBe(201);
    const lease = (await taken.json()) as { id: string; engine: string };
    expect(lease.engine).toBe("sim");
    expect((await post({ engine: "sim" })).status).toBe(409);

    // A probe already in flight may still land; none starts after it.
    await sleep(600);
    const paused = s.stats().requests;
    await sleep(2000);
    expect(s.stats().requests).toBe(paused);
    // On-demand /probe is Prometheus' request and still runs during a lease (docs/stress.md says why).
    const onDemand = await fetch(`${url}/probe?target=sim`);
    expect(onDemand.status).toBe(200);
    expect(await onDemand.text()).toMatch(/^tts_probe_success\{[^}]*\} 1$/m);
    expect(s.stats().requests).toBe(paused + 1);

    const ingest = await fetch(`${url}/api/v1/syntheses`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ engine: "sim", voice: "sim", latency_ms: 120 }),
    });
    expect(ingest.status).toBe(202);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^tts_latency_seconds_count\{engine="sim",voice="sim",source="stress"\} 1$/m);
    expect(metrics).not.toMatch(/^tts_latency_seconds_count\{engine="sim",voice="sim",source="ingest"\}/m);

    expect((await fetch(`${leases}/${lease.id}`, { method: "DELETE" })).status).toBe(204);
    await waitFor(
      "probes resuming after the release",
      () => (s.stats().requests > paused ? true : undefined),
      10_000,
    );

    // A stress process that dies stops renewing: its lease lapses after its TTL.
    const short = (await (await post({ engine: "sim", ttl_seconds: 1 })).json()) as { id: string };
    expect(short.id).toBeTruthy();
    await sleep(1500);
    const listed = (await (await fetch(leases)).json()) as { leases: unknown[] };
    expect(listed.leases).toEqual([]);
    const after = s.stats().requests;
    await waitFor(
      "probes resuming after the lease lapsed",
      () => (s.stats().requests > after ? true : undefined),
      10_000,
    );
    expect(
      (
        await fetch(`${leases}/${short.id}`, {
          method: "PUT",
          headers: { "Content-Type": "application/json" },
          body: "{}",
        })
      ).status,
    ).toBe(404);
  }, 60_000);

  it("tts-monitor stress --monitor holds the lease for the run and gives it back at the end", async () => {
    sim = await startSimServer({ workers: 4, serviceTimeMs: 5 });
    exporter = await startExporter({
      config: {
        probes: { interval_seconds: 60, texts: ["Hello."] },
        monitoring: { collectors: { gpu: false } },
        engines: [sim.engineConfig("sim")],
      },
    });
    const leases = `${exporter.url}/api/v1/stress/leases`;
    const held = async () =>
      ((await (await fetch(leases)).json()) as { leases: { engine: string }[] }).leases;
    const dir = tempDir();
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ engines: [sim.engineConfig("sim")] }));
    const s = sim;
    // The exporter probes each engine once at start (the next probe is a minute away).
    await waitFor("the exporter's first probe", () => (s.stats().requests >= 1 ? true : undefined), 20_000);
    const before = s.stats().requests;
    const run = runCliArgs(
      [
        "stress",
        "sim",
        "--rates",
        "5",
        "--step-duration",
        "3s",
        "--warmup",
        "0s",
        "--slo",
        "p99_latency<5s",
        "--max-late",
        "100%",
        "--monitor",
        exporter.url,
        "--config",
        config,
      ],
      60_000,
    );
    await waitFor(
      "the stress run's first request",
      () => (s.stats().requests > before ? true : undefined),
      30_000,
      50,
    );
    expect((await held()).map((l) => l.engine)).toEqual(["sim"]);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(await held()).toEqual([]);
    // The run handed its report to the monitor before releasing: the optimiser's evidence has it.
    const evidence = (await (await fetch(`${exporter.url}/api/v1/optimizer/evidence`)).json()) as {
      stress_reports: { engine: string; steps: { offered_rps: number }[] }[];
    };
    expect(evidence.stress_reports.map((x) => x.engine)).toEqual(["sim"]);
    expect(evidence.stress_reports[0]?.steps.map((x) => x.offered_rps)).toEqual([5]);
  }, 90_000);
  it("tts-monitor stress --monitor sends basic auth from the URL (or the password env) and never prints it", async () => {
    sim = await startSimServer({ workers: 4, serviceTimeMs: 5 });
    const dir = tempDir();
    const password = "lease-basic-password-planted";
    const web = join(dir, "web.yml");
    writeFileSync(web, `basic_auth_users:\n  stress: ${bcrypt.hashSync(password, 4)}\n`);
    // Basic auth on the monitor and no ingestion token: a bearer-only client gets 401.
    exporter = await startExporter({
      args: ["--prometheus-export", "--web.config.file", web],
      env: { TTS_MONITOR_INGEST_TOKEN: undefined },
      config: {
        probes: { interval_seconds: 60, texts: ["Hello."] },
        monitoring: { collectors: { gpu: false } },
        engines: [sim.engineConfig("sim")],
      },
    });
    const { host } = new URL(exporter.url);
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ engines: [sim.engineConfig("sim")] }));
    const basic = `Basic ${Buffer.from(`stress:${password}`).toString("base64")}`;
    const leases = `${exporter.url}/api/v1/stress/leases`;
    const held = async () =>
      (
        (await (await fetch(leases, { headers: { authorization: basic } })).json()) as {
          leases: { engine: string }[];
        }
      ).leases;
    const s = sim;
    const stress = (monitor: string, env: Record<string, string> = {}) =>
      runCliArgs(
        [
          "stress",
          "sim",
          "--rates",
          "5",
          "--step-duration",
          "2s",
          "--warmup",
          "0s",
          "--slo",
          "p99_latency<5s",
          "--max-late",
          "100%",
          "--monitor",
          monitor,
          "--config",
          config,
        ],
        60_000,
        { TTS_MONITOR_INGEST_TOKEN: "", ...env },
      );

    const refused = await stress(`http://stress:wrong-${password}@${host}`);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("HTTP 401");
    expect(refused.stderr).toContain(`http://${host}`);
    expect(refused.stderr).not.toContain(password);
    expect((await stress(`http://${host}`)).code).toBe(2);

    for (const [monitor, env] of [
      [`http://stress:${password}@${host}`, {}],
      [`http://stress@${host}`, { TTS_MONITOR_MONITOR_PASSWORD: password }],
    ] as const) {
      const before = s.stats().requests;
      const run = stress(monitor, env);
      await waitFor(
        "the stress run's first request",
        () => (s.stats().requests > before ? true : undefined),
        30_000,
        50,
      );
      expect((await held()).map((l) => l.engine)).toEqual(["sim"]);
      const r = await run;
      expect(r.code, r.stderr).toBe(0);
      expect(`${r.stdout}${r.stderr}`).not.toContain(password);
      expect(await held()).toEqual([]);
    }
  }, 120_000);
});
