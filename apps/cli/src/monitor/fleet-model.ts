import {
  AGENT_STATUSES,
  agentHealth,
  fleetHealth,
  type AgentStatus,
  type Health,
  type StoredEvent,
} from '@warden/protocol';

/** One check's latest verdict, as `GET /api/v1/agents` carries it. */
export interface CheckVerdict {
  health: Health;
  reason: string;
  /** The event's `ts`. */
  at: number;
}

/** One agent of `GET /api/v1/agents` (the fields the monitor reads; the server sends more). */
export interface AgentSnapshot {
  agentId: string;
  status: AgentStatus | null;
  statusMessage: string | null;
  health: Health;
  checks?: Record<string, CheckVerdict>;
  metrics: Record<string, number>;
  openTasks: number;
  unresolvedErrors: number;
  lastSeen: number;
  /** Seq of the agent's latest stored event: what the snapshot already includes. */
  lastSeq: number;
  /**
   * The process as the server's lifecycle view tells it (null for an agent no supervisor
   * runs; absent from servers that predate it, when the agent's recent events are read).
   */
  lifecycle?: ProcessSnapshot | null;
  /** The newest running task (absent from older servers: the running tasks are read). */
  currentTask?: CurrentTask | null;
}

/** The part of an agent's `lifecycle` in `GET /api/v1/agents` the monitor reads. */
export interface ProcessSnapshot {
  pid: number | null;
  circuit?: 'closed' | 'open' | 'half_open';
  /** When the scheduled restart is due (epoch ms), while one is scheduled. */
  nextRestartAt: number | null;
  /** The restart number of the scheduled or last restart. */
  attempt: number | null;
}

/** One running task of `GET /api/v1/tasks?state=running`. */
export interface RunningTaskSnapshot {
  taskId: string;
  agentId: string;
  name: string | null;
  assignedAt: number | null;
}

/** The queue part of `GET /api/v1/dashboard`. */
export interface QueueSummary {
  depth: number;
  leased: number;
  ratePerMin: number;
}

/** Everything one fetch of the snapshot brings. */
export interface FleetSnapshot {
  agents: readonly AgentSnapshot[];
  /** Running tasks, any order; the newest assignment per agent is its current task. */
  runningTasks: readonly RunningTaskSnapshot[];
  queue: QueueSummary | undefined;
  /** `system.head` of the dashboard: every event up to it is in the snapshot. */
  head: number;
}

/** The task an agent is on, from its `task_assigned` (or the running-tasks snapshot). */
export interface CurrentTask {
  taskId: string;
  name: string | null;
  /** Epoch ms it was assigned. */
  since: number;
  percent?: number;
}

/** A restart the supervisor has scheduled (`agent_lifecycle` `restart_scheduled`). */
export interface PendingRestart {
  attempt: number;
  /** `max_restarts` when known (the event, or the local config). */
  maxAttempts?: number;
  /** Epoch ms the restart is due (event `ts` + `delayMs`). */
  at: number;
}

/** A half-open trial of an open circuit (`circuit_half_open`). */
export interface CircuitTrial {
  trial: number;
  of?: number;
}

/** One row of the monitor: the server's summary, kept current by events. */
export interface AgentRow {
  agentId: string;
  status: AgentStatus | null;
  statusMessage: string | null;
  checks: Readonly<Record<string, CheckVerdict>>;
  health: Health;
  metrics: Readonly<Record<string, number>>;
  openTasks: number;
  unresolvedErrors: number;
  lastSeen: number;
  lastSeq: number;
  task: CurrentTask | undefined;
  restart: PendingRestart | undefined;
  trial: CircuitTrial | undefined;
  /** The supervised process, while one runs. */
  pid: number | undefined;
  /** The snapshot told the process state (restart, pid): no need to read recent events. */
  processKnown: boolean;
}

/** The fleet as the monitor shows it. Immutable: every change makes a new object. */
export interface FleetState {
  agents: Readonly<Record<string, AgentRow>>;
  queue: QueueSummary | undefined;
  /** Highest seq seen, from the snapshot or an event. */
  head: number;
  /** `max_restarts` per agent from the local config, for "attempt a/b". */
  maxRestarts: Readonly<Record<string, number>>;
}

