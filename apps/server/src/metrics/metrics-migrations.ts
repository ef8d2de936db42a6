import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../store/migrations.js';

/**
 * Migration 0006: the metrics history. Raw samples are the stored `metric_update` events
 * themselves (not copied); these tables hold the rollups.
 *
 * - `metric_series`: one row per (agent, name); `agent_id` `*` is the fleet. Rollup rows
 *   carry the small integer id instead of the two strings, which keeps a minute row near
 *   100 bytes (200 agents × 3 metrics × 30 days of minutes is 26 M rows).
 * - `metric_rollups_1m` / `metric_rollups_1h`: count, sum, min, max, last (with its ts) and a
 *   quantile sketch per series and bucket start (epoch ms). The primary key is the only
 *   index; on SQLite the tables are WITHOUT ROWID, so the key is not stored twice.
 */
export function metricsMigrations(dialect: Dialect): Record<string, Migration> {
  const isPg = dialect === 'postgres';
  return {
    '0006_metrics': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('metric_series')
          .addColumn('id', isPg ? 'bigserial' : 'integer', (c) =>
            isPg ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addUniqueConstraint('metric_series_agent_name', ['agent_id', 'name'])
          .execute();
        for (const table of ['metric_rollups_1m', 'metric_rollups_1h']) {
          let t = db.schema
            .createTable(table)
            .addColumn('series_id', 'bigint', (c) => c.notNull())
            .addColumn('bucket', 'bigint', (c) => c.notNull())
            .addColumn('count', 'bigint', (c) => c.notNull())
            .addColumn('sum', 'double precision', (c) => c.notNull())
            .addColumn('min', 'double precision', (c) => c.notNull())
            .addColumn('max', 'double precision', (c) => c.notNull())
            .addColumn('last', 'double precision', (c) => c.notNull())
            .addColumn('last_ts', 'bigint', (c) => c.notNull())
            .addColumn('sketch', isPg ? 'bytea' : 'blob', (c) => c.notNull())
            .addPrimaryKeyConstraint(`${table}_pk`, ['series_id', 'bucket']);
          if (!isPg) t = t.modifyEnd(sql`WITHOUT ROWID`);
          await t.execute();
        }
      },
    },
  };
}
