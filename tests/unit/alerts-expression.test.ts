import { describe, expect, it } from "vitest";
import { AlertExpressionError, parseCondition } from "../../src/alerts/expression.ts";
import { parseConfig } from "../../src/config/load.ts";

describe("alert condition language", () => {
  it("parses the issue's examples", () => {
    expect(parseCondition("latency > 300")).toEqual({
      source: "latency > 300",
      metric: "latency",
      op: ">",
      threshold: 300,
      forMs: 0,
    });
    expect(parseCondition("gpu_temp >= 85")).toMatchObject({ metric: "gpu_temp", op: ">=", threshold: 85 });
    expect(parseCondition("quality < 0.8")).toMatchObject({ metric: "quality", op: "<", threshold: 0.8 });
    expect(parseCondition("cache_hit_rate < 0.7")).toMatchObject({
      metric: "cache_hit_rate",
      threshold: 0.7,
    });
  });

  it("takes `for`, a per-engine or per-GPU selector and units", () => {
    expect(parseCondition('  latency{engine="kokoro"} > 0.3s for 30s ')).toEqual({
      source: 'latency{engine="kokoro"} > 0.3s for 30s',
      metric: "latency",
      selector: { label: "engine", value: "kokoro" },
      op: ">",
      threshold: 300,
      forMs: 30_000,
    });
    expect(parseCondition('gpu_temp{gpu="1"} > 80 for 5m')).toMatchObject({
      selector: { label: "gpu", value: "1" },
      forMs: 300_000,
    });
    expect(parseCondition("cache_hit_rate < 70%").threshold).toBeCloseTo(0.7);
    expect(parseCondition("memory > 90%").threshold).toBe(90);
    expect(parseCondition("ttfa > 250ms for 500ms").forMs).toBe(500);
    expect(parseCondition("latency_p95 != 1").op).toBe("!=");
  });

  it("takes what people type: single quotes, °C, ratios as percentages, compound durations, spacing", () => {
    expect(parseCondition("latency{engine='kokoro'} > 300").selector).toEqual({
      label: "engine",
      value: "kokoro",
    });
    expect(parseCondition('latency{engine="a\\"b"} > 300').selector?.value).toBe('a"b');
    expect(parseCondition("gpu_temp >= 85°C")).toMatchObject({ metric: "gpu_temp", threshold: 85 });
    expect(parseCondition("gpu_temp >= 85 °C for 30s")).toMatchObject({ threshold: 85, forMs: 30_000 });
    expect(parseCondition("gpu_temp >= 85℃").threshold).toBe(85);
    expect(parseCondition("quality < 80%").threshold).toBeCloseTo(0.8);
    expect(parseCondition("latency>300ms for 1m30s")).toMatchObject({ threshold: 300, forMs: 90_000 });
    expect(parseCondition("latency > 0.3 s for 1h").forMs).toBe(3_600_000);
    expect(parseCondition("latency_p95 > 1s\tfor 2d").forMs).toBe(172_800_000);
  });

  const cases: Array<[string, number, RegExp]> = [
    ["latncy > 300", 0, /unknown metric "latncy"/],
    ["latency >> 300", 9, /expected a number after >/],
    ["latency 300", 8, /expected a comparison/],
    ["latency > abc", 10, /expected a number/],
    ['latency{gpu="0"} > 1', 8, /expected the label engine/],
    ['memory{engine="x"} > 1', 7, /host metric and takes no selector/],
    ['latency{engine="x" > 1', 19, /expected } to close/],
    ["latency > 300 for ever", 18, /expected a duration/],
    ["latency > 300 and gpu_temp > 80", 14, /one comparison per condition/],
    ["quality < 0.8 s", 14, /not a time/],
    ["latency > 3 # x", 12, /unexpected character "#"/],
    ["", 0, /empty condition/],
    // A ratio compared with a percentage's number, a percentage above 100: always (or never) true.
    ["quality < 80", 10, /quality is a ratio between 0 and 1: write 0\.8 or 80%/],
    ["cache_hit_rate < 170%", 17, /between 0% and 100%/],
    ["memory > 150", 9, /memory is a percentage between 0 and 100/],
    ["latency > 300°C", 13, /latency is not a temperature/],
    ["gpu_temp > 85°F", 13, /temperatures are in °C/],
    [
      'latency engine="kokoro" > 300',
      8,
      /a selector goes in braces, as in PromQL: latency\{engine="\.\.\."\}/,
    ],
    ["latency > 300 or quality < 0.8", 14, /one comparison per condition/],
    ["latency > 300 OR quality < 0.8", 14, /one comparison per condition/],
    ["latency > 300 && quality < 0.8", 14, /one comparison per condition/],
    ["latency ≥ 300", 8, /write >= instead of ≥/],
    ["latency => 300", 8, /write >= instead of =>/],
    ["latency = 300", 8, /write == for equality/],
    ["Latency > 300", 0, /unknown metric "Latency" \(did you mean latency\?\)/],
    ["latency_ms > 300", 0, /did you mean latency\?/],
    ["gpu_temperature > 85", 0, /did you mean gpu_temp\?/],
    ["latency > 300 for30s", 14, /a space goes after for: for 30s/],
    ["latency > 300 for 2 minutes", 18, /got "2 minutes"/],
    ["latency > 1e999", 10, /number out of range/],
    ['latency{engine!="x"} > 1', 14, /only = is supported/],
    ["latency > 3,5", 11, /the decimal separator is \./],
  ];
  it.each(cases)("points at the mistake in %j", (text, position, reason) => {
    let err: unknown;
    try {
      parseCondition(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AlertExpressionError);
    const e = err as AlertExpressionError;
    expect(e.reason).toMatch(reason);
    expect(e.position).toBe(position);
    // The message shows the text with a caret under the column.
    const lines = e.message.split("\n");
    expect(lines[0]).toContain(`column ${position + 1}`);
    expect(lines[2]?.indexOf("^")).toBe(2 + position);
  });

  it("counts columns in characters: an emoji or a ° before the mistake is one column", () => {
    let err: AlertExpressionError | undefined;
    try {
      parseCondition('latency{engine="😀"} > 300 x');
    } catch (e) {
      err = e as AlertExpressionError;
    }
    // "😀" is two UTF-16 units: position (a string index) is one more than the column's offset.
    expect(err?.position).toBe(27);
    expect(err?.column).toBe(27);
    expect(err?.message).toContain("at column 27:");
    expect(err?.message.split("\n")[2]?.indexOf("^")).toBe(2 + 26);
    expect(() => parseCondition("latency > 300 😀")).toThrow(/unexpected character "😀" at column 15/);
  });

  it("a bad rule in the config is a config error with its JSON path and column", () => {
    expect(() => parseConfig({ alerts: { rules: ["latency > 300", "gpu_tmp > 85"] } }, "c.json")).toThrow(
      /\$\.alerts\.rules\[1\]: expected an alert condition .*column 1 of "gpu_tmp > 85": unknown metric "gpu_tmp"/,
    );
    expect(() =>
      parseConfig(
        { alerts: { rules: [{ condition: "latency > 300", action: "optimize_cache" }] } },
        "c.json",
      ),
    ).toThrow(/\$\.alerts\.rules\[0\]\.action: expected an action defined in alerts\.actions/);
    expect(() =>
      parseConfig({ alerts: { actions: { a: { url: "http://127.0.0.1/x", command: ["true"] } } } }, "c.json"),
    ).toThrow(/exactly one of url/);
    const ok = parseConfig(
      {
        alerts: {
          rules: [
            "latency > 300",
            { condition: "quality < 0.8 for 1m", action: "optimize_cache", notification: "slack" },
          ],
          actions: { optimize_cache: { url: "http://127.0.0.1:8880/admin/cache/optimize" } },
        },
      },
      "c.json",
    );
    expect(ok.alerts.actions.optimize_cache?.method).toBe("POST");
  });
});
