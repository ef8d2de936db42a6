import { describe, expect, it } from 'vitest';
import { systemClock } from '../clock.js';
import { alertNotification, notifiedAlert } from '../test-support/alert-notification.js';
import { LEVEL, LogCapture } from '../test-support/log-capture.js';
import { ConsoleReceiver } from './console-receiver.js';
import { NotificationDelivery } from './notification-delivery.js';

describe('console receiver', () => {
  it('logs one structured line per notification with every alert, at the configured level', async () => {
    const logs = new LogCapture();
    const d = new NotificationDelivery({
      receivers: [new ConsoleReceiver({ name: 'console', level: 'error' }, logs.logger)],
      clock: systemClock,
      log: logs.logger,
    });
    const n = alertNotification('console', { escalation: { tier: 1, afterMs: 60_000 } });
    expect(await d.deliver(n)).toEqual({ ok: true, attempts: 1, outcome: 'sent' });
    const [line] = logs.matching(/agent-cpu-high w1 CPU/);
    expect(line).toMatchObject({
      level: LEVEL.error,
      component: 'alerts',
      receiver: 'console',
      msg: n.text,
      groupKey: n.groupKey,
      status: 'firing',
      groupLabels: { agentId: 'w1' },
      escalation: { tier: 1, afterMs: 60_000 },
      alerts: [
        {
          id: 'al-1',
          rule: 'agent-cpu-high',
          status: 'firing',
          labels: n.alerts[0]!.labels,
          annotations: n.alerts[0]!.annotations,
          value: 93.5,
          startsAt: '2026-01-02T03:04:05.000Z',
          endsAt: null,
          acknowledged: false,
          fingerprint: 'fp-1',
        },
      ],
    });
    await d.close();
  });

  it('logs a resolved notification at info', async () => {
    const logs = new LogCapture();
    const r = new ConsoleReceiver({ name: 'console', level: 'warn' }, logs.logger);
    await r.send(
      alertNotification('console', {
        status: 'resolved',
        text: 'resolved: cpu',
        alerts: [notifiedAlert({ status: 'resolved', endsAt: Date.UTC(2026, 0, 2, 4) })],
      }),
    );
    expect(logs.matching(/resolved: cpu/)[0]).toMatchObject({
      level: LEVEL.info,
      alerts: [{ endsAt: '2026-01-02T04:00:00.000Z' }],
    });
  });
});
