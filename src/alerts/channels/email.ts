import type { Transporter } from "nodemailer";
import { type AlertEvent, DeliveryError, type Notifier } from "../types.ts";

export interface SmtpSettings {
  readonly host: string;
  /** Default: 465 when secure, else 587 (nodemailer's). */
  readonly port?: number;
  /** Default: true on port 465, else false (nodemailer's); false upgrades with STARTTLS when offered. */
  readonly secure?: boolean;
  /** Fail rather than send in the clear when the server does not offer STARTTLS. */
  readonly requireTls?: boolean;
  /** Accept a server certificate that does not verify. */
  readonly insecureSkipVerify?: boolean;
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
  // nodemailer is loaded at the first e-mail, not at start (about 0.1 s of start-up CPU; docs/benchmarks.md).
  #transport: Promise<Transporter> | undefined;

  constructor(private readonly settings: SmtpSettings) {}

  #createTransport(): Promise<Transporter> {
    const settings = this.settings;
    this.#transport ??= import("nodemailer").then(({ default: nodemailer }) =>
      // secure and port are passed only when set: nodemailer then pairs them itself (465 is implicit
      // TLS), whereas an explicit secure: false on 465 waits for a greeting that never comes.
      nodemailer.createTransport({
        host: settings.host,
        ...(settings.port !== undefined && { port: settings.port }),
        ...(settings.secure !== undefined && { secure: settings.secure }),
        ...(settings.requireTls && { requireTLS: true }),
        ...(settings.insecureSkipVerify && { tls: { rejectUnauthorized: false } }),
        ...(settings.user !== undefined && { auth: { user: settings.user, pass: settings.password ?? "" } }),
        // Every phase has a deadline, so a dead or silent server costs one attempt, never a hang.
        connectionTimeout: settings.timeoutMs,
        greetingTimeout: settings.timeoutMs,
        socketTimeout: settings.timeoutMs,
        dnsTimeout: settings.timeoutMs,
      }),
    );
    return this.#transport;
  }

  async send(event: AlertEvent, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const sending = this.#createTransport().then((transport) =>
      transport.sendMail({
        from: this.settings.from,
        to: this.settings.to,
        subject: emailSubject(event),
        text: emailBody(event),
      }),
    );
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
          reject(classify(err));
        },
      );
    });
  }

  close(): void {
    void this.#transport?.then((transport) => transport.close());
  }
}

/**
 * A refused login or a 5xx answer (550 no such mailbox, 553 sender refused) is the same on every
 * retry; 4xx answers (421, 451) and network errors are worth another attempt.
 */
function classify(err: unknown): unknown {
  const e = err as { code?: string; responseCode?: number; message?: string } | undefined;
  const permanent = e?.code === "EAUTH" || (typeof e?.responseCode === "number" && e.responseCode >= 500);
  if (!permanent) return err;
  const what = e?.code === "EAUTH" ? "SMTP login refused" : `SMTP server answered ${e?.responseCode}`;
  // errorMessage() appends the cause's message (nodemailer's, with the server's answer).
  return new DeliveryError(what, {
    retryable: false,
    cause: err instanceof Error ? err : new Error(String(err)),
  });
}
