import type { Kysely } from 'kysely';
import { openQueueConnection } from '../store/queue-connection.js';
import type { AlertRule } from './alert-rule.js';
import type { AlertRecord, AlertState } from './alert-state.js';
import type { NotificationLogEntry } from './alert-dispatcher.js';
import type { Silence } from './silence.js';

interface AlertRulesTable {
  name: string;
  definition: string;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}
interface AlertsTable {
  id: string;
  fingerprint: string;
  rule: string;
  agent_id: string;
  severity: string;
  labels: string;
  annotations: string;
  state: string;
  value: number | null;
  active_at: number;
  fired_at: number | null;
  ends_at: number | null;
  false_since: number | null;
  acknowledged: number;
  acked_by: string | null;
  acked_at: number | null;
  ack_comment: string | null;
  escalated: number;
  updated_at: number;
}
interface SilencesTable {
  id: string;
  matchers: string;
  starts_at: number;
  ends_at: number;
  created_by: string;
  comment: string;
  updated_at: number;
}
interface NotificationLogTable {
  group_key: string;
  receiver: string;
  firing: string;
  sent_at: number;
}
interface AgentLabelsTable {
  agent_id: string;
  labels: string;
  updated_at: number;
}

export interface AlertsDatabase {
  alert_rules: AlertRulesTable;
  alerts: AlertsTable;
  alert_silences: SilencesTable;
  alert_notification_log: NotificationLogTable;
  alert_agent_labels: AgentLabelsTable;
}

export interface StoredRule {
  rule: AlertRule;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

/** Rows per multi-row statement: far below SQLite's bound-variable limit. */
const CHUNK = 200;

// bigint columns come back as strings from pg.
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function rowToAlert(r: AlertsTable): AlertRecord {
  return {
    id: r.id,
    fingerprint: r.fingerprint,
    rule: r.rule,
    agentId: r.agent_id,
    severity: r.severity as AlertRecord['severity'],
    labels: JSON.parse(r.labels) as Record<string, string>,
    annotations: JSON.parse(r.annotations) as Record<string, string>,
    state: r.state as AlertState,
    value: numOrNull(r.value),
    activeAt: num(r.active_at),
    firedAt: numOrNull(r.fired_at),
    endsAt: numOrNull(r.ends_at),
    falseSince: numOrNull(r.false_since),
    acknowledged: Number(r.acknowledged) === 1,
    ackedBy: r.acked_by,
    ackedAt: numOrNull(r.acked_at),
    ackComment: r.ack_comment ?? null,
    escalated: num(r.escalated),
    updatedAt: num(r.updated_at),
  };
}

function alertToRow(a: AlertRecord): AlertsTable {
  return {
    id: a.id,
    fingerprint: a.fingerprint,
    rule: a.rule,
    agent_id: a.agentId,
    severity: a.severity,
    labels: JSON.stringify(a.labels),
    annotations: JSON.stringify(a.annotations),
    state: a.state,
    value: a.value !== null && Number.isFinite(a.value) ? a.value : null,
    active_at: a.activeAt,
    fired_at: a.firedAt,
    ends_at: a.endsAt,
    false_since: a.falseSince,
    acknowledged: a.acknowledged ? 1 : 0,
    acked_by: a.ackedBy,
    acked_at: a.ackedAt,
    ack_comment: a.ackComment,
    escalated: a.escalated,
    updated_at: a.updatedAt,
  };
}

function chunks<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += CHUNK) out.push(list.slice(i, i + CHUNK));
  return out;
}

/**
 * The alert engine's tables (migration 0007) on a connection of its own. Every write is one
 * statement (multi-row upserts for a cycle's alerts), so on SQLite nothing holds the file's
 * write lock across an await and the ingest writer is never starved; on PostgreSQL the same
 * statements run on a small pool.
 */
export class AlertsStore {
  private constructor(private readonly db: Kysely<AlertsDatabase>) {}

  static open(databaseUrl: string): AlertsStore {
    const { db } = openQueueConnection<AlertsDatabase>(databaseUrl, {
      applicationName: 'warden-alerts',
      poolSize: 2,
    });
    return new AlertsStore(db);
  }

  async loadRules(): Promise<
    Array<{ name: string; definition: unknown } & Omit<StoredRule, 'rule'>>
  > {
    const rows = await this.db.selectFrom('alert_rules').selectAll().orderBy('name').execute();
    return rows.map((r) => ({
      name: r.name,
      definition: JSON.parse(r.definition) as unknown,
      createdBy: r.created_by,
      createdAt: num(r.created_at),
      updatedAt: num(r.updated_at),
    }));
  }

