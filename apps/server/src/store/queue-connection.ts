import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { ConfigError } from '../errors.js';
import { parsePgTarget, pgClientConfig } from './pg-connection.js';
import { openSqlite } from './sqlite-writer.js';
import type { QueueDatabase } from './task-queue-rows.js';

/** Which engine a queue-side connection talks to (their SQL differs in locking only). */
export type QueueDialect = 'sqlite' | 'postgres';

/** A Kysely instance of its own for the queue and agent state tables, and its dialect. */
export interface QueueConnection<DB = QueueDatabase> {
  db: Kysely<DB>;
  dialect: QueueDialect;
}

/**
 * Opens a connection of its own to the store named by `databaseUrl`, for the tables of
 * migration 0004 and after (which the event store's `migrate()` has run already); `DB` names
 * the tables the caller uses.
 *
 * SQLite: another connection to the same file with Warden's pragmas (WAL, synchronous=FULL,
 * busy_timeout 5 s). Only for single statements (each commits on its own): Kysely awaits
 * between the statements of a transaction, and an open SQLite transaction must not yield
 * (see SqliteTaskQueueStore). PostgreSQL: a small pool in the URL's schema.
 */
export function openQueueConnection<DB = QueueDatabase>(
  databaseUrl: string,
  opts: { applicationName: string; poolSize?: number },
): QueueConnection<DB> {
  if (databaseUrl.startsWith('sqlite:')) {
    const file = databaseUrl.replace(/^sqlite:(\/\/)?/, '');
    return {
      db: new Kysely<DB>({ dialect: new SqliteDialect({ database: openSqlite(file) }) }),
      dialect: 'sqlite',
    };
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const target = parsePgTarget(databaseUrl);
    const pool = new pg.Pool({
      ...pgClientConfig(target, { applicationName: opts.applicationName }),
      max: opts.poolSize ?? 4,
      idleTimeoutMillis: 30_000,
    });
    // A pooled connection that dies is replaced on the next checkout; without a listener the
    // error would crash the process.
    pool.on('error', () => undefined);
    return {
      db: new Kysely<DB>({ dialect: new PostgresDialect({ pool }) }),
      dialect: 'postgres',
    };
  }
  throw new ConfigError(
    `server.database_url: ${JSON.stringify(databaseUrl)} must start with sqlite: or postgres://`,
    'server.database_url',
  );
}
