import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';

/** The machine's Redis for `*.redis.test.ts`. */
export const TEST_REDIS_URL = process.env.WARDEN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The machine's PostgreSQL for `*.pg.test.ts`. */
export const TEST_PG_URL =
  process.env.WARDEN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Undefined when Redis answers PING; otherwise why not. */
export async function redisUnreachable(url = TEST_REDIS_URL): Promise<string | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // The connection error (ECONNREFUSED…) arrives as an event; connect() only says "closed".
  let cause: string | undefined;
  client.on('error', (err: Error) => (cause ??= err.message));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return cause ?? ((err as Error).message || String(err));
  } finally {
    client.disconnect();
  }
}

/** Undefined when PostgreSQL answers a query; otherwise why not. */
export async function postgresUnreachable(url = TEST_PG_URL): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * `describe(name, body)` when every service is reachable. Otherwise, with CI=true, one failing
 * test naming what is missing (CI must provide it); elsewhere the suite is skipped with a
 * warning, so a laptop without Redis or PostgreSQL still runs the rest.
 */
export function describeWithServices(
  name: string,
  missing: ReadonlyArray<string | undefined>,
  body: () => void,
): void {
  const reasons = missing.filter((m): m is string => m !== undefined);
  if (reasons.length === 0) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has the services it needs (required when CI=true)', () => {
        expect.fail(reasons.join('; '));
      });
    });
    return;
  }
  process.stderr.write(
    `warning: "${name}" skipped: ${reasons.join('; ')} ` +
      '(set WARDEN_TEST_REDIS_URL / WARDEN_TEST_PG_URL, or CI=true to make this a failure)\n',
  );
  describe.skip(name, body);
}

/** The reason to pass to `describeWithServices` for Redis, or undefined when it answers. */
export async function needRedis(url = TEST_REDIS_URL): Promise<string | undefined> {
  const why = await redisUnreachable(url);
  return why === undefined ? undefined : `Redis at ${url} is unreachable: ${why}`;
}

/** The reason to pass to `describeWithServices` for PostgreSQL, or undefined when it answers. */
export async function needPostgres(url = TEST_PG_URL): Promise<string | undefined> {
  const why = await postgresUnreachable(url);
  return why === undefined ? undefined : `PostgreSQL at ${url} is unreachable: ${why}`;
}

/** The reason to pass to `describeWithServices` when no `redis-server` binary can be run. */
export function needRedisServerBinary(): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (r.status === 0) return undefined;
  return `redis-server cannot be run: ${r.error?.message ?? (r.stderr || `exit ${r.status}`)}`;
}
