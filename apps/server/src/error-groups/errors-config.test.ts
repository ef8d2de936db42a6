import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { ConfigError } from '../errors.js';

function load(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-errcfg-'));
  writeFileSync(join(dir, 'warden.yaml'), yaml);
  return loadConfig({}, {}, dir);
}

function refusal(yaml: string): ConfigError {
  try {
    load(yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('the config was accepted');
}

describe('errors: config', () => {
  it('has defaults: no rules, retry by default with backoff 1s ×2 up to 5m, hour counts kept 7d', () => {
    const c = load('{}\n');
    expect(c.errors).toEqual({
      retry: [],
      default_retry: {
        retry: true,
        backoff: { initial: 1000, multiplier: 2, max: 300_000 },
        escalate: false,
      },
      hourly_retention: 7 * 86_400_000,
    });
  });

  it('reads rules with durations in backoff', () => {
    const c = load(`errors:
  retry:
    - name: net
      match: { message: "ECONNREFUSED|ETIMEDOUT", type: Error }
      retry: true
      max_attempts: 10
      backoff: { initial: 2s, multiplier: 3, max: 2m }
    - match: { fingerprint: 0123456789abcdef }
      retry: false
      escalate: true
  default_retry: { retry: false }
`);
    expect(c.errors.retry[0]).toMatchObject({
      name: 'net',
      max_attempts: 10,
      backoff: { initial: 2000, multiplier: 3, max: 120_000 },
      escalate: false,
    });
    expect(c.errors.retry[1]).toMatchObject({ retry: false, escalate: true });
    expect(c.errors.default_retry.retry).toBe(false);
  });

  it('refuses a regex that does not compile, naming the key', () => {
    const e = refusal(`errors:
  retry:
    - match: { message: "(unclosed" }
      retry: true
`);
    expect(e.message).toContain('errors.retry.0.match.message');
    expect(e.message).toMatch(/regular expression/);
  });

  it('refuses an empty match, a missing retry, a bad duration and a name used twice', () => {
    expect(refusal('errors: { retry: [ { match: {}, retry: true } ] }\n').message).toContain(
      'errors.retry.0.match',
    );
    expect(refusal('errors: { retry: [ { match: { type: X } } ] }\n').message).toContain(
      'errors.retry.0.retry',
    );
    expect(
      refusal(
        'errors: { retry: [ { match: { type: X }, retry: true, backoff: { initial: soon } } ] }\n',
      ).message,
    ).toContain('errors.retry.0.backoff.initial');
    expect(
      refusal(
        'errors: { retry: [ { name: a, match: { type: X }, retry: true }, { name: a, match: { type: Y }, retry: true } ] }\n',
      ).message,
    ).toContain('errors.retry.1.name');
    expect(refusal('errors: { retries: [] }\n').message).toContain('errors');
  });
});
