import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AlertDispatcher, type NotificationLogEntry, type Route } from './alert-dispatcher.js';
import type { AlertRecord } from './alert-state.js';
import type { AlertNotification } from './receiver.js';

const T0 = 1_760_000_000_000;
const S = 1000;
const M = 60 * S;

function firing(
  agentId: string,
  at: number,
  rule = 'cpu',
  severity: 'warning' | 'critical' = 'warning',
): AlertRecord {
  return {
    id: `${rule}-${agentId}-${at}`,
    fingerprint: `${rule}-${agentId}`,
    rule,
    agentId,
    severity,
    labels: { alertname: rule, agentId, severity },
    annotations: { summary: `${agentId} hot` },
    state: 'firing',
    value: 90,
    activeAt: at,
    firedAt: at,
    endsAt: null,
    falseSince: null,
    acknowledged: false,
    ackedBy: null,
    ackedAt: null,
    ackComment: null,
    escalated: 0,
    updatedAt: at,
  };
}

/** A dispatcher whose receivers are our own in-memory Receiver-side sink. */
function setup(routes: Record<string, Route>, log: NotificationLogEntry[] = []) {
  const sent: AlertNotification[] = [];
  const logged: NotificationLogEntry[] = [];
  const escalated: AlertRecord[] = [];
  const d = new AlertDispatcher({
    sink: {
      deliver: (n) => {
        sent.push(n);
        return Promise.resolve({ ok: true, attempts: 1 });
      },
    },
    groupWaitMs: 30 * S,
    groupIntervalMs: 5 * M,
    repeatIntervalMs: 4 * 60 * M,
    route: (r) => routes[r],
    annotate: (a) => a.annotations,
    onLogged: (e) => logged.push(e),
    onEscalated: (a) => escalated.push(a),
    log: pino({ level: 'silent' }),
  });
  d.restoreLog(log);
  return { d, sent, logged, escalated };
}

const none = () => () => false;
const route: Route = { receivers: ['hook'], groupBy: ['alertname'], escalate: [] };

