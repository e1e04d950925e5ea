import { clip, errorMessage, type Logger } from "../log.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { RunError, runCommand } from "../util/exec.ts";
import type { ActionConfig } from "./schema.ts";
import type { AlertEvent } from "./types.ts";

export type ActionResult = "success" | "failure" | "timeout";

/**
 * Runs the named actions of alerts.actions: an HTTP call to the user's own endpoint (e.g. a TTS
 * admin API that warms or trims its cache) or a program run without a shell. The alert travels as a
 * JSON body for webhooks and as TTS_ALERT_* environment variables for commands, never spliced into
 * a command line.
 */
export class ActionRunner {
  constructor(
    private readonly actions: Readonly<Record<string, ActionConfig>>,
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly registry: MetricsRegistry,
    private readonly log: Logger,
  ) {
    for (const name of Object.keys(actions))
      for (const result of ["success", "failure", "timeout"] as const)
        registry.counter("tts_exporter_alert_actions_total").inc({ action: name, result }, 0);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.actions, name);
  }

  get names(): string[] {
    return Object.keys(this.actions);
  }

  /** Runs one action; never rejects (the evaluator fires and forgets), the outcome is logged and counted. */
  async run(name: string, event: AlertEvent): Promise<ActionResult> {
    const action = Object.hasOwn(this.actions, name) ? this.actions[name] : undefined;
    if (!action) {
      this.log.error("alert action failed", { action: name, alert: event.id, detail: "no such action" });
      return "failure";
    }
    const started = performance.now();
    let result: ActionResult;
    let detail: string | undefined;
    try {
      detail =
        action.url !== undefined ? await this.#webhook(action, event) : await this.#command(action, event);
      result = "success";
    } catch (err) {
      const timedOut =
        (err instanceof RunError && err.kind === "timeout") ||
        (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError"));
      result = timedOut ? "timeout" : "failure";
      detail = errorMessage(err);
    }
    this.registry.counter("tts_exporter_alert_actions_total").inc({ action: name, result });
    const fields = {
      action: name,
      alert: event.id,
      result,
      duration_ms: Math.round(performance.now() - started),
      ...(detail !== undefined && { detail }),
    };
    if (result === "success") this.log.info("alert action ran", fields);
    else this.log.error("alert action failed", fields);
    return result;
  }

  async #webhook(action: ActionConfig, event: AlertEvent): Promise<string> {
    const headers: Record<string, string> = { ...action.headers };
    for (const [header, variable] of Object.entries(action.header_env)) {
      const value = this.env[variable];
      if (value === undefined)
        throw new Error(`header ${header}: environment variable ${variable} is not set`);
      this.log.addSecret(value);
      headers[header] = value;
    }
    const hasBody = action.method !== "GET" && action.method !== "DELETE";
    if (hasBody) headers["content-type"] ??= "application/json";
    const res = await fetch(action.url as string, {
      method: action.method,
      headers,
      ...(hasBody && { body: JSON.stringify(event) }),
      signal: AbortSignal.timeout(action.timeout_seconds * 1000),
    });
    const body = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${clip(body, 200)}`);
    return `HTTP ${res.status}`;
  }

  async #command(action: ActionConfig, event: AlertEvent): Promise<string> {
    const [file, ...args] = action.command as string[];
    const r = await runCommand(file as string, args, {
      timeoutMs: action.timeout_seconds * 1000,
      maxBuffer: 1024 * 1024,
      env: {
        ...process.env,
        TTS_ALERT_NAME: event.alert,
        TTS_ALERT_ID: event.id,
        TTS_ALERT_STATUS: event.status,
        TTS_ALERT_SUMMARY: event.summary,
        TTS_ALERT_ENGINE: event.engine ?? "",
        TTS_ALERT_GPU: event.gpu ?? "",
        TTS_ALERT_VALUE: event.value === undefined ? "" : String(event.value),
        TTS_ALERT_THRESHOLD: String(event.threshold),
      },
    });
    return `exit code 0${r.stdout.length ? `: ${clip(r.stdout.toString("utf8").trim(), 200)}` : ""}`;
  }
}
