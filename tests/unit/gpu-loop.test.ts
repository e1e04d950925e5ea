// The GPU collector's long-lived `nvidia-smi --loop-ms`: how its endless output is cut into one
// batch per loop, and that the collector starts no process at all without nvidia-smi, and only the
// one-shot query and the loop with one (spawn is counted, the real one still runs the fake).
import * as childProcess from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  findExecutable,
  GPU_FIELDS,
  gpuCollector,
  type LoopBatch,
  LoopBatcher,
  NvidiaSmiOutputError,
} from "../../src/collectors/gpu.ts";
import type { Collector } from "../../src/collectors/types.ts";
import { processesMatching, tempDir } from "../helpers/exporter.ts";
import { FIXTURES, sleep, waitFor } from "../helpers/tools.ts";

vi.mock("node:child_process", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:child_process")>();
  return { ...actual, spawn: vi.fn(actual.spawn) };
});
const spawnCalls = () => vi.mocked(childProcess.spawn).mock.calls;

const a100 = readFileSync(join(FIXTURES, "nvidia-smi", "a100x4.csv"), "utf8");
const rows = a100.trim().split("\n");

function batcher(expected: number) {
  const batches: LoopBatch[] = [];
  const b = new LoopBatcher(GPU_FIELDS, expected, (batch) => batches.push(batch));
  const indexes = () => batches.map((x) => ("gpus" in x ? x.gpus.map((g) => g.index).join("") : "error"));
  return { b, batches, indexes };
}

describe("LoopBatcher: one batch per loop of nvidia-smi --loop-ms", () => {
  it("four GPUs a loop, the output cut anywhere (even inside a line): one batch per four rows, at the fourth", () => {
    const { b, batches, indexes } = batcher(4);
    const text = a100.repeat(3);
    for (let at = 0; at < text.length; at += 37) b.push(text.slice(at, at + 37));
    expect(indexes()).toEqual(["0123", "0123", "0123"]);
    const first = batches[0];
    expect(first && "gpus" in first && first.gpus[3]?.values.get("tts_gpu_power_draw_watts")).toBe(398.91);
  });

  it("a GPU gone from the loop (3 rows where the one-shot query saw 4): the batch ends when the first GPU comes again", () => {
    const { b, indexes } = batcher(4);
    const three = `${[rows[0], rows[1], rows[3]].join("\n")}\n`;
    b.push(three);
    expect(indexes()).toEqual([]);
    // The first GPU again: the first batch ends; from then on a batch is three rows, complete at its third.
    b.push(three);
    expect(indexes()).toEqual(["013", "013"]);
    b.push(three);
    expect(indexes()).toEqual(["013", "013", "013"]);
  });

  it("a warning printed before a loop's rows goes with that batch; the rows pending when the output ends are the last batch", () => {
    const { b, batches } = batcher(4);
    b.push(`WARNING: infoROM is corrupted at gpu 0000:02:00.0\n${a100}${rows[0]}\n${rows[1]}\n`);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ messages: ["WARNING: infoROM is corrupted at gpu 0000:02:00.0"] });
    b.end();
    expect(batches).toHaveLength(2);
    const last = batches[1];
    expect(last && "gpus" in last && last.gpus.map((g) => g.index)).toEqual(["0", "1"]);
  });

  it("a row that does not parse makes an error batch, named by its line in the loop; the next loop is good again", () => {
    const { b, batches, indexes } = batcher(4);
    b.push(`${rows[0]}\n${rows[1]}\n0, NVIDIA A100, thirty-seven\n${a100}`);
    expect(indexes()).toEqual(["error", "0123"]);
    const error = batches[0] && "error" in batches[0] ? batches[0].error : undefined;
    expect(error).toBeInstanceOf(NvidiaSmiOutputError);
    expect(error?.message).toMatch(/line 3: 3 fields instead of 12/);
  });

  it("output without a newline that grows past 64 KiB is an error, not a growing buffer", () => {
    const { b, indexes } = batcher(1);
    for (let i = 0; i < 70; i++) b.push("x".repeat(1024));
    expect(indexes()).toEqual(["error"]);
  });
});

