import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { StoredEvent, WardenEvent } from '@warden/protocol';
import type { AppendResult, EventStore } from './event-store.js';
import { createMigrationProvider } from './migrations.js';
import { parsePgTarget, pgClientConfig, quoteIdent, type PgTarget } from './pg-connection.js';
import { PgWriter } from './pg-writer.js';
import { ReadModel } from './read-model.js';
import { ReadModelStore } from './read-model-store.js';
import type { Database } from './schema.js';

export interface PgEventStoreOptions {
  /**
   * Schema holding Warden's tables and the migrations' bookkeeping; created when missing.
   * @defaultValue the URL's `?schema=` parameter, else `public`
   */
  schema?: string;
  /** Connections for reads, retention and migrations (writes have their own). @defaultValue 10 */
  poolSize?: number;
  /** Events deleted per retention transaction. @defaultValue 5000 */
  retentionChunk?: number;
  /**
   * `application_name` of the pool's connections; the writer's is this plus `:writer`, so
   * `pg_stat_activity` tells them apart. @defaultValue "warden"
   */
  applicationName?: string;
}

/** SQLSTATEs of a concurrent `CREATE SCHEMA IF NOT EXISTS` that lost the race. */
const SCHEMA_RACE = new Set(['42P06', '23505']);

/**
 * Longest a writer session may sit inside an open transaction. A replica that froze while
 * holding the log_head lock (SIGSTOP, a VM pause) would otherwise stop every replica's
 * ingest; the server ends its session instead, which rolls the transaction back.
 */
const WRITER_IDLE_IN_TX_MS = 30_000;

/**
 * Session settings of the writer connection.
 * - `idle_in_transaction_session_timeout`: see WRITER_IDLE_IN_TX_MS.
 * - `plan_cache_mode=force_custom_plan`: after five executions PostgreSQL may cache a generic
 *   plan for a named statement. For the duplicate lookup `id = ANY($1)` the generic plan it
 *   cached was a sequential scan comparing every row with every id in turn (an array that is
 *   a parameter cannot be hashed): 1–1.8 s per append once 300k events were stored, which
 *   stalled ingest at 20,000 events/s offered. Planned with the actual ids, the lookup uses
 *   the id index, or a hashed scan while the table is small; planning costs well under 1 ms.
 */
const WRITER_OPTIONS =
  `-c idle_in_transaction_session_timeout=${WRITER_IDLE_IN_TX_MS} ` +
  '-c plan_cache_mode=force_custom_plan';

/**
 * The PostgreSQL store: the same tables and migrations as SQLite, the shared Kysely read
 * model over a `pg` pool, and a dedicated writer connection (`PgWriter`) whose transactions
 * are serialised across every replica by a row lock on `log_head`, so seq is global and
 * assigned in commit order. Projections (agents, tasks, errors) are written in the same
 * transaction as their events.
 */
export class PgEventStore extends ReadModelStore implements EventStore {
  readonly schema: string;
  private readonly target: PgTarget;
  private readonly pool: pg.Pool;
  private readonly kysely: Kysely<Database>;
  protected readonly reads: ReadModel;
  private readonly writer: PgWriter;
  private readonly retentionChunk: number;
  private closing: Promise<void> | undefined;

