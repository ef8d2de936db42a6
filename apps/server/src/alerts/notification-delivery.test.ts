import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../supervisor/src/test-support/manual-clock.js';
import { LEVEL, LogCapture } from '../test-support/log-capture.js';
import { alertNotification, notifiedAlert } from '../test-support/alert-notification.js';
import {
  DeliveryError,
  NotificationDelivery,
  backoffDelay,
  redactSecrets,
  type DeliverableReceiver,
  type DeliveryResult,
} from './notification-delivery.js';
import type { AlertNotification } from './receiver.js';

/** An in-process receiver whose attempts follow a script: `ok`, an error, or `hang`. */
class ScriptedReceiver implements DeliverableReceiver {
  readonly type = 'webhook';
  readonly sent: { n: AlertNotification; at: number }[] = [];
  readonly tries: number[] = [];
  closed = false;
  constructor(
    readonly name: string,
    private readonly clock: ManualClock,
    private readonly script: ('ok' | 'hang' | 'ignore-signal' | Error)[] = [],
    readonly retry: DeliverableReceiver['retry'] = {},
    readonly sendResolved?: boolean,
    readonly secrets?: string[],
  ) {}
  send(n: AlertNotification, signal: AbortSignal): Promise<void> {
    this.tries.push(this.clock.now());
    const step = this.script.shift() ?? 'ok';
    if (step === 'ok') {
      this.sent.push({ n, at: this.clock.now() });
      return Promise.resolve();
    }
    if (step === 'hang')
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason as Error)),
      );
    if (step === 'ignore-signal') return new Promise(() => {});
    return Promise.reject(step);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const noJitter = { jitter: 0 };
let delivery: NotificationDelivery | undefined;
afterEach(async () => {
  await delivery?.close();
  delivery = undefined;
});

function setup(receivers: DeliverableReceiver[], extra: { maxQueuePerReceiver?: number } = {}) {
  const clock = receivers.length > 0 ? undefined : new ManualClock();
  const logs = new LogCapture('debug');
  const registry = new Registry();
  delivery = new NotificationDelivery({
    receivers,
    clock: clock ?? (receivers[0] as unknown as { clock: ManualClock }).clock,
    log: logs.logger,
    registry,
    retry: noJitter,
    random: () => 0.5,
    ...extra,
  });
  return { delivery, logs, registry };
}

async function metric(registry: Registry, name: string, receiver: string, outcome: string) {
  const m = (await registry.getSingleMetric(name)!.get()).values;
  return m.find((v) => v.labels.receiver === receiver && v.labels.outcome === outcome)?.value;
}

