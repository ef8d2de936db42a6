import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../store/migrations.js';

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
      },
    },
  };
}
