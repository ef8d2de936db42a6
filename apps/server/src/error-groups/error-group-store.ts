import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { RetryRuleInput } from '@warden/protocol';
import { openQueueConnection, type QueueDialect } from '../store/queue-connection.js';
import { hourOf } from './error-group-projection.js';

/** The tables of migration 0008 (and the errors rows they index), as Kysely sees them. */
export interface ErrorGroupDatabase {
  error_groups: {
    fingerprint: string;
    error_type: string;
    message: string;
    stack: string | null;
    state: string;
    count: number;
    first_seen: number;
    last_seen: number;
    last_seq: number;
    last_agent_id: string;
    state_changed_at: number | null;
  };
  error_group_agents: {
    fingerprint: string;
    agent_id: string;
    count: number;
    first_seen: number;
    last_seen: number;
  };
  error_group_hours: { fingerprint: string; hour: number; count: number };
  retry_policies: {
    id: string;
    rule: string;
    created_at: number;
    updated_at: number;
    position: number;
  };
  errors: {
    id: number;
    agent_id: string;
    message: string;
    fingerprint: string | null;
    ts: number;
  };
}

export const ERROR_GROUP_STATES = ['unresolved', 'resolved', 'regressed', 'ignored'] as const;
export type ErrorGroupState = (typeof ERROR_GROUP_STATES)[number];

/** A group as `GET /api/v1/error-groups` lists it. */
export interface ErrorGroup {
  id: string;
  fingerprint: string;
  errorType: string;
  message: string;
  stack: string | null;
  state: ErrorGroupState;
  count: number;
  firstSeen: number;
  lastSeen: number;
  /** Occurrences whose time is within the hour before now. */
  lastHour: number;
  /** Average occurrences per hour between first and last seen (at least one hour). */
  perHour: number;
  agentCount: number;
  /** The agents that reported it, most recent first (at most 20 here, 100 in one group's view). */
  agents: { agentId: string; count: number; firstSeen: number; lastSeen: number }[];
  lastAgentId: string;
  stateChangedAt: number | null;
}

/** One group with its last 24 hours by hour and its latest occurrences. */
export interface ErrorGroupDetail extends ErrorGroup {
  hourly: { hour: number; count: number }[];
  recent: { errorId: number; agentId: string; ts: number; message: string }[];
}

export interface ErrorGroupQuery {
  state?: ErrorGroupState[];
  agentId?: string;
  /** Substring of the type or message, any case. */
  q?: string;
  sort: 'lastSeen' | 'count' | 'firstSeen';
  limit: number;
  offset: number;
}

/** An API retry rule as stored (its input as sent, validated). */
export interface StoredRetryRule {
  id: string;
  rule: RetryRuleInput;
  createdAt: number;
  updatedAt: number;
}

const HOUR_MS = 3_600_000;
const n = (v: unknown): number => Number(v);

/** Reads and state changes of error groups, and the API's retry rules, on SQLite or PostgreSQL. */
export class ErrorGroupStore {
  private constructor(
    private readonly db: Kysely<ErrorGroupDatabase>,
    private readonly dialect: QueueDialect,
  ) {}

  static open(databaseUrl: string): ErrorGroupStore {
    const c = openQueueConnection<ErrorGroupDatabase>(databaseUrl, {
      applicationName: 'warden:error-groups',
      poolSize: 2,
    });
    return new ErrorGroupStore(c.db, c.dialect);
  }

