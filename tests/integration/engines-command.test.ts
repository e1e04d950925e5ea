import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { EngineConfig } from "../../src/config/schema.ts";
import { createEngine } from "../../src/engines/index.ts";
import {
  context,
  expectEngineError,
  expectOrderedTimings,
  TEXT,
  timeout,
} from "../helpers/tts-servers/expect-engine.ts";
import { requireBinary, wavStats } from "../helpers/tts-servers/real-audio.ts";

const command = (cmd: string[], extra: Partial<Extract<EngineConfig, { type: "command" }>> = {}) =>
  createEngine({ name: "cli", type: "command", enabled: true, command: cmd, ...extra }, context);

let scripts: string;
const script = (name: string, body: string) => {
  const path = join(scripts, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
};

beforeAll(() => {
  requireBinary("espeak-ng", "espeak-ng");
  requireBinary("flite", "flite");
  requireBinary("text2wave", "festival");
  scripts = mkdtempSync(join(tmpdir(), "tts-cmd-test-"));
});

describe("command engine with real Debian engines", () => {
  it("espeak-ng --stdout: WAV with placeholder sizes read from stdout, TTFA past the header", async () => {
    const engine = command(["espeak-ng", "--stdout", "{text}"]);
    const result = await engine.synthesize({ text: TEXT, signal: timeout(10_000) });
    const stats = wavStats(result.audio);
    expect(stats.rate).toBe(22_050);
    expect(stats.seconds).toBeGreaterThan(1.5);
    expect(stats.peak).toBeGreaterThan(3000);
    expectOrderedTimings(result);
  });

  it("espeak-ng -w {out}: WAV read from the temp file", async () => {
    const engine = command(["espeak-ng", "-w", "{out}", "{text}"]);
    const result = await engine.synthesize({ text: TEXT, signal: timeout(10_000) });
    expect(wavStats(result.audio).seconds).toBeGreaterThan(1.5);
    expectOrderedTimings(result);
  });

  it("flite -t {text} -o {out}, with a {voice} placeholder", async () => {
    const engine = command(["flite", "-voice", "{voice}", "-t", "{text}", "-o", "{out}"], { voice: "slt" });
    const result = await engine.synthesize({ text: TEXT, signal: timeout(10_000) });
    expect(result.voice).toBe("slt");
    const stats = wavStats(result.audio);
    expect(stats.rate).toBe(16_000);
    expect(stats.seconds).toBeGreaterThan(2);
  });

  it("festival text2wave: text on stdin, -o {out}", async () => {
    const engine = command(["text2wave", "-o", "{out}"], { stdin: "{text}" });
    const result = await engine.synthesize({ text: TEXT, signal: timeout(20_000) });
    expect(wavStats(result.audio).seconds).toBeGreaterThan(1.5);
  });

  it("passes text with shell metacharacters as one argument (no shell)", async () => {
    const marker = join(scripts, "pwned");
    const engine = command(["espeak-ng", "--stdout", "{text}"]);
    const result = await engine.synthesize({
      text: `Hello; touch ${marker} $(touch ${marker})`,
      signal: timeout(10_000),
    });
    expect(wavStats(result.audio).seconds).toBeGreaterThan(0.5);
    const { existsSync } = await import("node:fs");
    expect(existsSync(marker)).toBe(false);
  });
});

describe("command engine failures", () => {
  it("a missing program is a clear `other` failure", async () => {
    const error = await expectEngineError(
      command(["no-such-tts-program", "{text}"]).synthesize({ text: TEXT, signal: timeout(5000) }),
      "other",
    );
    expect(error.message).toMatch(/not found/);
  });

  it("a non-zero exit is `other` with the exit code and stderr", async () => {
    const bad = script("fail.sh", 'echo "voice not installed" >&2; exit 3');
    const error = await expectEngineError(
      command([bad, "{text}"]).synthesize({ text: TEXT, signal: timeout(5000) }),
      "other",
    );
    expect(error.message).toMatch(/exit code 3.*voice not installed/);
  });

  it("a hung program is killed (with its children) and reported as `timeout` within timeout + 1 s", async () => {
    const hang = script("hang.sh", "sleep 30 & sleep 30");
    const engine = createEngine(
      { name: "cli", type: "command", enabled: true, command: [hang], timeout_seconds: 0.5 },
      context,
    );
    const t0 = performance.now();
    await expectEngineError(engine.synthesize({ text: TEXT, signal: timeout(60_000) }), "timeout");
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it("no output file is `empty_audio`; an empty stdout too", async () => {
    await expectEngineError(
      command(["true", "{out}"]).synthesize({ text: TEXT, signal: timeout(5000) }),
      "empty_audio",
    );
    await expectEngineError(
      command(["true"]).synthesize({ text: TEXT, signal: timeout(5000) }),
      "empty_audio",
    );
  });

  it("text instead of WAV on stdout is `bad_audio`", async () => {
    await expectEngineError(
      command(["echo", "{text}"]).synthesize({ text: TEXT, signal: timeout(5000) }),
      "bad_audio",
    );
  });

  it("a WAV cut short by a crashing program is `bad_audio` (truncated)", async () => {
    const cut = script(
      "cut.sh",
      `flite -t "$1" -o "$2" && head -c 20000 "$2" > "$2.cut" && mv "$2.cut" "$2"`,
    );
    const error = await expectEngineError(
      command([cut, "{text}", "{out}"]).synthesize({ text: TEXT, signal: timeout(10_000) }),
      "bad_audio",
    );
    expect(error.message).toMatch(/truncated/);
  });
});