  /** Inserts a rule; false when the name is taken. */
  async insertRule(rule: AlertRule, createdBy: string | null, now: number): Promise<boolean> {
    const r = await this.db
      .insertInto('alert_rules')
      .values({
        name: rule.name,
        definition: JSON.stringify(rule),
        created_by: createdBy,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async updateRule(rule: AlertRule, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('alert_rules')
      .set({ definition: JSON.stringify(rule), updated_at: now })
      .where('name', '=', rule.name)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteRule(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('alert_rules').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async loadActiveAlerts(): Promise<AlertRecord[]> {
    const rows = await this.db
      .selectFrom('alerts')
      .selectAll()
      .where('state', 'in', ['pending', 'firing'])
      .execute();
    return rows.map(rowToAlert);
  }

  /** Resolved alerts whose end is at or after `since` (a restart's groups may still owe their resolution). */
  async loadResolvedSince(since: number): Promise<AlertRecord[]> {
    const rows = await this.db
      .selectFrom('alerts')
      .selectAll()
      .where('state', '=', 'resolved')
      .where('ends_at', '>=', since)
      .execute();
    return rows.map(rowToAlert);
  }

  /** The history, newest first. */
  async listAlerts(q: {
    states: AlertState[];
    limit: number;
    rule?: string;
    agentId?: string;
  }): Promise<AlertRecord[]> {
    let query = this.db.selectFrom('alerts').selectAll().where('state', 'in', q.states);
    if (q.rule !== undefined) query = query.where('rule', '=', q.rule);
    if (q.agentId !== undefined) query = query.where('agent_id', '=', q.agentId);
    const rows = await query.orderBy('active_at', 'desc').orderBy('id').limit(q.limit).execute();
    return rows.map(rowToAlert);
  }

  async getAlert(id: string): Promise<AlertRecord | undefined> {
    const r = await this.db
      .selectFrom('alerts')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return r ? rowToAlert(r) : undefined;
  }

  /** Writes alerts as they are now (insert or replace), a few multi-row statements. */
  async writeAlerts(list: readonly AlertRecord[]): Promise<void> {
    for (const chunk of chunks(list)) {
      await this.db
        .insertInto('alerts')
        .values(chunk.map(alertToRow))
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            state: eb.ref('excluded.state'),
            value: eb.ref('excluded.value'),
            annotations: eb.ref('excluded.annotations'),
            fired_at: eb.ref('excluded.fired_at'),
            ends_at: eb.ref('excluded.ends_at'),
            false_since: eb.ref('excluded.false_since'),
            acknowledged: eb.ref('excluded.acknowledged'),
            acked_by: eb.ref('excluded.acked_by'),
            acked_at: eb.ref('excluded.acked_at'),
            ack_comment: eb.ref('excluded.ack_comment'),
            escalated: eb.ref('excluded.escalated'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    }
  }

  async deleteAlerts(ids: readonly string[]): Promise<void> {
    for (const chunk of chunks(ids))
      await this.db.deleteFrom('alerts').where('id', 'in', chunk).execute();
  }

  async loadSilences(): Promise<Silence[]> {
    const rows = await this.db.selectFrom('alert_silences').selectAll().execute();
    return rows.map((r) => ({
      id: r.id,
      matchers: JSON.parse(r.matchers) as Silence['matchers'],
      startsAt: num(r.starts_at),
      endsAt: num(r.ends_at),
      createdBy: r.created_by,
      comment: r.comment,
      updatedAt: num(r.updated_at),
    }));
  }

  async saveSilence(s: Silence): Promise<void> {
    const row = {
      id: s.id,
      matchers: JSON.stringify(s.matchers),
      starts_at: s.startsAt,
      ends_at: s.endsAt,
      created_by: s.createdBy,
      comment: s.comment,
      updated_at: s.updatedAt,
    };
    await this.db
      .insertInto('alert_silences')
      .values(row)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({
          matchers: row.matchers,
          starts_at: row.starts_at,
          ends_at: row.ends_at,
          created_by: row.created_by,
          comment: row.comment,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  async loadNotificationLog(): Promise<NotificationLogEntry[]> {
    const rows = await this.db.selectFrom('alert_notification_log').selectAll().execute();
    return rows.map((r) => ({
      groupKey: r.group_key,
      receiver: r.receiver,
      firing: JSON.parse(r.firing) as string[],
      sentAt: num(r.sent_at),
    }));
  }

  async saveNotificationLog(list: readonly NotificationLogEntry[]): Promise<void> {
    for (const chunk of chunks(list)) {
      await this.db
        .insertInto('alert_notification_log')
        .values(
          chunk.map((e) => ({
            group_key: e.groupKey,
            receiver: e.receiver,
            firing: JSON.stringify(e.firing),
            sent_at: e.sentAt,
          })),
        )
        .onConflict((oc) =>
          oc.columns(['group_key', 'receiver']).doUpdateSet((eb) => ({
            firing: eb.ref('excluded.firing'),
            sent_at: eb.ref('excluded.sent_at'),
          })),
        )
        .execute();
    }
  }

  async loadAgentLabels(): Promise<Array<{ agentId: string; labels: Record<string, string> }>> {
    const rows = await this.db.selectFrom('alert_agent_labels').selectAll().execute();
    return rows.map((r) => ({
      agentId: r.agent_id,
      labels: JSON.parse(r.labels) as Record<string, string>,
    }));
  }

  async saveAgentLabels(
    list: ReadonlyArray<{ agentId: string; labels: Record<string, string> }>,
    now: number,
  ): Promise<void> {
    for (const chunk of chunks(list)) {
      await this.db
        .insertInto('alert_agent_labels')
        .values(
          chunk.map((l) => ({
            agent_id: l.agentId,
            labels: JSON.stringify(l.labels),
            updated_at: now,
          })),
        )
        .onConflict((oc) =>
          oc.column('agent_id').doUpdateSet((eb) => ({
            labels: eb.ref('excluded.labels'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    }
  }

  /** Deletes resolved alerts and expired silences that ended, and log entries last sent, before `before`. */
  async retain(before: number): Promise<Record<string, number>> {
    const a = await this.db
      .deleteFrom('alerts')
      .where('state', '=', 'resolved')
      .where('ends_at', '<', before)
      .executeTakeFirst();
    const s = await this.db
      .deleteFrom('alert_silences')
      .where('ends_at', '<', before)
      .executeTakeFirst();
    const n = await this.db
      .deleteFrom('alert_notification_log')
      .where('sent_at', '<', before)
      .executeTakeFirst();
    return {
      alerts: Number(a.numDeletedRows),
      silences: Number(s.numDeletedRows),
      notificationLog: Number(n.numDeletedRows),
    };
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