describe('AlertDispatcher', () => {
  it('a new group waits group_wait and sends the alerts that joined meanwhile in one notification', async () => {
    const { d, sent } = setup({ cpu: route });
    d.add(firing('a', T0), T0);
    d.tick(T0 + 10 * S, none);
    d.add(firing('b', T0 + 10 * S), T0 + 10 * S);
    d.tick(T0 + 29 * S, none);
    expect(sent).toHaveLength(0);
    d.tick(T0 + 30 * S, none);
    await d.settle();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.alerts.map((a) => a.labels.agentId)).toEqual(['a', 'b']);
    expect(sent[0]!.status).toBe('firing');
    expect(sent[0]!.groupLabels).toEqual({ alertname: 'cpu' });
    expect(sent[0]!.text).toContain('[FIRING:2] cpu');
  });

  it('later changes wait for group_interval; an unchanged group repeats after repeat_interval', async () => {
    const { d, sent } = setup({ cpu: route });
    d.add(firing('a', T0), T0);
    d.tick(T0 + 30 * S, none);
    await d.settle();
    d.add(firing('b', T0 + M), T0 + M);
    d.tick(T0 + 5 * M, none);
    expect(sent).toHaveLength(1);
    d.tick(T0 + 30 * S + 5 * M, none);
    await d.settle();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.alerts).toHaveLength(2);
    // Nothing changes: no notification at the next intervals, until 4 h after the last one.
    for (let t = T0 + 30 * S + 10 * M; t < T0 + 30 * S + 5 * M + 240 * M; t += 5 * M)
      d.tick(t, none);
    await d.settle();
    expect(sent).toHaveLength(2);
    d.tick(T0 + 30 * S + 5 * M + 240 * M, none);
    await d.settle();
    expect(sent).toHaveLength(3);
  });

  it('a resolved alert is sent as resolved once, then the group is gone', async () => {
    const { d, sent } = setup({ cpu: route });
    const a = firing('a', T0);
    d.add(a, T0);
    d.tick(T0 + 30 * S, none);
    await d.settle();
    Object.assign(a, { state: 'resolved', endsAt: T0 + M });
    d.add(a, T0 + M);
    d.tick(T0 + 30 * S + 5 * M, none);
    await d.settle();
    expect(sent.map((n) => n.status)).toEqual(['firing', 'resolved']);
    expect(sent[1]!.alerts[0]!.endsAt).toBe(T0 + M);
    d.tick(T0 + 30 * S + 10 * M, none);
    await d.settle();
    expect(sent).toHaveLength(2);
    expect(d.groupCount()).toBe(0);
  });

  it('an alert resolved before anyone heard of it is never sent', async () => {
    const { d, sent } = setup({ cpu: route });
    const a = firing('a', T0);
    d.add(a, T0);
    Object.assign(a, { state: 'resolved', endsAt: T0 + 5 * S });
    d.add(a, T0 + 5 * S);
    d.tick(T0 + 30 * S, none);
    await d.settle();
    expect(sent).toHaveLength(0);
  });

  it('suppressed (silenced or inhibited) alerts are left out, and a group of only those sends nothing', async () => {
    const { d, sent } = setup({ cpu: route });
    d.add(firing('a', T0), T0);
    d.add(firing('b', T0), T0);
    d.tick(T0 + 30 * S, () => (x) => x.agentId === 'a');
    await d.settle();
    expect(sent[0]!.alerts.map((a) => a.labels.agentId)).toEqual(['b']);
    const other = setup({ cpu: route });
    other.d.add(firing('a', T0), T0);
    other.d.tick(T0 + 30 * S, () => () => true);
    await other.d.settle();
    expect(other.sent).toHaveLength(0);
    // When the silence ends, the next interval sends it.
    other.d.tick(T0 + 30 * S + 5 * M, none);
    await other.d.settle();
    expect(other.sent).toHaveLength(1);
  });

  it('group_by agentId makes one group per agent', async () => {
    const { d, sent } = setup({ cpu: { ...route, groupBy: ['alertname', 'agentId'] } });
    d.add(firing('a', T0), T0);
    d.add(firing('b', T0), T0);
    d.tick(T0 + 30 * S, none);
    await d.settle();
    expect(sent.map((n) => n.groupLabels)).toEqual([
      { alertname: 'cpu', agentId: 'a' },
      { alertname: 'cpu', agentId: 'b' },
    ]);
  });

  it('escalates each tier once to its receivers while unacknowledged, and an ack stops the next tier', async () => {
    const esc: Route = {
      receivers: ['hook'],
      groupBy: ['alertname'],
      escalate: [
        { after: 15 * M, receivers: ['mail'] },
        { after: 30 * M, receivers: ['pager'] },
      ],
    };
    const { d, sent, escalated } = setup({ cpu: esc });
    const a = firing('a', T0);
    d.add(a, T0);
    d.tick(T0 + 30 * S, none);
    d.tick(T0 + 15 * M - 1, none);
    await d.settle();
    expect(sent.map((n) => n.receiver)).toEqual(['hook']);
    d.tick(T0 + 15 * M, none);
    d.tick(T0 + 16 * M, none);
    await d.settle();
    expect(sent.map((n) => n.receiver)).toEqual(['hook', 'mail']);
    expect(sent[1]!.escalation).toEqual({ tier: 0, afterMs: 15 * M });
    expect(sent[1]!.text).toContain('[ESCALATED after 15m]');
    expect(escalated.map((x) => x.escalated)).toEqual([1]);
    a.acknowledged = true;
    d.acknowledged(a);
    d.tick(T0 + 31 * M, none);
    await d.settle();
    expect(sent.map((n) => n.receiver)).toEqual(['hook', 'mail']);
  });

  it('after a restart the logged notification is not sent again, and changes wait for the interval', async () => {
    const first = setup({ cpu: route });
    const a = firing('a', T0);
    first.d.add(a, T0);
    first.d.tick(T0 + 30 * S, none);
    await first.d.settle();
    expect(first.sent).toHaveLength(1);
    // "Restart": a new dispatcher that only has the persisted log and the persisted alert.
    const second = setup({ cpu: route }, first.logged);
    second.d.add({ ...a }, T0 + M);
    second.d.tick(T0 + M, none);
    second.d.tick(T0 + 30 * S + 5 * M, none);
    await second.d.settle();
    expect(second.sent).toHaveLength(0);
    second.d.add(firing('b', T0 + 6 * M), T0 + 6 * M);
    second.d.tick(T0 + 30 * S + 10 * M, none);
    await second.d.settle();
    expect(second.sent).toHaveLength(1);
  });

  it('a failed delivery is not logged and is tried again at the next interval', async () => {
    const sent: AlertNotification[] = [];
    let ok = false;
    const d = new AlertDispatcher({
      sink: {
        deliver: (n) => {
          sent.push(n);
          return Promise.resolve({ ok, attempts: 3, ...(ok ? {} : { error: 'HTTP 500' }) });
        },
      },
      groupWaitMs: 0,
      groupIntervalMs: 5 * M,
      repeatIntervalMs: 4 * 60 * M,
      route: () => route,
      annotate: (a) => a.annotations,
      onLogged: () => undefined,
      onEscalated: () => undefined,
      log: pino({ level: 'silent' }),
    });
    d.add(firing('a', T0), T0);
    d.tick(T0, none);
    await d.settle();
    ok = true;
    d.tick(T0 + 5 * M, none);
    await d.settle();
    d.tick(T0 + 10 * M, none);
    await d.settle();
    expect(sent).toHaveLength(2);
  });
});
