import { sql, type Kysely, type Selectable } from 'kysely';
import { agentHealth, type AgentStatus, type StoredEvent } from '@warden/protocol';
import type {
  AgentSummary,
  CheckVerdict,
  ErrorRecord,
  EventQuery,
  MetricPoint,
  TaskRecord,
  TopicQuery,
} from './event-store.js';
import type { Database, ErrorsTable, EventsTable, TasksTable } from './schema.js';

/** Row → stored event. `data` is parsed; numbers may arrive as strings from some drivers. */
export function rowToEvent(r: Selectable<EventsTable>): StoredEvent {
  const ev: Record<string, unknown> = {
    seq: Number(r.seq),
    receivedAt: Number(r.received_at),
    id: r.id,
    type: r.type,
    agentId: r.agent_id,
    ts: Number(r.ts),
  };
  if (r.correlation_id !== null) ev.correlationId = r.correlation_id;
  ev.data = JSON.parse(r.data) as unknown;
  return ev as StoredEvent;
}

function rowToTask(r: Selectable<TasksTable>): TaskRecord {
  return {
    taskId: r.task_id,
    agentId: r.agent_id,
    name: r.name,
    queue: r.queue,
    priority: r.priority,
    state: r.state as TaskRecord['state'],
    assignedAt: r.assigned_at === null ? null : Number(r.assigned_at),
    completedAt: r.completed_at === null ? null : Number(r.completed_at),
    success: r.success === null ? null : r.success === 1,
    durationMs: r.duration_ms,
    error: r.error,
  };
}

function rowToError(r: Selectable<ErrorsTable>): ErrorRecord {
  return {
    id: Number(r.id),
    eventId: r.event_id,
    agentId: r.agent_id,
    errorType: r.error_type,
    message: r.message,
    stack: r.stack,
    taskId: r.task_id,
    fatal: Number(r.fatal) === 1,
    fingerprint: r.fingerprint,
    ts: Number(r.ts),
    resolved: Number(r.resolved) === 1,
    resolvedAt: r.resolved_at === null ? null : Number(r.resolved_at),
  };
}

/** The read side of the store, in dialect-neutral Kysely so every adapter shares it. */
export class ReadModel {
  constructor(private readonly db: Kysely<Database>) {}

  async readEvents(q: EventQuery): Promise<StoredEvent[]> {
    let query = this.db
      .selectFrom('events')
      .selectAll()
      .where('seq', '>', q.since)
      .orderBy('seq', 'asc')
      .limit(q.limit);
    if (q.agentId !== undefined) query = query.where('agent_id', '=', q.agentId);
    if (q.type !== undefined) query = query.where('type', '=', q.type);
    if (q.until !== undefined) query = query.where('seq', '<=', q.until);
    return (await query.execute()).map(rowToEvent);
  }

  async readTopics(q: TopicQuery): Promise<StoredEvent[]> {
    let query = this.db
      .selectFrom('events')
      .selectAll()
      .where('seq', '>', q.since)
      .where('seq', '<=', q.until)
      .orderBy('seq', 'asc')
      .limit(q.limit);
    if (!q.all) {
      const logs = q.logAgentIds ?? [];
      if (q.agentIds.length === 0 && q.types.length === 0 && logs.length === 0) return [];
      query = query.where((eb) => {
        const ors = [];
        if (q.agentIds.length > 0) ors.push(eb('agent_id', 'in', q.agentIds));
        if (q.types.length > 0) ors.push(eb('type', 'in', q.types));
        if (logs.length > 0) {
          ors.push(eb.and([eb('type', '=', 'log'), eb('agent_id', 'in', logs)]));
        }
        return eb.or(ors);
      });
    }
    return (await query.execute()).map(rowToEvent);
  }

  async recentEvents(q: { agentId?: string; limit: number }): Promise<StoredEvent[]> {
    let query = this.db.selectFrom('events').selectAll().orderBy('seq', 'desc').limit(q.limit);
    if (q.agentId !== undefined) query = query.where('agent_id', '=', q.agentId);
    return (await query.execute()).map(rowToEvent);
  }

