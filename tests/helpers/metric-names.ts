// The check that every metric a rule or a dashboard query names exists: in the exporter's catalog
// (a histogram's _bucket/_sum/_count included), among the recorded series, or Prometheus' own `up`.
import { isMetricName } from "../../src/metrics/catalog.ts";
import { namesIn } from "../../src/monitoring/promql.ts";
import type { RecordingRule } from "../../src/monitoring/rules.ts";

export function recordedNames(groups: ReadonlyArray<{ rules: readonly unknown[] }>): Set<string> {
  return new Set(
    groups
      .flatMap((g) => g.rules)
      .flatMap((r) =>
        typeof r === "object" && r !== null && "record" in r ? [(r as RecordingRule).record] : [],
      ),
  );
}

/** The names no catalog metric or recording rule provides, and how many names were checked in all. */
export function unknownMetricNames(
  exprs: readonly string[],
  recorded: ReadonlySet<string>,
): { unknown: string[]; named: number } {
  const unknown: string[] = [];
  let named = 0;
  for (const expr of exprs) {
    for (const name of namesIn(expr)) {
      named++;
      const base = name.replace(/_(bucket|sum|count)$/, "");
      if (name === "up" || recorded.has(name) || isMetricName(name) || isMetricName(base)) continue;
      unknown.push(`${name} in ${expr}`);
    }
  }
  return { unknown, named };
}
