import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../store/migrations.js';

/** The tables of this feature, as migrations merged into the store's list (see store/migrations.ts). */
export function alertsMigrations(_dialect: Dialect): Record<string, Migration> {
  return {
    '0007_alerts': {
      async up(db: Kysely<unknown>) {
        // Rules added through the API (config and built-in rules live in the config).
        await db.schema
          .createTable('alert_rules')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('definition', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        // One row per alert episode: pending and firing ones are reloaded at start, resolved
        // ones are the history (`GET /api/v1/alerts?state=resolved`) until retention.
        await db.schema
          .createTable('alerts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('labels', 'text', (c) => c.notNull())
          .addColumn('annotations', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('value', 'double precision')
          .addColumn('active_at', 'bigint', (c) => c.notNull())
          .addColumn('fired_at', 'bigint')
          .addColumn('ends_at', 'bigint')
          .addColumn('false_since', 'bigint')
          .addColumn('acknowledged', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('acked_by', 'text')
          .addColumn('acked_at', 'bigint')
          .addColumn('escalated', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('alerts_state_ends')
          .on('alerts')
          .columns(['state', 'ends_at'])
          .execute();
        await db.schema
          .createIndex('alerts_fingerprint')
          .on('alerts')
          .columns(['fingerprint'])
          .execute();
        await db.schema
          .createTable('alert_silences')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('matchers', 'text', (c) => c.notNull())
          .addColumn('starts_at', 'bigint', (c) => c.notNull())
          .addColumn('ends_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('comment', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        // What each receiver was last told about each group, and when: a restart reads it
        // and sends nothing already sent.
        await db.schema
          .createTable('alert_notification_log')
          .addColumn('group_key', 'text', (c) => c.notNull())
          .addColumn('receiver', 'text', (c) => c.notNull())
          .addColumn('firing', 'text', (c) => c.notNull())
          .addColumn('sent_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('alert_notification_log_pk', ['group_key', 'receiver'])
          .execute();
        // The latest labels of each agent (from `agent_status_update` meta.labels), so rule
        // selectors hold across a restart before the agent reports again.
        await db.schema
          .createTable('alert_agent_labels')
          .addColumn('agent_id', 'text', (c) => c.primaryKey())
          .addColumn('labels', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0011_alert_ack_comment': {
      async up(db: Kysely<unknown>) {
        // What the person who acknowledged an alert wrote (`POST /alerts/:id/ack` `comment`).
        await db.schema.alterTable('alerts').addColumn('ack_comment', 'text').execute();
      },
    },
  };
}