describe('NotificationDelivery', () => {
  it('sends a notification once and counts it as sent', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver('hook', clock);
    const { delivery, registry } = setup([r]);
    const result = await delivery.deliver(alertNotification('hook'));
    expect(result).toEqual({ ok: true, attempts: 1, outcome: 'sent' });
    expect(r.sent).toHaveLength(1);
    expect(await metric(registry, 'warden_notifications_total', 'hook', 'sent')).toBe(1);
    expect(await metric(registry, 'warden_notification_attempts_total', 'hook', 'success')).toBe(1);
    expect(await metric(registry, 'warden_notifications_total', 'hook', 'failed')).toBe(0);
  });

  it('retries a failing receiver with exponential backoff capped at max, then succeeds', async () => {
    const clock = new ManualClock();
    const fail = () => new Error('connection reset');
    const r = new ScriptedReceiver('hook', clock, [fail(), fail(), fail(), fail()], {
      initialMs: 1000,
      multiplier: 2,
      maxMs: 5000,
      maxAttempts: 5,
    });
    const { delivery, logs, registry } = setup([r]);
    const pending = delivery.deliver(alertNotification('hook'));
    await clock.runFor(20_000);
    const result = await pending;
    expect(result).toEqual({ ok: true, attempts: 5, outcome: 'sent' });
    const t0 = r.tries[0]!;
    expect(r.tries.map((t) => t - t0)).toEqual([0, 1000, 3000, 7000, 12000]);
    const warnings = logs.matching(/attempt to hook failed/, LEVEL.warn);
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toMatchObject({
      receiver: 'hook',
      reason: 'connection reset',
      attempt: 1,
      retryInMs: 1000,
    });
    expect(await metric(registry, 'warden_notification_attempts_total', 'hook', 'failure')).toBe(4);
  });

  it('jitters each wait by up to the configured fraction either way', () => {
    const policy = {
      timeoutMs: 1,
      maxAttempts: 5,
      initialMs: 1000,
      maxMs: 60_000,
      multiplier: 2,
      jitter: 0.2,
    };
    expect(backoffDelay(policy, 1, () => 0)).toBe(800);
    expect(backoffDelay(policy, 1, () => 0.999999)).toBe(1200);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(4000);
    expect(backoffDelay(policy, 20, () => 0.999999)).toBe(60_000);
  });

  it('reports a notification as failed after max_attempts, with the last reason', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver(
      'hook',
      clock,
      [new Error('a'), new Error('b'), new Error('c')],
      {
        maxAttempts: 3,
        initialMs: 10,
      },
    );
    const { delivery, logs, registry } = setup([r]);
    const pending = delivery.deliver(alertNotification('hook'));
    await clock.runFor(1000);
    expect(await pending).toEqual({ ok: false, attempts: 3, outcome: 'failed', error: 'c' });
    expect(logs.matching(/notification to hook failed: c/, LEVEL.error)).toHaveLength(1);
    expect(await metric(registry, 'warden_notifications_total', 'hook', 'failed')).toBe(1);
  });

  it('does not retry an error marked not retryable', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver('hook', clock, [
      new DeliveryError('answered 400', { retryable: false }),
    ]);
    const { delivery } = setup([r]);
    const result = await delivery.deliver(alertNotification('hook'));
    expect(result).toEqual({ ok: false, attempts: 1, outcome: 'failed', error: 'answered 400' });
  });

  it('waits at least Retry-After before the next attempt', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver(
      'hook',
      clock,
      [new DeliveryError('429', { retryAfterMs: 7000 })],
      {
        initialMs: 1000,
      },
    );
    const { delivery } = setup([r]);
    const pending = delivery.deliver(alertNotification('hook'));
    await clock.runFor(10_000);
    await pending;
    expect(r.tries[1]! - r.tries[0]!).toBe(7000);
  });

  it('times out an attempt that hangs, aborting its signal, and retries it', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver('hook', clock, ['hang', 'ignore-signal'], {
      timeoutMs: 2000,
      initialMs: 100,
    });
    const { delivery, registry } = setup([r]);
    const pending = delivery.deliver(alertNotification('hook'));
    await clock.runFor(10_000);
    expect(await pending).toEqual({ ok: true, attempts: 3, outcome: 'sent' });
    const t0 = r.tries[0]!;
    expect(r.tries.map((t) => t - t0)).toEqual([0, 2100, 4300]);
    expect(await metric(registry, 'warden_notification_attempts_total', 'hook', 'timeout')).toBe(2);
  });

  it('a hanging receiver does not delay another one', async () => {
    const clock = new ManualClock();
    const stuck = new ScriptedReceiver('stuck', clock, ['hang', 'hang', 'hang'], {
      timeoutMs: 60_000,
    });
    const fine = new ScriptedReceiver('fine', clock);
    const { delivery } = setup([stuck, fine]);
    const stuckResult = delivery.deliver(alertNotification('stuck'));
    const fineResults = await Promise.all([
      delivery.deliver(alertNotification('fine')),
      delivery.deliver(alertNotification('fine', { groupKey: 'g2' })),
    ]);
    expect(fineResults.map((r) => r.outcome)).toEqual(['sent', 'sent']);
    expect(fine.sent.map((s) => s.at)).toEqual([clock.now(), clock.now()]);
    let settled = false;
    void stuckResult.then(() => (settled = true));
    await clock.runFor(1000);
    expect(settled).toBe(false);
  });

  it('keeps one receiver in order, one notification at a time', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver('hook', clock, [new Error('x')], { initialMs: 500 });
    const { delivery } = setup([r]);
    const a = delivery.deliver(alertNotification('hook', { groupKey: 'a' }));
    const b = delivery.deliver(alertNotification('hook', { groupKey: 'b' }));
    expect(delivery.queued('hook')).toBe(1);
    await clock.runFor(1000);
    await Promise.all([a, b]);
    expect(r.sent.map((s) => s.n.groupKey)).toEqual(['a', 'b']);
  });

  it('when the queue is full the oldest waiting notification is dropped, with a log line', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver('hook', clock, ['hang'], { timeoutMs: 1000, maxAttempts: 1 });
    const { delivery, logs, registry } = setup([r], { maxQueuePerReceiver: 2 });
    const inFlight = delivery.deliver(alertNotification('hook', { groupKey: 'in-flight' }));
    const results: Promise<DeliveryResult>[] = ['q1', 'q2', 'q3'].map((g) =>
      delivery.deliver(alertNotification('hook', { groupKey: g })),
    );
    expect(await results[0]).toEqual({
      ok: false,
      attempts: 0,
      outcome: 'dropped',
      error: 'queue full',
    });
    expect(logs.matching(/queue full/, LEVEL.warn)[0]).toMatchObject({
      receiver: 'hook',
      groupKey: 'q1',
    });
    await clock.runFor(2000);
    expect((await inFlight).outcome).toBe('failed');
    expect((await results[1]!).outcome).toBe('sent');
    expect((await results[2]!).outcome).toBe('sent');
    expect(r.sent.map((s) => s.n.groupKey)).toEqual(['q2', 'q3']);
    expect(await metric(registry, 'warden_notifications_total', 'hook', 'dropped')).toBe(1);
  });

  it('with send_resolved false skips a resolved group and leaves resolved alerts out of a firing one', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver('pane', clock, [], {}, false);
    const { delivery } = setup([r]);
    const skipped = await delivery.deliver(alertNotification('pane', { status: 'resolved' }));
    expect(skipped).toEqual({ ok: true, attempts: 0, outcome: 'skipped' });
    await delivery.deliver(
      alertNotification('pane', {
        alerts: [
          notifiedAlert({ id: 'a' }),
          notifiedAlert({ id: 'b', status: 'resolved', endsAt: 1 }),
        ],
      }),
    );
    expect(r.sent).toHaveLength(1);
    expect(r.sent[0]!.n.alerts.map((a) => a.id)).toEqual(['a']);
  });

  it('answers a notification for an unknown receiver as dropped, and has() tells', async () => {
    const clock = new ManualClock();
    const { delivery, logs } = setup([new ScriptedReceiver('hook', clock)]);
    expect(delivery.has('hook')).toBe(true);
    expect(delivery.has('nope')).toBe(false);
    expect(delivery.names()).toEqual(['hook']);
    const result = await delivery.deliver(alertNotification('nope'));
    expect(result).toEqual({
      ok: false,
      attempts: 0,
      outcome: 'dropped',
      error: 'unknown receiver "nope"',
    });
    expect(logs.matching(/unknown receiver/, LEVEL.warn)).toHaveLength(1);
  });

  it('close aborts the attempt in flight, drops waiting notifications and closes every receiver', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver('hook', clock, ['hang'], { timeoutMs: 60_000 });
    const other = new ScriptedReceiver('other', clock);
    const { delivery } = setup([r, other]);
    const inFlight = delivery.deliver(alertNotification('hook'));
    const waiting = delivery.deliver(alertNotification('hook', { groupKey: 'w' }));
    await new Promise((res) => setImmediate(res));
    await delivery.close();
    expect(await inFlight).toMatchObject({
      ok: false,
      attempts: 1,
      outcome: 'failed',
      error: 'delivery is closed',
    });
    expect(await waiting).toMatchObject({ outcome: 'dropped', error: 'delivery is closed' });
    expect(r.closed && other.closed).toBe(true);
    expect(await delivery.deliver(alertNotification('other'))).toMatchObject({
      outcome: 'dropped',
    });
    await delivery.close();
  });

  it('close cuts a backoff wait short', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver('hook', clock, [new Error('down')], { initialMs: 3_600_000 });
    const { delivery } = setup([r]);
    const pending = delivery.deliver(alertNotification('hook'));
    await new Promise((res) => setImmediate(res));
    await delivery.close();
    expect(await pending).toMatchObject({ ok: false, attempts: 1, outcome: 'failed' });
  });

  it('never logs or returns a secret of the receiver', async () => {
    const clock = new ManualClock();
    const r = new ScriptedReceiver(
      'hook',
      clock,
      [new Error('login as bob with s3cr3t!pw refused by http://bob:s3cr3t%21pw@host/x')],
      { maxAttempts: 1 },
      undefined,
      ['s3cr3t!pw'],
    );
    const { delivery, logs } = setup([r]);
    const result = await delivery.deliver(alertNotification('hook'));
    expect(result.error).toBe('login as bob with *** refused by http://***@host/x');
    const all = JSON.stringify(logs.lines);
    expect(all).not.toContain('s3cr3t');
  });

  it('redactSecrets removes URL credentials even when no secret is known', () => {
    expect(redactSecrets('POST https://u:p@example.com/hook failed')).toBe(
      'POST https://***@example.com/hook failed',
    );
  });

  it('two deliveries on one registry share the counters', () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const log = new LogCapture().logger;
    const a = new NotificationDelivery({
      receivers: [new ScriptedReceiver('a', clock)],
      clock,
      log,
      registry,
    });
    const b = new NotificationDelivery({
      receivers: [new ScriptedReceiver('b', clock)],
      clock,
      log,
      registry,
    });
    expect(
      registry
        .getMetricsAsArray()
        .map((m) => m.name)
        .sort(),
    ).toEqual(['warden_notification_attempts_total', 'warden_notifications_total']);
    void a.close();
    void b.close();
  });
});
