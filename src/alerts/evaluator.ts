import type { EventEmitter } from "node:events";
import { readSecret } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import type { CurrentMetrics, EngineSnapshot } from "../state/snapshot.ts";
import { ActionRunner } from "./actions.ts";
import { DesktopNotifier } from "./channels/desktop.ts";
import { EmailNotifier } from "./channels/email.ts";
import { SlackNotifier } from "./channels/slack.ts";
import { ALERT_DEFINITIONS, type AlertDefinition, inProcessSeverity } from "./definitions.ts";
import { Dispatcher } from "./dispatch.ts";
import {
  ALERT_METRICS,
  type AlertMetric,
  type Comparison,
  type Condition,
  compare,
  formatValue,
  parseCondition,
} from "./expression.ts";
import { CHANNELS, type Channel } from "./schema.ts";
import type { AlertEvent, Notifier, Severity } from "./types.ts";

/** What `monitor.addAlert()` takes (SPEC §8). */
export interface AlertSpec {
  /** In the alert language: "latency > 300", "gpu_temp >= 85 for 30s", 'latency{engine="kokoro"} > 300'. */
  readonly condition: string;
  /** Rule name (the `alert` label and the notification title); default alert_1, alert_2, ... */
  readonly name?: string;
  /** Named action(s) of alerts.actions, run when the alert fires. */
  readonly action?: string | readonly string[];
  /** Channel(s) to notify; default: every configured channel. */
  readonly notification?: Channel | readonly Channel[];
  readonly severity?: Severity;
}

/** What the evaluator reads; the monitor provides it. */
export interface AlertSource {
  readonly config: Config;
  getCurrentMetrics(): CurrentMetrics;
}

type Origin = "threshold" | "config" | "api";

interface Rule {
  readonly name: string;
  readonly origin: Origin;
  /** Threshold rules rebuild their condition on every evaluation, so run-time threshold changes apply at once. */
  readonly condition: () => Condition;
  readonly actions: readonly string[];
  readonly channels: readonly Channel[] | undefined;
  readonly severity: Severity;
}

interface Instance {
  pendingSince: number | undefined;
  firing: AlertEvent | undefined;
  /** Whether the current episode was notified (cooldown may have held it back). */
  notified: boolean;
  /** Last firing or resolved notification of this instance: the start of its cooldown. */
  lastNotifiedAt: number | undefined;
}

/** The alert definitions evaluated in-process: those with an alert-language metric and a threshold key. */
const THRESHOLD_RULES = ALERT_DEFINITIONS.flatMap((d) => {
  const def: AlertDefinition = d;
  return def.inProcess !== undefined && def.threshold !== undefined
    ? [
        {
          name: def.name,
          metric: def.inProcess,
          op: def.op,
          key: def.threshold,
          severity: inProcessSeverity(def),
        },
      ]
    : [];
});

export interface EvaluatorOptions {
  readonly source: AlertSource;
  readonly registry: MetricsRegistry;
  readonly log: Logger;
  /** Where "alert" events (AlertEvent) are emitted: the monitor's `events`. */
  readonly events: EventEmitter;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly desktopNotifications?: boolean;
  /** notify-send's name or path (tests). */
  readonly notifySend?: string;
  readonly now?: () => number;
}

/**
 * Evaluates the config thresholds, the config rules and addAlert() rules against the monitor's
 * current metrics, once per alerts.evaluation_interval_seconds. Each rule yields one instance per
 * engine or GPU it applies to; an instance emits "firing" once when its condition has held for the
 * rule's `for` duration and "resolved" once when it stops holding (deduplication). Notifications and
 * actions of an instance are held back for alerts.cooldown_seconds after its last notification, so a
 * flapping value does not page every few seconds.
 */
export class AlertEvaluator {
  readonly #opts: EvaluatorOptions;
  readonly #rules: Rule[] = [];
  readonly #instances = new Map<string, Instance>();
  readonly #now: () => number;
  #dispatcher: Dispatcher;
  #actions: ActionRunner;
  #timer: NodeJS.Timeout | undefined;
  #apiCount = 0;
  /** Threshold and config rules take part (--alerts, or the web dashboard's alert panel). */
  #thresholds = false;
  /** External notifications and actions for threshold and config rules (--alerts). */
  #external = false;

