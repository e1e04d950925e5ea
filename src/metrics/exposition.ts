// Text exposition of metric families, in the Prometheus 0.0.4 text format or OpenMetrics 1.0.
// prom-client's own Registry#metrics() renames counters in place when it renders OpenMetrics
// (it strips `_total` from the shared metric object), which corrupts the next text-format scrape
// when one set of metrics serves both formats; formatting here reads values and mutates nothing.

export interface FamilyValue {
  readonly metricName?: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values: readonly FamilyValue[];
}

export const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

export interface Negotiated {
  readonly openMetrics: boolean;
  readonly contentType: string;
}

const OPENMETRICS_VERSIONS = new Set(["1.0.0", "0.0.1"]);

/**
 * Picks the format from an Accept header as Prometheus sends it, honouring q values: OpenMetrics
 * (1.0.0, or 0.0.1 when that is the version preferred) or the 0.0.4 text format, which also answers
 * `text/plain;version=1.0.0` (Prometheus 3), wildcards, and any header that names nothing we serve.
 */
export function negotiateFormat(accept: string | undefined): Negotiated {
  const text = { openMetrics: false, contentType: TEXT_CONTENT_TYPE };
  let best: { q: number; result: Negotiated } | undefined;
  for (const range of (accept ?? "").split(",")) {
    const [type = "", ...params] = range.split(";").map((p) => p.trim());
    const param = (name: string) =>
      params
        .find((p) => p.toLowerCase().startsWith(`${name}=`))
        ?.slice(name.length + 1)
        .replace(/^"(.*)"$/, "$1");
    const qText = param("q");
    const q = qText === undefined ? 1 : Number(qText);
    if (!(q > 0)) continue;
    let result: Negotiated | undefined;
    const media = type.toLowerCase();
    if (media === "application/openmetrics-text") {
      const version = param("version") ?? "1.0.0";
      if (OPENMETRICS_VERSIONS.has(version)) {
        result = {
          openMetrics: true,
          contentType: `application/openmetrics-text; version=${version}; charset=utf-8`,
        };
      }
    } else if (media === "text/plain" || media === "text/*" || media === "*/*") {
      result = text;
    }
    // The first of the highest q wins, as a scraper lists its preferences in order.
    if (result && (best === undefined || q > best.q)) best = { q, result };
  }
  return best?.result ?? text;
}

const escapeText = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
// OpenMetrics escapes the double quote in HELP too; the 0.0.4 text format does not.
const escapeHelp = (s: string, openMetrics: boolean) =>
  openMetrics ? escapeText(s).replace(/"/g, '\\"') : escapeText(s);
const NEEDS_ESCAPE = /[\\\n"]/;
// Escaped values, remembered: a label value full of quotes costs a regex pass per sample otherwise,
// and the series budget keeps the distinct values few. Bounded all the same (cleared when full).
const escaped = new Map<string, string>();
const escapeLabel = (s: string) => {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let e = escaped.get(s);
  if (e === undefined) {
    e = s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
    if (escaped.size >= 4096) escaped.clear();
    escaped.set(s, e);
  }
  return e;
};

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

function labelString(labels: Readonly<Record<string, string | number>>): string {
  let out = "";
  for (const key in labels) {
    const v = labels[key];
    if (v === undefined) continue;
    out += `${out ? "," : ""}${key}="${escapeLabel(typeof v === "number" ? formatValue(v) : v)}"`;
  }
  return out ? `{${out}}` : "";
}

export function formatFamilies(families: readonly Family[], openMetrics: boolean): string {
  const parts: string[] = [];
  for (const f of families) {
    const counter = f.type === "counter";
    // OpenMetrics names a counter family without its _total suffix; its samples keep it.
    const familyName = openMetrics && counter ? f.name.replace(/_total$/, "") : f.name;
    let block = `# HELP ${familyName} ${escapeHelp(f.help, openMetrics)}\n# TYPE ${familyName} ${f.type}\n`;
    for (const v of f.values) {
      block += `${v.metricName ?? f.name}${labelString(v.labels)} ${formatValue(v.value)}\n`;
    }
    parts.push(block);
  }
  return openMetrics ? `${parts.join("")}# EOF\n` : parts.join("");
}
