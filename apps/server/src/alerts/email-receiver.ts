import { createTransport, type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import {
  DeliveryError,
  retryFromConfig,
  type DeliverableReceiver,
  type RetryPolicy,
} from './notification-delivery.js';
import type { AlertNotification, NotifiedAlert } from './receiver.js';
import type { EmailReceiverConfig, SmtpConfig } from './receiver-config.js';

/** The subject line: prefix and the notification's one-line text, no line breaks. */
export function emailSubject(n: AlertNotification, prefix: string): string {
  // eslint-disable-next-line no-control-regex
  const text = n.text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return (prefix === '' ? text : `${prefix} ${text}`).slice(0, 250);
}

/** The plain-text body: a summary, then each alert with labels, value, times and ack state. */
export function emailBody(n: AlertNotification): string {
  const firing = n.alerts.filter((a) => a.status === 'firing').length;
  const lines = [
    n.text,
    '',
    `Status: ${n.status.toUpperCase()} (${firing} firing, ${n.alerts.length - firing} resolved)`,
    `Group: ${n.groupKey}`,
  ];
  if (Object.keys(n.groupLabels).length > 0) lines.push(`Grouped by: ${labelText(n.groupLabels)}`);
  if (n.escalation)
    lines.push(
      `Escalation: tier ${n.escalation.tier + 1}, unacknowledged for ${Math.round(n.escalation.afterMs / 1000)} s`,
    );
  for (const a of n.alerts) lines.push('', ...alertLines(a));
  lines.push('', `Sent by Warden at ${iso(n.at)}.`);
  return `${lines.join('\n')}\n`;
}

function alertLines(a: NotifiedAlert): string[] {
  const out = [`[${a.status.toUpperCase()}] ${a.rule}${a.value === null ? '' : ` = ${a.value}`}`];
  out.push(`  Labels: ${labelText(a.labels)}`);
  for (const [k, v] of Object.entries(a.annotations)) out.push(`  ${k}: ${v}`);
  out.push(`  Started: ${iso(a.startsAt)}`);
  if (a.endsAt !== null) out.push(`  Ended: ${iso(a.endsAt)}`);
  out.push(`  Acknowledged: ${a.acknowledged ? 'yes' : 'no'}`);
  out.push(`  Id: ${a.id}  Fingerprint: ${a.fingerprint}`);
  return out;
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? '(none)' : parts.join(', ');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The slice of a nodemailer transport the receiver uses. */
export interface MailTransport {
  sendMail(mail: { from: string; to: string[]; subject: string; text: string }): Promise<unknown>;
  close(): void;
}

/** A nodemailer SMTP transport for `alerts.smtp`; one per receiver, reused for every mail. */
export function smtpTransport(smtp: SmtpConfig): MailTransport {
  const options: SMTPTransport.Options = {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: smtp.require_tls,
    connectionTimeout: smtp.timeout,
    greetingTimeout: smtp.timeout,
    socketTimeout: smtp.timeout,
    // nodemailer's own logging could print the AUTH exchange: never on.
    logger: false,
    debug: false,
  };
  if (smtp.user !== undefined) options.auth = { user: smtp.user, pass: smtp.pass ?? '' };
  const transport: Transporter<SMTPTransport.SentMessageInfo> = createTransport(options);
  return transport;
}

/**
 * `type: email` — one plain-text mail per notification through the configured SMTP server.
 * A 4xx reply (greylisting, a full queue) is transient and retried; a 5xx reply (unknown
 * mailbox, relaying denied, bad credentials) will not change on a retry, so it is reported at
 * once. The SMTP password is in {@link EmailReceiver.secrets}, so no error shows it.
 */
export class EmailReceiver implements DeliverableReceiver {
  readonly type = 'email';
  readonly name: string;
  readonly retry: Partial<RetryPolicy>;
  readonly sendResolved: boolean;
  readonly secrets: string[];
  private readonly to: string[];
  private readonly from: string;
  private readonly prefix: string;
  private readonly transport: MailTransport;

  constructor(config: EmailReceiverConfig, smtp: SmtpConfig, transport?: MailTransport) {
    this.name = config.name;
    this.to = [...config.to];
    this.from = smtp.from;
    this.prefix = config.subject_prefix;
    this.sendResolved = config.send_resolved;
    this.retry = retryFromConfig(config);
    this.secrets = smtp.pass === undefined || smtp.pass === '' ? [] : [smtp.pass];
    this.transport = transport ?? smtpTransport(smtp);
  }

  async send(n: AlertNotification, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason;
    try {
      await this.transport.sendMail({
        from: this.from,
        to: this.to,
        subject: emailSubject(n, this.prefix),
        text: emailBody(n),
      });
    } catch (error) {
      const e = error as {
        responseCode?: unknown;
        code?: unknown;
        response?: unknown;
        message?: unknown;
      };
      const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
      const reply = typeof e.response === 'string' ? e.response : String(e.message ?? error);
      const what = typeof e.code === 'string' ? `${e.code}: ` : '';
      throw new DeliveryError(
        `SMTP send failed: ${what}${reply.replace(/\s+/g, ' ').trim().slice(0, 300)}`,
        {
          retryable: code === undefined || code < 500,
          cause: error,
        },
      );
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
