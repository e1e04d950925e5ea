import type { Engine } from "../engines/types.ts";
import { timedOut, withTimeout } from "../util/signals.ts";
import {
  type GeneratorContext,
  type LiveFigures,
  runStep,
  type StepPlan,
  type StepResult,
} from "./generator.ts";
import { fitUsl, type KneeStep, kneedle, sloRuleStep, type UslFit } from "./knee.ts";
import { round6 } from "./record.ts";
import { type Arrival, PlanError, seededRandom } from "./schedule.ts";
import type { Slo, SloBreach } from "./slo.ts";

export const REPORT_SCHEMA_VERSION = 1;

export interface StressPlan {
  /** Open model: requests per second per step. Exactly one of rates and concurrency. */
  readonly rates?: readonly number[];
  /** Closed model: workers per step. */
  readonly concurrency?: readonly number[];
  readonly arrival: Arrival;
  readonly stepDurationMs: number;
  readonly warmupMs: number;
  readonly slo: Slo;
  readonly texts: readonly string[];
  readonly textsSource: string;
  /** Per-request deadline. */
  readonly timeoutMs: number;
  readonly maxRequests: number;
  readonly maxDurationMs: number;
  readonly maxRate: number;
  /** Stop after this many consecutive valid steps that break the SLO (the rest would only break it more). */
  readonly stopAfterFailures: number;
  readonly failBelowRps?: number;
  readonly seed: number;
  /** The generator's self-check: a send later than lateSendMs is late; a step with more than maxLateRatio late is invalid. */
  readonly lateSendMs: number;
  readonly maxLateRatio: number;
}

export interface StressHooks {
  readonly signal?: AbortSignal;
  readonly onStepStart?: (index: number, count: number, plan: StepPlan) => void;
  readonly onLive?: (live: LiveFigures) => void;
  readonly onStepEnd?: (index: number, step: StepResult) => void;
}

export interface StressReport {
  readonly schema_version: typeof REPORT_SCHEMA_VERSION;
  readonly engine: string;
  readonly engine_type: string;
  readonly model: "open" | "closed";
  readonly arrival: Arrival | null;
  readonly slo: string;
  readonly started_at: string;
  readonly finished_at: string;
  readonly complete: boolean;
  readonly stopped_by: string | null;
  readonly texts: {
    readonly source: string;
    readonly count: number;
    readonly characters_min: number;
    readonly characters_mean: number;
    readonly characters_max: number;
  };
  readonly self_check: { readonly late_send_ms: number; readonly max_late_ratio: number };
  readonly caps: {
    readonly max_requests: number;
    readonly max_duration_seconds: number;
    readonly max_rate: number;
  };
  readonly steps: readonly StepResult[];
  readonly max_sustainable_rps: number | null;
  readonly max_sustainable_cps: number | null;
  readonly knee: {
    readonly slo_rule_rps: number | null;
    readonly kneedle_rps: number | null;
    readonly usl: UslFit | null;
  };
  readonly verdict: {
    readonly method: "slo_rule";
    /** Index in steps of the step the verdict is read from. */
    readonly step: number | null;
    /** The first valid step above it that broke the SLO, and how. */
    readonly next_failure: {
      readonly step: number;
      readonly offered_rps: number | null;
      readonly concurrency: number | null;
      readonly breaches: readonly SloBreach[];
    } | null;
    readonly fail_below_rps: number | null;
    /** The SLO was met at some step and max_sustainable_rps ≥ --fail-below. */
    readonly passed: boolean;
    readonly summary: string;
  };
}