  constructor(url: string, options: PgEventStoreOptions = {}) {
    super();
    this.target = parsePgTarget(url, options.schema);
    this.schema = this.target.schema;
    this.retentionChunk = options.retentionChunk ?? 5000;
    const applicationName = options.applicationName ?? 'warden';
    this.pool = new pg.Pool({
      ...pgClientConfig(this.target, { applicationName }),
      max: options.poolSize ?? 10,
      idleTimeoutMillis: 30_000,
    });
    // An idle pooled connection that dies (server restart, terminated backend) is dropped by
    // the pool and replaced on the next checkout; without a listener the error would crash
    // the process.
    this.pool.on('error', () => undefined);
    this.kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool: this.pool }) });
    this.reads = new ReadModel(this.kysely);
    const u = new URL(this.target.connectionString);
    const where = `${u.hostname}:${u.port || '5432'}${u.pathname}`;
    this.writer = new PgWriter(
      pgClientConfig(this.target, {
        applicationName: `${applicationName}:writer`,
        options: WRITER_OPTIONS,
      }),
      where,
    );
  }

  /** Opens `postgres://…[?schema=NAME]` URLs. */
  static fromUrl(url: string, options: PgEventStoreOptions = {}): PgEventStore {
    return new PgEventStore(url, options);
  }

  async migrate(): Promise<void> {
    const schema = quoteIdent(this.schema);
    try {
      await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } catch (err) {
      // Two replicas starting together both pass IF NOT EXISTS; the loser's error is harmless.
      if (!SCHEMA_RACE.has((err as { code?: string }).code ?? '')) {
        throw new Error(`cannot create schema ${schema} in PostgreSQL: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    // Kysely takes an advisory lock around the migrations, so concurrent replicas run them once.
    const { error, results } = await new Migrator({
      db: this.kysely,
      provider: createMigrationProvider('postgres'),
      migrationTableSchema: this.schema,
    }).migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(
        `migration ${failed} failed in schema ${schema}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    await this.writer.connect();
    this.writer.lastSeq = await this.readHead();
  }

  async append(events: readonly WardenEvent[], receivedAt: number): Promise<AppendResult[]> {
    // `data` is serialised once, here: the row stores it, and frames and the Redis stream reuse
    // it. A value JSON cannot hold (a BigInt) rejects the call before anything is sent.
    const dataJson = events.map((e) => JSON.stringify(e.data));
    const written = await this.writer.append(events, dataJson, receivedAt);
    const results: AppendResult[] = new Array<AppendResult>(written.length);
    for (let i = 0; i < written.length; i++) {
      const w = written[i]!;
      results[i] = w.duplicate
        ? w
        : {
            seq: w.seq,
            duplicate: false,
            stored: { seq: w.seq, receivedAt, ...events[i]! } as StoredEvent,
            dataJson: dataJson[i]!,
          };
    }
    return results;
  }

  head(): number {
    return this.writer.lastSeq;
  }

  async readHead(): Promise<number> {
    const row = await this.kysely
      .selectFrom('log_head')
      .select('seq')
      .where('id', '=', 1)
      .executeTakeFirst();
    if (!row) throw new Error(`log_head in schema ${this.schema} has no row; run migrate() first`);
    return Number(row.seq);
  }

  /**
   * `received_at` grows with `seq` within one replica (it is stamped when a commit group is
   * formed and groups commit in order), so the newest expired seq is found by binary search on
   * the primary key; then seq ranges of `retentionChunk` are deleted oldest-first, each in its
   * own autocommitted statement, so no transaction holds many row locks or a long snapshot.
   * Across replicas commits may interleave stamps by a few milliseconds: every range also
   * checks `received_at`, so nothing younger than the cutoff goes, and a straggler just past
   * the boundary goes at the next run. VACUUM then marks the space reusable (outside a
   * transaction, as it must run).
   */
  async deleteEventsBefore(cutoff: number): Promise<number> {
    const bounds = await sql<{ lo: number | null; hi: number | null }>`
      SELECT min(seq) AS lo, max(seq) AS hi FROM events`.execute(this.kysely);
    const { lo, hi } = bounds.rows[0]!;
    if (lo === null || hi === null) return 0;
    let left = Number(lo);
    let right = Number(hi);
    let boundary = left - 1; // newest seq known to be expired
    while (left <= right) {
      const mid = Math.floor((left + right) / 2);
      const row = await this.kysely
        .selectFrom('events')
        .select(['seq', 'received_at'])
        .where('seq', '>=', mid)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      if (row && Number(row.received_at) < cutoff) {
        boundary = Number(row.seq);
        left = boundary + 1;
      } else {
        right = mid - 1;
      }
    }
    let deleted = 0;
    for (let from = Number(lo); from <= boundary; from += this.retentionChunk) {
      const to = Math.min(boundary, from + this.retentionChunk - 1);
      const r = await this.kysely
        .deleteFrom('events')
        .where('seq', '>=', from)
        .where('seq', '<=', to)
        .where('received_at', '<', cutoff)
        .executeTakeFirst();
      deleted += Number(r.numDeletedRows);
    }
    if (deleted > 0) {
      await this.pool.query(`VACUUM ${quoteIdent(this.schema)}.events`);
    }
    return deleted;
  }

  ping(): Promise<void> {
    return this.reads.ping();
  }

  /** Waits for appends already made, then ends the writer connection and the pool. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.writer.close();
      await this.kysely.destroy();
    })();
    return this.closing;
  }
}
