import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  GPU_FIELDS,
  GPU_QUERY_ARGS,
  gpuSamples,
  NvidiaSmiOutputError,
  POWER_FALLBACK_FIELDS,
  parseNvidiaSmi,
  parseNvidiaSmiOutput,
  rejectedField,
} from "../../src/collectors/gpu.ts";
import { FIXTURES } from "../helpers/tools.ts";

const fixture = (name: string) => readFileSync(join(FIXTURES, "nvidia-smi", name), "utf8");
const MiB = 1024 * 1024;

describe("parseNvidiaSmi on real-shaped output", () => {
  it("the fixtures answer exactly the query the collector makes", () => {
    const script = fixture("print-fixture.sh");
    expect(script).toContain(`expected_query="${GPU_QUERY_ARGS[0]}"`);
    expect(GPU_QUERY_ARGS[1]).toBe("--format=csv,noheader,nounits");
    for (const name of ["rtx3090.csv", "a100x4.csv"]) {
      for (const line of fixture(name).trim().split("\n"))
        expect(line.split(", ")).toHaveLength(GPU_FIELDS.length);
    }
  });

  it("one RTX 3090: every field, in base units", () => {
    const [gpu, ...rest] = parseNvidiaSmi(fixture("rtx3090.csv"));
    expect(rest).toEqual([]);
    expect(gpu?.index).toBe("0");
    expect(gpu?.name).toBe("NVIDIA GeForce RTX 3090");
    expect(gpu?.uuid).toBe("GPU-5a3c9f1e-7b2d-4c8a-9e61-0f4d2b8c7a13");
    expect(Object.fromEntries(gpu?.values ?? [])).toEqual({
      tts_gpu_usage_percent: 37,
      tts_gpu_memory_utilization_percent: 12,
      tts_gpu_temperature_celsius: 54,
      tts_gpu_memory_used_bytes: 3821 * MiB,
      tts_gpu_memory_total_bytes: 24576 * MiB,
      tts_gpu_memory_usage_ratio: 3821 / 24576,
      tts_gpu_power_draw_watts: 112.45,
      tts_gpu_power_limit_watts: 350,
      tts_gpu_fan_speed_percent: 41,
      tts_gpu_sm_clock_hertz: 1695e6,
    });
    expect(gpu?.values.get("tts_gpu_memory_total_bytes")).toBe(25_769_803_776);
  });

  it("4× A100: [N/A] fan speed and [Not Supported] power draw are dropped, never zero", () => {
    const gpus = parseNvidiaSmi(fixture("a100x4.csv"));
    expect(gpus.map((g) => g.index)).toEqual(["0", "1", "2", "3"]);
    expect(new Set(gpus.map((g) => g.uuid)).size).toBe(4);
    for (const g of gpus) {
      expect(g.name).toBe("NVIDIA A100-SXM4-80GB");
      expect(g.values.has("tts_gpu_fan_speed_percent")).toBe(false);
      expect(g.values.get("tts_gpu_memory_total_bytes")).toBe(81920 * MiB);
      for (const v of g.values.values()) expect(Number.isFinite(v)).toBe(true);
    }
    expect(gpus[2]?.values.has("tts_gpu_power_draw_watts")).toBe(false);
    expect(gpus[2]?.values.get("tts_gpu_power_limit_watts")).toBe(400);
    expect(gpus[1]?.values.get("tts_gpu_usage_percent")).toBe(0); // a real 0 stays
    expect(gpus[3]?.values.get("tts_gpu_power_draw_watts")).toBe(398.91);
    const samples = gpuSamples(gpus);
    expect(samples.filter((s) => s.metric === "tts_gpu_fan_speed_percent")).toEqual([]);
    expect(samples.filter((s) => s.metric === "tts_gpu_power_draw_watts").map((s) => s.labels.gpu)).toEqual([
      "0",
      "1",
      "3",
    ]);
    expect(samples.filter((s) => s.metric === "tts_gpu_usage_percent")).toHaveLength(4);
  });

  it("every spelling nvidia-smi uses for a missing value is dropped", () => {
    for (const cell of [
      "[N/A]",
      "N/A",
      "[Not Supported]",
      "[Unknown Error]",
      "[Insufficient Permissions]",
      "[GPU requires reset]",
      "[Requested functionality has been deprecated]",
      "[Unknown]",
      "ERR!",
      "",
    ]) {
      const line = `0, Tesla T4, GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, ${cell}, 1, 40, 100, 15360, 27.5, 70.00, [N/A], 585`;
      const [gpu] = parseNvidiaSmi(line);
      expect([cell, gpu?.values.has("tts_gpu_usage_percent")]).toEqual([cell, false]);
      expect(gpu?.values.get("tts_gpu_temperature_celsius")).toBe(40);
    }
  });

  it("a board name with a comma, CRLF line ends and blank lines", () => {
    const text =
      "0, NVIDIA RTX A6000, Ada Generation, GPU-11111111-2222-3333-4444-555555555555, 5, 1, 33, 1, 49140, 20.1, 300.00, 30, 210\r\n\r\n";
    const [gpu] = parseNvidiaSmi(text);
    expect(gpu?.name).toBe("NVIDIA RTX A6000, Ada Generation");
    expect(gpu?.values.get("tts_gpu_fan_speed_percent")).toBe(30);
  });

  it("MIG devices keep their MIG- uuid", () => {
    const [gpu] = parseNvidiaSmi(
      "0, NVIDIA A100-SXM4-40GB MIG 1g.5gb, MIG-3f1b5da4-6c8e-4a01-95f9-ae4b2a7c6db3, [N/A], [N/A], 35, 13, 4864, [N/A], [N/A], [N/A], 1410",
    );
    expect(gpu?.uuid).toMatch(/^MIG-/);
    expect([...(gpu?.values.keys() ?? [])].sort()).toEqual([
      "tts_gpu_memory_total_bytes",
      "tts_gpu_memory_usage_ratio",
      "tts_gpu_memory_used_bytes",
      "tts_gpu_sm_clock_hertz",
      "tts_gpu_temperature_celsius",
    ]);
  });
});

