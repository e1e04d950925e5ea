import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { jsonErrorOffset } from "../../src/config/json-error.ts";
import { ConfigError, loadConfig, parseConfig, redactConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { tempDir } from "../helpers/exporter.ts";
import { REPO_ROOT } from "../helpers/tools.ts";

/** Writes `text` as a config file and returns the ConfigError that loading it throws. */
function errorFor(text: string, env: Record<string, string> = {}): ConfigError {
  const file = join(tempDir(), "config.json");
  writeFileSync(file, text);
  try {
    loadConfig(file, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    // Every message names the file it is about.
    expect(e.message).toContain(file);
    expect(e.file).toBe(file);
    return e;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

describe("config: the shipped file", () => {
  it("config/config.json loads and probes only the embedded engine", () => {
    const config = loadConfig(join(REPO_ROOT, "config/config.json"), {});
    expect(config.engines.map((e) => [e.name, e.type])).toEqual([["embedded", "embedded"]]);
    expect(config.thresholds).toEqual({
      latency_max_ms: 500,
      gpu_temp_max: 85,
      memory_usage_max: 90,
      quality_score_min: 0.8,
      cache_hit_rate_min: 0.7,
      stall_max_ms: 1000,
    });
  });

  // The example is kept as a fixture, so a clean clone without the team's shared folder runs this;
  // where the SPEC sits beside the repository (../shared/SPEC.md), the fixture must still equal it.
  const example = readFileSync(join(REPO_ROOT, "tests/fixtures/spec-config-example.json"), "utf8");
  const specPath = join(REPO_ROOT, "../shared/SPEC.md");
  it.runIf(existsSync(specPath))("the fixture is SPEC §4's example, unchanged", () => {
    const spec = readFileSync(specPath, "utf8");
    expect(/## 4\. Configuration[\s\S]*?```json\n([\s\S]*?)```/.exec(spec)?.[1]).toBe(example);
  });

  it("the full example of SPEC §4 is accepted", () => {
    // Its email_notifications: true takes the recipient from TTS_MONITOR_EMAIL (SPEC §4's override).
    const config = parseConfig(JSON.parse(example), "SPEC.md", { TTS_MONITOR_EMAIL: "oncall@example.org" });
    expect(config.engines.map((e) => e.type)).toEqual(["embedded", "openai", "command"]);
    // Without any recipient, email on is refused at start rather than silently sending nothing.
    expect(() => parseConfig(JSON.parse(example), "SPEC.md", {})).toThrow(
      /\$\.alerts\.email_to: expected a recipient/,
    );
  });
});

describe("config errors name the file, the JSON path, what was expected and what was found", () => {
  it("malformed JSON: a trailing comma in an object, with line and column", () => {
    const e = errorFor('{\n  "monitoring": {\n    "interval_seconds": 1,\n  }\n}\n');
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]?.path).toBe("$ (line 4, column 3)");
    expect(e.problems[0]?.expected).toBe("valid JSON");
    expect(e.problems[0]?.got).toMatch(/^"}\\n}\\n"/);
  });

  it("malformed JSON: a trailing comma in an array, which V8 reports without a position", () => {
    const e = errorFor('{\n  "probes": {\n    "texts": ["a", "b",]\n  }\n}\n');
    expect(e.problems[0]?.path).toBe("$ (line 3, column 24)");
    expect(e.problems[0]?.got).toMatch(/^"]/);
  });

  it("malformed JSON: a bare word, a misspelt literal, a cut file", () => {
    expect(errorFor('{\n  "monitoring": { "interval_seconds": one }\n}').problems[0]?.path).toBe(
      "$ (line 2, column 39)",
    );
    expect(errorFor('{"alerts": {"dashboard_alerts": tru}}').problems[0]?.path).toBe("$ (line 1, column 36)");
    const cut = errorFor('{\n  "monitoring": {');
    expect(cut.problems[0]?.path).toBe("$ (line 2, column 18)");
    expect(cut.problems[0]?.got).toMatch(/^end of file/);
    expect(errorFor("").problems[0]?.got).toMatch(/^end of file/);
  });

  it("the JSON error finder agrees with JSON.parse on valid and invalid texts", () => {
    const valid = ['{"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"]}', " [ ] ", '"s"', "0", '{"a":{"b":{}}}'];
    for (const t of valid) expect([t, jsonErrorOffset(t)]).toEqual([t, undefined]);
    const invalid: Array<[string, number]> = [
      ["[1,2,]", 5],
      ['{"a":1}}', 7],
      ['{"a" 1}', 5],
      ['"abc', 4],
      ['{"a":01}', 6],
      ['{"a":"\\q"}', 7],
      ['{"a":"x\ny"}', 7],
      ["{'a':1}", 1],
      ["[1 2]", 3],
    ];
    for (const [t, at] of invalid) {
      expect(() => JSON.parse(t)).toThrow();
      expect([t, jsonErrorOffset(t)]).toEqual([t, at]);
    }
  });

  it("a byte order mark before the JSON is accepted", () => {
    const file = join(tempDir(), "config.json");
    writeFileSync(file, `\ufeff${json({ monitoring: { interval_seconds: 2 } })}`);
    expect(loadConfig(file, {}).monitoring.interval_seconds).toBe(2);
  });

  it("wrong type", () => {
    const e = errorFor(json({ monitoring: { interval_seconds: "1" } }));
    expect(e.problems).toEqual([
      { path: "$.monitoring.interval_seconds", expected: "number", got: 'string "1"' },
    ]);
    expect(e.message).toContain('$.monitoring.interval_seconds: expected number, got string "1"');
    const arr = errorFor(json({ engines: { name: "x" } }));
    expect(arr.problems).toEqual([{ path: "$.engines", expected: "array", got: "an object" }]);
  });

  it("unknown engine type", () => {
    const e = errorFor(
      json({
        engines: [
          { name: "a", type: "embedded" },
          { name: "b", type: "festival" },
        ],
      }),
    );
    expect(e.problems).toEqual([
      {
        path: "$.engines[1].type",
        expected: "an engine type: embedded, command, openai, coqui, piper, marytts or wyoming",
        got: 'string "festival"',
      },
    ]);
    const missing = errorFor(json({ engines: [{ name: "a" }] }));
    expect(missing.problems[0]?.path).toBe("$.engines[0].type");
    expect(missing.problems[0]?.got).toBe("nothing (missing)");
  });

  it("a key the engine type requires is missing", () => {
    const e = errorFor(json({ engines: [{ name: "k", type: "openai" }] }));
    expect(e.problems).toEqual([{ path: "$.engines[0].url", expected: "string", got: "nothing (missing)" }]);
  });

  it("thresholds out of range, every one reported", () => {
    const e = errorFor(
      json({
        thresholds: {
          gpu_temp_max: 500,
          quality_score_min: 1.5,
          cache_hit_rate_min: -0.1,
          memory_usage_max: 0,
        },
      }),
    );
    expect(e.problems).toEqual(
      expect.arrayContaining([
        { path: "$.thresholds.gpu_temp_max", expected: "≤ 120", got: "number 500" },
        { path: "$.thresholds.quality_score_min", expected: "≤ 1", got: "number 1.5" },
        { path: "$.thresholds.cache_hit_rate_min", expected: "≥ 0", got: "number -0.1" },
        { path: "$.thresholds.memory_usage_max", expected: "> 0", got: "number 0" },
      ]),
    );
    expect(e.problems).toHaveLength(4);
  });

  it("unknown keys are reported, not ignored, at every level", () => {
    const e = errorFor(
      json({
        monitorin: { interval_seconds: 1 },
        thresholds: { latency_max: 300 },
        engines: [{ name: "e", type: "embedded", url: "http://127.0.0.1:1" }],
      }),
    );
    const byPath = Object.fromEntries(e.problems.map((p) => [p.path, p]));
    expect(Object.keys(byPath).sort()).toEqual([
      "$.engines[0].url",
      "$.monitorin",
      "$.thresholds.latency_max",
    ]);
    expect(byPath["$.thresholds.latency_max"]?.expected).toBe(
      'no such key (unknown key, did you mean "latency_max_ms"?; allowed here: latency_max_ms, gpu_temp_max, memory_usage_max, quality_score_min, cache_hit_rate_min, stall_max_ms)',
    );
    expect(byPath["$.thresholds.latency_max"]?.got).toBe("number 300");
    expect(byPath["$.monitorin"]?.got).toBe("an object");
    expect(byPath["$.monitorin"]?.expected).toMatch(/did you mean "monitoring"\?/);
    // The engine's own keys (embedded: no url), picked by its type.
    expect(byPath["$.engines[0].url"]?.expected).toBe(
      "no such key (unknown key; allowed here: name, enabled, timeout_seconds, probe_concurrency, voice, process, auth_header, type)",
    );
  });

  it("a missing file", () => {
    const file = join(tempDir(), "nope.json");
    expect(() => loadConfig(file, {})).toThrow(ConfigError);
    expect(() => loadConfig(file, {})).toThrow(
      `invalid configuration in ${file}:\n  $: expected a readable JSON file, got no such file (ENOENT)`,
    );
    const dir = tempDir();
    expect(() => loadConfig(dir, {})).toThrow(
      `invalid configuration in ${dir}:\n  $: expected a readable JSON file, got a directory, not a regular file`,
    );
  });

  it("a file saved as UTF-16 or in another encoding than UTF-8", () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"monitoring":{}}', "utf16le")]);
    const file = join(tempDir(), "config.json");
    writeFileSync(file, utf16);
    expect(() => loadConfig(file, {})).toThrow(
      "$: expected a JSON file in UTF-8, got UTF-16 text (byte order mark FF FE): save it as UTF-8",
    );
    writeFileSync(file, Buffer.from('{\n  "probes": { "texts": ["caf\xe9"] }\n}\n', "latin1"));
    expect(() => loadConfig(file, {})).toThrow(
      "$ (line 2, column 29): expected a JSON file in UTF-8, got bytes that are not UTF-8",
    );
  });

  it("a number too large for a double is named as such, not as null", () => {
    const e = errorFor('{"monitoring": {"interval_seconds": 1e400}}');
    expect(e.problems).toEqual([
      { path: "$.monitoring.interval_seconds", expected: "number", got: "number too large (Infinity)" },
    ]);
  });

  it("a collector interval or timeout too small to be sane", () => {
    const e = errorFor(json({ monitoring: { interval_seconds: 0.001, collector_timeout_seconds: 0 } }));
    expect(e.problems).toEqual([
      { path: "$.monitoring.interval_seconds", expected: "≥ 0.1", got: "number 0.001" },
      { path: "$.monitoring.collector_timeout_seconds", expected: "≥ 0.1", got: "number 0" },
    ]);
  });

  it("a listen address with a port above 65535", () => {
    const e = errorFor(json({ server: { listen_address: "127.0.0.1:99999" } }));
    expect(e.problems).toEqual([
      {
        path: "$.server.listen_address",
        expected: "host:port with a port from 0 to 65535",
        got: 'string "127.0.0.1:99999"',
      },
    ]);
  });

  it("a Slack webhook that is not an http(s) URL, an email address that is not one", () => {
    const e = errorFor(
      json({ alerts: { slack_webhook: "hooks.slack.com/services/T0SECRET", email_to: "oncall" } }),
    );
    expect(e.problems).toEqual([
      {
        path: "$.alerts.slack_webhook",
        expected: "an http(s) URL (a Slack incoming webhook)",
        got: "string (33 characters, not shown: may be a secret)",
      },
      {
        path: "$.alerts.email_to",
        expected: "an email address, or several separated by commas",
        got: 'string "oncall"',
      },
    ]);
    expect(e.message).not.toContain("T0SECRET");
    const ok = parseConfig({ alerts: { email_to: "a@example.org, Ops Team <ops@example.org>" } }, "c.json");
    expect(ok.alerts.email_to).toBe("a@example.org, Ops Team <ops@example.org>");
  });

  it("a secret in a misspelt key is not echoed in the error", () => {
    const secret = "https://hooks.slack.com/services/T0SECRET/B0SECRET/abcdefghijklmnopqrstuvwx";
    const e = errorFor(json({ alerts: { slack_webhok: secret } }));
    expect(e.problems[0]?.path).toBe("$.alerts.slack_webhok");
    expect(e.problems[0]?.got).toBe(`string (${secret.length} characters, not shown: may be a secret)`);
    expect(e.message).not.toContain("T0SECRET");
    expect(e.message).not.toContain("hooks.slack.com");
    // A wrong type under a known secret key, and a webhook-looking value under any key.
    const typed = errorFor(json({ alerts: { slack_webhook: 42 } }));
    expect(typed.problems[0]).toEqual({
      path: "$.alerts.slack_webhook",
      expected: "string",
      got: "number 42",
    });
    const elsewhere = errorFor(json({ probes: { timeout_seconds: secret } }));
    expect(elsewhere.problems[0]?.path).toBe("$.probes.timeout_seconds");
    expect(elsewhere.problems[0]?.got).toMatch(/^string \(75 characters, not shown/);
    expect(elsewhere.message).not.toContain("T0SECRET");
  });
});

describe("environment overrides", () => {
  it("TTS_MONITOR_EMAIL and TTS_MONITOR_SLACK_WEBHOOK override the file", () => {
    const config = parseConfig(
      {
        alerts: {
          email_notifications: true,
          email_to: "file@example.org",
          slack_webhook: "https://file.example/x",
        },
      },
      "config.json",
      {
        TTS_MONITOR_EMAIL: "oncall@example.org",
        TTS_MONITOR_SLACK_WEBHOOK: "https://hooks.slack.com/services/ENV",
      },
    );
    expect(config.alerts.email_to).toBe("oncall@example.org");
    expect(config.alerts.slack_webhook).toBe("https://hooks.slack.com/services/ENV");
  });

  it("empty or unset variables leave the file's values", () => {
    const file = { alerts: { email_to: "file@example.org", slack_webhook: "https://file.example/x" } };
    for (const env of [{}, { TTS_MONITOR_EMAIL: "", TTS_MONITOR_SLACK_WEBHOOK: "  " }]) {
      const config = parseConfig(file, "config.json", env);
      expect(config.alerts.email_to).toBe("file@example.org");
      expect(config.alerts.slack_webhook).toBe("https://file.example/x");
    }
  });

  it("a bad value from the environment is refused like a bad value in the file, naming the variable", () => {
    const e = errorFor(json({}), {
      TTS_MONITOR_SLACK_WEBHOOK: "T0SECRET-not-a-url",
      TTS_MONITOR_EMAIL: "nobody",
    });
    expect(e.problems).toEqual([
      {
        path: "$.alerts.slack_webhook (from the environment variable TTS_MONITOR_SLACK_WEBHOOK)",
        expected: "an http(s) URL (a Slack incoming webhook)",
        got: "string (18 characters, not shown: may be a secret)",
      },
      {
        path: "$.alerts.email_to (from the environment variable TTS_MONITOR_EMAIL)",
        expected: "an email address, or several separated by commas",
        got: 'string "nobody"',
      },
    ]);
    expect(e.message).not.toContain("T0SECRET");
  });

  it("loadConfig applies them too", () => {
    const file = join(tempDir(), "config.json");
    writeFileSync(file, json({}));
    const config = loadConfig(file, { TTS_MONITOR_EMAIL: "a@example.org" });
    expect(config.alerts.email_to).toBe("a@example.org");
  });
});

describe("monitoring.host_root and TTS_MONITOR_HOST_ROOT", () => {
  const EXPECTED = "an existing directory, absolute (the host's / as the exporter sees it, e.g. /host)";

  it('defaults to "/"; an existing directory is accepted from the file', () => {
    expect(parseConfig({}, "config.json").monitoring.host_root).toBe("/");
    const dir = tempDir();
    expect(parseConfig({ monitoring: { host_root: dir } }, "config.json").monitoring.host_root).toBe(dir);
  });

  it("a directory that does not exist, a file, a relative path: refused, naming the path", () => {
    const dir = tempDir();
    const missing = join(dir, "no-such-host");
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    for (const [root, got] of [
      [missing, `"${missing}": no such directory`],
      [file, `"${file}": not a directory`],
      ["host", '"host": a relative path'],
    ] as const) {
      const e = errorFor(json({ monitoring: { host_root: root } }));
      expect(e.problems).toEqual([{ path: "$.monitoring.host_root", expected: EXPECTED, got }]);
      expect(e.message).toContain(root);
    }
  });

  it("the environment variable wins over the file, and a bad one is named", () => {
    const fromFile = tempDir();
    const fromEnv = tempDir();
    const config = parseConfig({ monitoring: { host_root: fromFile } }, "config.json", {
      TTS_MONITOR_HOST_ROOT: fromEnv,
    });
    expect(config.monitoring.host_root).toBe(fromEnv);
    // Other monitoring keys of the file are kept; an empty variable leaves the file's value.
    const kept = parseConfig({ monitoring: { host_root: fromFile, interval_seconds: 7 } }, "config.json", {
      TTS_MONITOR_HOST_ROOT: fromEnv,
    });
    expect(kept.monitoring.interval_seconds).toBe(7);
    expect(
      parseConfig({ monitoring: { host_root: fromFile } }, "config.json", { TTS_MONITOR_HOST_ROOT: " " })
        .monitoring.host_root,
    ).toBe(fromFile);
    const e = errorFor(json({}), { TTS_MONITOR_HOST_ROOT: "/no/such/host-root" });
    expect(e.problems).toEqual([
      {
        path: "$.monitoring.host_root (from the environment variable TTS_MONITOR_HOST_ROOT)",
        expected: EXPECTED,
        got: '"/no/such/host-root": no such directory',
      },
    ]);
  });

  it("a monitoring section that is not an object is reported as such, not hidden by the override", () => {
    const e = errorFor(json({ monitoring: 3 }), { TTS_MONITOR_HOST_ROOT: tempDir() });
    expect(e.problems.map((p) => p.path)).toEqual(["$.monitoring"]);
  });
});

describe("the Slack webhook never appears in logs", () => {
  const secret = "https://hooks.slack.com/services/T0SECRET/B0SECRET/ENVxxxxxxxxxxxxxxxxxxxxx";

  it("the monitor masks the webhook from the environment in every log line, whatever field carries it", async () => {
    const lines: string[] = [];
    const log = new Logger({ json: true, level: "debug", sink: { write: (l) => lines.push(l) } });
    const monitor = new TTSPerformanceMonitor({
      config: { monitoring: { collectors: { gpu: false, filesystem: false, disk: false, process: false } } },
      env: { TTS_MONITOR_SLACK_WEBHOOK: secret },
      logger: log,
      serve: false,
    });
    expect(monitor.config.alerts.slack_webhook).toBe(secret);
    log.error("notifier failed", {
      url: secret,
      error: new Error(`POST ${secret}: 404`),
      nested: { secret },
    });
    log.info(`sending to ${secret}`);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).not.toContain("T0SECRET");
      expect(line).toContain("<redacted>");
    }
    expect(JSON.stringify(redactConfig(monitor.config))).not.toContain("T0SECRET");
    await monitor.stop();
  });

  it("a secret holding a quote or a backslash is masked inside JSON log lines too", () => {
    const lines: string[] = [];
    const log = new Logger({ json: true, sink: { write: (l) => lines.push(l) } });
    const password = 'pa"ss\\wo\\rd-T0SECRET';
    log.addSecret(password);
    log.warn("smtp login failed", { detail: `password ${password} refused` });
    expect(lines.join("")).not.toContain("T0SECRET");
    expect(lines.join("")).toContain("password <redacted> refused");
  });

  it("the human-readable log format masks it too", () => {
    const lines: string[] = [];
    const log = new Logger({ json: false, sink: { write: (l) => lines.push(l) } });
    log.addSecret(secret);
    log.warn("x", { error: new Error(secret) });
    expect(lines.join("")).not.toContain("T0SECRET");
  });
});

describe("config: series lifetimes and ratio window (ingest.series_ttl_seconds, ingest.success_window_seconds)", () => {
  it("defaults are 600 s and 300 s, the values the shipped file spells out", () => {
    expect(parseConfig({}, "<test>", {}).ingest).toMatchObject({
      series_ttl_seconds: 600,
      success_window_seconds: 300,
    });
    expect(loadConfig(join(REPO_ROOT, "config/config.json"), {}).ingest).toMatchObject({
      series_ttl_seconds: 600,
      success_window_seconds: 300,
    });
  });

  it("a value out of range is an error naming its path", () => {
    for (const [key, bad] of [
      ["series_ttl_seconds", 0],
      ["series_ttl_seconds", 1.5],
      ["success_window_seconds", 86_401],
    ] as const) {
      const e = errorFor(JSON.stringify({ ingest: { [key]: bad } }));
      expect(e.problems.map((p) => p.path)).toEqual([`$.ingest.${key}`]);
    }
  });
});