/** The fleet before the first snapshot. */
export function emptyFleet(maxRestarts: Readonly<Record<string, number>> = {}): FleetState {
  return { agents: {}, queue: undefined, head: 0, maxRestarts };
}

const STATUSES: ReadonlySet<string> = new Set(AGENT_STATUSES);
/** Statuses in which a scheduled restart is still ahead. */
const AWAITING_RESTART: ReadonlySet<string> = new Set(['restarting', 'failed']);

function newRow(agentId: string, seq: number, seen: number): AgentRow {
  return {
    agentId,
    status: null,
    statusMessage: null,
    checks: {},
    health: 'unknown',
    metrics: {},
    openTasks: 0,
    unresolvedErrors: 0,
    lastSeen: seen,
    lastSeq: seq,
    task: undefined,
    restart: undefined,
    trial: undefined,
    pid: undefined,
    processKnown: false,
  };
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The current task per agent: the newest running assignment. */
function tasksByAgent(tasks: readonly RunningTaskSnapshot[]): Map<string, CurrentTask> {
  const out = new Map<string, CurrentTask>();
  for (const t of tasks) {
    const since = t.assignedAt ?? 0;
    const had = out.get(t.agentId);
    if (had && had.since >= since) continue;
    out.set(t.agentId, { taskId: t.taskId, name: t.name, since });
  }
  return out;
}

/**
 * Folds a fresh snapshot in. A row the snapshot has seen at least as far as the live events
 * (`lastSeq`) takes the snapshot's fields whole; a row that events have already moved past
 * (the fetch raced them) keeps its live status, metrics and checks and takes only what
 * events cannot tell: the open task and error counts. What the snapshot does not carry — a
 * scheduled restart, a half-open trial, the pid — stays as the events left it.
 */
export function applySnapshot(state: FleetState, snap: FleetSnapshot): FleetState {
  const tasks = tasksByAgent(snap.runningTasks);
  const agents: Record<string, AgentRow> = { ...state.agents };
  for (const a of snap.agents) {
    const had = agents[a.agentId];
    const listed = tasks.get(a.agentId);
    if (had && had.lastSeq > a.lastSeq) {
      agents[a.agentId] = {
        ...had,
        openTasks: a.openTasks,
        unresolvedErrors: a.unresolvedErrors,
        lastSeen: Math.max(had.lastSeen, a.lastSeen),
      };
      continue;
    }
    const base = had ?? newRow(a.agentId, a.lastSeq, a.lastSeen);
    const task = a.currentTask !== undefined ? (a.currentTask ?? undefined) : listed;
    const keepPercent = task && base.task?.taskId === task.taskId ? base.task.percent : undefined;
    const status = a.status !== null && STATUSES.has(a.status) ? a.status : null;
    const proc = a.lifecycle === undefined ? undefined : processOf(state, base, a.lifecycle);
    agents[a.agentId] = {
      ...base,
      status,
      statusMessage: a.statusMessage,
      checks: a.checks ?? {},
      health: a.health,
      metrics: a.metrics ?? {},
      openTasks: a.openTasks,
      unresolvedErrors: a.unresolvedErrors,
      lastSeen: Math.max(base.lastSeen, a.lastSeen),
      lastSeq: a.lastSeq,
      task: task
        ? { ...task, ...(keepPercent !== undefined ? { percent: keepPercent } : {}) }
        : undefined,
      ...(proc ?? {}),
      restart:
        status !== null && AWAITING_RESTART.has(status)
          ? proc
            ? proc.restart
            : base.restart
          : undefined,
    };
  }
  return {
    ...state,
    agents,
    queue: snap.queue ?? state.queue,
    head: Math.max(state.head, snap.head),
  };
}

/** What a snapshot's `lifecycle` says of the process: pid, the scheduled restart, a trial. */
function processOf(
  state: FleetState,
  row: AgentRow,
  p: ProcessSnapshot | null,
): Pick<AgentRow, 'pid' | 'restart' | 'trial' | 'processKnown'> {
  if (p === null)
    return { pid: undefined, restart: undefined, trial: undefined, processKnown: true };
  const max = state.maxRestarts[row.agentId];
  return {
    pid: p.pid ?? undefined,
    restart:
      p.nextRestartAt !== null
        ? {
            attempt: p.attempt ?? 1,
            ...(max !== undefined ? { maxAttempts: max } : {}),
            at: p.nextRestartAt,
          }
        : undefined,
    // The trial count ("of 3") is only in the event's reason: keep it when events told it.
    trial:
      p.circuit === 'half_open'
        ? (row.trial ?? (p.attempt !== null ? { trial: p.attempt } : undefined))
        : undefined,
    processKnown: true,
  };
}

/** The `agent_lifecycle` part of an event on a row: restart, trial, pid. */
function applyLifecycle(state: FleetState, row: AgentRow, ev: StoredEvent): AgentRow {
  const d = ev.data as Record<string, unknown>;
  switch (d.action) {
    case 'restart_scheduled': {
      const attempt = num(d.attempt) ?? 1;
      const max = num(d.maxRestarts) ?? num(d.maxAttempts) ?? state.maxRestarts[row.agentId];
      return {
        ...row,
        pid: undefined,
        restart: {
          attempt,
          ...(max !== undefined ? { maxAttempts: max } : {}),
          at: ev.ts + (num(d.delayMs) ?? 0),
        },
      };
    }
    case 'started':
      return { ...row, pid: num(d.pid), restart: undefined };
    case 'exited':
      return { ...row, pid: undefined };
    case 'circuit_half_open': {
      // "… trial 1 of 3": the count is only in the reason.
      const of = /\bof (\d+)\b/.exec(str(d.reason) ?? '');
      return {
        ...row,
        restart: undefined,
        trial: { trial: num(d.attempt) ?? 1, ...(of ? { of: Number(of[1]) } : {}) },
      };
    }
    case 'circuit_closed':
      return { ...row, trial: undefined };
    case 'circuit_open':
      return { ...row, restart: undefined, trial: undefined, pid: undefined };
    case 'stopped':
      return { ...row, restart: undefined, trial: undefined, pid: undefined };
    default:
      return row;
  }
}

/**
 * Applies one stored event (in seq order) the way the server's projection does: every event
 * makes its agent known and seen; a status update sets status and message, a metric update
 * merges the metrics, `health_changed` records the check's verdict, and health is the status's
 * raised by the failing checks. On top of that the monitor follows what the summary does not
 * carry: the current task and its progress, a scheduled restart, a half-open trial, the pid.
 * An event the row already includes (seq ≤ its `lastSeq`, e.g. replayed after a snapshot) is
 * skipped, so applying twice changes nothing.
 */
export function applyEvent(state: FleetState, ev: StoredEvent): FleetState {
  const had = state.agents[ev.agentId];
  const head = Math.max(state.head, ev.seq);
  if (had && ev.seq <= had.lastSeq) return head === state.head ? state : { ...state, head };
  let row: AgentRow = had ?? newRow(ev.agentId, ev.seq, ev.receivedAt);
  row = { ...row, lastSeq: ev.seq, lastSeen: Math.max(row.lastSeen, ev.receivedAt) };
  const d = ev.data as Record<string, unknown>;
  switch (ev.type) {
    case 'agent_status_update': {
      const s = str(d.status);
      if (s === undefined || !STATUSES.has(s)) break;
      const status = s as AgentStatus;
      row = {
        ...row,
        status,
        statusMessage: str(d.message) ?? null,
        health: agentHealth(
          status,
          Object.values(row.checks).map((c) => c.health),
        ),
        restart: AWAITING_RESTART.has(status) ? row.restart : undefined,
      };
      break;
    }
    case 'metric_update': {
      const m = d.metrics;
      if (m && typeof m === 'object') {
        const metrics: Record<string, number> = { ...row.metrics };
        for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
          if (num(v) !== undefined) metrics[k] = v as number;
        }
        row = { ...row, metrics };
      }
      break;
    }
    case 'health_changed': {
      const check = str(d.check);
      const health = str(d.health) as Health | undefined;
      if (check === undefined || health === undefined) break;
      const checks = { ...row.checks, [check]: { health, reason: str(d.reason) ?? '', at: ev.ts } };
      row = {
        ...row,
        checks,
        health: agentHealth(
          row.status,
          Object.values(checks).map((c) => c.health),
        ),
      };
      break;
    }
    case 'task_assigned': {
      const taskId = str(d.taskId);
      if (taskId !== undefined) {
        row = { ...row, task: { taskId, name: str(d.name) ?? null, since: ev.ts } };
      }
      break;
    }
    case 'task_progress': {
      const taskId = str(d.taskId);
      const percent = num(d.percent);
      if (row.task && row.task.taskId === taskId && percent !== undefined) {
        row = { ...row, task: { ...row.task, percent } };
      }
      break;
    }
    case 'task_completed': {
      if (row.task && row.task.taskId === str(d.taskId)) row = { ...row, task: undefined };
      break;
    }
    case 'agent_lifecycle':
      row = applyLifecycle(state, row, ev);
      break;
  }
  return { ...state, head, agents: { ...state.agents, [ev.agentId]: row } };
}

