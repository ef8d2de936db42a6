import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../store/migrations.js';
import { hourOf } from './error-group-projection.js';
import { fingerprintError } from './fingerprint.js';

/**
 * The tables of error patterns (issue 5 point 4), merged into the store's list (see
 * store/migrations.ts). The writers fill the first three in each commit's own transaction
 * (error-group-projection.ts); `retry_policies` holds the rules made through the API.
 */
export function errorGroupMigrations(_dialect: Dialect): Record<string, Migration> {
  return {
    '0008_error_groups': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('error_groups')
          .addColumn('fingerprint', 'text', (c) => c.primaryKey())
          .addColumn('error_type', 'text', (c) => c.notNull())
          // The newest occurrence's message and stack: what the group looks like now.
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('stack', 'text')
          .addColumn('state', 'text', (c) => c.notNull().defaultTo('unresolved'))
          .addColumn('count', 'bigint', (c) => c.notNull())
          .addColumn('first_seen', 'bigint', (c) => c.notNull())
          .addColumn('last_seen', 'bigint', (c) => c.notNull())
          .addColumn('last_seq', 'bigint', (c) => c.notNull())
          .addColumn('last_agent_id', 'text', (c) => c.notNull())
          .addColumn('state_changed_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('error_groups_last_seen')
          .on('error_groups')
          .column('last_seen')
          .execute();
        await db.schema
          .createIndex('error_groups_state_last_seen')
          .on('error_groups')
          .columns(['state', 'last_seen'])
          .execute();

        await db.schema
          .createTable('error_group_agents')
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('count', 'bigint', (c) => c.notNull())
          .addColumn('first_seen', 'bigint', (c) => c.notNull())
          .addColumn('last_seen', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('error_group_agents_pk', ['fingerprint', 'agent_id'])
          .execute();
        await db.schema
          .createIndex('error_group_agents_agent')
          .on('error_group_agents')
          .columns(['agent_id', 'fingerprint'])
          .execute();

        // Occurrences per group per hour (hour = epoch ms of the hour's start, by event ts).
        await db.schema
          .createTable('error_group_hours')
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('hour', 'bigint', (c) => c.notNull())
          .addColumn('count', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('error_group_hours_pk', ['fingerprint', 'hour'])
          .execute();
        await db.schema
          .createIndex('error_group_hours_hour')
          .on('error_group_hours')
          .column('hour')
          .execute();

        // A group's recent occurrences and its last-hour count read the errors rows by it.
        await db.schema
          .createIndex('errors_fingerprint_ts')
          .on('errors')
          .columns(['fingerprint', 'ts'])
          .execute();

        await db.schema
          .createTable('retry_policies')
          .addColumn('id', 'text', (c) => c.primaryKey())
          // The rule as sent (RetryRuleSchema's input), JSON.
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          // Evaluation order among API rules: creation order.
          .addColumn('position', 'bigint', (c) => c.notNull())
          .execute();

        await backfill(db);
      },
    },
  };
}

interface ErrorRow {
  id: number | string;
  agent_id: string;
  error_type: string;
  message: string;
  stack: string | null;
  fingerprint: string | null;
  ts: number | string;
}

/**
 * Errors stored before this migration get their fingerprint and their groups, as the writers
 * now do for each new one. Read in id order in pages; groups, agents and hours are summed in
 * memory (one entry per group, not per error) and written at the end.
 */
async function backfill(db: Kysely<unknown>): Promise<void> {
  const groups = new Map<
    string,
    { row: ErrorRow; count: number; first: number; last: number; lastId: number }
  >();
  const agents = new Map<
    string,
    { fp: string; agent: string; count: number; first: number; last: number }
  >();
  const hours = new Map<string, { fp: string; hour: number; count: number }>();
  let after = -1;
  for (;;) {
    const page =
      await sql<ErrorRow>`SELECT id, agent_id, error_type, message, stack, fingerprint, ts
      FROM errors WHERE id > ${after} ORDER BY id LIMIT 1000`.execute(db);
    if (page.rows.length === 0) break;
    for (const r of page.rows) {
      const id = Number(r.id);
      const ts = Number(r.ts);
      after = id;
      const fp = fingerprintError({
        errorType: r.error_type,
        message: r.message,
        stack: r.stack ?? undefined,
        fingerprint: r.fingerprint ?? undefined,
      });
      if (fp !== r.fingerprint) {
        await sql`UPDATE errors SET fingerprint = ${fp} WHERE id = ${id}`.execute(db);
      }
      const g = groups.get(fp);
      if (!g) groups.set(fp, { row: r, count: 1, first: ts, last: ts, lastId: id });
      else {
        g.count++;
        g.first = Math.min(g.first, ts);
        g.last = Math.max(g.last, ts);
        g.row = r;
        g.lastId = id;
      }
      const ak = `${fp}\u0000${r.agent_id}`;
      const a = agents.get(ak);
      if (!a) agents.set(ak, { fp, agent: r.agent_id, count: 1, first: ts, last: ts });
      else {
        a.count++;
        a.first = Math.min(a.first, ts);
        a.last = Math.max(a.last, ts);
      }
      const hk = `${fp}\u0000${hourOf(ts)}`;
      const h = hours.get(hk);
      if (h) h.count++;
      else hours.set(hk, { fp, hour: hourOf(ts), count: 1 });
    }
  }
  for (const [fp, g] of groups) {
    await sql`INSERT INTO error_groups (fingerprint, error_type, message, stack, state, count,
        first_seen, last_seen, last_seq, last_agent_id)
      VALUES (${fp}, ${g.row.error_type}, ${g.row.message}, ${g.row.stack}, 'unresolved',
        ${g.count}, ${g.first}, ${g.last}, ${g.lastId}, ${g.row.agent_id})`.execute(db);
  }
  for (const a of agents.values()) {
    await sql`INSERT INTO error_group_agents (fingerprint, agent_id, count, first_seen, last_seen)
      VALUES (${a.fp}, ${a.agent}, ${a.count}, ${a.first}, ${a.last})`.execute(db);
  }
  for (const h of hours.values()) {
    await sql`INSERT INTO error_group_hours (fingerprint, hour, count)
      VALUES (${h.fp}, ${h.hour}, ${h.count})`.execute(db);
  }
}
