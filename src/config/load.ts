import { readFileSync } from "node:fs";
import type { z } from "zod";
import { jsonErrorOffset } from "./json-error.ts";
import { type Config, configSchema } from "./schema.ts";

export interface ConfigProblem {
  /** JSON path, e.g. "$.thresholds.gpu_temp_max". */
  readonly path: string;
  readonly expected: string;
  readonly got: string;
}

/** Invalid configuration: names the file, and for each problem the JSON path, what was expected and what was found. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
    options?: ErrorOptions,
  ) {
    super(
      `invalid configuration in ${file}:\n${problems.map((p) => `  ${p.path}: expected ${p.expected}, got ${p.got}`).join("\n")}`,
      options,
    );
  }
}

export function jsonPath(path: readonly PropertyKey[]): string {
  let out = "$";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** Keys whose values are secrets (webhook URLs, passwords, tokens): never echoed in an error message. */
const SECRET_KEY = /webhook|password|passwd|secret|token|api_?key|credential/i;

function isSecretPath(path: readonly PropertyKey[]): boolean {
  return path.some((key) => typeof key === "string" && SECRET_KEY.test(key));
}

/** Values that are secrets wherever they are: webhook URLs, URLs with credentials. */
const SECRET_VALUE = /hooks\.slack\.com|^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i;

/**
 * describeValue, except that a string that may be a secret is described without its text: under a
 * secret-looking key, one that looks like a webhook, or under an unknown key (a misspelt
 * "slack_webhok" holds the webhook all the same).
 */
function describeAt(value: unknown, path: readonly PropertyKey[], unknownKey = false): string {
  if (typeof value === "string" && (unknownKey || isSecretPath(path) || SECRET_VALUE.test(value)))
    return `string (${value.length} characters, not shown: may be a secret)`;
  return describeValue(value);
}

export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing (missing)";
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") return "an object";
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.expected;
    case "too_small":
      return `${issue.origin === "array" ? "at least" : issue.inclusive ? "≥" : ">"} ${issue.minimum}${issue.origin === "array" ? " item(s)" : issue.origin === "string" ? " character(s)" : ""}`;
    case "too_big":
      return `${issue.origin === "array" ? "at most" : issue.inclusive ? "≤" : "<"} ${issue.maximum}${issue.origin === "array" ? " item(s)" : issue.origin === "string" ? " character(s)" : ""}`;
    case "invalid_value":
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union":
      return "one of the allowed shapes";
    case "invalid_format":
      return issue.message.replace(/^Invalid /, "a valid ");
    default:
      return issue.message;
  }
}

/** Turns schema issues into problems with a path, an expectation and the value found. */
export function toProblems(error: z.ZodError, input: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        problems.push({
          path: jsonPath([...issue.path, key]),
          expected: "no such key (unknown key; check the spelling against SPEC §4)",
          got: describeAt(valueAt(input, [...issue.path, key]), [...issue.path, key], true),
        });
      }
      continue;
    }
    if (issue.code === "invalid_union" && issue.discriminator !== undefined) {
      // zod 4 already ends the path with the discriminator key ("type"); older versions did not.
      const path =
        issue.path.at(-1) === issue.discriminator ? issue.path : [...issue.path, issue.discriminator];
      problems.push({
        path: jsonPath(path),
        expected: `an engine type: embedded, command, openai, coqui, piper, marytts or wyoming`,
        got: describeValue(valueAt(input, path)),
      });
      continue;
    }
    problems.push({
      path: jsonPath(issue.path),
      expected: expectation(issue),
      got: describeAt(valueAt(input, issue.path), issue.path),
    });
  }
  return problems;
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, position);
  const line = before.split("\n").length;
  const column = position - before.lastIndexOf("\n");
  return { line, column };
}

/** JSON.parse with an error that names the line and column of the mistake. */
export function parseJsonWithPosition(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // V8 gives no position for some mistakes (a trailing comma in an array, a bare word): find it.
    const fromMessage = /position (\d+)/.exec(message)?.[1];
    const p = jsonErrorOffset(text) ?? (fromMessage === undefined ? undefined : Number(fromMessage));
    let where = "";
    let got = message;
    if (p !== undefined) {
      const { line, column } = lineAndColumn(text, p);
      where = ` (line ${line}, column ${column})`;
      got = `${p >= text.length ? "end of file" : JSON.stringify(text.slice(p, p + 12))} — ${message}`;
    }
    throw new ConfigError(file, [{ path: `$${where}`, expected: "valid JSON", got }], {
      cause: err,
    });
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Applies the seed's environment overrides: TTS_MONITOR_EMAIL and TTS_MONITOR_SLACK_WEBHOOK. */
export function applyEnvOverrides(config: Config, env: Env): Config {
  const email = env.TTS_MONITOR_EMAIL?.trim();
  const slack = env.TTS_MONITOR_SLACK_WEBHOOK?.trim();
  return {
    ...config,
    alerts: {
      ...config.alerts,
      ...(email ? { email_to: email } : {}),
      ...(slack ? { slack_webhook: slack } : {}),
    },
  };
}

/** Validates an already parsed object; `file` is used in messages only. */
export function parseConfig(input: unknown, file: string, env: Env = {}): Config {
  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigError(file, toProblems(result.error, input));
  return applyEnvOverrides(result.data, env);
}

export function loadConfig(file: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unknown error";
    throw new ConfigError(file, [{ path: "$", expected: "a readable JSON file", got: code }], { cause: err });
  }
  // Editors on Windows may save a byte order mark, which JSON.parse rejects.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return parseConfig(parseJsonWithPosition(text, file), file, env);
}

/** Config for logs and the terminal: secrets replaced, so nothing secret can leak through printing it. */
export function redactConfig(config: Config): Config {
  return {
    ...config,
    alerts: {
      ...config.alerts,
      ...(config.alerts.slack_webhook ? { slack_webhook: "<redacted>" } : {}),
    },
  };
}
