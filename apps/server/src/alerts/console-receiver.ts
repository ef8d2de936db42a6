import type { Logger } from 'pino';
import type { DeliverableReceiver } from './notification-delivery.js';
import type { AlertNotification } from './receiver.js';
import type { ConsoleReceiverConfig } from './receiver-config.js';

/**
 * `type: console` — one structured pino line per notification, with every alert's labels,
 * value and times as fields, so a log pipeline can route on them. Firing notifications are
 * logged at the configured level, resolved ones at `info`. It cannot fail, so it is the
 * receiver of last resort when nothing else is configured.
 */
export class ConsoleReceiver implements DeliverableReceiver {
  readonly type = 'console';
  readonly name: string;
  readonly retry = { maxAttempts: 1 };
  private readonly log: Logger;
  private readonly level: ConsoleReceiverConfig['level'];

  constructor(config: Pick<ConsoleReceiverConfig, 'name' | 'level'>, log: Logger) {
    this.name = config.name;
    this.level = config.level;
    this.log = log.child({ component: 'alerts', receiver: config.name });
  }

  async send(n: AlertNotification): Promise<void> {
    const fields = {
      groupKey: n.groupKey,
      status: n.status,
      groupLabels: n.groupLabels,
      ...(n.escalation ? { escalation: n.escalation } : {}),
      alerts: n.alerts.map((a) => ({
        id: a.id,
        rule: a.rule,
        status: a.status,
        labels: a.labels,
        annotations: a.annotations,
        value: a.value,
        startsAt: new Date(a.startsAt).toISOString(),
        endsAt: a.endsAt === null ? null : new Date(a.endsAt).toISOString(),
        acknowledged: a.acknowledged,
        fingerprint: a.fingerprint,
      })),
    };
    const level = n.status === 'resolved' ? 'info' : this.level;
    this.log[level](fields, n.text);
  }
}
