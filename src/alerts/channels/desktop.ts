import { RunError, runCommand } from "../../util/exec.ts";
import type { AlertEvent, Notifier } from "../types.ts";

/** notify-send's arguments: no shell, the summary and body as separate argv entries. */
export function notifySendArgs(event: AlertEvent): string[] {
  const firing = event.status === "firing";
  return [
    "--app-name=tts-monitor",
    `--urgency=${firing ? (event.severity === "critical" ? "critical" : "normal") : "low"}`,
    `${firing ? "Alert firing" : "Alert resolved"}: ${event.alert}`,
    event.summary,
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
      if (err instanceof RunError && err.kind === "not_found")
        throw new Error(`${this.program} is not on PATH (Debian package libnotify-bin)`, { cause: err });
      throw err;
    }
  }
}
