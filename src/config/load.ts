import { isUtf8 } from "node:buffer";
import type { z } from "zod";
import { editDistance } from "../util/edit-distance.ts";
import { readRegularFile } from "../util/files.ts";

const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

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
  // JSON.parse turns 1e400 into Infinity, which JSON.stringify would show as null.
  if (typeof value === "number" && !Number.isFinite(value)) return `number too large (${value})`;
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

interface ZodDefLike {
  readonly type?: string;
  readonly shape?: Record<string, { _zod: { def: ZodDefLike } }>;
  readonly innerType?: { _zod: { def: ZodDefLike } };
  readonly in?: { _zod: { def: ZodDefLike } };
  readonly element?: { _zod: { def: ZodDefLike } };
  readonly valueType?: { _zod: { def: ZodDefLike } };
  readonly options?: ReadonlyArray<{ _zod: { def: ZodDefLike } }>;
  readonly values?: readonly unknown[];
}

/**
 * The keys the schema accepts in the object at `path` (for "unknown key" messages), following
 * defaults, pipes, arrays, records and the engine union (picked by the input's `type`); undefined
 * when the schema cannot say.
 */
function allowedKeys(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): string[] | undefined {
  let def = (schema as unknown as { _zod: { def: ZodDefLike } })._zod.def;
  let value: unknown = input;
  const unwrap = () => {
    for (;;) {
      if (def.innerType) def = def.innerType._zod.def;
      else if (def.type === "pipe" && def.in) def = def.in._zod.def;
      else if (def.type === "union" && def.options) {
        const type = (value as { type?: unknown } | undefined)?.type;
        const match = def.options.find((o) => o._zod.def.shape?.type?._zod.def.values?.includes(type));
        if (!match) return;
        def = match._zod.def;
      } else return;
    }
  };
  for (const segment of path) {
    unwrap();
    if (def.type === "object" && def.shape && typeof segment === "string" && def.shape[segment]) {
      def = def.shape[segment]._zod.def;
    } else if (def.type === "array" && def.element) def = def.element._zod.def;
    else if (def.type === "record" && def.valueType) def = def.valueType._zod.def;
    else return undefined;
    value = (value as Record<PropertyKey, unknown> | undefined)?.[segment as never];
  }
  unwrap();
  return def.type === "object" && def.shape ? Object.keys(def.shape) : undefined;
}

