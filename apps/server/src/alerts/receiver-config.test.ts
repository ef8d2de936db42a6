import { describe, expect, it } from 'vitest';
import { ReceiverConfigSchema, SmtpConfigSchema } from './receiver-config.js';

/** Every issue as `path: message`. */
function issues(
  schema: {
    safeParse(v: unknown): {
      success: boolean;
      error?: { issues: { path: PropertyKey[]; message: string }[] };
    };
  },
  value: unknown,
): string[] {
  const r = schema.safeParse(value);
  expect(r.success).toBe(false);
  return r.error!.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`);
}
const rx = (value: unknown) => issues(ReceiverConfigSchema, value);
const smtp = (value: unknown) => issues(SmtpConfigSchema, value);

describe('ReceiverConfigSchema', () => {
  it('fills the documented defaults of each type', () => {
    expect(ReceiverConfigSchema.parse({ name: 'c', type: 'console' })).toEqual({
      name: 'c',
      type: 'console',
      level: 'warn',
    });
    expect(
      ReceiverConfigSchema.parse({ name: 'h', type: 'webhook', url: 'https://example.com/hook' }),
    ).toEqual({
      name: 'h',
      type: 'webhook',
      url: 'https://example.com/hook',
      headers: {},
      send_resolved: true,
      timeout: 5000,
      max_attempts: 5,
      backoff: { initial: 1000, max: 60_000, multiplier: 2 },
    });
    expect(ReceiverConfigSchema.parse({ name: 'm', type: 'email', to: ['a@example.com'] })).toEqual(
      {
        name: 'm',
        type: 'email',
        to: ['a@example.com'],
        subject_prefix: '[warden]',
        send_resolved: true,
        timeout: 30_000,
        max_attempts: 5,
        backoff: { initial: 1000, max: 60_000, multiplier: 2 },
      },
    );
    expect(ReceiverConfigSchema.parse({ name: 'p', type: 'tmux', target: 'fleet:0.1' })).toEqual({
      name: 'p',
      type: 'tmux',
      target: 'fleet:0.1',
      send_resolved: false,
      enter_delay: 500,
      timeout: 5000,
      max_attempts: 3,
      backoff: { initial: 1000, max: 60_000, multiplier: 2 },
    });
  });

  it('parses durations with units and plain seconds', () => {
    const r = ReceiverConfigSchema.parse({
      name: 'h',
      type: 'webhook',
      url: 'http://x/',
      timeout: 2,
      backoff: { initial: '250ms', max: '5m', multiplier: 1.5 },
    });
    expect(r).toMatchObject({
      timeout: 2000,
      backoff: { initial: 250, max: 300_000, multiplier: 1.5 },
    });
  });

  it('names a bad receiver name', () => {
    expect(rx({ name: '-x', type: 'console' })).toEqual([
      'name: must start with a letter or digit, then letters, digits, _ . -',
    ]);
    expect(rx({ name: 'a b', type: 'console' })).toEqual([
      'name: must start with a letter or digit, then letters, digits, _ . -',
    ]);
    expect(rx({ name: 'a'.repeat(129), type: 'console' })).toEqual([
      'name: must be at most 128 characters',
    ]);
  });

  it('names an unknown or missing type', () => {
    expect(rx({ name: 'x', type: 'slack' })).toEqual([
      'type: must be one of console, webhook, email, tmux',
    ]);
    expect(rx({ name: 'x' })).toEqual(['type: must be one of console, webhook, email, tmux']);
  });

  it('names an unknown key', () => {
    expect(rx({ name: 'x', type: 'console', url: 'http://x/' })).toEqual([
      ': Unrecognized key: "url"',
    ]);
  });

  it('names a bad console level', () => {
    expect(rx({ name: 'x', type: 'console', level: 'debug' })[0]).toMatch(/^level: /);
  });

  it('names a bad webhook url and headers', () => {
    expect(rx({ name: 'h', type: 'webhook', url: 'ftp://x/' })).toEqual([
      'url: must be an http:// or https:// URL',
    ]);
    expect(rx({ name: 'h', type: 'webhook', url: 'not a url' })).toEqual([
      'url: must be an http:// or https:// URL',
    ]);
    expect(rx({ name: 'h', type: 'webhook' })).toEqual(['url: must be an http:// or https:// URL']);
    expect(rx({ name: 'h', type: 'webhook', url: 'http://x/', headers: { a: 1 } })[0]).toMatch(
      /^headers\.a: /,
    );
  });

  it('names bad delivery keys', () => {
    const base = { name: 'h', type: 'webhook', url: 'http://x/' };
    expect(rx({ ...base, timeout: 'soon' })).toEqual([
      'timeout: "soon" is not a duration (use e.g. 300ms, 10s, 5m, 4h, 7d or seconds)',
    ]);
    expect(rx({ ...base, timeout: 0 })).toEqual(['timeout: must be more than 0']);
    expect(rx({ ...base, max_attempts: 0 })).toEqual(['max_attempts: must be at least 1']);
    expect(rx({ ...base, max_attempts: 101 })).toEqual(['max_attempts: must be at most 100']);
    expect(rx({ ...base, max_attempts: 1.5 })).toEqual(['max_attempts: must be a whole number']);
    expect(rx({ ...base, backoff: { multiplier: 0.5 } })).toEqual([
      'backoff.multiplier: must be at least 1',
    ]);
    expect(rx({ ...base, backoff: { multiplier: 11 } })).toEqual([
      'backoff.multiplier: must be at most 10',
    ]);
    expect(rx({ ...base, backoff: { initial: '10s', max: '1s' } })).toEqual([
      'backoff.max: must be at least backoff.initial',
    ]);
    expect(rx({ ...base, backoff: { jitter: 1 } })).toEqual([
      'backoff: Unrecognized key: "jitter"',
    ]);
  });

  it('names bad email keys', () => {
    expect(rx({ name: 'm', type: 'email', to: [] })).toEqual(['to: needs at least one address']);
    expect(rx({ name: 'm', type: 'email', to: ['ok@example.com', 'nope'] })).toEqual([
      'to.1: must be an e-mail address',
    ]);
    expect(
      rx({ name: 'm', type: 'email', to: ['a@example.com'], subject_prefix: 'x'.repeat(101) }),
    ).toEqual(['subject_prefix: must be at most 100 characters']);
  });

  it('names a bad tmux target', () => {
    expect(rx({ name: 'p', type: 'tmux', target: '' })).toEqual(['target: must not be empty']);
    expect(rx({ name: 'p', type: 'tmux', target: 'fleet 0' })).toEqual([
      'target: must be a tmux target such as "fleet:0.1"',
    ]);
    expect(rx({ name: 'p', type: 'tmux', target: 'a\nb' })).toEqual([
      'target: must be a tmux target such as "fleet:0.1"',
    ]);
    expect(rx({ name: 'p', type: 'tmux', target: 'x'.repeat(201) })).toEqual([
      'target: must be at most 200 characters',
    ]);
  });
});

describe('SmtpConfigSchema', () => {
  it('fills the documented defaults', () => {
    expect(SmtpConfigSchema.parse({ host: 'mail.example.com' })).toEqual({
      host: 'mail.example.com',
      port: 25,
      secure: false,
      require_tls: false,
      from: 'warden@localhost',
      timeout: 10_000,
    });
  });

  it('names every bad key', () => {
    expect(smtp({})[0]).toMatch(/^host: /);
    expect(smtp({ host: '' })).toEqual(['host: must not be empty']);
    expect(smtp({ host: 'h', port: 0 })).toEqual(['port: must be a port (1-65535)']);
    expect(smtp({ host: 'h', port: 70000 })).toEqual(['port: must be a port (1-65535)']);
    expect(smtp({ host: 'h', port: 25.5 })).toEqual(['port: must be a whole number']);
    expect(smtp({ host: 'h', from: '' })).toEqual(['from: must not be empty']);
    expect(smtp({ host: 'h', user: '' })).toEqual(['user: must not be empty']);
    expect(smtp({ host: 'h', pass: 'x' })).toEqual(['user: is required when pass is set']);
    expect(smtp({ host: 'h', timeout: 0 })).toEqual(['timeout: must be more than 0']);
    expect(smtp({ host: 'h', tls: true })).toEqual([': Unrecognized key: "tls"']);
  });
});