/** Checks the plan before anything is sent: every problem is a PlanError naming its argument. */
export function checkPlan(plan: StressPlan): void {
  const hasRates = plan.rates !== undefined && plan.rates.length > 0;
  const hasConc = plan.concurrency !== undefined && plan.concurrency.length > 0;
  if (hasRates === hasConc)
    throw new PlanError("give either --rates/--ramp (open model) or --concurrency (closed model)");
  for (const r of plan.rates ?? [])
    if (r > plan.maxRate)
      throw new PlanError(
        `--rates/--ramp: ${r} req/s is above the cap --max-rate ${plan.maxRate}; raise the cap if you mean it`,
      );
  if (!(plan.stepDurationMs >= 100)) throw new PlanError("--step-duration must be at least 100ms");
  if (!(plan.warmupMs >= 0)) throw new PlanError("--warmup must not be negative");
  if (!(plan.maxRequests >= 1)) throw new PlanError("--max-requests must be at least 1");
  if (!(plan.maxDurationMs >= 100)) throw new PlanError("--max-duration must be at least 100ms");
  if (!(plan.lateSendMs > 0)) throw new PlanError("--late-send must be above 0ms");
  if (!(plan.maxLateRatio >= 0 && plan.maxLateRatio <= 1))
    throw new PlanError("--max-late must be between 0 and 100%");
  if (plan.texts.length === 0)
    throw new PlanError("no texts to send (probes.texts or --texts-file is empty)");
  if (plan.failBelowRps !== undefined && !(plan.failBelowRps >= 0))
    throw new PlanError("--fail-below must be a number of requests per second ≥ 0");
}

const kneeStep = (s: StepResult): KneeStep => ({
  // Closed steps are ordered by their workers, open ones by their offered rate.
  offeredRps: s.offered_rps ?? (s.concurrency as number),
  achievedRps: s.achieved_rps,
  p99Seconds: s.latency_seconds.p99,
  meanInFlight: s.mean_in_flight,
  ...(s.concurrency !== null && { concurrency: s.concurrency }),
  valid: s.valid,
  meetsSlo: s.meets_slo,
});

/** Runs the plan against one engine, step by step, and builds the report (partial when stopped). */
export async function runStress(
  engine: Engine,
  plan: StressPlan,
  hooks: StressHooks = {},
): Promise<StressReport> {
  checkPlan(plan);
  const started = new Date();
  const signal = withTimeout(hooks.signal, plan.maxDurationMs);
  const budget = { left: plan.maxRequests };
  const ctx: GeneratorContext = {
    engine,
    texts: plan.texts,
    slo: plan.slo,
    timeoutMs: plan.timeoutMs,
    signal,
    random: seededRandom(plan.seed),
    budget,
    lateSendMs: plan.lateSendMs,
    maxLateRatio: plan.maxLateRatio,
    ...(hooks.onLive && { onLive: hooks.onLive }),
  };
  const plans: StepPlan[] =
    plan.rates && plan.rates.length > 0
      ? plan.rates.map((rate) => ({
          model: "open",
          rate,
          arrival: plan.arrival,
          warmupMs: plan.warmupMs,
          durationMs: plan.stepDurationMs,
        }))
      : (plan.concurrency ?? []).map((concurrency) => ({
          model: "closed",
          concurrency,
          warmupMs: plan.warmupMs,
          durationMs: plan.stepDurationMs,
        }));
  const steps: StepResult[] = [];
  let failures = 0;
  let stoppedBy: string | null = null;
  for (let i = 0; i < plans.length; i++) {
    const p = plans[i] as StepPlan;
    hooks.onStepStart?.(i, plans.length, p);
    const step = await runStep(p, ctx);
    steps.push(step);
    hooks.onStepEnd?.(i, step);
    if (!step.complete) {
      stoppedBy = timedOut(signal) ? "max_duration" : step.stopped_by;
      break;
    }
    if (step.valid && !step.meets_slo) failures++;
    else if (step.valid) failures = 0;
    if (failures >= plan.stopAfterFailures && i < plans.length - 1) {
      stoppedBy = `slo_failed_${failures}_steps`;
      break;
    }
  }
  return buildReport(engine, plan, steps, started, stoppedBy);
}