/** "no such key": with the closest allowed key when one is a likely typo, and the allowed keys. */
function unknownKeyExpectation(key: string, allowed: readonly string[] | undefined): string {
  if (!allowed || allowed.length === 0) return "no such key (unknown key)";
  const close = allowed
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) }))
    .filter(({ k, d }) => d <= Math.max(2, Math.floor(k.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  return `no such key (unknown key${close ? `, did you mean "${close.k}"?` : ""}; allowed here: ${allowed.join(", ")})`;
}

/** Turns schema issues into problems with a path, an expectation and the value found. */
export function toProblems(error: z.ZodError, input: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        problems.push({
          path: jsonPath([...issue.path, key]),
          expected: unknownKeyExpectation(key, allowedKeys(configSchema, issue.path, input)),
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
    // A check that knows better than the value itself why it failed ("/x: no such directory") says so.
    const got = issue.code === "custom" ? (issue.params as { got?: unknown } | undefined)?.got : undefined;
    problems.push({
      path: jsonPath(issue.path),
      expected: expectation(issue),
      got: typeof got === "string" ? got : describeAt(valueAt(input, issue.path), issue.path),
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

/** The environment overrides: variable → the section and key it sets (the seed's two, and the host root). */
const ENV_OVERRIDES = [
  ["TTS_MONITOR_EMAIL", "alerts", "email_to"],
  ["TTS_MONITOR_SLACK_WEBHOOK", "alerts", "slack_webhook"],
  ["TTS_MONITOR_HOST_ROOT", "monitoring", "host_root"],
] as const;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Merges the environment overrides into the file's object before validation, so that a bad value
 * from the environment is refused like a bad value in the file. Returns which paths came from where.
 * A section that is not an object in the file is left alone, for the schema to report.
 */
function withEnvOverrides(input: unknown, env: Env): { merged: unknown; fromEnv: Map<string, string> } {
  const fromEnv = new Map<string, string>();
  if (!isPlainObject(input)) return { merged: input, fromEnv };
  const merged: Record<string, unknown> = { ...input };
  for (const [variable, section, key] of ENV_OVERRIDES) {
    const value = env[variable]?.trim();
    if (!value) continue;
    const current = merged[section];
    if (current !== undefined && !isPlainObject(current)) continue;
    merged[section] = { ...current, [key]: value };
    fromEnv.set(jsonPath([section, key]), variable);
  }
  return fromEnv.size === 0 ? { merged: input, fromEnv } : { merged, fromEnv };
}

/** Validates an already parsed object with the environment overrides; `file` is used in messages only. */
export function parseConfig(input: unknown, file: string, env: Env = {}): Config {
  const { merged, fromEnv } = withEnvOverrides(input, env);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = toProblems(result.error, merged).map((p) => {
      const variable = fromEnv.get(p.path);
      return variable === undefined
        ? p
        : { ...p, path: `${p.path} (from the environment variable ${variable})` };
    });
    throw new ConfigError(file, problems);
  }
  return result.data;
}

/** The config file's size limit: a config is a few kilobytes; anything near this is not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** A token or password file's size limit. */
const MAX_SECRET_BYTES = 64 * 1024;

/** The file's text, or a ConfigError saying why it cannot be read as UTF-8 JSON text. */
function readConfigText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readRegularFile(file, MAX_CONFIG_BYTES);
  } catch (err) {
    throw new ConfigError(
      file,
      [
        {
          path: "$",
          expected: "a readable JSON file",
          got: errorMessage(err),
        },
      ],
      { cause: err },
    );
  }
  const utf16 =
    bytes[0] === 0xff && bytes[1] === 0xfe ? "FF FE" : bytes[0] === 0xfe && bytes[1] === 0xff ? "FE FF" : "";
  if (utf16) {
    throw new ConfigError(file, [
      {
        path: "$",
        expected: "a JSON file in UTF-8",
        got: `UTF-16 text (byte order mark ${utf16}): save it as UTF-8`,
      },
    ]);
  }
  let text = bytes.toString("utf8");
  if (!isUtf8(bytes)) {
    const { line, column } = lineAndColumn(text, text.indexOf("\uFFFD"));
    throw new ConfigError(file, [
      {
        path: `$ (line ${line}, column ${column})`,
        expected: "a JSON file in UTF-8",
        got: "bytes that are not UTF-8 (a binary file, or another encoding such as Latin-1)",
      },
    ]);
  }
  // Editors on Windows may save a byte order mark, which JSON.parse rejects.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text;
}

/** Why a secret file gave no secret: unreadable (`problem` says why, e.g. "no such file (ENOENT)") or empty. */
export class SecretFileError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: ${problem}`, options);
    this.name = "SecretFileError";
  }
}

/**
 * The one reader of secrets kept in files (tokens, passwords, webhooks): the file's trimmed text.
 * Throws SecretFileError when the file cannot be read or holds nothing; the caller decides what
 * that means (a config key: a ConfigError, see readSecretFile; a notification channel: a log line
 * and the channel off). The secret itself is never in an error.
 */
export function readSecret(secretFile: string): string {
  let text: string;
  try {
    text = readRegularFile(secretFile, MAX_SECRET_BYTES).toString("utf8").trim();
  } catch (err) {
    throw new SecretFileError(secretFile, errorMessage(err), { cause: err });
  }
  if (text === "") throw new SecretFileError(secretFile, "an empty file");
  return text;
}

/**
 * A secret file that a config key names: its trimmed text (readSecret), or a ConfigError naming
 * the key (`path`) and why the file gives no secret.
 */
export function readSecretFile(secretFile: string, path: string, configFile: string): string {
  try {
    return readSecret(secretFile);
  } catch (err) {
    if (!(err instanceof SecretFileError)) throw err;
    const expected =
      err.problem === "an empty file" ? "a file holding the secret" : "a readable file holding the secret";
    throw new ConfigError(configFile, [{ path, expected, got: err.message }], { cause: err });
  }
}

export function loadConfig(file: string, env: Env = process.env): Config {
  const text = readConfigText(file);
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
