// The in-process alert condition language (docs/alerting-in-process.md):
//
//   condition := metric [ "{" label "=" '"' value '"' "}" ] op number [ unit ] [ "for" duration ]
//
//   latency > 300                      any engine's last latency above 300 ms
//   latency{engine="kokoro"} > 0.3s    one engine only (the PromQL selector SREs already know)
//   gpu_temp >= 85 for 30s             a GPU hotter than 85 °C for 30 s in a row
//   quality < 0.8
//
// Deliberately tiny: one comparison per rule, no arithmetic. Every mistake is reported with the
// column it was found at and a caret under the text, because conditions live in JSON strings where
// a misspelt word is otherwise hard to spot.

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
    super(`${reason} at column ${position + 1}:\n  ${source}\n  ${" ".repeat(position)}^`);
  }
  /** One line, for places that cannot show the caret (config error lists). */
  get oneLine(): string {
    return `column ${this.position + 1} of ${JSON.stringify(this.source)}: ${this.reason}`;
  }
}

type Token =
  | { kind: "word"; text: string; at: number }
  | { kind: "number"; value: number; text: string; at: number }
  | { kind: "string"; value: string; at: number }
  | { kind: "op"; text: string; at: number }
  | { kind: "punct"; text: string; at: number }
  | { kind: "end"; at: number };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    const num = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(rest);
    const neg = /^-(\d+(\.\d*)?|\.\d+)/.exec(rest);
    if (num || neg) {
      const text = (num ?? neg)?.[0] as string;
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
    const op = /^(>=|<=|==|!=|>|<|=)/.exec(rest);
    if (op) {
      out.push({ kind: "op", text: op[0], at: i });
      i += op[0].length;
      continue;
    }
    if (c === '"') {
      const end = src.indexOf('"', i + 1);
      if (end < 0) throw new AlertExpressionError(src, i, 'unterminated string (missing closing ")');
      out.push({ kind: "string", value: src.slice(i + 1, end), at: i });
      i = end + 1;
      continue;
    }
    if (c === "{" || c === "}" || c === "%") {
      out.push({ kind: "punct", text: c, at: i });
      i++;
      continue;
    }
    throw new AlertExpressionError(src, i, `unexpected character ${JSON.stringify(c)}`);
  }
  out.push({ kind: "end", at: src.length });
  return out;
}

const COMPARISONS = new Set<string>([">", ">=", "<", "<=", "==", "!="]);
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

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
  const peek = (): Token => tokens[k] as Token;
  const next = (): Token => tokens[k++] as Token;
  const fail = (t: Token, reason: string): never => {
    throw new AlertExpressionError(source, t.at, reason);
  };

  const m = next();
  if (m.kind !== "word" || !(m.text in ALERT_METRICS)) {
    fail(
      m,
      `${m.kind === "word" ? `unknown metric ${JSON.stringify(m.text)}` : `expected a metric name, got ${describe(m)}`} (metrics: ${Object.keys(ALERT_METRICS).join(", ")})`,
    );
  }
  const metric = (m as { text: string }).text as AlertMetric;
  const spec: MetricSpec = ALERT_METRICS[metric];

  let selector: Condition["selector"];
  if (peek().kind === "punct" && (peek() as { text: string }).text === "{") {
    next();
    const label = next();
    const allowed = spec.scope === "host" ? undefined : spec.scope;
    if (label.kind !== "word" || label.text !== allowed) {
      fail(
        label,
        allowed
          ? `expected the label ${allowed} in the selector of ${metric}, got ${describe(label)}`
          : `${metric} is a host metric and takes no selector`,
      );
    }
    const eq = next();
    if (eq.kind !== "op" || eq.text !== "=") fail(eq, `expected = after ${allowed}, got ${describe(eq)}`);
    const value = next();
    if (value.kind !== "string" || value.value === "")
      fail(value, `expected a quoted ${allowed} name, e.g. "kokoro", got ${describe(value)}`);
    const close = next();
    if (close.kind !== "punct" || close.text !== "}")
      fail(close, `expected } to close the selector, got ${describe(close)}`);
    selector = { label: allowed as "engine" | "gpu", value: (value as { value: string }).value };
  }

  const opTok = next();
  if (opTok.kind !== "op" || !COMPARISONS.has(opTok.text)) {
    fail(opTok, `expected a comparison (>, >=, <, <=, ==, !=) after ${metric}, got ${describe(opTok)}`);
  }
  const op = (opTok as { text: string }).text as Comparison;

  const numTok = next();
  if (numTok.kind !== "number" || !Number.isFinite(numTok.value))
    fail(numTok, `expected a number after ${op}, got ${describe(numTok)}`);
  let threshold = (numTok as { value: number }).value;

  // An optional unit right after the number: ms/s for times, % for percents and ratios.
  const unitTok = peek();
  if (unitTok.kind === "punct" && unitTok.text === "%") {
    next();
    if (spec.unit === "ratio") threshold /= 100;
    else if (spec.unit !== "percent") fail(unitTok, `${metric} is not a percentage; write the number alone`);
  } else if (unitTok.kind === "word" && (unitTok.text === "ms" || unitTok.text === "s")) {
    next();
    if (spec.unit !== "ms") fail(unitTok, `${metric} is not a time; write the number alone`);
    if (unitTok.text === "s") threshold *= 1000;
  }

  let forMs = 0;
  const f = peek();
  if (f.kind === "word" && f.text === "for") {
    next();
    const d = next();
    // "30s" tokenizes as number 30 followed by word "s".
    let text = "";
    let at = d.at;
    if (d.kind === "number") {
      const u = next();
      text = d.text + (u.kind === "word" ? u.text : "");
      at = d.at;
    } else if (d.kind === "word") {
      text = d.text;
    }
    const dm = DURATION.exec(text);
    if (!dm)
      throw new AlertExpressionError(source, at, `expected a duration after for, e.g. 30s, 5m, 500ms, 1h`);
    forMs = Number(dm[1]) * DURATION_MS[dm[2] as keyof typeof DURATION_MS];
  }

  const end = next();
  if (end.kind !== "end") {
    fail(
      end,
      end.kind === "word" && end.text === "and"
        ? "one comparison per condition (add a second alert instead of 'and')"
        : `unexpected ${describe(end)} (expected "for <duration>" or the end of the condition)`,
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
