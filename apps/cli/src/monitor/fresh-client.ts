import type { HubApi, ClientSource } from './fleet-feed.js';

/** A token is minted again this long before it expires. */
export const RENEW_BEFORE_MS = 60_000;

/** The `exp` claim of a JWT in epoch ms; undefined when it has none or is not a JWT. */
export function tokenExpiry(token: string | undefined): number | undefined {
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A {@link ClientSource} for a view that stays open for hours: the client `connect` found
 * first, found again (so a minted 5-minute admin token is minted anew) once its token is
 * within {@link RENEW_BEFORE_MS} of expiring. A token given by flag or env is what `connect`
 * returns again, so nothing changes for it. When finding it again fails (the server is down
 * and its server.json names a pid that is gone), the old client is kept: the next call tries
 * again.
 */
export function freshClients(
  first: HubApi,
  connect: () => Promise<HubApi>,
  now: () => number = Date.now,
): ClientSource {
  let current = first;
  let renewing: Promise<HubApi> | undefined;
  return async () => {
    const exp = tokenExpiry(current.token);
    if (exp === undefined || exp - now() > RENEW_BEFORE_MS) return current;
    renewing ??= connect()
      .then((c) => (current = c))
      .catch(() => current)
      .finally(() => (renewing = undefined));
    return renewing;
  };
}
