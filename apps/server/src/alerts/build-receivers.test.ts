import { describe, expect, it } from 'vitest';
import { MonitoringConfigSchema } from '@warden/supervisor';
import { ConfigError } from '../errors.js';
import { LogCapture } from '../test-support/log-capture.js';
import { buildReceivers, type BuildReceiversOptions } from './build-receivers.js';
import { ReceiverConfigSchema, SmtpConfigSchema } from './receiver-config.js';

const log = new LogCapture().logger;
const smtp = SmtpConfigSchema.parse({ host: '127.0.0.1' });
const rx = (r: Record<string, unknown>) => ReceiverConfigSchema.parse(r);

function build(alerts: Partial<BuildReceiversOptions['alerts']>, monitoring?: unknown) {
  return buildReceivers({
    alerts: { receivers: [], ...alerts },
    ...(monitoring === undefined ? {} : { monitoring: MonitoringConfigSchema.parse(monitoring) }),
    log,
  });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const summary = (b: ReturnType<typeof build>) => ({
  receivers: b.receivers.map((r) => `${r.name}:${r.type}`),
  defaults: b.defaults,
});

describe('buildReceivers', () => {
  it('with nothing configured has only console, and it is the default', () => {
    expect(summary(build({}))).toEqual({ receivers: ['console:console'], defaults: ['console'] });
  });

  it('builds each configured type, console first, and keeps console the default without default_receivers', () => {
    const b = build({
      smtp,
      receivers: [
        rx({ name: 'ops-hook', type: 'webhook', url: 'http://127.0.0.1:9999/hook' }),
        rx({ name: 'ops-mail', type: 'email', to: ['dev@example.com'] }),
        rx({ name: 'pm-pane', type: 'tmux', target: 'fleet:0.0' }),
      ],
    });
    expect(summary(b)).toEqual({
      receivers: ['console:console', 'ops-hook:webhook', 'ops-mail:email', 'pm-pane:tmux'],
      defaults: ['console'],
    });
  });

  it('takes default_receivers as given', () => {
    const b = build({
      receivers: [rx({ name: 'ops-hook', type: 'webhook', url: 'http://127.0.0.1:9999/hook' })],
      default_receivers: ['ops-hook', 'console'],
    });
    expect(b.defaults).toEqual(['ops-hook', 'console']);
  });

  it('a configured receiver named console replaces the built-in one', () => {
    const b = build({ receivers: [rx({ name: 'console', type: 'console', level: 'error' })] });
    expect(summary(b).receivers).toEqual(['console:console']);
  });

  it('monitoring.alerts defines receivers email and webhook and makes them the defaults', () => {
    const b = build(
      { smtp },
      {
        alerts: {
          email: { enabled: true, recipients: ['dev@example.com'] },
          webhook: { enabled: true, url: 'http://127.0.0.1:9999/hook' },
        },
      },
    );
    expect(summary(b)).toEqual({
      receivers: ['console:console', 'email:email', 'webhook:webhook'],
      defaults: ['email', 'webhook'],
    });
  });

  it('a disabled monitoring.alerts entry defines nothing', () => {
    const b = build({}, { alerts: { email: { enabled: false }, webhook: { enabled: false } } });
    expect(summary(b)).toEqual({ receivers: ['console:console'], defaults: ['console'] });
  });

  it('default_receivers wins over the monitoring.alerts defaults', () => {
    const b = build(
      { default_receivers: ['console'] },
      { alerts: { webhook: { url: 'http://127.0.0.1:9999/hook' } } },
    );
    expect(b.defaults).toEqual(['console']);
  });

  it('an e-mail receiver without alerts.smtp is a config error naming alerts.smtp', () => {
    const e = configError(() =>
      build({ receivers: [rx({ name: 'm', type: 'email', to: ['a@example.com'] })] }),
    );
    expect(e.key).toBe('alerts.smtp');
    expect(e.message).toBe(
      'alerts.smtp: is required for the e-mail receiver "m" (alerts.receivers.0); set alerts.smtp.host (and port, from)',
    );
    const legacy = configError(() =>
      build({}, { alerts: { email: { recipients: ['a@example.com'] } } }),
    );
    expect(legacy.message).toMatch(
      /^alerts\.smtp: is required for the e-mail receiver "email" \(monitoring\.alerts\.email\)/,
    );
  });

  it('a duplicate name is a config error naming the key of the second', () => {
    const e = configError(() =>
      build({
        receivers: [
          rx({ name: 'hook', type: 'webhook', url: 'http://a/' }),
          rx({ name: 'hook', type: 'tmux', target: 'x:0' }),
        ],
      }),
    );
    expect(e.key).toBe('alerts.receivers.1.name');
    expect(e.message).toBe(
      'alerts.receivers.1.name: duplicate receiver name "hook" (already defined by alerts.receivers.0.name)',
    );
  });

  it('a receiver named like a monitoring.alerts one is a duplicate naming the monitoring key', () => {
    const e = configError(() =>
      build(
        { receivers: [rx({ name: 'webhook', type: 'console' })] },
        { alerts: { webhook: { url: 'http://127.0.0.1:9999/hook' } } },
      ),
    );
    expect(e.key).toBe('monitoring.alerts.webhook');
    expect(e.message).toBe(
      'monitoring.alerts.webhook: duplicate receiver name "webhook" (already defined by alerts.receivers.0.name)',
    );
  });

  it('an unknown default receiver is a config error naming its index', () => {
    const e = configError(() => build({ default_receivers: ['console', 'nope'] }));
    expect(e.key).toBe('alerts.default_receivers.1');
    expect(e.message).toBe('alerts.default_receivers.1: unknown receiver "nope" (known: console)');
  });

  it('builds without connecting anywhere (an unreachable SMTP host or webhook is fine at start)', () => {
    const b = build({
      smtp: SmtpConfigSchema.parse({ host: 'smtp.invalid', port: 2525 }),
      receivers: [
        rx({ name: 'm', type: 'email', to: ['a@example.com'] }),
        rx({ name: 'h', type: 'webhook', url: 'http://hook.invalid/x' }),
      ],
    });
    expect(b.receivers).toHaveLength(3);
  });
});