describe("what real drivers print besides the plain rows", () => {
  it("a warning line before the rows (infoROM) is a message, not a failure", () => {
    const { gpus, messages } = parseNvidiaSmiOutput(
      `WARNING: infoROM is corrupted at gpu 0000:02:00.0\n${fixture("a100x4.csv")}`,
    );
    expect(messages).toEqual(["WARNING: infoROM is corrupted at gpu 0000:02:00.0"]);
    expect(gpus).toHaveLength(4);
  });

  it("a GPU that cannot report its uuid keeps its index, with an empty uuid label", () => {
    const [gpu] = parseNvidiaSmi(
      "0, NVIDIA A100-PCIE-40GB, [GPU requires reset], [GPU requires reset], [GPU requires reset], [GPU requires reset], [GPU requires reset], [GPU requires reset], [GPU requires reset], [GPU requires reset], [GPU requires reset], [GPU requires reset]",
    );
    expect(gpu).toMatchObject({ index: "0", name: "NVIDIA A100-PCIE-40GB", uuid: "" });
    expect(gpu?.values.size).toBe(0);
  });

  it("the field that a driver rejects, as nvidia-smi words it on Linux and on Windows", () => {
    expect(rejectedField('Field "clocks.sm" is not a valid field to query.\n\n')).toBe("clocks.sm");
    expect(rejectedField("Field “encoder.stats.sessionCount” is not a valid field to query.")).toBe(
      "encoder.stats.sessionCount",
    );
    expect(rejectedField("NVIDIA-SMI has failed because it couldn't communicate")).toBeUndefined();
  });

  it("several fields for one metric: the first with a value wins (power.draw, then the newer readings)", () => {
    const fields = [...GPU_FIELDS, ...POWER_FALLBACK_FIELDS];
    const row = (draw: string, average: string, instant: string) =>
      `0, NVIDIA H100 80GB HBM3, GPU-7c1e2f4a-9b3d-4e5f-8a6b-1c2d3e4f5a6b, 1, 0, 36, 13, 81559, ${draw}, 700.00, [N/A], 1980, ${average}, ${instant}`;
    const power = (text: string) => parseNvidiaSmi(text, fields)[0]?.values.get("tts_gpu_power_draw_watts");
    expect(power(row("312.84", "300.00", "320.11"))).toBe(312.84);
    expect(power(row("[N/A]", "300.00", "320.11"))).toBe(300);
    expect(power(row("[N/A]", "[N/A]", "71.35"))).toBe(71.35);
    expect(power(row("[N/A]", "[N/A]", "[N/A]"))).toBeUndefined();
  });
});

