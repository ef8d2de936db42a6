import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import { ConsoleReceiver } from './console-receiver.js';
import { EmailReceiver, type MailTransport } from './email-receiver.js';
import type { DeliverableReceiver } from './notification-delivery.js';
import {
  EmailReceiverConfigSchema,
  WebhookReceiverConfigSchema,
  type ReceiverConfig,
  type SmtpConfig,
} from './receiver-config.js';
import {
  TmuxReceiver,
  execFileTmuxCommandRunner,
  type TmuxCommandRunner,
} from './tmux-receiver.js';
import { WebhookReceiver } from './webhook-receiver.js';

/** Options of {@link buildReceivers}: the parsed config sections that define receivers. */
export interface BuildReceiversOptions {
  alerts: {
    receivers: readonly ReceiverConfig[];
    smtp?: SmtpConfig | undefined;
    default_receivers?: readonly string[] | undefined;
  };
  /** SPEC §9's `monitoring.alerts` block: defines receivers `email` and `webhook`. */
  monitoring?: {
    alerts?:
      | {
          email?: { enabled: boolean; recipients: readonly string[] } | undefined;
          webhook?: { enabled: boolean; url?: string | undefined } | undefined;
        }
      | undefined;
  };
  log: Logger;
  /** Runs tmux for `tmux` receivers. @defaultValue the `tmux` binary on PATH, default socket */
  tmux?: TmuxCommandRunner;
  /** Mail transport for `email` receivers (tests). @defaultValue a nodemailer SMTP transport per receiver */
  mailTransport?: (smtp: SmtpConfig) => MailTransport;
}

/** The receivers to hand to NotificationDelivery, and the names used when a rule names none. */
export interface BuiltReceivers {
  receivers: DeliverableReceiver[];
  defaults: string[];
}

/** The receiver that always exists, and the default when nothing else is. */
export const CONSOLE_RECEIVER = 'console';

/**
 * Turns receiver config into receivers. `monitoring.alerts.email` / `.webhook` (SPEC §9)
 * define receivers named `email` and `webhook` and are the defaults unless
 * `alerts.default_receivers` names others; `console` always exists (a configured receiver of
 * that name replaces it) and is the default when nothing else is. Throws a ConfigError naming
 * the key on a duplicate name, an e-mail receiver without `alerts.smtp`, or an unknown
 * default receiver. Builds nothing that connects: transports open on the first send.
 */
export function buildReceivers(opts: BuildReceiversOptions): BuiltReceivers {
  const configs: { key: string; config: ReceiverConfig }[] = [];
  const keyOf = new Map<string, string>();
  const add = (key: string, config: ReceiverConfig) => {
    const other = keyOf.get(config.name);
    if (other !== undefined)
      throw new ConfigError(
        `${key}: duplicate receiver name "${config.name}" (already defined by ${other})`,
        key,
      );
    keyOf.set(config.name, key);
    configs.push({ key, config });
  };

  opts.alerts.receivers.forEach((config, i) => add(`alerts.receivers.${i}.name`, config));

  const legacy = opts.monitoring?.alerts;
  const legacyDefaults: string[] = [];
  if (legacy?.email?.enabled) {
    add(
      'monitoring.alerts.email',
      EmailReceiverConfigSchema.parse({
        name: 'email',
        type: 'email',
        to: [...legacy.email.recipients],
      }),
    );
    legacyDefaults.push('email');
  }
  if (legacy?.webhook?.enabled && legacy.webhook.url !== undefined) {
    add(
      'monitoring.alerts.webhook',
      WebhookReceiverConfigSchema.parse({
        name: 'webhook',
        type: 'webhook',
        url: legacy.webhook.url,
      }),
    );
    legacyDefaults.push('webhook');
  }
  if (!keyOf.has(CONSOLE_RECEIVER))
    configs.unshift({
      key: 'built-in',
      config: { name: CONSOLE_RECEIVER, type: 'console', level: 'warn' },
    });

  const smtp = opts.alerts.smtp;
  const emailing = configs.find((c) => c.config.type === 'email');
  if (emailing && smtp === undefined)
    throw new ConfigError(
      `alerts.smtp: is required for the e-mail receiver "${emailing.config.name}" (${emailing.key.replace(/\.name$/, '')}); set alerts.smtp.host (and port, from)`,
      'alerts.smtp',
    );

  let defaults: string[];
  if (opts.alerts.default_receivers !== undefined) {
    defaults = [...opts.alerts.default_receivers];
    defaults.forEach((name, i) => {
      if (!configs.some((c) => c.config.name === name))
        throw new ConfigError(
          `alerts.default_receivers.${i}: unknown receiver "${name}" (known: ${configs.map((c) => c.config.name).join(', ')})`,
          `alerts.default_receivers.${i}`,
        );
    });
  } else {
    defaults = legacyDefaults.length > 0 ? legacyDefaults : [CONSOLE_RECEIVER];
  }

  let tmux = opts.tmux;
  const receivers = configs.map(({ config }): DeliverableReceiver => {
    switch (config.type) {
      case 'console':
        return new ConsoleReceiver(config, opts.log);
      case 'webhook':
        return new WebhookReceiver(config);
      case 'email':
        return new EmailReceiver(config, smtp!, opts.mailTransport?.(smtp!));
      case 'tmux':
        tmux ??= execFileTmuxCommandRunner();
        return new TmuxReceiver(config, tmux);
    }
  });
  return { receivers, defaults };
}