export function buildReport(
  engine: Pick<Engine, "name" | "type">,
  plan: StressPlan,
  steps: readonly StepResult[],
  started: Date,
  stoppedBy: string | null,
): StressReport {
  const ks = steps.map(kneeStep);
  const best = sloRuleStep(ks);
  const bestStep = best === undefined ? undefined : steps[best];
  const order = (s: StepResult) => s.offered_rps ?? (s.concurrency as number);
  const nextFailureIndex =
    bestStep === undefined
      ? steps.findIndex((s) => s.valid && !s.meets_slo)
      : steps.findIndex((s) => s.valid && !s.meets_slo && order(s) > order(bestStep));
  const nextFailure = nextFailureIndex >= 0 ? steps[nextFailureIndex] : undefined;
  const rps = bestStep === undefined ? null : bestStep.achieved_rps;
  const cps = bestStep === undefined ? null : bestStep.characters_per_second;
  const failBelow = plan.failBelowRps ?? null;
  const passed = rps !== null && (failBelow === null || rps >= failBelow);
  const lengths = plan.texts.map((t) => t.length);
  const knee = kneedle(ks);
  const usl = fitUsl(ks) ?? null;
  const unit = (s: StepResult) =>
    s.model === "open" ? `${s.offered_rps} req/s offered` : `${s.concurrency} workers`;
  const why = (s: StepResult) =>
    s.slo_breaches
      .map((b) => `${b.threshold} (observed ${b.observed === null ? "nothing" : round6(b.observed)})`)
      .join(", ");
  const summary =
    bestStep === undefined
      ? `no valid step met the SLO ${plan.slo.text}${nextFailure ? `: at ${unit(nextFailure)} it broke ${why(nextFailure)}` : ""}`
      : `sustains ${rps} req/s (${cps} characters/s) under ${plan.slo.text}, at ${unit(bestStep)}` +
        (nextFailure
          ? `; the next step, ${unit(nextFailure)}, broke ${why(nextFailure)}`
          : "; no step above it broke the SLO") +
        (failBelow !== null && rps !== null && rps < failBelow ? `; below --fail-below ${failBelow}` : "");
  return {
    schema_version: REPORT_SCHEMA_VERSION,
    engine: engine.name,
    engine_type: engine.type,
    model: plan.rates && plan.rates.length > 0 ? "open" : "closed",
    arrival: plan.rates && plan.rates.length > 0 ? plan.arrival : null,
    slo: plan.slo.text,
    started_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    complete: stoppedBy === null || stoppedBy.startsWith("slo_failed"),
    stopped_by: stoppedBy,
    texts: {
      source: plan.textsSource,
      count: plan.texts.length,
      characters_min: Math.min(...lengths),
      characters_mean: round6(lengths.reduce((a, b) => a + b, 0) / lengths.length),
      characters_max: Math.max(...lengths),
    },
    self_check: { late_send_ms: plan.lateSendMs, max_late_ratio: plan.maxLateRatio },
    caps: {
      max_requests: plan.maxRequests,
      max_duration_seconds: plan.maxDurationMs / 1000,
      max_rate: plan.maxRate,
    },
    steps,
    max_sustainable_rps: rps,
    max_sustainable_cps: cps,
    knee: {
      slo_rule_rps: rps,
      kneedle_rps: knee === undefined ? null : round6(knee),
      usl: usl && {
        ...usl,
        sigma: round6(usl.sigma),
        kappa: round6(usl.kappa),
        lambda: round6(usl.lambda),
        max_rps: usl.max_rps === null ? null : round6(usl.max_rps),
        peak_concurrency: usl.peak_concurrency === null ? null : round6(usl.peak_concurrency),
        r2: round6(usl.r2),
      },
    },
    verdict: {
      method: "slo_rule",
      step: best ?? null,
      next_failure: nextFailure
        ? {
            step: nextFailureIndex,
            offered_rps: nextFailure.offered_rps,
            concurrency: nextFailure.concurrency,
            breaches: nextFailure.slo_breaches,
          }
        : null,
      fail_below_rps: failBelow,
      passed,
      summary,
    },
  };
}