/** {@link applyEvent} for each event in turn. */
export function applyEvents(state: FleetState, events: readonly StoredEvent[]): FleetState {
  let s = state;
  for (const ev of events) s = applyEvent(s, ev);
  return s;
}

/**
 * Applies an agent's recent events (from `GET /api/v1/agents/:id`, any order) for what the
 * summary does not carry — the scheduled restart, trial and pid of a lifecycle event — so a
 * monitor started while an agent waits for its restart shows the countdown at once.
 */
export function applyHistory(
  state: FleetState,
  agentId: string,
  events: readonly StoredEvent[],
): FleetState {
  const row = state.agents[agentId];
  if (!row) return state;
  let r = row;
  const lifecycle = events
    .filter((e) => e.agentId === agentId && e.type === 'agent_lifecycle')
    .sort((a, b) => a.seq - b.seq);
  for (const ev of lifecycle) r = applyLifecycle(state, r, ev);
  if (r.status === null || !AWAITING_RESTART.has(r.status)) r = { ...r, restart: undefined };
  return r === row ? state : { ...state, agents: { ...state.agents, [agentId]: r } };
}

/**
 * Whether an event changes what only a snapshot can tell (the open task and unresolved error
 * counts, the queue's depth and rate), so the snapshot is worth fetching again soon.
 */