  constructor(options: EvaluatorOptions) {
    this.#opts = options;
    this.#now = options.now ?? Date.now;
    const config = options.source.config;
    for (const t of THRESHOLD_RULES) {
      this.#rules.push({
        name: t.name,
        origin: "threshold",
        condition: () => {
          const c = this.#opts.source.config;
          const threshold = c.thresholds[t.key];
          return {
            source: `${t.metric} ${t.op} ${threshold}${c.alerts.for_seconds > 0 ? ` for ${c.alerts.for_seconds}s` : ""}`,
            metric: t.metric,
            op: t.op,
            threshold,
            forMs: c.alerts.for_seconds * 1000,
          };
        },
        actions: [],
        channels: undefined,
        severity: t.severity,
      });
    }
    // Actions are read once, at start: rules are checked against what will actually run.
    this.#actions = new ActionRunner(config.alerts.actions, options.env, options.registry, options.log);
    config.alerts.rules.forEach((r, i) => {
      const spec: AlertSpec = typeof r === "string" ? { condition: r } : specFromConfig(r);
      this.#add(spec, "config", `rule_${i + 1}`);
    });
    this.#dispatcher = this.#makeDispatcher();
  }

  #makeDispatcher(): Dispatcher {
    const { source, env, log, registry } = this.#opts;
    const a = source.config.alerts;
    const timeoutMs = a.notification_timeout_seconds * 1000;
    const notifiers: Notifier[] = [
      {
        channel: "dashboard",
        send: async (event) => {
          this.#opts.events.emit("alert-notification", event);
        },
      },
    ];
    const webhook =
      a.slack_webhook ?? (a.slack_webhook_file ? readSecretFile(a.slack_webhook_file, log) : undefined);
    if (webhook) {
      log.addSecret(webhook);
      notifiers.push(new SlackNotifier(webhook));
    }
    if (a.email_notifications && a.email_to && a.smtp) {
      const password = a.smtp.password_file
        ? readSecretFile(a.smtp.password_file, log)
        : env[a.smtp.password_env];
      log.addSecret(password);
      if (a.smtp.user !== undefined && !password)
        log.warn("alerts.smtp.user is set but there is no password: the SMTP login will be refused", {
          hint: a.smtp.password_file
            ? `alerts.smtp.password_file ${a.smtp.password_file} is empty or unreadable`
            : `set the environment variable ${a.smtp.password_env}`,
        });
      notifiers.push(
        new EmailNotifier({
          host: a.smtp.host,
          ...(a.smtp.port !== undefined && { port: a.smtp.port }),
          ...(a.smtp.secure !== undefined && { secure: a.smtp.secure }),
          requireTls: a.smtp.require_tls,
          insecureSkipVerify: a.smtp.insecure_skip_verify,
          ...(a.smtp.user !== undefined && { user: a.smtp.user }),
          ...(password !== undefined && { password }),
          from: a.smtp.from,
          to: a.email_to,
          timeoutMs,
        }),
      );
    } else if (a.email_notifications) {
      log.warn("alerts.email_notifications is on but email cannot be sent", {
        missing: [!a.email_to && "alerts.email_to (or TTS_MONITOR_EMAIL)", !a.smtp && "alerts.smtp.host"]
          .filter(Boolean)
          .join(", "),
      });
    }
    if (this.#opts.desktopNotifications)
      notifiers.push(new DesktopNotifier(timeoutMs, this.#opts.notifySend));
    return new Dispatcher(
      notifiers,
      {
        attempts: a.retry.attempts,
        initialBackoffMs: a.retry.initial_backoff_seconds * 1000,
        maxBackoffMs: a.retry.max_backoff_seconds * 1000,
        timeoutMs,
      },
      registry,
      log,
    );
  }

  /** Adds a rule (the TypeScript API). Throws AlertExpressionError (with the position) or RangeError. */
  add(spec: AlertSpec): { readonly name: string } {
    // The default name is the next free alert_N: a call that throws uses none up, a name given by
    // hand ("alert_2") is skipped rather than refused as a duplicate.
    let n = this.#apiCount + 1;
    while (this.#rules.some((r) => r.name === `alert_${n}`)) n++;
    const rule = this.#add(spec, "api", `alert_${n}`);
    if (spec.name === undefined) this.#apiCount = n;
    this.#opts.log.info("alert rule added", { alert: rule.name, condition: spec.condition });
    return { name: rule.name };
  }

  #add(spec: AlertSpec, origin: Origin, defaultName: string): Rule {
    const condition = parseCondition(spec.condition);
    const name = spec.name ?? defaultName;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name))
      throw new RangeError(`alert name ${JSON.stringify(name)}: letters, digits, '_', '.', '-' (1-64)`);
    if (this.#rules.some((r) => r.name === name))
      throw new RangeError(`an alert named ${JSON.stringify(name)} already exists`);
    const actions =
      spec.action === undefined ? [] : typeof spec.action === "string" ? [spec.action] : [...spec.action];
    for (const a of actions)
      if (!this.#actions.has(a))
        throw new RangeError(
          `no action named ${JSON.stringify(a)} in alerts.actions (defined: ${this.#actions.names.join(", ") || "none"}; actions are read at start)`,
        );
    const channels =
      spec.notification === undefined
        ? undefined
        : typeof spec.notification === "string"
          ? [spec.notification]
          : [...spec.notification];
    for (const c of channels ?? [])
      if (!(CHANNELS as readonly string[]).includes(c))
        throw new RangeError(
          `unknown notification channel ${JSON.stringify(c)} (channels: ${CHANNELS.join(", ")})`,
        );
    const rule: Rule = {
      name,
      origin,
      condition: () => condition,
      actions,
      channels,
      severity: spec.severity ?? "warning",
    };
    this.#rules.push(rule);
    this.#opts.registry.gauge("tts_exporter_alerts_firing").set({ alert: name }, 0);
    return rule;
  }

  /** Turns on threshold and config rules (dashboard) and, with `external`, their notifications and actions (--alerts). */
  enable(flags: { thresholds?: boolean; external?: boolean }): void {
    if (flags.thresholds || flags.external) this.#thresholds = true;
    if (flags.external) this.#external = true;
  }

  get channels(): Channel[] {
    return this.#dispatcher.channels;
  }

  /** The rules taking part now, with their condition as currently in force. */
  rules(): Array<{ name: string; condition: string; origin: Origin; severity: Severity }> {
    return this.#rules
      .filter((r) => this.#active(r))
      .map((r) => ({
        name: r.name,
        condition: r.condition().source,
        origin: r.origin,
        severity: r.severity,
      }));
  }

  /** Alert instances firing now. */
  firing(): AlertEvent[] {
    return [...this.#instances.values()].flatMap((i) => (i.firing ? [i.firing] : []));
  }

  start(): void {
    if (this.#timer) return;
    const ms = this.#opts.source.config.alerts.evaluation_interval_seconds * 1000;
    this.#timer = setInterval(() => this.evaluate(), ms);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#dispatcher.stop();
    // A fresh dispatcher, so a monitor started again can still notify.
    this.#dispatcher = this.#makeDispatcher();
  }

  /** Waits for the notifications in flight (tests). */
  settled(): Promise<void> {
    return this.#dispatcher.settled();
  }

  #active(rule: Rule): boolean {
    return rule.origin === "api" || this.#thresholds;
  }

  /** One evaluation of every active rule (called by the timer; public for tests). */
  evaluate(): void {
    if (!this.#rules.some((r) => this.#active(r)) && this.#instances.size === 0) return;
    const now = this.#now();
    let metrics: CurrentMetrics;
    try {
      metrics = this.#opts.source.getCurrentMetrics();
    } catch (err) {
      this.#opts.log.once("alerts-metrics", "error", "alert evaluation could not read the metrics", {
        error: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    const seen = new Set<string>();
    const staleMs = this.#opts.source.config.alerts.stale_after_seconds * 1000;
    for (const rule of this.#rules) {
      if (!this.#active(rule)) continue;
      const cond = rule.condition();
      let count = 0;
      for (const s of seriesOf(cond, metrics, this.#opts.source, { now, staleMs })) {
        const id = `${rule.name}${s.label ? `{${s.label}="${s.value}"}` : ""}`;
        seen.add(id);
        const inst = this.#instance(id);
        const holds = compare(s.v, cond.op, cond.threshold);
        if (!holds) {
          inst.pendingSince = undefined;
          if (inst.firing) this.#resolve(rule, inst, now, s.v);
          continue;
        }
        inst.pendingSince ??= now;
        if (inst.firing) {
          inst.firing = { ...inst.firing, value: s.v, at: now };
          count++;
          // An episode the cooldown held back still pages once the cooldown is over: a real, lasting
          // problem that started during a flap must not stay silent.
          if (!inst.notified && !this.#cooling(inst, now)) this.#notifyLate(rule, inst, now);
        } else if (now - inst.pendingSince >= cond.forMs) {
          this.#fire(rule, cond, inst, id, s, now);
          count++;
        }
      }
      this.#opts.registry.gauge("tts_exporter_alerts_firing").set({ alert: rule.name }, count);
    }
    // A series that vanished (engine disabled, GPU gone, rule no longer active) resolves.
    for (const [id, inst] of this.#instances) {
      if (seen.has(id)) continue;
      inst.pendingSince = undefined;
      if (inst.firing) {
        const rule = this.#rules.find((r) => r.name === inst.firing?.alert);
        if (rule) this.#resolve(rule, inst, now, undefined);
        if (rule && !this.#active(rule))
          this.#opts.registry.gauge("tts_exporter_alerts_firing").set({ alert: rule.name }, 0);
      }
    }
  }

  #instance(id: string): Instance {
    let inst = this.#instances.get(id);
    if (!inst) {
      inst = { pendingSince: undefined, firing: undefined, notified: false, lastNotifiedAt: undefined };
      this.#instances.set(id, inst);
    }
    return inst;
  }

  #fire(rule: Rule, cond: Condition, inst: Instance, id: string, s: Series, now: number): void {
    const where = s.label ? ` of ${s.label} ${s.value}` : "";
    const event: AlertEvent = {
      id,
      status: "firing",
      alert: rule.name,
      condition: cond.source,
      severity: rule.severity,
      metric: cond.metric,
      op: cond.op,
      ...(s.label === "engine" && { engine: s.value }),
      ...(s.label === "gpu" && { gpu: s.value }),
      value: s.v,
      threshold: cond.threshold,
      summary: `${rule.name}: ${cond.metric}${where} is ${formatValue(cond.metric, s.v)} (${cond.op} ${formatValue(cond.metric, cond.threshold)})`,
      startsAt: now,
      at: now,
    };
    inst.firing = event;
    const cooling = this.#cooling(inst, now);
    inst.notified = !cooling;
    this.#opts.log.warn("alert firing", {
      alert: id,
      value: s.v,
      threshold: cond.threshold,
      condition: cond.source,
      ...(cooling && { notifications: "held back by the cooldown" }),
    });
    this.#opts.events.emit("alert", event);
    this.#dispatch(rule, event, cooling);
    if (!cooling) {
      inst.lastNotifiedAt = now;
      this.#runActions(rule, event);
    }
  }

  #cooling(inst: Instance, now: number): boolean {
    const cooldownMs = this.#opts.source.config.alerts.cooldown_seconds * 1000;
    return inst.lastNotifiedAt !== undefined && now - inst.lastNotifiedAt < cooldownMs;
  }

  /** Notifies (and runs the actions of) an episode that started during the cooldown and still fires after it. */
  #notifyLate(rule: Rule, inst: Instance, now: number): void {
    const event = inst.firing as AlertEvent;
    inst.notified = true;
    inst.lastNotifiedAt = now;
    this.#opts.log.warn("alert still firing after the cooldown; notifying", {
      alert: event.id,
      value: event.value,
      threshold: event.threshold,
      since: new Date(event.startsAt).toISOString(),
    });
    this.#dispatch(rule, event, false);
    this.#runActions(rule, event);
  }

  #runActions(rule: Rule, event: AlertEvent): void {
    if (rule.origin !== "api" && !this.#external) return;
    for (const a of rule.actions) void this.#actions.run(a, event);
  }

  #resolve(rule: Rule, inst: Instance, now: number, value: number | undefined): void {
    const firing = inst.firing as AlertEvent;
    const { value: _old, ...rest } = firing;
    const event: AlertEvent = {
      ...rest,
      status: "resolved",
      ...(value !== undefined && { value }),
      summary: `${firing.alert}${firing.engine !== undefined ? ` on engine ${firing.engine}` : firing.gpu !== undefined ? ` on GPU ${firing.gpu}` : ""} resolved${value !== undefined ? `: ${firing.metric} is ${formatValue(firing.metric, value)}` : `: no current ${firing.metric} value`}`,
      at: now,
    };
    inst.firing = undefined;
    this.#opts.log.info("alert resolved", {
      alert: event.id,
      ...(value !== undefined ? { value } : { reason: "no current value (series gone or stale)" }),
    });
    this.#opts.events.emit("alert", event);
    this.#dispatch(rule, event, !inst.notified);
    // The resolution was a notification too: a flap right after it waits for the cooldown.
    if (inst.notified) inst.lastNotifiedAt = now;
  }

  /** Notifies the rule's channels, unless the cooldown holds this episode back (the panel still shows it). */
  #dispatch(rule: Rule, event: AlertEvent, heldBack: boolean): void {
    if (heldBack) return;
    const external = rule.origin === "api" || this.#external;
    let channels: readonly Channel[];
    if (rule.channels) channels = rule.channels;
    else channels = external ? this.#dispatcher.channels : ["dashboard"];
    if (!external) channels = channels.filter((c) => c === "dashboard");
    // The dashboard always shows alerts on its panel; its pop-up follows alerts.dashboard_alerts.
    if (!this.#opts.source.config.alerts.dashboard_alerts)
      channels = channels.filter((c) => c !== "dashboard");
    for (const c of new Set(channels)) this.#dispatcher.notify(c, event);
  }
}