  async list(
    q: ErrorGroupQuery,
    now: number,
  ): Promise<{ groups: ErrorGroup[]; next: number | null }> {
    let query = this.db.selectFrom('error_groups').selectAll();
    if (q.state && q.state.length > 0) query = query.where('state', 'in', q.state);
    if (q.agentId !== undefined) {
      const agentId = q.agentId;
      query = query.where('fingerprint', 'in', (eb) =>
        eb.selectFrom('error_group_agents').select('fingerprint').where('agent_id', '=', agentId),
      );
    }
    if (q.q !== undefined && q.q !== '') {
      const like = `%${q.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const op = this.dialect === 'postgres' ? sql`ILIKE` : sql`LIKE`;
      query = query.where(
        sql<boolean>`(error_type ${op} ${like} ESCAPE '\\' OR message ${op} ${like} ESCAPE '\\')`,
      );
    }
    const column =
      q.sort === 'count' ? 'count' : q.sort === 'firstSeen' ? 'first_seen' : 'last_seen';
    const rows = await query
      .orderBy(column, 'desc')
      .orderBy('fingerprint')
      .limit(q.limit + 1)
      .offset(q.offset)
      .execute();
    const more = rows.length > q.limit;
    const groups = await this.enrich(rows.slice(0, q.limit), now, 20);
    return { groups, next: more ? q.offset + q.limit : null };
  }

  async get(fingerprint: string, now: number): Promise<ErrorGroupDetail | undefined> {
    const row = await this.db
      .selectFrom('error_groups')
      .selectAll()
      .where('fingerprint', '=', fingerprint)
      .executeTakeFirst();
    if (!row) return undefined;
    const [group] = await this.enrich([row], now, 100);
    const since = hourOf(now) - 23 * HOUR_MS;
    const [hours, recent] = await Promise.all([
      this.db
        .selectFrom('error_group_hours')
        .select(['hour', 'count'])
        .where('fingerprint', '=', fingerprint)
        .where('hour', '>=', since)
        .orderBy('hour')
        .execute(),
      this.db
        .selectFrom('errors')
        .select(['id', 'agent_id', 'ts', 'message'])
        .where('fingerprint', '=', fingerprint)
        .orderBy('ts', 'desc')
        .limit(10)
        .execute(),
    ]);
    return {
      ...group!,
      hourly: hours.map((h) => ({ hour: n(h.hour), count: n(h.count) })),
      recent: recent.map((r) => ({
        errorId: n(r.id),
        agentId: r.agent_id,
        ts: n(r.ts),
        message: r.message,
      })),
    };
  }

  /** Sets a group's state; undefined when there is no such group. */
  async setState(
    fingerprint: string,
    state: 'resolved' | 'ignored' | 'unresolved',
    now: number,
  ): Promise<ErrorGroupDetail | undefined> {
    const r = await this.db
      .updateTable('error_groups')
      .set({ state, state_changed_at: now })
      .where('fingerprint', '=', fingerprint)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return undefined;
    return this.get(fingerprint, now);
  }

  /** Hour counts older than `cutoff` (epoch ms) go; the groups keep their totals. */
  async deleteHoursBefore(cutoff: number): Promise<number> {
    const r = await this.db
      .deleteFrom('error_group_hours')
      .where('hour', '<', cutoff)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  private async enrich(
    rows: ErrorGroupDatabase['error_groups'][],
    now: number,
    agentLimit: number,
  ): Promise<ErrorGroup[]> {
    if (rows.length === 0) return [];
    const fps = rows.map((r) => r.fingerprint);
    const [recent, agentCounts, agents] = await Promise.all([
      this.db
        .selectFrom('errors')
        .select(['fingerprint', (eb) => eb.fn.countAll<number>().as('c')])
        .where('fingerprint', 'in', fps)
        .where('ts', '>', now - HOUR_MS)
        .groupBy('fingerprint')
        .execute(),
      this.db
        .selectFrom('error_group_agents')
        .select(['fingerprint', (eb) => eb.fn.countAll<number>().as('c')])
        .where('fingerprint', 'in', fps)
        .groupBy('fingerprint')
        .execute(),
      this.topAgents(fps, agentLimit),
    ]);
    const lastHour = new Map(recent.map((r) => [r.fingerprint!, n(r.c)]));
    const agentCount = new Map(agentCounts.map((r) => [r.fingerprint, n(r.c)]));
    return rows.map((r) => {
      const count = n(r.count);
      const span = Math.max(HOUR_MS, n(r.last_seen) - n(r.first_seen));
      return {
        id: r.fingerprint,
        fingerprint: r.fingerprint,
        errorType: r.error_type,
        message: r.message,
        stack: r.stack,
        state: r.state as ErrorGroupState,
        count,
        firstSeen: n(r.first_seen),
        lastSeen: n(r.last_seen),
        lastHour: lastHour.get(r.fingerprint) ?? 0,
        perHour: Math.round((count / (span / HOUR_MS)) * 100) / 100,
        agentCount: agentCount.get(r.fingerprint) ?? 0,
        agents: agents.get(r.fingerprint) ?? [],
        lastAgentId: r.last_agent_id,
        stateChangedAt: r.state_changed_at === null ? null : n(r.state_changed_at),
      };
    });
  }

  /** The most recent `limit` agents of each group (a window function: one query for a page). */
  private async topAgents(
    fps: string[],
    limit: number,
  ): Promise<Map<string, ErrorGroup['agents']>> {
    const rows = await this.db
      .selectFrom((eb) =>
        eb
          .selectFrom('error_group_agents')
          .selectAll()
          .select(
            sql<number>`row_number() OVER (PARTITION BY fingerprint ORDER BY last_seen DESC, agent_id)`.as(
              'rn',
            ),
          )
          .where('fingerprint', 'in', fps)
          .as('a'),
      )
      .selectAll()
      .where('rn', '<=', limit)
      .orderBy('last_seen', 'desc')
      .execute();
    const out = new Map<string, ErrorGroup['agents']>();
    for (const r of rows) {
      let list = out.get(r.fingerprint);
      if (!list) out.set(r.fingerprint, (list = []));
      list.push({
        agentId: r.agent_id,
        count: n(r.count),
        firstSeen: n(r.first_seen),
        lastSeen: n(r.last_seen),
      });
    }
    return out;
  }

  // --- retry rules made through the API -------------------------------------------------

  async listRules(): Promise<StoredRetryRule[]> {
    const rows = await this.db
      .selectFrom('retry_policies')
      .selectAll()
      .orderBy('position')
      .orderBy('id')
      .execute();
    return rows.map(toStoredRule);
  }

  async getRule(id: string): Promise<StoredRetryRule | undefined> {
    const row = await this.db
      .selectFrom('retry_policies')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toStoredRule(row) : undefined;
  }

  /** Stores a new rule after every existing one. */
  async createRule(rule: RetryRuleInput, now: number): Promise<StoredRetryRule> {
    const id = `rp_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
    const json = JSON.stringify(rule);
    // Two replicas adding at once may draw the same position: the id breaks the tie.
    const top = await this.db
      .selectFrom('retry_policies')
      .select((eb) => eb.fn.max('position').as('p'))
      .executeTakeFirst();
    await this.db
      .insertInto('retry_policies')
      .values({ id, rule: json, created_at: now, updated_at: now, position: n(top?.p ?? 0) + 1 })
      .execute();
    return { id, rule, createdAt: now, updatedAt: now };
  }

  async updateRule(
    id: string,
    rule: RetryRuleInput,
    now: number,
  ): Promise<StoredRetryRule | undefined> {
    const r = await this.db
      .updateTable('retry_policies')
      .set({ rule: JSON.stringify(rule), updated_at: now })
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return undefined;
    return this.getRule(id);
  }

  async deleteRule(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('retry_policies').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}

function toStoredRule(r: ErrorGroupDatabase['retry_policies']): StoredRetryRule {
  return {
    id: r.id,
    rule: JSON.parse(r.rule) as RetryRuleInput,
    createdAt: n(r.created_at),
    updatedAt: n(r.updated_at),
  };
}