export function changesDerived(ev: StoredEvent): boolean {
  return (
    ev.type === 'task_assigned' ||
    ev.type === 'task_completed' ||
    ev.type === 'error_occurred' ||
    ev.type === 'agent_lifecycle'
  );
}

/**
 * Agents that need their recent events read after a snapshot: waiting for a restart, or
 * failed, with a server that did not say when the restart is due.
 */
export function agentsAwaitingRestart(state: FleetState): string[] {
  return Object.values(state.agents)
    .filter(
      (a) => !a.processKnown && a.status !== null && AWAITING_RESTART.has(a.status) && !a.restart,
    )
    .map((a) => a.agentId);
}

/** Rows in display order: by agent id. */
export function sortedRows(state: FleetState): AgentRow[] {
  return Object.values(state.agents).sort((a, b) =>
    a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0,
  );
}

/** The header's figures (SPEC §11): fleet health, active agents of all, queue, rate. */
export interface FleetSummary {
  health: Health;
  active: number;
  total: number;
  queue: QueueSummary | undefined;
}

/**
 * Computed from the rows, so it moves with every event: fleet health is the worst agent's
 * (agents stopped on purpose ignored), and an agent is active unless stopped on purpose
 * (health unknown) or failed — the same rule as the dashboard's `fleet.active`.
 */
export function fleetSummary(state: FleetState): FleetSummary {
  const rows = Object.values(state.agents);
  return {
    health: fleetHealth(rows.map((r) => r.health)),
    active: rows.filter((r) => r.health !== 'unknown' && r.status !== 'failed').length,
    total: rows.length,
    queue: state.queue,
  };
}
