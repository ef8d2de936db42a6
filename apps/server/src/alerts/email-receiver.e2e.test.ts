import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.js';
import { alertNotification, notifiedAlert } from '../test-support/alert-notification.js';
import { LEVEL, LogCapture } from '../test-support/log-capture.js';
import { SmtpSink } from '../test-support/smtp-sink.js';
import { EmailReceiver } from './email-receiver.js';
import { NotificationDelivery } from './notification-delivery.js';
import { EmailReceiverConfigSchema, SmtpConfigSchema } from './receiver-config.js';

let sink: SmtpSink;
let logs: LogCapture;
let delivery: NotificationDelivery | undefined;

beforeEach(async () => {
  logs = new LogCapture('debug');
});
afterEach(async () => {
  await delivery?.close();
  delivery = undefined;
  await sink.close();
});

function mailer(smtp: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const receiver = new EmailReceiver(
    EmailReceiverConfigSchema.parse({
      name: 'ops-mail',
      type: 'email',
      to: ['dev@example.com', 'oncall@example.com'],
      timeout: '3s',
      backoff: { initial: '20ms', max: '100ms' },
      ...extra,
    }),
    SmtpConfigSchema.parse({
      host: '127.0.0.1',
      port: sink.port,
      from: 'warden@example.org',
      timeout: '2s',
      ...smtp,
    }),
  );
  delivery = new NotificationDelivery({
    receivers: [receiver],
    clock: systemClock,
    log: logs.logger,
  });
  return delivery;
}

describe('email receiver against a real SMTP server', () => {
  it('delivers one plain-text mail with the subject from the text and every alert in the body', async () => {
    sink = await SmtpSink.start();
    const d = mailer();
    const n = alertNotification('ops-mail', {
      alerts: [
        notifiedAlert({ acknowledged: true }),
        notifiedAlert({
          id: 'al-2',
          rule: 'agent-down',
          status: 'resolved',
          labels: { alertname: 'agent-down', agentId: 'w2' },
          annotations: {},
          value: null,
          endsAt: Date.UTC(2026, 0, 2, 3, 30, 0),
        }),
      ],
    });
    expect(await d.deliver(n)).toEqual({ ok: true, attempts: 1, outcome: 'sent' });
    expect(sink.mails).toHaveLength(1);
    const mail = sink.mails[0]!;
    expect(mail.from).toBe('warden@example.org');
    expect(mail.to).toEqual(['dev@example.com', 'oncall@example.com']);
    expect(mail.subject).toBe('[warden] [FIRING:1] agent-cpu-high w1 CPU at 93.5%');
    expect(mail.headers['content-type']).toMatch(/^text\/plain/);
    expect(mail.text).toContain('Status: FIRING (1 firing, 1 resolved)');
    expect(mail.text).toContain('[FIRING] agent-cpu-high = 93.5');
    expect(mail.text).toContain('  Labels: alertname=agent-cpu-high, agentId=w1, severity=warning');
    expect(mail.text).toContain('  summary: w1 CPU at 93.5%');
    expect(mail.text).toContain('  Started: 2026-01-02T03:04:05.000Z');
    expect(mail.text).toContain('  Acknowledged: yes');
    expect(mail.text).toContain('[RESOLVED] agent-down\n');
    expect(mail.text).toContain('  Ended: 2026-01-02T03:30:00.000Z');
    expect(mail.text).toContain('  Acknowledged: no');
  });

  it('uses the configured subject prefix, and none when it is empty', async () => {
    sink = await SmtpSink.start();
    await mailer({}, { subject_prefix: '' }).deliver(
      alertNotification('ops-mail', { text: 'cpu high' }),
    );
    expect(sink.mails[0]!.subject).toBe('cpu high');
  });

  it('retries a temporary rejection (451) and then delivers', async () => {
    sink = await SmtpSink.start();
    sink.rejectNext({ code: 451, message: 'Try again later' });
    const result = await mailer().deliver(alertNotification('ops-mail'));
    expect(result).toEqual({ ok: true, attempts: 2, outcome: 'sent' });
    expect(sink.attempts).toBe(2);
    expect(sink.mails).toHaveLength(1);
    expect(logs.matching(/attempt to ops-mail failed/, LEVEL.warn)[0]!.reason).toMatch(
      /SMTP send failed: .*451 Try again later/,
    );
  });

  it('reports a permanent rejection (550) at once, without retrying', async () => {
    sink = await SmtpSink.start();
    sink.rejectNext({ code: 550, message: 'Mailbox unavailable' });
    const result = await mailer().deliver(alertNotification('ops-mail'));
    expect(result).toMatchObject({ ok: false, attempts: 1, outcome: 'failed' });
    expect(result.error).toMatch(/550 Mailbox unavailable/);
    expect(logs.matching(/notification to ops-mail failed/, LEVEL.error)).toHaveLength(1);
  });

  it('reports a server that is not there, after the retries', async () => {
    sink = await SmtpSink.start();
    const port = sink.port;
    await sink.close();
    const receiver = new EmailReceiver(
      EmailReceiverConfigSchema.parse({
        name: 'm',
        type: 'email',
        to: ['a@example.com'],
        max_attempts: 2,
        backoff: { initial: '10ms' },
      }),
      SmtpConfigSchema.parse({ host: '127.0.0.1', port }),
    );
    delivery = new NotificationDelivery({
      receivers: [receiver],
      clock: systemClock,
      log: logs.logger,
    });
    const result = await delivery.deliver(alertNotification('m'));
    expect(result).toMatchObject({ ok: false, attempts: 2, outcome: 'failed' });
    expect(result.error).toMatch(/ECONNREFUSED/);
    sink = await SmtpSink.start();
  });

  it('logs in with user and pass, and never logs the password when the login is refused', async () => {
    sink = await SmtpSink.start({ user: 'warden', pass: 'right-S3cret' });
    const ok = await mailer({ user: 'warden', pass: 'right-S3cret' }).deliver(
      alertNotification('ops-mail'),
    );
    expect(ok.outcome).toBe('sent');
    expect(sink.logins[0]).toEqual({ username: 'warden', password: 'right-S3cret' });
    await delivery!.close();

    const bad = await mailer({ user: 'warden', pass: 'wrong-S3cret' }, { max_attempts: 1 }).deliver(
      alertNotification('ops-mail'),
    );
    expect(bad).toMatchObject({ ok: false, outcome: 'failed' });
    expect(bad.error).toMatch(/535/);
    expect(sink.logins.at(-1)!.password).toBe('wrong-S3cret');
    const everything = JSON.stringify(logs.lines) + JSON.stringify(bad);
    expect(everything).not.toContain('S3cret');
    expect(logs.matching(/notification to ops-mail failed/, LEVEL.error)).toHaveLength(1);
  });
});
