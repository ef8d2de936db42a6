import type { AlertNotification, NotifiedAlert } from '../alerts/receiver.js';

/** A firing alert of rule `agent-cpu-high` for agent `w1`, with any field overridden. */
export function notifiedAlert(over: Partial<NotifiedAlert> = {}): NotifiedAlert {
  return {
    id: 'al-1',
    rule: 'agent-cpu-high',
    status: 'firing',
    labels: { alertname: 'agent-cpu-high', agentId: 'w1', severity: 'warning' },
    annotations: { summary: 'w1 CPU at 93.5%' },
    value: 93.5,
    startsAt: Date.UTC(2026, 0, 2, 3, 4, 5),
    endsAt: null,
    acknowledged: false,
    fingerprint: 'fp-1',
    ...over,
  };
}

/** A notification of one group for `receiver`, with any field overridden. */
export function alertNotification(
  receiver: string,
  over: Partial<AlertNotification> = {},
): AlertNotification {
  return {
    receiver,
    groupKey: 'agent-cpu-high{agentId="w1"}',
    status: 'firing',
    groupLabels: { agentId: 'w1' },
    commonLabels: { alertname: 'agent-cpu-high', agentId: 'w1', severity: 'warning' },
    commonAnnotations: { summary: 'w1 CPU at 93.5%' },
    alerts: [notifiedAlert()],
    text: '[FIRING:1] agent-cpu-high w1 CPU at 93.5%',
    at: Date.UTC(2026, 0, 2, 3, 5, 0),
    ...over,
  };
}
