import { RunError, runCommand } from "../../util/exec.ts";
import { type AlertEvent, DeliveryError, type Notifier } from "../types.ts";

/**
 * The body as notify-send passes it on: it runs the body through g_strcompress (so "\n" in an
 * engine name would become a line break: backslashes are doubled), and notification servers read
 * the body as markup (https://specifications.freedesktop.org/notification-spec/, "Markup"), where
 * a bare & or < breaks the text ("quality ... (< 0.8)").
 */
export function notifySendBody(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/&/g, "&amp;").replace(/</g, "&lt;");
}

/**
 * notify-send's arguments: no shell, the summary and body as separate argv entries after "--", so
 * that a title or summary starting with "-" (rule names may) is not read as an option.
 */
export function notifySendArgs(event: AlertEvent): string[] {
  const firing = event.status === "firing";
  return [
    "--app-name=tts-monitor",
    `--urgency=${firing ? (event.severity === "critical" ? "critical" : "normal") : "low"}`,
    "--",
    `${firing ? "Alert firing" : "Alert resolved"}: ${event.alert}`,
    notifySendBody(event.summary),
  ];
}

/** Desktop notifications through notify-send (Debian package libnotify-bin), found on PATH. */
export class DesktopNotifier implements Notifier {
  readonly channel = "desktop" as const;
  constructor(
    private readonly timeoutMs: number,
    private readonly program = "notify-send",
  ) {}

  async send(event: AlertEvent, signal: AbortSignal): Promise<void> {
    try {
      await runCommand(this.program, notifySendArgs(event), { timeoutMs: this.timeoutMs, signal });
    } catch (err) {
      if (!(err instanceof RunError)) throw err;
      // No notify-send, or one that cannot reach a notification server (no D-Bus session on a
      // headless box): the same on every alert, so one log line, not one per alert and retry.
      if (err.kind === "not_found" || err.kind === "spawn")
        throw new DeliveryError(
          `${this.program} ${err.kind === "not_found" ? "is not on PATH" : "cannot be run"} (Debian package libnotify-bin); desktop notifications are off`,
          { retryable: false, logOnce: `desktop-${err.kind}`, cause: err },
        );
      if (err.kind === "exit")
        throw new DeliveryError(`${this.program} failed`, {
          retryable: false,
          logOnce: `desktop-exit-${err.result?.stderr.split("\n")[0] ?? ""}`,
          cause: err,
        });
      throw err;
    }
  }
}
