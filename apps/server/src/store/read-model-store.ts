import type { StoredEvent } from '@warden/protocol';
import type {
  AgentSummary,
  ErrorRecord,
  EventQuery,
  MetricPoint,
  TaskRecord,
  TopicQuery,
} from './event-store.js';
import type { ReadModel } from './read-model.js';

/**
 * The read half of every `EventStore` adapter: the dialect-neutral `ReadModel` over the
 * adapter's own Kysely instance. An adapter whose projections are written lazily makes them
 * current in `flushProjections()` before agents are read.
 */
export abstract class ReadModelStore {
  protected abstract reads: ReadModel;

  /** Writes lazily kept projections before they are read. @defaultValue nothing to do */
  protected flushProjections(): Promise<void> {
    return Promise.resolve();
  }

  readEvents(q: EventQuery): Promise<StoredEvent[]> {
    return this.reads.readEvents(q);
  }

  readTopics(q: TopicQuery): Promise<StoredEvent[]> {
    return this.reads.readTopics(q);
  }

  recentEvents(q: { agentId?: string; limit: number }): Promise<StoredEvent[]> {
    return this.reads.recentEvents(q);
  }

  async listAgents(): Promise<AgentSummary[]> {
    await this.flushProjections();
    return this.reads.listAgents();
  }

  async getAgent(agentId: string): Promise<AgentSummary | undefined> {
    await this.flushProjections();
    return this.reads.getAgent(agentId);
  }

  listTasks(q: { agentId?: string; state?: string; limit: number }): Promise<TaskRecord[]> {
    return this.reads.listTasks(q);
  }

  listErrors(q: { agentId?: string; resolved?: boolean; limit: number }): Promise<ErrorRecord[]> {
    return this.reads.listErrors(q);
  }

  setErrorResolved(id: number, resolved: boolean, at: number): Promise<ErrorRecord | undefined> {
    return this.reads.setErrorResolved(id, resolved, at);
  }

  metricHistory(agentId: string, fromTs: number, limit: number): Promise<MetricPoint[]> {
    return this.reads.metricHistory(agentId, fromTs, limit);
  }
}
