import { z } from 'zod';
import { DurationSchema } from '@warden/protocol';

// zod 4: `.prefault` parses the default like an input (`.default` would skip parsing).
const d = (v: string) => DurationSchema.prefault(v);

/** Receiver names: referenced from rules, `default_receivers` and escalation tiers. */
export const RECEIVER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const NameSchema = z
  .string()
  .max(128, 'must be at most 128 characters')
  .regex(RECEIVER_NAME_PATTERN, 'must start with a letter or digit, then letters, digits, _ . -');

/** How the delivery side retries a failed attempt: exponential backoff with jitter. */
export const BackoffSchema = z
  .strictObject({
    /** Wait before the second attempt. @defaultValue 1s */
    initial: d('1s'),
    /** Longest wait between two attempts. @defaultValue 1m */
    max: d('1m'),
    /** Each wait is the previous one times this. @defaultValue 2 */
    multiplier: z
      .number()
      .finite()
      .min(1, 'must be at least 1')
      .max(10, 'must be at most 10')
      .default(2),
  })
  .superRefine((v, ctx) => {
    if (v.max < v.initial)
      ctx.addIssue({ code: 'custom', path: ['max'], message: 'must be at least backoff.initial' });
  });

export type BackoffConfig = z.output<typeof BackoffSchema>;

/**
 * Delivery keys shared by the receivers that talk to something outside the process, with the
 * per-type defaults: how long one attempt may take, and how often it is tried.
 */
function deliveryKeys(timeout: string, maxAttempts: number) {
  return {
    /** Longest wait for one attempt; then it is aborted and counts as failed. */
    timeout: d(timeout).refine((ms) => ms > 0, 'must be more than 0'),
    /** Attempts per notification, the first included; 1 = no retry. */
    max_attempts: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(100, 'must be at most 100')
      .default(maxAttempts),
    /** Waits between attempts. @defaultValue { initial: 1s, max: 1m, multiplier: 2 } */
    backoff: BackoffSchema.prefault({}),
  };
}

/** `type: console` — a structured log line per notification (always available as `console`). */
export const ConsoleReceiverConfigSchema = z.strictObject({
  name: NameSchema,
  type: z.literal('console'),
  /** pino level of a firing notification; resolved ones are logged at `info`. @defaultValue "warn" */
  level: z.enum(['info', 'warn', 'error']).default('warn'),
});

/** `type: webhook` — POST of an Alertmanager-v4-like JSON body with a Slack-compatible `text`. */
export const WebhookReceiverConfigSchema = z.strictObject({
  name: NameSchema,
  type: z.literal('webhook'),
  /** `http://` or `https://`; `user:pass@` becomes a Basic Authorization header. */
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  /** Extra request headers (e.g. `Authorization: Bearer …`). @defaultValue {} */
  headers: z.record(z.string().min(1), z.string()).default({}),
  /** Also notify when a group resolves. @defaultValue true */
  send_resolved: z.boolean().default(true),
  /** @defaultValue timeout 5s, max_attempts 5 */
  ...deliveryKeys('5s', 5),
});

/** `type: email` — one plain-text mail per notification through `alerts.smtp`. */
export const EmailReceiverConfigSchema = z.strictObject({
  name: NameSchema,
  type: z.literal('email'),
  /** Recipients. */
  to: z.array(z.email('must be an e-mail address')).min(1, 'needs at least one address'),
  /** Put before the notification's text in the subject. @defaultValue "[warden]" */
  subject_prefix: z.string().max(100, 'must be at most 100 characters').default('[warden]'),
  /** Also notify when a group resolves. @defaultValue true */
  send_resolved: z.boolean().default(true),
  /** @defaultValue timeout 30s, max_attempts 5 */
  ...deliveryKeys('30s', 5),
});

/** `type: tmux` — one line typed into a pane (`send-keys -l`) and Enter. */
export const TmuxReceiverConfigSchema = z.strictObject({
  name: NameSchema,
  type: z.literal('tmux'),
  /** The pane: `session:window.pane`, `session:window`, `session` or a pane id (`%3`). */
  target: z
    .string()
    .min(1, 'must not be empty')
    .max(200, 'must be at most 200 characters')
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u001f\u007f\s]*$/, 'must be a tmux target such as "fleet:0.1"'),
  /** Also type a line when a group resolves (off: a pane is someone's input). @defaultValue false */
  send_resolved: z.boolean().default(false),
  /**
   * Pause between the text and Enter: agent TUIs take a burst of keys for a paste and may
   * swallow an Enter in the same burst. @defaultValue 500ms
   */
  enter_delay: d('500ms'),
  /** @defaultValue timeout 5s, max_attempts 3 */
  ...deliveryKeys('5s', 3),
});

/** One entry of `alerts.receivers`, told apart by `type`. */
export const ReceiverConfigSchema = z.discriminatedUnion(
  'type',
  [
    ConsoleReceiverConfigSchema,
    WebhookReceiverConfigSchema,
    EmailReceiverConfigSchema,
    TmuxReceiverConfigSchema,
  ],
  { error: 'must be one of console, webhook, email, tmux' },
);

export type ReceiverConfig = z.output<typeof ReceiverConfigSchema>;
export type ConsoleReceiverConfig = z.output<typeof ConsoleReceiverConfigSchema>;
export type WebhookReceiverConfig = z.output<typeof WebhookReceiverConfigSchema>;
export type EmailReceiverConfig = z.output<typeof EmailReceiverConfigSchema>;
export type TmuxReceiverConfig = z.output<typeof TmuxReceiverConfigSchema>;

/** `alerts.smtp` — the mail server every `email` receiver sends through. */
export const SmtpConfigSchema = z
  .strictObject({
    /** The mail server's host name or address (required). */
    host: z.string().min(1, 'must not be empty'),
    /** @defaultValue 25 */
    port: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be a port (1-65535)')
      .max(65535, 'must be a port (1-65535)')
      .default(25),
    /** TLS from the first byte (port 465); false = plain, upgraded by STARTTLS when offered. @defaultValue false */
    secure: z.boolean().default(false),
    /** Refuse to send unless the server upgrades with STARTTLS. @defaultValue false */
    require_tls: z.boolean().default(false),
    /** Envelope and header sender. @defaultValue "warden@localhost" */
    from: z.string().min(1, 'must not be empty').default('warden@localhost'),
    /** SMTP AUTH user. @defaultValue none */
    user: z.string().min(1, 'must not be empty').optional(),
    /** SMTP AUTH password; never logged. @defaultValue none */
    pass: z.string().optional(),
    /** Connection, greeting and socket timeout. @defaultValue 10s */
    timeout: d('10s').refine((ms) => ms > 0, 'must be more than 0'),
  })
  .superRefine((v, ctx) => {
    if (v.pass !== undefined && v.user === undefined)
      ctx.addIssue({ code: 'custom', path: ['user'], message: 'is required when pass is set' });
  });

export type SmtpConfig = z.output<typeof SmtpConfigSchema>;