interface Series {
  readonly label: "engine" | "gpu" | undefined;
  readonly value: string;
  readonly v: number;
}

/**
 * The values a condition applies to: one per engine or GPU (restricted by its selector), or the host's.
 * An engine that is not in the config (one that only reports through ingestion, or one removed by a
 * reload) leaves the evaluation when it has sent nothing for `staleMs`, as a Prometheus series goes
 * stale: its last latency must not hold an alert forever. Configured engines are probed, so they stay.
 */
export function seriesOf(
  cond: Condition,
  m: CurrentMetrics,
  source: AlertSource,
  freshness: { readonly now: number; readonly staleMs: number } = { now: Date.now(), staleMs: 0 },
): Series[] {
  const scope = ALERT_METRICS[cond.metric].scope;
  const out: Series[] = [];
  const push = (label: Series["label"], value: string, v: number | undefined) => {
    if (v === undefined || !Number.isFinite(v)) return;
    if (cond.selector && (cond.selector.label !== label || cond.selector.value !== value)) return;
    out.push({ label, value, v });
  };
  if (scope === "host") {
    const pct = (r: number | undefined) => (r === undefined ? undefined : r * 100);
    const v =
      cond.metric === "memory"
        ? pct(m.memoryUsageRatio)
        : cond.metric === "swap"
          ? pct(m.swapUsageRatio)
          : pct(m.cpuUsageRatio);
    push(undefined, "", v);
    return out;
  }
  if (scope === "gpu") {
    for (const g of m.gpus) {
      const v =
        cond.metric === "gpu_temp"
          ? g.temperatureCelsius
          : cond.metric === "gpu_usage"
            ? g.usagePercent
            : g.memoryUsageRatio === undefined
              ? undefined
              : g.memoryUsageRatio * 100;
      push("gpu", g.gpu, v);
    }
    return out;
  }
  for (const [name, e] of Object.entries(m.engines)) {
    const configured = source.config.engines.find((e) => e.name === name);
    // A disabled engine's last values would otherwise hold its alerts forever.
    if (configured?.enabled === false) continue;
    if (!configured && freshness.staleMs > 0) {
      const last = Math.max(e.lastAttemptAt ?? 0, e.probe?.at ?? 0);
      if (last > 0 && freshness.now - last > freshness.staleMs) continue;
    }
    push("engine", name, engineValue(cond.metric, e));
  }
  return out;
}

