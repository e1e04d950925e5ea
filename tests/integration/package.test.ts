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
  it("packs, and a consumer compiles against its published types and runs", () => {
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
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ["node"],
        },
        files: ["consumer.ts"],
      }),
    );
    writeFileSync(
      join(consumer, "consumer.ts"),
      `import { TTSPerformanceMonitor, type CurrentMetrics } from "tts-performance-monitor";
const monitor = new TTSPerformanceMonitor({ config: { engines: [] }, serve: false });
monitor.recordSynthesis({ engine: "kokoro", voice: "af_heart", text: "Hello.", latencyMs: 212, cacheHit: false });
const m: CurrentMetrics = monitor.getCurrentMetrics();
const latency: number | undefined = m.latencyMs;
// @ts-expect-error latencyMs is a number, not a string
monitor.recordSynthesis({ engine: "kokoro", latencyMs: "fast" });
console.log(JSON.stringify({ latency, rate: m.engines.kokoro?.requests }));
await monitor.stop();
`,
    );
    execFileSync(join(REPO_ROOT, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], {
      cwd: consumer,
      encoding: "utf8",
    });
    // Run the consumer's logic as JavaScript (type annotations stripped by hand: a one-liner).
    writeFileSync(
      join(consumer, "consumer.mjs"),
      `import { TTSPerformanceMonitor } from "tts-performance-monitor";
const monitor = new TTSPerformanceMonitor({ config: { engines: [] }, serve: false });
monitor.recordSynthesis({ engine: "kokoro", voice: "af_heart", text: "Hello.", latencyMs: 212, cacheHit: false });
const m = monitor.getCurrentMetrics();
console.log(JSON.stringify({ latency: m.latencyMs, requests: m.engines.kokoro.requests }));
await monitor.stop();
`,
    );
    const printed = execFileSync(process.execPath, ["consumer.mjs"], { cwd: consumer, encoding: "utf8" });
    expect(JSON.parse(printed)).toEqual({ latency: 212, requests: 1 });
  }, 120_000);
});
