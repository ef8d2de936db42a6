import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { alertsMigrations } from '../alerts/alerts-migrations.js';
import { authMigrations } from '../auth/auth-migrations.js';
import { errorGroupMigrations } from '../error-groups/error-groups-migrations.js';
import { logsMigrations } from '../logs/logs-migrations.js';
import { metricsMigrations } from '../metrics/metrics-migrations.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * The schema, as ordered migrations run by Kysely's Migrator on every dialect. `seq` is the
 * log position: SQLite's AUTOINCREMENT never reuses a value, even after retention deletes;
 * on PostgreSQL the `log_head` row (0003) assigns it.
 */
function migrations(dialect: Dialect): Record<string, Migration> {
  const isPg = dialect === 'postgres';
  return {
    '0001_events': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('events')
          .addColumn('seq', isPg ? 'bigserial' : 'integer', (c) =>
            isPg ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('ts', 'bigint', (c) => c.notNull())
          .addColumn('received_at', 'bigint', (c) => c.notNull())
          .addColumn('correlation_id', 'text')
          .addColumn('data', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('events_agent_seq')
          .on('events')
          .columns(['agent_id', 'seq'])
          .execute();
        await db.schema
          .createIndex('events_type_seq')
          .on('events')
          .columns(['type', 'seq'])
          .execute();

        await db.schema
          .createTable('agents')
          .addColumn('agent_id', 'text', (c) => c.primaryKey())
          .addColumn('status', 'text')
          .addColumn('status_message', 'text')
          .addColumn('status_at', 'bigint')
          .addColumn('health', 'text', (c) => c.notNull())
          .addColumn('first_seen', 'bigint', (c) => c.notNull())
          .addColumn('last_seen', 'bigint', (c) => c.notNull())
          .addColumn('last_seq', 'bigint', (c) => c.notNull())
          .addColumn('metrics', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('metrics_at', 'bigint')
          .execute();

        await db.schema
          .createTable('tasks')
          .addColumn('task_id', 'text', (c) => c.primaryKey())
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text')
          .addColumn('queue', 'text')
          .addColumn('priority', 'double precision')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('assigned_at', 'bigint')
          .addColumn('completed_at', 'bigint')
          .addColumn('success', 'integer')
          .addColumn('duration_ms', 'double precision')
          .addColumn('error', 'text')
          .addColumn('updated_seq', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('tasks_agent_state')
          .on('tasks')
          .columns(['agent_id', 'state'])
          .execute();

        await db.schema
          .createTable('errors')
          .addColumn('id', 'bigint', (c) => c.primaryKey())
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('error_type', 'text', (c) => c.notNull())
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('stack', 'text')
          .addColumn('task_id', 'text')
          .addColumn('fatal', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('fingerprint', 'text')
          .addColumn('ts', 'bigint', (c) => c.notNull())
          .addColumn('resolved', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('resolved_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('errors_agent_resolved')
          .on('errors')
          .columns(['agent_id', 'resolved'])
          .execute();
      },
    },
    '0002_projection_state': {
      async up(db: Kysely<unknown>) {
        // How far each lazily written projection has applied the log; it catches up from here.
        await db.schema
          .createTable('projection_state')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .execute();
        // Before this migration the agents projection was written with every commit.
        await sql`INSERT INTO projection_state (name, seq)
          SELECT 'agents', coalesce(max(seq), 0) FROM events`.execute(db);
      },
    },
    '0003_log_head': {
      async up(db: Kysely<unknown>) {
        // SQLite has one writer per file, and AUTOINCREMENT already hands out seqs in commit
        // order; the migration is listed on both dialects so both run the same list.
        if (!isPg) return;
        // A sequence hands out values at INSERT time, so with several replicas a higher seq
        // can commit before a lower one and a reader polling `seq > since` would skip the
        // lower one for good. Instead every append locks this one row, assigns head+1… and
        // commits before releasing it: seqs become visible in order (SPEC §3).
        await db.schema
          .createTable('log_head')
          .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .execute();
        // Seqs of events already deleted by retention are never handed out again.
        await sql`INSERT INTO log_head (id, seq) SELECT 1, greatest(
            (SELECT coalesce(max(seq), 0) FROM events),
            (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_seq_seq))`.execute(
          db,
        );
        // An INSERT that forgets to take seq from log_head now fails instead of drawing from
        // the sequence behind the lock's back.
        await sql`ALTER TABLE events ALTER COLUMN seq DROP DEFAULT`.execute(db);
        await sql`DROP SEQUENCE events_seq_seq`.execute(db);
      },
    },
    '0004_queue_and_state': {
      async up(db: Kysely<unknown>) {
        // The task queue of SPEC §12. `seq` orders equal priorities oldest first, and a task
        // that goes back to its queue keeps it, so a retried task is not starved by newer ones.
        await db.schema
          .createTable('queue_tasks')
          .addColumn('seq', isPg ? 'bigserial' : 'integer', (c) =>
            isPg ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('queue', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('payload', 'text')
          .addColumn('priority', 'double precision', (c) => c.notNull().defaultTo(0))
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('leases', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('agent_id', 'text')
          .addColumn('leased_at', 'bigint')
          .addColumn('lease_ms', 'bigint')
          .addColumn('lease_expires_at', 'bigint')
          .addColumn('progress_percent', 'double precision')
          .addColumn('progress_message', 'text')
          .addColumn('progress_at', 'bigint')
          .addColumn('result', 'text')
          .addColumn('error', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('finished_at', 'bigint')
          .execute();
        // The lease query: the first queued task of a queue by priority, then age.
        await sql`CREATE INDEX queue_tasks_pick
          ON queue_tasks (queue, state, priority DESC, seq)`.execute(db);
        // The expiry sweep (state, lease_expires_at) and the rate and pruning of finished
        // tasks (state, finished_at).
        await db.schema
          .createIndex('queue_tasks_expiry')
          .on('queue_tasks')
          .columns(['state', 'lease_expires_at'])
          .execute();
        await db.schema
          .createIndex('queue_tasks_finished')
          .on('queue_tasks')
          .columns(['state', 'finished_at'])
          .execute();
        // Releasing every lease of an agent that failed.
        await db.schema
          .createIndex('queue_tasks_agent')
          .on('queue_tasks')
          .columns(['agent_id', 'state'])
          .execute();

        // What an agent saved to resume from (SDK saveState/loadState), one row per agent.
        await db.schema
          .createTable('agent_state')
          .addColumn('agent_id', 'text', (c) => c.primaryKey())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0005_agent_checks': {
      async up(db: Kysely<unknown>) {
        // The latest verdict of each supervisor health check per agent (from health_changed,
        // SPEC §12), as JSON: check → { health, reason, at }. The read side raises the
        // status's health by the failing ones.
        await db.schema
          .alterTable('agents')
          .addColumn('checks', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
      },
    },
    // The features' own tables (names sort after these: 0006 metrics, 0007 alerts,
    // 0008 error groups, 0009 logs).
    ...metricsMigrations(dialect),
    ...alertsMigrations(dialect),
    ...errorGroupMigrations(dialect),
    ...logsMigrations(dialect),
    ...authMigrations(dialect),
  };
}

export function createMigrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrations(dialect)) };
}
