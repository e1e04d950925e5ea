import { Counter, Gauge, Histogram } from "prom-client";
import { catalog, type MetricName, metricNames } from "./catalog.ts";
import { type Family, formatFamilies, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE } from "./exposition.ts";

export type Labels = Readonly<Record<string, string>>;

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** Anything that can be rendered as a family at scrape time (prom-client metrics, or fast series of our own). */
export interface Collectable {
  get(): Family | Promise<Family>;
}

/**
 * The exporter's metrics, built from the catalog (prom-client objects, not registered in any
 * prom-client Registry: rendering is ours, see exposition.ts).
 */
export class MetricsRegistry {
  readonly #metrics = new Map<MetricName, AnyMetric>();
  readonly #extra = new Map<MetricName, Collectable>();

  constructor(names: readonly MetricName[] = metricNames) {
    for (const name of names) {
      const def = catalog[name];
      const common = {
        name,
        help: def.help,
        labelNames: [...def.labels],
        registers: [],
      };
      const metric =
        def.type === "counter"
          ? new Counter(common)
          : def.type === "gauge"
            ? new Gauge(common)
            : new Histogram({ ...common, buckets: [...("buckets" in def ? def.buckets : [])] });
      // prom-client gives an unlabelled gauge the value 0 before anything is measured; a
      // measurement not taken yet (a collector switched off, or not run yet) must be absent instead.
      if (metric instanceof Gauge && def.labels.length === 0) unset(metric);
      this.#metrics.set(name, metric);
    }
  }

  #get(name: MetricName): AnyMetric {
    const metric = this.#metrics.get(name);
    if (!metric) throw new Error(`metric ${name} is not registered in this registry`);
    return metric;
  }

  gauge(name: MetricName): Gauge<string> {
    const m = this.#get(name);
    if (!(m instanceof Gauge)) throw new Error(`metric ${name} is not a gauge`);
    return m;
  }

  counter(name: MetricName): Counter<string> {
    const m = this.#get(name);
    if (!(m instanceof Counter)) throw new Error(`metric ${name} is not a counter`);
    return m;
  }

  histogram(name: MetricName): Histogram<string> {
    const m = this.#get(name);
    if (!(m instanceof Histogram)) throw new Error(`metric ${name} is not a histogram`);
    return m;
  }

  /**
   * Replaces every series of the given families with the given samples, in one synchronous step, so
   * that a scrape sees either the old set or the new set, never a mix. Counters take the absolute
   * value read from the source (e.g. /proc), which is how kernel counters are exported.
   */
  replace(families: readonly MetricName[], samples: readonly Sample[]): void {
    for (const name of families) {
      const m = this.#get(name);
      if (m instanceof Histogram) throw new Error(`replace() does not apply to histogram ${name}`);
      unset(m);
    }
    for (const s of samples) {
      const m = this.#get(s.metric);
      if (m instanceof Gauge) m.set(s.labels, s.value);
      else if (m instanceof Counter) m.inc(s.labels, s.value);
    }
  }

  /** Removes every series of the families (the source is gone: no stale values, no fake zeros). */
  clear(families: readonly MetricName[]): void {
    for (const name of families) {
      const m = this.#get(name);
      if (m instanceof Histogram) m.reset();
      else unset(m);
    }
  }

  /**
   * Removes the series of a gauge whose labels include all of `match` (e.g. every series of one
   * engine, whatever its other labels). Returns how many went.
   */
  removeMatching(name: MetricName, match: Labels): number {
    const m = this.#get(name);
    if (!(m instanceof Gauge)) throw new Error(`removeMatching() applies to gauges, not ${name}`);
    const map = (m as unknown as { hashMap: Record<string, { labels: Labels }> }).hashMap;
    let removed = 0;
    for (const [hash, entry] of Object.entries(map)) {
      if (Object.entries(match).every(([k, v]) => entry.labels[k] === v)) {
        delete map[hash];
        removed++;
      }
    }
    return removed;
  }

  /** Serves a family from a custom collectable instead of the prom-client object (hot paths). */
  override(name: MetricName, source: Collectable): void {
    if (!this.#metrics.has(name)) throw new Error(`metric ${name} is not registered in this registry`);
    this.#extra.set(name, source);
  }

  async families(): Promise<Family[]> {
    const out: Family[] = [];
    for (const [name, metric] of this.#metrics) {
      const source: Collectable = this.#extra.get(name) ?? (metric as unknown as Collectable);
      out.push(await source.get());
    }
    return out;
  }

  async render(
    openMetrics: boolean,
    options: { skipEmpty?: boolean } = {},
  ): Promise<{ body: string; contentType: string }> {
    let families = await this.families();
    if (options.skipEmpty) families = families.filter((f) => f.values.length > 0);
    return {
      body: formatFamilies(families, openMetrics),
      contentType: openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE,
    };
  }
}

/**
 * Removes every series of a gauge or counter, the unlabelled one too (prom-client's reset() puts an
 * unlabelled metric back at 0). The next set()/inc() creates the series again.
 */
function unset(metric: Counter<string> | Gauge<string>): void {
  metric.reset();
  (metric as unknown as { hashMap: Record<string, unknown> }).hashMap = {};
}

export interface Sample {
  readonly metric: MetricName;
  readonly labels: Labels;
  readonly value: number;
}
