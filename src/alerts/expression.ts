// The in-process alert condition language (docs/alerting-in-process.md):
//
//   condition := metric [ "{" label "=" string "}" ] op number [ unit ] [ "for" duration ]
//
//   latency > 300                      any engine's last latency above 300 ms
//   latency{engine="kokoro"} > 0.3s    one engine only (the PromQL selector SREs already know)
//   gpu_temp >= 85°C for 30s           a GPU hotter than 85 °C for 30 s in a row
//   quality < 0.8                      (or 80%: ratios take a percentage too)
//
// Deliberately tiny: one comparison per rule, no arithmetic. Every mistake is reported with the
// column it was found at and a caret under the text, because conditions live in JSON strings where
// a misspelt word is otherwise hard to spot.

import { editDistance } from "../util/edit-distance.ts";

/** Which part of the current metrics a metric is read from; also the label a selector may use. */
export type Scope = "engine" | "gpu" | "host";

export interface MetricSpec {
  readonly scope: Scope;
  readonly unit: "ms" | "percent" | "ratio" | "celsius" | "none";
  readonly help: string;
}

export const ALERT_METRICS = {
  latency: { scope: "engine", unit: "ms", help: "last synthesis latency, ms" },
  latency_p50: { scope: "engine", unit: "ms", help: "median of the recent latencies, ms" },
  latency_p95: { scope: "engine", unit: "ms", help: "95th percentile of the recent latencies, ms" },
  latency_p95_5m: {
    scope: "engine",
    unit: "ms",
    help: "p95 latency over the last 5 minutes, interpolated within the tts_latency_seconds buckets as Prometheus' histogram_quantile does (TTSLatencyHigh), ms",
  },
  ttfa: { scope: "engine", unit: "ms", help: "time to first audio of the last probe, ms" },
  rtf: { scope: "engine", unit: "none", help: "real-time factor of the last request" },
  throughput: { scope: "engine", unit: "none", help: "characters per second of the last probe" },
  quality: { scope: "engine", unit: "ratio", help: "quality score 0-1 of the last analysed audio" },
  cache_hit_rate: { scope: "engine", unit: "ratio", help: "cache hit rate 0-1 over the window" },
  success_ratio: { scope: "engine", unit: "ratio", help: "share of successful requests 0-1" },
  probe_success: { scope: "engine", unit: "none", help: "1 when the last probe succeeded, else 0" },
  gpu_temp: { scope: "gpu", unit: "celsius", help: "GPU temperature, °C" },
  gpu_usage: { scope: "gpu", unit: "percent", help: "GPU utilisation, %" },
  gpu_memory: { scope: "gpu", unit: "percent", help: "GPU memory in use, %" },
  memory: { scope: "host", unit: "percent", help: "host RAM in use, %" },
  swap: { scope: "host", unit: "percent", help: "host swap in use, %" },
  cpu: { scope: "host", unit: "percent", help: "host CPU usage, %" },
} as const satisfies Record<string, MetricSpec>;

export type AlertMetric = keyof typeof ALERT_METRICS;
export type Comparison = ">" | ">=" | "<" | "<=" | "==" | "!=";

export interface Condition {
  /** The text as written (trimmed). */
  readonly source: string;
  readonly metric: AlertMetric;
  /** `engine` or `gpu` value the rule is restricted to; undefined: every series. */
  readonly selector?: { readonly label: "engine" | "gpu"; readonly value: string };
  readonly op: Comparison;
  /** In the metric's own unit (ms for times, % for percents) after unit conversion. */
  readonly threshold: number;
  /** How long the comparison must hold before the alert fires (0: at once). */
  readonly forMs: number;
}

/** A condition that does not parse: `position` is the 0-based offset of the mistake in `source`. */
export class AlertExpressionError extends Error {
  override readonly name = "AlertExpressionError";
  constructor(
    readonly source: string,
    readonly position: number,
    readonly reason: string,
  ) {
    const column = columnOf(source, position);
    super(`${reason} at column ${column}:\n  ${source}\n  ${" ".repeat(column - 1)}^`);
  }
  /** 1-based, in characters as a person counts them (an emoji or "°" is one), unlike `position`. */
  get column(): number {
    return columnOf(this.source, this.position);
  }
  /** One line, for places that cannot show the caret (config error lists). */
  get oneLine(): string {
    return `column ${this.column} of ${JSON.stringify(this.source)}: ${this.reason}`;
  }
}

