import type { Logger } from 'pino';
import type { DeliverableReceiver } from './notification-delivery.js';
import type { ReceiverConfig, SmtpConfig } from './receiver-config.js';
import type { TmuxCommandRunner } from './tmux-receiver.js';

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
}

/** The receivers to hand to NotificationDelivery, and the names used when a rule names none. */
export interface BuiltReceivers {
  receivers: DeliverableReceiver[];
  defaults: string[];
}

/** Turns receiver config into receivers; throws ConfigError naming the key on a bad combination. */
export function buildReceivers(_opts: BuildReceiversOptions): BuiltReceivers {
  throw new Error('not implemented yet');
}
