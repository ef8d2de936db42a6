import { describe, expect, it } from 'vitest';
import { fingerprintError } from './error-fingerprint.js';
import {
  DEFAULT_BACKOFF,
  RetryRuleSchema,
  backoffDelay,
  retryPolicyRecord,
  selectRetryPolicy,
  type RetryPolicyList,
} from './retry-policy.js';

const rule = (id: string, r: unknown) => retryPolicyRecord(RetryRuleSchema.parse(r), id, 'api');

const list: RetryPolicyList = {
  policies: [
    rule('both', {
      match: { type: 'HttpError', message: '^5\\d\\d ' },
      retry: true,
      max_attempts: 5,
    }),
    rule('type', { match: { type: 'HttpError' }, retry: false }),
    rule('fp', { match: { fingerprint: 'my-fp' }, retry: false, escalate: true }),
  ],
  default: { retry: true, maxAttempts: null, backoff: DEFAULT_BACKOFF, escalate: false },
};

describe('selectRetryPolicy', () => {
  it('takes the first rule whose every match key fits', () => {
    expect(selectRetryPolicy(list, { errorType: 'HttpError', message: '503 busy' }).policyId).toBe(
      'both',
    );
    expect(
      selectRetryPolicy(list, { errorType: 'HttpError', message: '404 missing' }).policyId,
    ).toBe('type');
  });

  it('matches the fingerprint the hub gives the group (the sender’s own here)', () => {
    const p = selectRetryPolicy(list, { errorType: 'X', message: 'y', fingerprint: 'my-fp' });
    expect(p).toMatchObject({ policyId: 'fp', retry: false, escalate: true, fingerprint: 'my-fp' });
  });

  it('answers the default, with the error’s fingerprint, when nothing matches', () => {
    const e = { errorType: 'TypeError', message: 'x is undefined' };
    expect(selectRetryPolicy(list, e)).toEqual({
      ...list.default,
      policyId: 'default',
      fingerprint: fingerprintError(e),
    });
  });
});

describe('backoffDelay', () => {
  it('grows by the multiplier from the first retry and stops at max', () => {
    const b = { initialMs: 1000, multiplier: 2, maxMs: 5000 };
    expect([2, 3, 4, 5, 6].map((a) => backoffDelay(b, a))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });
});
