import type { Kysely } from 'kysely';
import type { AgentStateRecord } from '@warden/protocol';
import type { AgentStateStore } from './agent-state-store.js';
import { openQueueConnection, type QueueConnection } from './queue-connection.js';
import type { QueueDatabase } from './task-queue-rows.js';

/** Agent state on SQLite or PostgreSQL: one upserted row per agent (`agent_state`, 0004). */
export class SqlAgentStateStore implements AgentStateStore {
  private readonly db: Kysely<QueueDatabase>;

  constructor(connection: QueueConnection) {
    this.db = connection.db;
  }

  /** Opens `sqlite:PATH` or `postgres://…` on a connection of its own. */
  static open(databaseUrl: string): SqlAgentStateStore {
    return new SqlAgentStateStore(
      openQueueConnection(databaseUrl, { applicationName: 'warden:state', poolSize: 2 }),
    );
  }

  async get(agentId: string): Promise<AgentStateRecord | undefined> {
    const row = await this.db
      .selectFrom('agent_state')
      .selectAll()
      .where('agent_id', '=', agentId)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      agentId: row.agent_id,
      state: JSON.parse(row.state) as unknown,
      updatedAt: Number(row.updated_at),
    };
  }

  async put(agentId: string, stateJson: string, now: number): Promise<AgentStateRecord> {
    await this.db
      .insertInto('agent_state')
      .values({ agent_id: agentId, state: stateJson, updated_at: now })
      .onConflict((oc) => oc.column('agent_id').doUpdateSet({ state: stateJson, updated_at: now }))
      .execute();
    return { agentId, state: JSON.parse(stateJson) as unknown, updatedAt: now };
  }

  async delete(agentId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('agent_state')
      .where('agent_id', '=', agentId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}
