import type { Generated } from 'kysely';

/** Tables of the store, shared by every dialect (integers for booleans, JSON as text). */
export interface Database {
  events: EventsTable;
  agents: AgentsTable;
  tasks: TasksTable;
  errors: ErrorsTable;
  projection_state: { name: string; seq: number };
  /** PostgreSQL only: the one row whose lock serialises seq assignment across replicas. */
  log_head: { id: number; seq: number };
}

export interface EventsTable {
  seq: Generated<number>;
  id: string;
  type: string;
  agent_id: string;
  ts: number;
  received_at: number;
  correlation_id: string | null;
  data: string;
}

export interface AgentsTable {
  agent_id: string;
  status: string | null;
  status_message: string | null;
  status_at: number | null;
  health: string;
  first_seen: number;
  last_seen: number;
  last_seq: number;
  metrics: string;
  metrics_at: number | null;
  /** JSON: check name → `{ health, reason, at }` from `health_changed` events. */
  checks: string;
}

export interface TasksTable {
  task_id: string;
  agent_id: string;
  name: string | null;
  queue: string | null;
  priority: number | null;
  state: string;
  assigned_at: number | null;
  completed_at: number | null;
  success: number | null;
  duration_ms: number | null;
  error: string | null;
  updated_seq: number;
}

export interface ErrorsTable {
  id: number;
  event_id: string;
  agent_id: string;
  error_type: string;
  message: string;
  stack: string | null;
  task_id: string | null;
  fatal: number;
  fingerprint: string | null;
  ts: number;
  resolved: number;
  resolved_at: number | null;
}
