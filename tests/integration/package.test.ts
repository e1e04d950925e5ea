import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import pkg from "../../package.json" with { type: "json" };
import { tempDir } from "../helpers/exporter.ts";
import { REPO_ROOT } from "../helpers/tools.ts";

// The published package: `npm pack` (which runs prepack: the type declarations), unpacked as a
// dependency of a consumer project whose file is type-checked against it and then run by plain node.

describe("npm package", () => {
  it("packs, and a consumer compiles against its published types and runs", async () => {
    const work = tempDir("tts-pack-");
    const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", work], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    const tarball = join(work, out.trim().split("\n").pop() ?? "");
    const consumer = join(work, "consumer");
    const modules = join(consumer, "node_modules");
    const dest = join(modules, "tts-performance-monitor");
    mkdirSync(dest, { recursive: true });
    execFileSync("tar", ["-xzf", tarball, "-C", dest, "--strip-components=1"]);
    const files = readdirSync(dest);
    expect(files).toEqual(
      expect.arrayContaining(["index.js", "package.json", "src", "dist", "config", "bin"]),
    );
    // The package's dependencies come from this checkout (no registry access in the test).
    for (const dep of [...Object.keys(pkg.dependencies), "@types"]) {
      const scope = dep.includes("/") ? dep.split("/")[0] : undefined;
      if (scope) mkdirSync(join(modules, scope), { recursive: true });
      symlinkSync(join(REPO_ROOT, "node_modules", dep), join(modules, dep));
    }
    writeFileSync(
      join(consumer, "package.json"),
      JSON.stringify({ name: "consumer", type: "module", private: true }),
    );
    // The consumer type-checks under both module resolutions a TypeScript project uses.
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
    // The SPEC §8 example, with a config path that this project does not have: the package's own
    // config is used (probing the embedded voice).
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
      execFileSync(join(REPO_ROOT, "node_modules/.bin/tsc"), ["-p", `tsconfig.${resolution}.json`], {
        cwd: consumer,
        encoding: "utf8",
      });
    // Run the consumer's logic as JavaScript (type annotations stripped by hand).
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
console.log(JSON.stringify({
  exports: Object.keys(api).sort(),
  latency: m.latencyMs,
  cacheHitRate: m.cacheHitRate,
  keys: ["latencyMs", "gpuUsage", "qualityScore", "cacheHitRate"].filter((k) => k in m),
  requests: m.engines.kokoro.requests,
  engines: monitor.config.engines.map((e) => e.name),
  ready: ready.status,
}));
await monitor.stop();
`,
    );
    const printed = execFileSync(process.execPath, ["consumer.mjs"], {
      cwd: consumer,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    // index.js re-exports by hand what src/index.ts exports: every value, none forgotten.
    const source = await import("../../src/index.ts");
    expect(JSON.parse(printed)).toEqual({
      exports: Object.keys(source).sort(),
      latency: 212,
      cacheHitRate: 0,
      keys: ["latencyMs", "gpuUsage", "qualityScore", "cacheHitRate"],
      requests: 1,
      engines: ["embedded"],
      ready: 200,
    });
    // The installed command runs from the consumer's directory.
    const help = execFileSync(process.execPath, [join(dest, "bin/tts-monitor.js"), "--help"], {
      cwd: consumer,
      encoding: "utf8",
    });
    expect(help).toMatch(/tts-monitor probe <engine>/);
  }, 120_000);
});