function engineValue(metric: AlertMetric, e: EngineSnapshot): number | undefined {
  switch (metric) {
    case "latency":
      return e.latencyMs;
    case "latency_p50":
      return e.latencyP50Ms;
    case "latency_p95":
      return e.latencyP95Ms;
    case "latency_p95_5m":
      return e.latencyP95WindowMs;
    case "rtf":
      return e.realTimeFactor;
    case "quality":
      return e.qualityScore;
    case "cache_hit_rate":
      return e.cacheHitRate;
    case "success_ratio":
      return e.successRatio;
    case "ttfa":
      return e.probe?.ttfaMs;
    case "throughput":
      return e.probe?.throughputCharsPerSecond;
    case "probe_success":
      return e.probe === undefined ? undefined : e.probe.success ? 1 : 0;
    default:
      return undefined;
  }
}

function specFromConfig(r: Exclude<Config["alerts"]["rules"][number], string>): AlertSpec {
  return {
    condition: r.condition,
    severity: r.severity,
    ...(r.name !== undefined && { name: r.name }),
    ...(r.action !== undefined && { action: r.action }),
    ...(r.notification !== undefined && { notification: r.notification }),
  };
}

/** A channel's secret file (readSecret); unreadable or empty is not fatal: the channel stays off, one line says why. */
function readSecretFile(file: string, log: Logger): string | undefined {
  try {
    return readSecret(file);
  } catch (err) {
    log.error("cannot read a secret file; the channel that needs it is off", {
      file,
      error: err instanceof Error ? err.message : String(err),
    });
    return undefined;
  }
}