describe("parseNvidiaSmi rejects anything else", () => {
  const reject = (text: string, message: RegExp) => {
    expect(() => parseNvidiaSmi(text)).toThrow(NvidiaSmiOutputError);
    expect(() => parseNvidiaSmi(text)).toThrow(message);
  };

  it("the garbage fixture", () =>
    reject(fixture("garbage.txt"), /unexpected nvidia-smi output, line 3: 4 fields instead of 12/));
  it("messages only, no data row", () =>
    reject("No devices were found\n", /line 1: no GPU data row: "No devices were found"/));
  it("a hexadecimal or otherwise non-decimal number", () =>
    reject(fixture("rtx3090.csv").replace(" 54,", " 0x36,"), /temperature.gpu = "0x36"/));
  it("nothing at all", () => reject("\n \n", /printed nothing/));
  it("the default table instead of CSV", () =>
    reject(
      "+-----------------------------------------------------------------------------+\n| NVIDIA-SMI 535.54.03",
      /line 1/,
    ));
  it("a header line (csv without noheader) is set aside, the rows still parse", () => {
    const { gpus, messages } = parseNvidiaSmiOutput(
      `${GPU_FIELDS.map((f) => f.field).join(", ")}\n${fixture("rtx3090.csv")}`,
    );
    expect(messages).toEqual([GPU_FIELDS.map((f) => f.field).join(", ")]);
    expect(gpus.map((g) => g.values.get("tts_gpu_usage_percent"))).toEqual([37]);
  });
  it("units left in (csv without nounits)", () =>
    reject(
      "0, NVIDIA GeForce RTX 3090, GPU-5a3c9f1e-7b2d-4c8a-9e61-0f4d2b8c7a13, 37 %, 12 %, 54, 3821 MiB, 24576 MiB, 112.45 W, 350.00 W, 41 %, 1695 MHz",
      /utilization.gpu = "37 %"/,
    ));
  it("a bad uuid", () => reject(fixture("rtx3090.csv").replace("GPU-5a3c", "XYZ-5a3c"), /uuid/));
  it("a good line followed by a truncated one rejects the whole output", () =>
    reject(`${fixture("rtx3090.csv")}1, NVIDIA GeForce RTX 3090, GPU-`, /line 2/));
  it("a non-numeric value", () =>
    reject(fixture("rtx3090.csv").replace(" 54,", " hot,"), /temperature.gpu = "hot"/));

  it("fuzz: random mutations of a fixture either parse to finite values or throw NvidiaSmiOutputError", () => {
    const base = fixture("a100x4.csv");
    const alphabet = ", \n[]N/A-.0123456789eE+xGPU";
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let parsed = 0;
    let rejected = 0;
    for (let round = 0; round < 2000; round++) {
      const chars = [...base];
      for (let k = 0, n = 1 + rand(4); k < n; k++) {
        const at = rand(chars.length);
        const op = rand(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rand(alphabet.length)] ?? "");
        else chars[at] = alphabet[rand(alphabet.length)] ?? "";
      }
      try {
        for (const g of parseNvidiaSmi(chars.join(""))) {
          for (const v of g.values.values()) expect(Number.isFinite(v)).toBe(true);
        }
        parsed++;
      } catch (err) {
        expect(err).toBeInstanceOf(NvidiaSmiOutputError);
        rejected++;
      }
    }
    expect(parsed).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
