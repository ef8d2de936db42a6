import { describe, expect, it } from 'vitest';
import { TokenService } from '@warden/server';
import type { HubApi } from './fleet-feed.js';
import { RENEW_BEFORE_MS, freshClients, tokenExpiry } from './fresh-client.js';

const T0 = 1_763_791_200_000;

function client(token: string | undefined): HubApi {
  return {
    url: 'http://hub.test',
    token,
    get: async () => {
      throw new Error('unused');
    },
    post: async () => {
      throw new Error('unused');
    },
  };
}

describe('freshClients', () => {
  it('reads the expiry of a real minted token; anything else has none', async () => {
    const tokens = new TokenService('s'.repeat(32));
    const jwt = await tokens.mint({ role: 'admin', ttlMs: 300_000 });
    const exp = tokenExpiry(jwt)!;
    expect(Math.abs(exp - (Date.now() + 300_000))).toBeLessThan(5_000);
    expect(tokenExpiry(undefined)).toBeUndefined();
    expect(tokenExpiry('not-a-jwt')).toBeUndefined();
    expect(tokenExpiry('a.!!!.c')).toBeUndefined();
  });

  it('keeps the client while its token is good, finds it again once it nearly expired', async () => {
    const exp = T0 + 300_000;
    const jwt = (e: number) =>
      `h.${Buffer.from(JSON.stringify({ exp: e / 1000 })).toString('base64url')}.s`;
    const first = client(jwt(exp));
    const second = client(jwt(exp + 300_000));
    let now = T0;
    let connects = 0;
    const source = freshClients(
      first,
      async () => {
        connects++;
        return second;
      },
      () => now,
    );
    expect(await source()).toBe(first);
    now = exp - RENEW_BEFORE_MS + 1;
    const [a, b] = await Promise.all([source(), source()]);
    expect(a).toBe(second);
    expect(b).toBe(second);
    expect(connects).toBe(1);
    expect(await source()).toBe(second);
  });

  it('when finding it again fails (server down), the old client is kept and tried later', async () => {
    const old = client(`h.${Buffer.from('{"exp":1}').toString('base64url')}.s`);
    let fail = true;
    const fresh = client(undefined);
    const source = freshClients(
      old,
      async () => {
        if (fail) throw new Error('no server');
        return fresh;
      },
      () => T0,
    );
    expect(await source()).toBe(old);
    fail = false;
    expect(await source()).toBe(fresh);
    // A client without a token (none given, no secret) is never renewed.
    expect(await source()).toBe(fresh);
  });
});