function columnOf(source: string, position: number): number {
  return [...source.slice(0, position)].length + 1;
}

type Token =
  | { kind: "word"; text: string; at: number }
  | { kind: "number"; value: number; text: string; at: number }
  | { kind: "string"; value: string; at: number }
  | { kind: "op"; text: string; at: number }
  | { kind: "punct"; text: string; at: number }
  | { kind: "end"; at: number };

/** What people type for a comparison in prose or other tools, and what to write instead. */
const LOOKALIKES: Record<string, string> = {
  "≥": ">=",
  "≤": "<=",
  "≠": "!=",
  "＞": ">",
  "＜": "<",
  "=>": ">=",
  "=<": "<=",
  "<>": "!=",
};

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = String.fromCodePoint(src.codePointAt(i) as number);
    if (/\s/.test(c)) {
      i += c.length;
      continue;
    }
    const rest = src.slice(i);
    const num = /^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(rest);
    if (num) {
      const text = num[0];
      out.push({ kind: "number", value: Number(text), text, at: i });
      i += text.length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (word) {
      out.push({ kind: "word", text: word[0], at: i });
      i += word[0].length;
      continue;
    }
    // Degrees Celsius, as gpu_temp's unit: "85°C", "85 °C", "85℃".
    const celsius = /^(°[Cc]|℃)/.exec(rest);
    if (celsius) {
      out.push({ kind: "word", text: "°C", at: i });
      i += celsius[0].length;
      continue;
    }
    const lookalike = /^(=>|=<|<>|[≥≤≠＞＜])/.exec(rest);
    if (lookalike) {
      const wrote = lookalike[0];
      throw new AlertExpressionError(src, i, `write ${LOOKALIKES[wrote]} instead of ${wrote}`);
    }
    const op = /^(>=|<=|==|!=|>|<|=)/.exec(rest);
    if (op) {
      out.push({ kind: "op", text: op[0], at: i });
      i += op[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      // PromQL's strings: double or single quotes, a backslash escapes the next character.
      let value = "";
      let j = i + 1;
      for (; j < src.length && src[j] !== c; j++) {
        if (src[j] === "\\" && j + 1 < src.length) j++;
        value += src[j];
      }
      if (j >= src.length)
        throw new AlertExpressionError(src, i, `unterminated string (missing closing ${c})`);
      out.push({ kind: "string", value, at: i });
      i = j + 1;
      continue;
    }
    if (c === "{" || c === "}" || c === "%") {
      out.push({ kind: "punct", text: c, at: i });
      i++;
      continue;
    }
    if (c === "&" || c === "|") throw new AlertExpressionError(src, i, ONE_COMPARISON);
    if (c === "°") throw new AlertExpressionError(src, i, "temperatures are in °C: write 85 or 85°C");
    throw new AlertExpressionError(
      src,
      i,
      `unexpected character ${JSON.stringify(c)}${c === "," && out.at(-1)?.kind === "number" ? " (the decimal separator is .)" : ""}`,
    );
  }
  out.push({ kind: "end", at: src.length });
  return out;
}

const ONE_COMPARISON = "one comparison per condition: write a second alert instead of and/or";
const COMPARISONS = new Set<string>([">", ">=", "<", "<=", "==", "!="]);
/** A Prometheus-style duration: one or more number-unit pairs, largest first ("1m30s", "1h", "500ms"). */
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Names people reach for (the config's threshold keys, other tools' words) and the metric they mean. */
const ALIASES: Record<string, AlertMetric> = {
  latency_ms: "latency",
  latency_max_ms: "latency",
  gpu_temperature: "gpu_temp",
  gpu_temp_max: "gpu_temp",
  temperature: "gpu_temp",
  temp: "gpu_temp",
  quality_score: "quality",
  quality_score_min: "quality",
  cache_hit_rate_min: "cache_hit_rate",
  hit_rate: "cache_hit_rate",
  cache: "cache_hit_rate",
  memory_usage: "memory",
  memory_usage_max: "memory",
  ram: "memory",
  mem: "memory",
  vram: "gpu_memory",
  gpu_utilization: "gpu_usage",
  gpu_util: "gpu_usage",
  cpu_usage: "cpu",
};

