import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { ConfigError } from './errors.js';
import { QueueConfigSchema } from './queue-config.js';

describe('queue config', () => {
  it('has defaults: 5 attempts, 30 s leases up to 24 h, a 1 s sweep, finished tasks kept 7 days', () => {
    expect(QueueConfigSchema.parse({})).toEqual({
      max_attempts: 5,
      default_lease: 30_000,
      max_lease: 86_400_000,
      sweep_interval: 1000,
      keep_finished: 7 * 86_400_000,
    });
    expect(parseConfig({}).queue.max_attempts).toBe(5);
  });

  it('reads durations with units or as seconds', () => {
    expect(
      QueueConfigSchema.parse({ default_lease: '2m', max_lease: 3600, sweep_interval: '250ms' }),
    ).toMatchObject({ default_lease: 120_000, max_lease: 3_600_000, sweep_interval: 250 });
  });

  it('refuses a default lease longer than max_lease, naming queue.default_lease', () => {
    expect(() => parseConfig({ queue: { default_lease: '2h', max_lease: '1h' } })).toThrow(
      ConfigError,
    );
    try {
      parseConfig({ queue: { default_lease: '2h', max_lease: '1h' } });
    } catch (err) {
      expect((err as ConfigError).key).toBe('queue.default_lease');
      expect((err as Error).message).toMatch(
        /^queue\.default_lease: must not be longer than max_lease/,
      );
    }
  });

  it('refuses zero attempts, a zero lease, a max lease over 7 days and unknown keys', () => {
    for (const [queue, key] of [
      [{ max_attempts: 0 }, 'queue.max_attempts'],
      [{ default_lease: 0 }, 'queue.default_lease'],
      [{ max_lease: '8d' }, 'queue.max_lease'],
      [{ sweep_interval: '1ms' }, 'queue.sweep_interval'],
      [{ retries: 3 }, 'queue'],
    ] as const) {
      let key_: string | undefined;
      try {
        parseConfig({ queue });
      } catch (err) {
        key_ = (err as ConfigError).key;
      }
      expect({ queue, key: key_ }).toEqual({ queue, key });
    }
  });
});