describe("finding nvidia-smi without starting it", () => {
  it("the first executable file of the name on the search path; not a directory, not a file without x", async () => {
    const root = tempDir();
    const [dirEntry, plain, good] = ["a", "b", "c"].map((d) => join(root, d));
    for (const d of [dirEntry, plain, good]) mkdirSync(d ?? "");
    mkdirSync(join(dirEntry ?? "", "nvidia-smi"));
    symlinkSync(join(FIXTURES, "nvidia-smi", "garbage.txt"), join(plain ?? "", "nvidia-smi"));
    symlinkSync(join(FIXTURES, "nvidia-smi", "exit9.sh"), join(good ?? "", "nvidia-smi"));
    expect(await findExecutable("nvidia-smi", [dirEntry, plain, good].join(":"))).toBe(
      join(good ?? "", "nvidia-smi"),
    );
    expect(await findExecutable("nvidia-smi", [dirEntry, plain].join(":"))).toBeUndefined();
    expect(await findExecutable(join(good ?? "", "nvidia-smi"), "")).toBe(join(good ?? "", "nvidia-smi"));
  });
});

describe("GPU collector processes", () => {
  let collector: Collector | undefined;
  afterEach(() => collector?.stop?.());

  it("no nvidia-smi: every run fails with one clear reason and starts nothing; one installed later is found and looped", async () => {
    const bin = join(tempDir(), "bin");
    mkdirSync(bin);
    collector = gpuCollector({
      nvidiaSmi: "nvidia-smi",
      timeoutMs: 10_000,
      intervalMs: 100,
      searchPath: bin,
    });
    const before = spawnCalls().length;
    for (let i = 0; i < 5; i++) {
      await expect(collector.collect(new AbortController().signal)).rejects.toThrow(
        /^nvidia-smi not found on PATH: no NVIDIA driver here, so no GPU metrics$/,
      );
    }
    expect(spawnCalls().length).toBe(before);

    symlinkSync(join(FIXTURES, "nvidia-smi", "print-fixture.sh"), join(bin, "nvidia-smi"));
    const first = await collector.collect(new AbortController().signal);
    expect(first.find((s) => s.metric === "tts_gpu_usage_percent")?.value).toBe(37);
    // The one-shot query, then the loop.
    const started = spawnCalls().slice(before);
    expect(started.map((c) => c[0])).toEqual([join(bin, "nvidia-smi"), join(bin, "nvidia-smi")]);
    expect(started[1]?.[1]).toContain("--loop-ms=100");
    const looping = () =>
      processesMatching(`${bin}/nvidia-smi`).filter((p) => p.cmdline.includes("--loop-ms=100"));
    await waitFor("the loop to run", () => (looping().length === 1 ? true : undefined), 20_000);
    // Many runs later, still those two processes: the loop's rows are read, nothing more started.
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      const samples = await collector.collect(new AbortController().signal);
      expect(samples.filter((s) => s.metric === "tts_gpu_memory_total_bytes")).toHaveLength(1);
    }
    expect(spawnCalls().length).toBe(before + 2);
    collector.stop?.();
    await waitFor("the loop to be killed", () => (looping().length === 0 ? true : undefined), 10_000);
  });

  it("a loop that exits: started again at once, the next time only after a wait, with its exit code and message meanwhile", async () => {
    const bin = join(tempDir(), "bin");
    mkdirSync(bin);
    symlinkSync(join(FIXTURES, "nvidia-smi", "emulate.mjs"), join(bin, "nvidia-smi"));
    const saved = process.env.FAKE_NVIDIA_SMI_PROFILE;
    process.env.FAKE_NVIDIA_SMI_PROFILE = join(FIXTURES, "nvidia-smi", "drivers", "loop-exits.json");
    try {
      collector = gpuCollector({
        nvidiaSmi: "nvidia-smi",
        timeoutMs: 10_000,
        intervalMs: 500,
        searchPath: bin,
      });
      const run = () => (collector as Collector).collect(new AbortController().signal);
      const before = spawnCalls().length;
      const looping = () =>
        processesMatching(`${bin}/nvidia-smi`).filter((p) => p.cmdline.includes("--loop-ms=500"));
      /** The loop has printed its one batch and exited (and its last output was read). */
      const loopGone = async () => {
        await waitFor("the loop to run", () => (looping().length === 1 ? true : undefined), 20_000, 20);
        await waitFor("the loop to exit", () => (looping().length === 0 ? true : undefined), 20_000, 20);
        await sleep(300);
      };
      expect((await run()).length).toBeGreaterThan(0);
      expect(spawnCalls().length).toBe(before + 2); // the one-shot query and the loop
      await loopGone();
      expect((await run()).length).toBeGreaterThan(0); // started again at once
      // Only the loop: it had delivered rows, so what the one-shot query learnt still holds.
      expect(spawnCalls().length).toBe(before + 3);
      expect(spawnCalls()[before + 2]?.[1]).toContain("--loop-ms=500");
      await loopGone();
      // The second exit in a row: a wait (two intervals) before the next start, the reason meanwhile.
      const reason = /^nvidia-smi --loop-ms=500 stopped: exit code 3: Unable to determine the device handle/;
      await expect(run()).rejects.toThrow(reason);
      await expect(run()).rejects.toThrow(reason);
      expect(spawnCalls().length).toBe(before + 3);
      await sleep(1100);
      expect((await run()).length).toBeGreaterThan(0);
      expect(spawnCalls().length).toBe(before + 4);
    } finally {
      if (saved === undefined) delete process.env.FAKE_NVIDIA_SMI_PROFILE;
      else process.env.FAKE_NVIDIA_SMI_PROFILE = saved;
    }
  });
  it("a loop that exits before its first batch: the next start goes through the one-shot query again", async () => {
    const bin = join(tempDir(), "bin");
    mkdirSync(bin);
    symlinkSync(join(FIXTURES, "nvidia-smi", "emulate.mjs"), join(bin, "nvidia-smi"));
    const saved = process.env.FAKE_NVIDIA_SMI_PROFILE;
    process.env.FAKE_NVIDIA_SMI_PROFILE = join(FIXTURES, "nvidia-smi", "drivers", "loop-never-delivers.json");
    try {
      collector = gpuCollector({
        nvidiaSmi: "nvidia-smi",
        timeoutMs: 10_000,
        intervalMs: 500,
        searchPath: bin,
      });
      const run = () => (collector as Collector).collect(new AbortController().signal);
      const before = spawnCalls().length;
      const loopCalls = () =>
        spawnCalls()
          .slice(before)
          .filter((c) => String(c[1]).includes("--loop-ms="));
      expect((await run()).length).toBeGreaterThan(0); // the one-shot query's rows
      // The loop exits at once; wait until its exit has been seen.
      await waitFor(
        "the loop to exit",
        () => (processesMatching(`${bin}/nvidia-smi`).length === 0 ? true : undefined),
        20_000,
        20,
      );
      await sleep(300);
      expect((await run()).length).toBeGreaterThan(0);
      const calls = spawnCalls().slice(before);
      expect(calls).toHaveLength(4);
      expect(String(calls[2]?.[1])).not.toContain("--loop-ms=");
      expect(loopCalls()).toHaveLength(2);
    } finally {
      if (saved === undefined) delete process.env.FAKE_NVIDIA_SMI_PROFILE;
      else process.env.FAKE_NVIDIA_SMI_PROFILE = saved;
    }
  });
});