/** The metric a misspelt or foreign name most likely means, if any. */
function suggestMetric(name: string): AlertMetric | undefined {
  const lower = name.toLowerCase();
  if (lower in ALERT_METRICS) return lower as AlertMetric;
  if (Object.hasOwn(ALIASES, lower)) return ALIASES[lower];
  let best: { metric: AlertMetric; distance: number } | undefined;
  for (const metric of Object.keys(ALERT_METRICS) as AlertMetric[]) {
    const distance = editDistance(lower, metric);
    if (distance <= 2 && (!best || distance < best.distance)) best = { metric, distance };
  }
  return best?.metric;
}

function describe(t: Token): string {
  switch (t.kind) {
    case "end":
      return "the end of the condition";
    case "string":
      return JSON.stringify(`"${t.value}"`);
    case "number":
      return `number ${t.text}`;
    default:
      return JSON.stringify(t.text);
  }
}

/** Parses a condition; throws AlertExpressionError naming the position of the first mistake. */
export function parseCondition(input: string): Condition {
  const source = input.trim();
  if (source === "")
    throw new AlertExpressionError(source, 0, "empty condition (expected e.g. latency > 300)");
  const tokens = tokenize(source);
  let k = 0;
  const peek = (offset = 0): Token => tokens[Math.min(k + offset, tokens.length - 1)] as Token;
  const next = (): Token => tokens[Math.min(k++, tokens.length - 1)] as Token;
  const fail = (t: Token, reason: string): never => {
    throw new AlertExpressionError(source, t.at, reason);
  };

  const m = next();
  if (m.kind !== "word" || !(m.text in ALERT_METRICS)) {
    const suggestion = m.kind === "word" ? suggestMetric(m.text) : undefined;
    fail(
      m,
      m.kind === "word"
        ? `unknown metric ${JSON.stringify(m.text)}${suggestion ? ` (did you mean ${suggestion}?)` : ""} (metrics: ${Object.keys(ALERT_METRICS).join(", ")})`
        : `expected a metric name, got ${describe(m)} (metrics: ${Object.keys(ALERT_METRICS).join(", ")})`,
    );
  }
  const metric = (m as { text: string }).text as AlertMetric;
  const spec: MetricSpec = ALERT_METRICS[metric];
  const allowed = spec.scope === "host" ? undefined : spec.scope;

  // `latency engine="kokoro" > 300`: the selector without its braces.
  const bare = peek();
  if (bare.kind === "word" && (bare.text === "engine" || bare.text === "gpu") && peek(1).kind === "op") {
    fail(
      bare,
      allowed
        ? `a selector goes in braces, as in PromQL: ${metric}{${allowed}="..."}`
        : `${metric} is a host metric and takes no selector`,
    );
  }

  let selector: Condition["selector"];
  if (peek().kind === "punct" && (peek() as { text: string }).text === "{") {
    next();
    const label = next();
    if (label.kind !== "word" || label.text !== allowed) {
      fail(
        label,
        allowed
          ? `expected the label ${allowed} in the selector of ${metric}, got ${describe(label)}`
          : `${metric} is a host metric and takes no selector`,
      );
    }
    const eq = next();
    if (eq.kind !== "op" || eq.text !== "=")
      fail(
        eq,
        `expected = after ${allowed}, got ${describe(eq)}${eq.kind === "op" && eq.text === "!=" ? " (only = is supported)" : ""}`,
      );
    const value = next();
    if (value.kind !== "string" || value.value === "")
      fail(
        value,
        `expected a quoted ${allowed} name, e.g. ${allowed === "gpu" ? '"0"' : '"kokoro"'}, got ${describe(value)}`,
      );
    const close = next();
    if (close.kind !== "punct" || close.text !== "}")
      fail(close, `expected } to close the selector (one label only), got ${describe(close)}`);
    selector = { label: allowed as "engine" | "gpu", value: (value as { value: string }).value };
  }

  const opTok = next();
  if (opTok.kind !== "op" || !COMPARISONS.has(opTok.text)) {
    fail(
      opTok,
      `expected a comparison (>, >=, <, <=, ==, !=) after ${metric}, got ${describe(opTok)}${opTok.kind === "op" && opTok.text === "=" ? " (write == for equality)" : ""}`,
    );
  }
  const op = (opTok as { text: string }).text as Comparison;

  const numTok = next();
  if (numTok.kind !== "number") fail(numTok, `expected a number after ${op}, got ${describe(numTok)}`);
  if (!Number.isFinite((numTok as { value: number }).value)) fail(numTok, "number out of range");
  let threshold = (numTok as { value: number }).value;

  // An optional unit right after the number: ms/s for times, % for percents and ratios, °C for temperatures.
  const unitTok = peek();
  let unit: "%" | "ms" | "s" | "°C" | undefined;
  if (unitTok.kind === "punct" && unitTok.text === "%") unit = "%";
  else if (
    unitTok.kind === "word" &&
    (unitTok.text === "ms" || unitTok.text === "s" || unitTok.text === "°C")
  )
    unit = unitTok.text;
  else if (unitTok.kind === "word" && unitTok.text === "C" && spec.unit === "celsius") unit = "°C";
  if (unit) {
    next();
    if (unit === "%") {
      if (spec.unit === "ratio") threshold /= 100;
      else if (spec.unit !== "percent")
        fail(unitTok, `${metric} is not a percentage; write the number alone`);
    } else if (unit === "°C") {
      if (spec.unit !== "celsius") fail(unitTok, `${metric} is not a temperature; write the number alone`);
    } else {
      if (spec.unit !== "ms") fail(unitTok, `${metric} is not a time; write the number alone`);
      if (unit === "s") threshold *= 1000;
    }
  }
  // A ratio compared with 80 or a percentage with 150 always (or never) holds: surely a mistake.
  if (spec.unit === "ratio" && (threshold < 0 || threshold > 1)) {
    fail(
      numTok,
      unit === "%"
        ? `${metric} is a ratio between 0 and 1: a percentage must be between 0% and 100%`
        : `${metric} is a ratio between 0 and 1: write ${Number((threshold / 100).toPrecision(6))} or ${threshold}%`,
    );
  }
  if (spec.unit === "percent" && (threshold < 0 || threshold > 100))
    fail(numTok, `${metric} is a percentage between 0 and 100`);

  let forMs = 0;
  const f = peek();
  if (f.kind === "word" && f.text === "for") {
    next();
    const d = next();
    // "30s" tokenizes as number 30 then word "s", "1m30s" as number 1 then word "m30s".
    let text = "";
    let wrote = describe(d);
    if (d.kind === "number") {
      text = d.text;
      const u = peek();
      if (u.kind === "word") {
        next();
        text += u.text;
        wrote = JSON.stringify(source.slice(d.at, u.at + u.text.length));
      }
    } else if (d.kind === "word") {
      text = d.text;
    }
    if (!DURATION.test(text))
      throw new AlertExpressionError(
        source,
        d.at,
        `expected a duration after for, e.g. 30s, 5m, 1m30s, 500ms, 1h, got ${wrote}`,
      );
    forMs = 0;
    for (const [, n, u] of text.matchAll(DURATION_PART))
      forMs += Number(n) * DURATION_MS[u as keyof typeof DURATION_MS];
  }

  const end = next();
  if (end.kind !== "end") {
    fail(
      end,
      end.kind === "word" && /^(and|or|unless)$/i.test(end.text)
        ? ONE_COMPARISON
        : end.kind === "word" && /^for\d/.test(end.text)
          ? `a space goes after for: for ${end.text.slice(3)}`
          : `unexpected ${describe(end)} (expected ${f.kind === "word" && f.text === "for" ? "" : '"for <duration>" or '}the end of the condition)`,
    );
  }
  return { source, metric, ...(selector && { selector }), op, threshold, forMs };
}

export function compare(value: number, op: Comparison, threshold: number): boolean {
  switch (op) {
    case ">":
      return value > threshold;
    case ">=":
      return value >= threshold;
    case "<":
      return value < threshold;
    case "<=":
      return value <= threshold;
    case "==":
      return value === threshold;
    case "!=":
      return value !== threshold;
  }
}

/** The value with its unit, for messages: "812 ms", "87 °C", "0.62". */
export function formatValue(metric: AlertMetric, value: number): string {
  const unit = ALERT_METRICS[metric].unit;
  const n = Math.abs(value) >= 100 ? value.toFixed(0) : Number(value.toPrecision(3)).toString();
  switch (unit) {
    case "ms":
      return `${n} ms`;
    case "percent":
      return `${n} %`;
    case "celsius":
      return `${n} °C`;
    default:
      return n;
  }
}
