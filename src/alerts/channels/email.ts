import nodemailer from "nodemailer";
import type { AlertEvent, Notifier } from "../types.ts";

export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly user?: string;
  readonly password?: string;
  readonly from: string;
  readonly to: string;
  readonly timeoutMs: number;
}

export function emailSubject(event: AlertEvent): string {
  return `[${event.status.toUpperCase()}] ${event.alert}${event.engine !== undefined ? ` engine=${event.engine}` : ""}${event.gpu !== undefined ? ` gpu=${event.gpu}` : ""}`;
}

export function emailBody(event: AlertEvent): string {
  const lines = [
    event.summary,
    "",
    `status:     ${event.status}`,
    `alert:      ${event.alert}`,
    `severity:   ${event.severity}`,
    ...(event.engine !== undefined ? [`engine:     ${event.engine}`] : []),
    ...(event.gpu !== undefined ? [`gpu:        ${event.gpu}`] : []),
    ...(event.value !== undefined ? [`value:      ${event.value}`] : []),
    `threshold:  ${event.threshold}`,
    `condition:  ${event.condition}`,
    `since:      ${new Date(event.startsAt).toISOString()}`,
    `at:         ${new Date(event.at).toISOString()}`,
    "",
    "-- tts-performance-monitor (in-process alerts)",
  ];
  return `${lines.join("\n")}\n`;
}

export class EmailNotifier implements Notifier {
  readonly channel = "email" as const;
  readonly #transport: ReturnType<typeof nodemailer.createTransport>;

  constructor(private readonly settings: SmtpSettings) {
    this.#transport = nodemailer.createTransport({
      host: settings.host,
      port: settings.port,
      secure: settings.secure,
      ...(settings.user !== undefined && { auth: { user: settings.user, pass: settings.password ?? "" } }),
      connectionTimeout: settings.timeoutMs,
      greetingTimeout: settings.timeoutMs,
      socketTimeout: settings.timeoutMs,
    });
  }

  async send(event: AlertEvent, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const sending = this.#transport.sendMail({
      from: this.settings.from,
      to: this.settings.to,
      subject: emailSubject(event),
      text: emailBody(event),
    });
    // nodemailer takes no AbortSignal: race it, so a hung server cannot hold the retry loop.
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason ?? new Error("aborted"));
      signal.addEventListener("abort", onAbort, { once: true });
      sending.then(
        () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
  }

  close(): void {
    this.#transport.close();
  }
}
