import type { AgentStatus, Health, StoredEvent, WardenEvent } from '@warden/protocol';

/** What one appended event became. */
export interface AppendResult {
  seq: number;
  duplicate: boolean;
  /** The stored event, for newly stored events only (duplicates are not re-sent). */
  stored?: StoredEvent;
  /** `JSON.stringify(stored.data)` when the store already made it (reused for frames). */
  dataJson?: string;
}

/** Filters of `GET /api/v1/events` (all given filters must hold). */
export interface EventQuery {
  since: number;
  limit: number;
  agentId?: string;
  type?: string;
  /** Only events with seq at most this (replay up to a head). */
  until?: number;
}

/** Filters of a subscription replay: an event matches if any part matches. */
export interface TopicQuery {
  since: number;
  until: number;
  limit: number;
  all: boolean;
  agentIds: string[];
  types: string[];
  /** Agents whose `log` events match (`logs:<agentId>` topics). */
  logAgentIds?: string[];
}

/** The last verdict of one supervisor health check, from its latest `health_changed` event. */
export interface CheckVerdict {
  health: Health;
  reason: string;
  /** The event's `ts`. */
  at: number;
}

export interface AgentSummary {
  agentId: string;
  status: AgentStatus | null;
  statusMessage: string | null;
  /** What the status implies, raised by any failing check (`agentHealth` of the protocol). */
  health: Health;
  /** Each supervisor check's latest verdict, by check name (`{}` when none reported). */
  checks: Record<string, CheckVerdict>;
  metrics: Record<string, number>;
  metricsAt: number | null;
  openTasks: number;
  unresolvedErrors: number;
  firstSeen: number;
  lastSeen: number;
  lastSeq: number;
}

export interface TaskRecord {
  taskId: string;
  agentId: string;
  name: string | null;
  queue: string | null;
  priority: number | null;
  state: 'running' | 'completed' | 'failed';
  assignedAt: number | null;
  completedAt: number | null;
  success: boolean | null;
  durationMs: number | null;
  error: string | null;
}

export interface ErrorRecord {
  id: number;
  eventId: string;
  agentId: string;
  errorType: string;
  message: string;
  stack: string | null;
  taskId: string | null;
  fatal: boolean;
  fingerprint: string | null;
  ts: number;
  resolved: boolean;
  resolvedAt: number | null;
}

export interface MetricPoint {
  ts: number;
  seq: number;
  metrics: Record<string, number>;
}

/**
 * The storage port (DESIGN "ports and adapters"): SQLite and PostgreSQL; both pass
 * `event-store.conformance.ts`. Appends are atomic per call: every event of the call is
 * stored in one transaction, or none is.
 */
export interface EventStore {
  /** Creates or upgrades the schema. */
  migrate(): Promise<void>;
  /** Stores events in one transaction; duplicates by id keep their first seq. */
  append(events: readonly WardenEvent[], receivedAt: number): Promise<AppendResult[]>;
  /**
   * Highest seq this store knows to be committed (0 for an empty log): read when it opens and
   * advanced by its own appends. Synchronous, for the hot path; with several replicas on one
   * database the others' commits are seen through `readHead()`.
   */
  head(): number;
  /**
   * The committed head of the whole log, read from the database (with one writer, as on
   * SQLite, the same as `head()`).
   */
  readHead(): Promise<number>;
  readEvents(q: EventQuery): Promise<StoredEvent[]>;
  readTopics(q: TopicQuery): Promise<StoredEvent[]>;
  /** Newest events first. */
  recentEvents(q: { agentId?: string; limit: number }): Promise<StoredEvent[]>;
  listAgents(): Promise<AgentSummary[]>;
  getAgent(agentId: string): Promise<AgentSummary | undefined>;
  listTasks(q: { agentId?: string; state?: string; limit: number }): Promise<TaskRecord[]>;
  listErrors(q: { agentId?: string; resolved?: boolean; limit: number }): Promise<ErrorRecord[]>;
  setErrorResolved(id: number, resolved: boolean, at: number): Promise<ErrorRecord | undefined>;
  metricHistory(agentId: string, fromTs: number, limit: number): Promise<MetricPoint[]>;
  /** Deletes events received before `cutoff` and gives the space back; returns the count. */
  deleteEventsBefore(cutoff: number): Promise<number>;
  /** Throws when the store cannot serve (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
