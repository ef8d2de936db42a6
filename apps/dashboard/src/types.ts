/** The shapes of the API the pages read (see /docs for the whole of them). */
export type Health = 'healthy' | 'warning' | 'critical' | 'unknown';

export interface StoredEvent {
  seq: number;
  id: string;
  type: string;
  agentId: string;
  ts: number;
  receivedAt: number;
  correlationId?: string;
  data: Record<string, unknown>;
}

export interface Lifecycle {
  pid: number | null;
  startedAt: number | null;
  restarts: number;
  circuit: 'closed' | 'open' | 'half_open';
  nextRestartAt: number | null;
  attempt: number | null;
  maxRestarts?: number | null;
  lastAction: string;
  reason: string;
  exitCode: number | null;
  signal: string | null;
  at: number;
}

export interface Agent {
  agentId: string;
  status: string | null;
  statusMessage: string | null;
  health: Health;
  checks: Record<string, { health?: Health; message?: string } | unknown>;
  metrics: Record<string, number>;
  metricsAt?: number | null;
  openTasks: number;
  unresolvedErrors: number;
  firstSeen: number;
  lastSeen: number;
  lastSeq: number;
  lifecycle: Lifecycle | null;
  currentTask: { taskId: string; name: string | null; since: number } | null;
}

export interface Dashboard {
  fleet: {
    health: Health;
    agents: number;
    active: number;
    byStatus: Record<string, number>;
    byHealth: Record<Health, number>;
  };
  system: {
    version: string;
    uptimeSeconds: number;
    head: number;
    wsConnections: number;
    ingestRatePerSecond: number;
    host: {
      cpuPercent: number;
      memoryUsedBytes: number;
      memoryTotalBytes: number;
      load1: number;
      at: number;
    } | null;
  };
  recentEvents: StoredEvent[];
  queue: { depth: number; leased: number; ratePerMin: number };
  alerts: { firing: Alert[] };
}

export interface Alert {
  id: string;
  rule: string;
  agentId: string | null;
  severity: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'resolved';
  value: number | null;
  startsAt: number;
  firedAt: number | null;
  endsAt: number | null;
  acknowledged: boolean;
  ackedBy: string | null;
  ackComment?: string | null;
  silencedBy: string[];
  inhibitedBy: string | null;
}

export interface ErrorGroup {
  id: string;
  errorType: string;
  message: string;
  stack?: string | null;
  state: 'unresolved' | 'resolved' | 'regressed' | 'ignored';
  count: number;
  firstSeen: number;
  lastSeen: number;
  lastHour: number;
  agentCount: number;
  agents: Array<{ agentId: string; count: number }>;
}

export interface QueueTask {
  id: string;
  queue: string;
  name: string | null;
  state: string;
  attempts: number;
  leases: number;
  agentId: string | null;
  createdAt: number;
  updatedAt: number;
  progress: { percent?: number; message?: string } | null;
  error: unknown;
}

export interface TaskRecord {
  taskId: string;
  agentId: string;
  name: string | null;
  queue: string | null;
  state: 'running' | 'completed' | 'failed';
  assignedAt: number | null;
  completedAt: number | null;
  durationMs: number | null;
  error: string | null;
}

export interface LogRow {
  seq: number;
  agentId: string;
  ts: number;
  level: 'debug' | 'info' | 'warn' | 'error';
  stream?: string;
  message: string;
}

export interface MetricPoint {
  ts: number;
  avg: number;
  min: number;
  max: number;
  last: number;
}
