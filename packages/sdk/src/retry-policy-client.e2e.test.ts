import { afterEach, describe, expect, it } from 'vitest';
import { fingerprintError } from '@warden/protocol';
import {
  startTestServer,
  type TestServer,
} from '../../../apps/server/src/test-support/test-server.js';
import { RetryPolicyClient, connect } from './index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(): Promise<TestServer> {
  const s = await startTestServer({
    config: {
      errors: {
        retry: [
          { name: 'auth', match: { type: 'AuthenticationError' }, retry: false, escalate: true },
          {
            name: 'net',
            match: { message: 'ECONNREFUSED' },
            retry: true,
            max_attempts: 5,
            backoff: { initial: '500ms', multiplier: 3, max: '10s' },
          },
        ],
        default_retry: { retry: true, max_attempts: 3 },
      },
      ingest: { writer_thread: false },
    },
  });
  cleanups.push(() => s.close());
  return s;
}

class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

describe('retryPolicyFor against a real hub', () => {
  it('answers the first matching policy for an Error or plain fields, else the default', async () => {
    const s = await server();
    const c = connect({ url: s.url, token: await s.token('agent', 'rp-1'), agentId: 'rp-1' });
    cleanups.push(() => c.close({ timeoutMs: 0 }));

    const auth = await c.retryPolicyFor(new AuthenticationError('bad key'));
    expect(auth).toMatchObject({ retry: false, escalate: true, policyId: 'config:auth' });
    const net = await c.retryPolicyFor({
      errorType: 'Error',
      message: 'connect ECONNREFUSED 127.0.0.1:5432',
    });
    expect(net).toEqual({
      retry: true,
      maxAttempts: 5,
      backoff: { initialMs: 500, multiplier: 3, maxMs: 10_000 },
      escalate: false,
      policyId: 'config:net',
      fingerprint: fingerprintError({
        errorType: 'Error',
        message: 'connect ECONNREFUSED 127.0.0.1:5432',
      }),
    });
    const other = await c.retryPolicyFor(new TypeError('x is undefined'));
    expect(other).toMatchObject({ retry: true, maxAttempts: 3, policyId: 'default' });
  });

  it('matches a policy made for a group by its fingerprint, the id the hub gave the group', async () => {
    const s = await server();
    const token = await s.token('agent', 'rp-2');
    const c = connect({ url: s.url, token, agentId: 'rp-2' });
    cleanups.push(() => c.close({ timeoutMs: 0 }));
    const err = new RangeError('index 17 out of range');
    await c.error(err);
    await c.flush();
    const groups = (await (
      await fetch(`${s.url}/api/v1/error-groups?agentId=rp-2`, {
        headers: { authorization: `Bearer ${await s.token('viewer')}` },
      })
    ).json()) as { groups: { id: string }[] };
    expect(groups.groups).toHaveLength(1);
    const id = groups.groups[0]!.id;
    const made = await fetch(`${s.url}/api/v1/retry-policies`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await s.token('operator')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ match: { fingerprint: id }, retry: false }),
    });
    const policy = (await made.json()) as { id: string };
    // Another instance of the same error (other number, same place) gets the group's policy.
    const again = new RangeError('index 99 out of range');
    again.stack = err.stack!.replace('17', '99');
    const p = await new RetryPolicyClient({ url: s.url, token }).retryPolicyFor(again);
    expect(p).toMatchObject({ retry: false, policyId: policy.id, fingerprint: id });
  });

  it('caches the list for its TTL, and keeps it (or the default) while the hub is away', async () => {
    const s = await server();
    const token = await s.token('agent', 'rp-3');
    let now = 1_000_000;
    let requests = 0;
    const clock = {
      now: () => now,
      setTimeout,
      clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
    };
    const rp = new RetryPolicyClient(
      {
        url: s.url,
        token,
        clock,
        fetch: (url, init) => {
          requests++;
          return fetch(url, init);
        },
      },
      { ttlMs: 10_000 },
    );
    await Promise.all([1, 2, 3].map(() => rp.retryPolicyFor(new AuthenticationError('x'))));
    expect(requests).toBe(1);
    now += 9_000;
    await rp.retryPolicyFor(new AuthenticationError('x'));
    expect(requests).toBe(1);
    now += 2_000;
    expect(rp.cachedPolicyFor(new AuthenticationError('x')).retry).toBe(false);
    await s.close();
    cleanups.length = 0;
    const stale = await rp.retryPolicyFor(new AuthenticationError('x'));
    expect(stale).toMatchObject({ retry: false, policyId: 'config:auth' });
    expect(requests).toBe(2);

    const away = new RetryPolicyClient({ url: 'http://127.0.0.1:1', token, timeoutMs: 1000 });
    expect(await away.retryPolicyFor(new AuthenticationError('x'))).toMatchObject({
      retry: true,
      policyId: 'default',
    });
  });
});
