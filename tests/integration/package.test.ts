import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/exporter.ts";
import { REPO_ROOT } from "../helpers/tools.ts";

// The published package as a user gets it: `npm pack`, the tarball installed by npm into an empty
// project (its dependencies from npm's cache, which `npm ci` filled, or the registry), then the
// installed command and a JavaScript and a type-checked TypeScript consumer run there by plain node:
// no tsx, no TypeScript sources, only the compiled dist/.

const npm = (args: string[], cwd: string) =>
  execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 240_000 });

describe("npm package", () => {
  it("packs the compiled build, installs into an empty project, and runs its command and consumers there", async () => {
    // dist/ is built by `pretest` (or here, when a source changed since); `--ignore-scripts` keeps
    // prepack's clean rebuild from removing dist/ under tests running in parallel.
    execFileSync(process.execPath, ["scripts/build.mjs", "--if-stale"], { cwd: REPO_ROOT, stdio: "inherit" });
    const work = tempDir("tts-pack-");
    const out = npm(["pack", "--ignore-scripts", "--silent", "--pack-destination", work], REPO_ROOT);
    const tarball = join(work, out.trim().split("\n").pop() ?? "");
    const consumer = join(work, "consumer");
    mkdirSync(consumer);
    writeFileSync(
      join(consumer, "package.json"),
      JSON.stringify({ name: "consumer", version: "1.0.0", type: "module", private: true }),
    );
    npm(["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], consumer);
    const modules = join(consumer, "node_modules");
    const dest = join(modules, "tts-performance-monitor");
    // Compiled JavaScript with declarations and source maps; no TypeScript sources, no loader.
    expect(readdirSync(dest)).toEqual(expect.arrayContaining(["package.json", "dist", "config", "bin"]));
    expect(readdirSync(dest)).not.toContain("src");
    for (const f of [
      "dist/index.js",
      "dist/index.d.ts",
      "dist/index.js.map",
      "dist/main.js",
      "dist/web/index.html",
    ])
      expect(existsSync(join(dest, f)), f).toBe(true);
    expect(existsSync(join(modules, "tsx")), "tsx is a devDependency only").toBe(false);
    expect(existsSync(join(modules, "esbuild")), "esbuild is a devDependency only").toBe(false);

    const npx = (args: string[]) =>
      execFileSync("npx", ["--no-install", "tts-monitor", ...args], {
        cwd: consumer,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 150_000,
      });
    expect(npx(["--help"])).toMatch(/tts-monitor probe <engine>/);
    const wav = join(work, "speech.wav");
    execFileSync("espeak-ng", ["-w", wav, "Hello, this is the package test."]);
    const analyzed = JSON.parse(npx(["analyze", wav, "--json"])) as {
      analysis: { sampleRate: number; durationSeconds: number; qualityScore: { score: number } };
    };
    expect(analyzed.analysis.sampleRate).toBe(22050);
    expect(analyzed.analysis.durationSeconds).toBeGreaterThan(1);
    expect(analyzed.analysis.qualityScore.score).toBeGreaterThan(0.5);
    // The embedded voice: flite.wasm in a worker thread, from the consumer's node_modules.
    const probed = JSON.parse(npx(["probe", "embedded", "--json"])) as {
      engine: string;
      success: boolean;
      audioDurationMs: number;
    };
    expect(probed).toMatchObject({ engine: "embedded", success: true });
    expect(probed.audioDurationMs).toBeGreaterThan(500);

    // The SPEC §8 example, type-checked against the published declarations under both module
    // resolutions a TypeScript project uses, with a config path that this project does not have:
    // the package's own config is used (probing the embedded voice).
    mkdirSync(join(modules, "@types"), { recursive: true });
    // protobufjs (under @grpc/proto-loader) installs its own @types/node there already.
    if (!existsSync(join(modules, "@types/node")))
      symlinkSync(join(REPO_ROOT, "node_modules/@types/node"), join(modules, "@types/node"));
    for (const [module, moduleResolution] of [
      ["NodeNext", "NodeNext"],
      ["ESNext", "Bundler"],
    ]) {
      writeFileSync(
        join(consumer, `tsconfig.${moduleResolution}.json`),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module,
            moduleResolution,
            strict: true,
            exactOptionalPropertyTypes: true,
            noEmit: true,
            skipLibCheck: true,
            types: ["node"],
          },
          files: ["consumer.ts"],
        }),
      );
    }
    writeFileSync(
      join(consumer, "consumer.ts"),
      `import { TTSPerformanceMonitor, type CurrentMetrics } from "tts-performance-monitor";
const text = "Hello.";
const monitor = new TTSPerformanceMonitor({ configPath: "config/config.json", listenAddress: "127.0.0.1:0" });
await monitor.startMonitoring();
monitor.recordSynthesis({ engine: "kokoro", voice: "af_heart", text, latencyMs: 212, cacheHit: false });
monitor.addAlert({ condition: "latency > 300", notification: "slack" });
const m: CurrentMetrics = monitor.getCurrentMetrics();
const fields: (number | undefined)[] = [m.latencyMs, m.gpuUsage, m.qualityScore, m.cacheHitRate];
// @ts-expect-error latencyMs is a number, not a string
monitor.recordSynthesis({ engine: "kokoro", latencyMs: "fast" });
console.log(JSON.stringify({ fields, requests: m.engines.kokoro?.requests }));
await monitor.stop();
`,
    );
    for (const resolution of ["NodeNext", "Bundler"])
      execFileSync(
        process.execPath,
        [join(REPO_ROOT, "node_modules/typescript/bin/tsc"), "-p", `tsconfig.${resolution}.json`],
        {
          cwd: consumer,
          encoding: "utf8",
        },
      );
    // The same logic as JavaScript, run by plain node from the installed package.
    writeFileSync(
      join(consumer, "consumer.mjs"),
      `import * as api from "tts-performance-monitor";
const { TTSPerformanceMonitor } = api;
const text = "Hello.";
const monitor = new TTSPerformanceMonitor({ configPath: "config/config.json", listenAddress: "127.0.0.1:0" });
await monitor.startMonitoring();
monitor.recordSynthesis({ engine: "kokoro", voice: "af_heart", text, latencyMs: 212, cacheHit: false });
monitor.addAlert({ condition: "latency > 300", notification: "slack" });
const m = monitor.getCurrentMetrics();
const ready = await fetch("http://" + monitor.address + "/-/ready");
const metrics = await (await fetch("http://" + monitor.address + "/metrics")).text();
console.log(JSON.stringify({
  exports: Object.keys(api).sort(),
  latency: m.latencyMs,
  cacheHitRate: m.cacheHitRate,
  keys: ["latencyMs", "gpuUsage", "qualityScore", "cacheHitRate"].filter((k) => k in m),
  requests: m.engines.kokoro.requests,
  engines: monitor.config.engines.map((e) => e.name),
  ready: ready.status,
  requestsMetric: /^tts_requests_total\\{[^}]*engine="kokoro"[^}]*\\} 1$/m.test(metrics),
}));
await monitor.stop();
`,
    );
    const printed = execFileSync(process.execPath, ["consumer.mjs"], {
      cwd: consumer,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 150_000,
    });
    const source = await import("../../src/index.ts");
    expect(JSON.parse(printed)).toEqual({
      exports: Object.keys(source).sort(),
      latency: 212,
      cacheHitRate: 0,
      keys: ["latencyMs", "gpuUsage", "qualityScore", "cacheHitRate"],
      requests: 1,
      engines: ["embedded"],
      ready: 200,
      requestsMetric: true,
    });
  }, 600_000);
});