  private agentQuery() {
    return this.db
      .selectFrom('agents as a')
      .selectAll('a')
      .select((eb) => [
        eb
          .selectFrom('tasks as t')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('t.agent_id', '=', 'a.agent_id')
          .where('t.state', '=', 'running')
          .as('open_tasks'),
        eb
          .selectFrom('errors as e')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('e.agent_id', '=', 'a.agent_id')
          .where('e.resolved', '=', 0)
          .as('unresolved_errors'),
      ]);
  }

  private static toAgent(r: Record<string, unknown>): AgentSummary {
    const status = (r.status as AgentStatus | null) ?? null;
    const checks = JSON.parse((r.checks as string | undefined) ?? '{}') as Record<
      string,
      CheckVerdict
    >;
    return {
      agentId: r.agent_id as string,
      status,
      statusMessage: (r.status_message as string | null) ?? null,
      // The health column holds what the status implies; failing checks raise it.
      health: agentHealth(
        status,
        Object.values(checks).map((c) => c.health),
      ),
      checks,
      metrics: JSON.parse(r.metrics as string) as Record<string, number>,
      metricsAt: r.metrics_at === null ? null : Number(r.metrics_at),
      openTasks: Number(r.open_tasks ?? 0),
      unresolvedErrors: Number(r.unresolved_errors ?? 0),
      firstSeen: Number(r.first_seen),
      lastSeen: Number(r.last_seen),
      lastSeq: Number(r.last_seq),
    };
  }

  async listAgents(): Promise<AgentSummary[]> {
    const rows = await this.agentQuery().orderBy('a.agent_id').execute();
    return rows.map((r) => ReadModel.toAgent(r as Record<string, unknown>));
  }

  async getAgent(agentId: string): Promise<AgentSummary | undefined> {
    const row = await this.agentQuery().where('a.agent_id', '=', agentId).executeTakeFirst();
    return row ? ReadModel.toAgent(row as Record<string, unknown>) : undefined;
  }

  async listTasks(q: { agentId?: string; state?: string; limit: number }): Promise<TaskRecord[]> {
    let query = this.db
      .selectFrom('tasks')
      .selectAll()
      .orderBy('updated_seq', 'desc')
      .limit(q.limit);
    if (q.agentId !== undefined) query = query.where('agent_id', '=', q.agentId);
    if (q.state !== undefined) query = query.where('state', '=', q.state);
    return (await query.execute()).map(rowToTask);
  }

  async listErrors(q: {
    agentId?: string;
    resolved?: boolean;
    limit: number;
  }): Promise<ErrorRecord[]> {
    let query = this.db.selectFrom('errors').selectAll().orderBy('id', 'desc').limit(q.limit);
    if (q.agentId !== undefined) query = query.where('agent_id', '=', q.agentId);
    if (q.resolved !== undefined) query = query.where('resolved', '=', q.resolved ? 1 : 0);
    return (await query.execute()).map(rowToError);
  }

  async setErrorResolved(
    id: number,
    resolved: boolean,
    at: number,
  ): Promise<ErrorRecord | undefined> {
    await this.db
      .updateTable('errors')
      .set({ resolved: resolved ? 1 : 0, resolved_at: resolved ? at : null })
      .where('id', '=', id)
      .execute();
    const row = await this.db
      .selectFrom('errors')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? rowToError(row) : undefined;
  }

  async metricHistory(agentId: string, fromTs: number, limit: number): Promise<MetricPoint[]> {
    const rows = await this.db
      .selectFrom('events')
      .select(['seq', 'ts', 'data'])
      .where('agent_id', '=', agentId)
      .where('type', '=', 'metric_update')
      .where('ts', '>=', fromTs)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.reverse().map((r) => ({
      seq: Number(r.seq),
      ts: Number(r.ts),
      metrics: (JSON.parse(r.data) as { metrics: Record<string, number> }).metrics,
    }));
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }
}
