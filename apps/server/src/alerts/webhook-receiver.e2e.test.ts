import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.js';
import { alertNotification, notifiedAlert } from '../test-support/alert-notification.js';
import { HttpSink } from '../test-support/http-sink.js';
import { LEVEL, LogCapture } from '../test-support/log-capture.js';
import { NotificationDelivery } from './notification-delivery.js';
import { WebhookReceiverConfigSchema } from './receiver-config.js';
import { WebhookReceiver } from './webhook-receiver.js';

// Real HTTP on loopback and real time, with short timeouts and backoff so the suite stays fast.
const fast = { timeout: '400ms', backoff: { initial: '20ms', max: '100ms' } };

function hook(name: string, url: string, extra: Record<string, unknown> = {}) {
  return new WebhookReceiver(
    WebhookReceiverConfigSchema.parse({ name, type: 'webhook', url, ...fast, ...extra }),
  );
}

let sink: HttpSink;
let other: HttpSink;
let logs: LogCapture;
let delivery: NotificationDelivery | undefined;

beforeEach(async () => {
  sink = await HttpSink.start();
  other = await HttpSink.start();
  logs = new LogCapture('debug');
});
afterEach(async () => {
  await delivery?.close();
  delivery = undefined;
  await sink.close();
  await other.close();
});

function deliverTo(...receivers: WebhookReceiver[]) {
  delivery = new NotificationDelivery({ receivers, clock: systemClock, log: logs.logger });
  return delivery;
}

describe('webhook receiver against a real HTTP server', () => {
  it('POSTs an Alertmanager v4 body with a Slack-compatible text', async () => {
    const d = deliverTo(hook('ops-hook', sink.url('/hook?x=1')));
    const n = alertNotification('ops-hook', {
      escalation: { tier: 0, afterMs: 900_000 },
      alerts: [
        notifiedAlert(),
        notifiedAlert({
          id: 'al-2',
          status: 'resolved',
          endsAt: Date.UTC(2026, 0, 2, 3, 6, 0),
          value: null,
        }),
      ],
    });
    expect(await d.deliver(n)).toEqual({ ok: true, attempts: 1, outcome: 'sent' });
    const [req] = sink.requests;
    expect(req).toMatchObject({ method: 'POST', path: '/hook?x=1' });
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.json).toEqual({
      version: '4',
      groupKey: n.groupKey,
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'ops-hook',
      groupLabels: { agentId: 'w1' },
      commonLabels: n.commonLabels,
      commonAnnotations: n.commonAnnotations,
      externalURL: '',
      escalation: { tier: 0, afterMs: 900_000 },
      text: n.text,
      alerts: [
        {
          status: 'firing',
          labels: n.alerts[0]!.labels,
          annotations: n.alerts[0]!.annotations,
          startsAt: '2026-01-02T03:04:05.000Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: '',
          fingerprint: 'fp-1',
          id: 'al-1',
          rule: 'agent-cpu-high',
          value: 93.5,
          acknowledged: false,
        },
        expect.objectContaining({
          id: 'al-2',
          status: 'resolved',
          endsAt: '2026-01-02T03:06:00.000Z',
          value: null,
        }),
      ],
    });
  });

  it('sends the configured headers', async () => {
    const d = deliverTo(hook('h', sink.url(), { headers: { 'X-Api-Key': 'k-0123456789' } }));
    await d.deliver(alertNotification('h'));
    expect(sink.requests[0]!.headers['x-api-key']).toBe('k-0123456789');
  });

  it('retries after a 500 and succeeds on the next attempt', async () => {
    sink.reply({ status: 500, body: 'boom' });
    const d = deliverTo(hook('h', sink.url()));
    expect(await d.deliver(alertNotification('h'))).toEqual({
      ok: true,
      attempts: 2,
      outcome: 'sent',
    });
    expect(sink.requests).toHaveLength(2);
    expect(logs.matching(/attempt to h failed/, LEVEL.warn)[0]).toMatchObject({
      receiver: 'h',
      reason: `POST ${sink.url()} answered 500: boom`,
    });
  });

  it('retries 429 and 408, and honours Retry-After', async () => {
    sink.reply({ status: 429, headers: { 'retry-after': '0' } }, { status: 408 });
    const d = deliverTo(hook('h', sink.url()));
    expect(await d.deliver(alertNotification('h'))).toMatchObject({ ok: true, attempts: 3 });
  });

  it('does not retry a 400 and reports the status', async () => {
    sink.reply({ status: 400, body: 'bad payload' });
    const d = deliverTo(hook('h', sink.url()));
    expect(await d.deliver(alertNotification('h'))).toEqual({
      ok: false,
      attempts: 1,
      outcome: 'failed',
      error: `POST ${sink.url()} answered 400: bad payload`,
    });
    expect(sink.requests).toHaveLength(1);
    expect(logs.matching(/notification to h failed: .*400/, LEVEL.error)).toHaveLength(1);
  });

  it('gives up after max_attempts on a receiver that keeps failing', async () => {
    sink.fallback = { status: 503 };
    const d = deliverTo(hook('h', sink.url(), { max_attempts: 3 }));
    expect(await d.deliver(alertNotification('h'))).toMatchObject({
      ok: false,
      attempts: 3,
      outcome: 'failed',
    });
    expect(sink.requests).toHaveLength(3);
  });

  it('times out a server that never answers, while another receiver is served at once', async () => {
    sink.fallback = 'hang';
    const d = deliverTo(hook('slow', sink.url(), { max_attempts: 2 }), hook('quick', other.url()));
    const started = Date.now();
    let slowSettled = false;
    const slow = d.deliver(alertNotification('slow')).finally(() => (slowSettled = true));
    const quick = await d.deliver(alertNotification('quick'));
    expect(quick.outcome).toBe('sent');
    // Served while the slow receiver's first attempt still hangs.
    expect(slowSettled).toBe(false);
    const result = await slow;
    expect(result).toEqual({
      ok: false,
      attempts: 2,
      outcome: 'failed',
      error: 'timed out after 400 ms',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(sink.requests).toHaveLength(2);
  });

  it('reports a refused connection with its code', async () => {
    const url = sink.url();
    await sink.close();
    sink = await HttpSink.start();
    const d = deliverTo(hook('h', url, { max_attempts: 1 }));
    const result = await d.deliver(alertNotification('h'));
    expect(result.error).toBe(`POST ${url} failed: ECONNREFUSED`);
  });

  it('sends URL credentials as Basic auth and never logs them', async () => {
    sink.fallback = { status: 500, body: 'nope' };
    const url = sink.url('/hook').replace('http://', 'http://alice:p%40ss-w0rd@');
    const d = deliverTo(hook('h', url, { max_attempts: 2 }));
    const result = await d.deliver(alertNotification('h'));
    expect(sink.requests[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from('alice:p@ss-w0rd').toString('base64')}`,
    );
    expect(result.error).toBe(`POST ${sink.url('/hook')} answered 500: nope`);
    const everything = JSON.stringify(logs.lines) + JSON.stringify(result);
    expect(everything).not.toContain('p@ss-w0rd');
    expect(everything).not.toContain('p%40ss-w0rd');
    expect(everything).not.toContain(Buffer.from('alice:p@ss-w0rd').toString('base64'));
    expect(logs.lines.length).toBeGreaterThan(0);
  });
});
