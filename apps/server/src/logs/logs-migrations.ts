import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../store/migrations.js';

/** The tables of this feature, as migrations merged into the store's list (see store/migrations.ts). */
export function logsMigrations(_dialect: Dialect): Record<string, Migration> {
  return {
    '0009_logs': {
      async up(db: Kysely<unknown>) {
        // A compact, searchable projection of the `log` events (which stay in the event log
        // too). `seq` is the event's: replaying the log into the table is idempotent.
        // `cum_bytes` is a running total of the rows' estimated sizes in seq order, so the
        // table's size is the newest row's total minus the oldest's, read through the primary
        // key instead of a scan (retention by size, SPEC §7).
        await db.schema
          .createTable('logs')
          .addColumn('seq', 'bigint', (c) => c.primaryKey())
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('ts', 'bigint', (c) => c.notNull())
          // 0 debug, 1 info, 2 warn, 3 error: `level=warn` means `level >= 2`.
          .addColumn('level', 'integer', (c) => c.notNull())
          .addColumn('stream', 'text')
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('correlation_id', 'text')
          .addColumn('cum_bytes', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('logs_agent_seq')
          .on('logs')
          .columns(['agent_id', 'seq'])
          .execute();
        // Retention by age and time-range queries.
        await db.schema.createIndex('logs_ts').on('logs').columns(['ts']).execute();
      },
    },
  };
}
