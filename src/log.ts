// A small structured logger: JSON lines for containers (--prometheus-export or no TTY), readable
// lines for people. Registered secrets are masked in every line, whatever field carries them.

export type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface LogSink {
  write(line: string): void;
}

export class Logger {
  #secrets = new Set<string>();
  #sink: LogSink;
  #json: boolean;
  #min: Level;
  #once = new Set<string>();

  constructor(options: { json: boolean; level?: Level; sink?: LogSink }) {
    this.#json = options.json;
    this.#min = options.level ?? "info";
    this.#sink = options.sink ?? { write: (line) => process.stderr.write(line) };
  }

  /** Masks this value in every later log line (webhook URLs, passwords, API keys), and in clip(). */
  addSecret(value: string | undefined): void {
    if (value && value.length >= 4) {
      this.#secrets.add(value);
      processSecrets.add(value);
    }
  }

  setSink(sink: LogSink): void {
    this.#sink = sink;
  }

  #mask(text: string): string {
    let out = text;
    for (const s of this.#secrets) {
      out = out.split(s).join("<redacted>");
      // Inside a JSON line a secret holding a quote, a backslash or a control character is escaped.
      const escaped = JSON.stringify(s).slice(1, -1);
      if (escaped !== s) out = out.split(escaped).join("<redacted>");
    }
    return out;
  }

  log(level: Level, msg: string, fields: Fields = {}): void {
    if (order[level] < order[this.#min]) return;
    const time = new Date().toISOString();
    let line: string;
    if (this.#json) {
      line = JSON.stringify({ time, level, msg, ...fields }, (_k, v: unknown) =>
        v instanceof Error ? { name: v.name, message: v.message } : v,
      );
    } else {
      const extra = Object.entries(fields)
        .map(([k, v]) => `${k}=${v instanceof Error ? JSON.stringify(v.message) : JSON.stringify(v)}`)
        .join(" ");
      line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}${extra ? ` ${extra}` : ""}`;
    }
    this.#sink.write(`${this.#mask(line)}\n`);
  }

  debug(msg: string, fields?: Fields): void {
    this.log("debug", msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.log("info", msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.log("warn", msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.log("error", msg, fields);
  }

  /** Logs a line only the first time `key` is seen (e.g. "no nvidia-smi"), so a failing collector does not flood. */
  once(key: string, level: Level, msg: string, fields?: Fields): void {
    if (this.#once.has(key)) return;
    this.#once.add(key);
    this.log(level, msg, fields);
  }

  /** Forgets a once-key, so the next occurrence is logged again (after a recovery). */
  reset(key: string): void {
    this.#once.delete(key);
  }
}

/**
 * Every secret any logger of this process was given. Text is cut short in many places (an engine's
 * error body, a command's stderr) before it reaches a log line; a secret cut in half would no
 * longer match the logger's mask, so clip() masks first and cuts after.
 */
const processSecrets = new Set<string>();

/** The text with every known secret replaced by <redacted>. */
export function maskSecrets(text: string): string {
  let out = text;
  for (const s of processSecrets) if (out.includes(s)) out = out.split(s).join("<redacted>");
  return out;
}

/** The first `max` characters of the text, secrets masked before the cut. */
export function clip(text: string, max: number): string {
  let longest = 0;
  for (const s of processSecrets) longest = Math.max(longest, s.length);
  // Every secret that starts before the cut lies whole in this window.
  return maskSecrets(text.slice(0, max + longest)).slice(0, max);
}

/** clip() for bytes (UTF-8): the window is wide enough for a secret of 4-byte characters. */
export function clipBytes(bytes: Uint8Array, max: number): string {
  let longest = 0;
  for (const s of processSecrets) longest = Math.max(longest, Buffer.byteLength(s));
  return clip(Buffer.from(bytes.subarray(0, (max + longest) * 4)).toString("utf8"), max);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  }
  return String(err);
}
