export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricDef {
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  /** Base unit, for the reference; "" when the value is a count or a ratio with no unit. */
  readonly unit: string;
  /** Which part of the product sets it, for the reference. */
  readonly area: MetricArea;
  readonly buckets?: readonly number[];
}

export type MetricArea =
  | "tts"
  | "cache"
  | "audio"
  | "host"
  | "process"
  | "gpu"
  | "exporter"
  | "gateway"
  | "optimizer";
