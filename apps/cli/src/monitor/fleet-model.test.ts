import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import {
  agentsAwaitingRestart,
  applyEvent,
  applyEvents,
  applyHistory,
  applySnapshot,
  changesDerived,
  emptyFleet,
  fleetSummary,
  sortedRows,
  type AgentSnapshot,
  type FleetSnapshot,
  type FleetState,
} from './fleet-model.js';

const T0 = 1_763_791_200_000;
let nextSeq = 100;

function ev(
  agentId: string,
  type: string,
  data: Record<string, unknown>,
  opts: { seq?: number; ts?: number } = {},
): StoredEvent {
  const seq = opts.seq ?? nextSeq++;
  const ts = opts.ts ?? T0 + seq * 10;
  return { id: `e${seq}`, type, agentId, ts, data, seq, receivedAt: ts } as StoredEvent;
}

function agent(agentId: string, over: Partial<AgentSnapshot> = {}): AgentSnapshot {
  return {
    agentId,
    status: 'running',
    statusMessage: null,
    health: 'healthy',
    checks: {},
    metrics: { cpu_percent: 10, memory_mb: 100 },
    openTasks: 0,
    unresolvedErrors: 0,
    lastSeen: T0,
    lastSeq: 50,
    ...over,
  };
}

function snap(agents: AgentSnapshot[], over: Partial<FleetSnapshot> = {}): FleetSnapshot {
  return {
    agents,
    runningTasks: [],
    queue: { depth: 3, leased: 1, ratePerMin: 2.5 },
    head: 60,
    ...over,
  };
}

const row = (s: FleetState, id: string) => s.agents[id]!;

describe('the snapshot', () => {
  it('fills the rows, the queue and the head; the newest running task per agent is its task', () => {
    const s = applySnapshot(
      emptyFleet(),
      snap([agent('a'), agent('b', { status: 'busy', openTasks: 2 })], {
        runningTasks: [
          { taskId: 't-1', agentId: 'b', name: 'old', assignedAt: T0 - 5000 },
          { taskId: 't-2', agentId: 'b', name: 'build', assignedAt: T0 - 1000 },
        ],
      }),
    );
    expect(Object.keys(s.agents).sort()).toEqual(['a', 'b']);
    expect(s.head).toBe(60);
    expect(s.queue).toEqual({ depth: 3, leased: 1, ratePerMin: 2.5 });
    expect(row(s, 'b').task).toEqual({ taskId: 't-2', name: 'build', since: T0 - 1000 });
    expect(row(s, 'b').openTasks).toBe(2);
    expect(row(s, 'a').task).toBeUndefined();
  });

  it('a status the protocol does not know is shown as none', () => {
    const s = applySnapshot(emptyFleet(), snap([agent('a', { status: 'dancing' as never })]));
    expect(row(s, 'a').status).toBeNull();
  });

  it('a refetched row that events already moved past keeps its live fields, takes the counts', () => {
    let s = applySnapshot(emptyFleet(), snap([agent('a')]));
    s = applyEvent(s, ev('a', 'agent_status_update', { status: 'busy' }, { seq: 70 }));
    s = applyEvent(s, ev('a', 'metric_update', { metrics: { cpu_percent: 90 } }, { seq: 71 }));
    // A fetch that started before seq 70 answers after it.
    s = applySnapshot(
      s,
      snap([agent('a', { lastSeq: 65, openTasks: 4, unresolvedErrors: 2, status: 'idle' })]),
    );
    expect(row(s, 'a').status).toBe('busy');
    expect(row(s, 'a').metrics.cpu_percent).toBe(90);
    expect(row(s, 'a').openTasks).toBe(4);
    expect(row(s, 'a').unresolvedErrors).toBe(2);
    expect(row(s, 'a').lastSeq).toBe(71);
  });

  it('a refetched row at least as new as the events replaces them, keeping the task progress', () => {
    let s = applySnapshot(
      emptyFleet(),
      snap([agent('a')], {
        runningTasks: [{ taskId: 't-1', agentId: 'a', name: null, assignedAt: T0 }],
      }),
    );
    s = applyEvent(s, ev('a', 'task_progress', { taskId: 't-1', percent: 40 }, { seq: 70 }));
    s = applySnapshot(
      s,
      snap([agent('a', { lastSeq: 70, status: 'idle', health: 'healthy' })], {
        runningTasks: [{ taskId: 't-1', agentId: 'a', name: null, assignedAt: T0 }],
      }),
    );
    expect(row(s, 'a').status).toBe('idle');
    expect(row(s, 'a').task).toEqual({ taskId: 't-1', name: null, since: T0, percent: 40 });
  });

  it('the head never goes back, and a snapshot without a queue keeps the last one', () => {
    let s = applySnapshot(emptyFleet(), snap([agent('a')], { head: 80 }));
    s = applySnapshot(s, snap([agent('a')], { head: 70, queue: undefined }));
    expect(s.head).toBe(80);
    expect(s.queue?.depth).toBe(3);
  });

  it('a scheduled restart survives a refetch while the agent still waits for it', () => {
    let s = applySnapshot(emptyFleet(), snap([agent('a')]));
    s = applyEvent(
      s,
      ev(
        'a',
        'agent_lifecycle',
        { action: 'restart_scheduled', attempt: 2, delayMs: 30_000 },
        { seq: 70 },
      ),
    );
    s = applyEvent(s, ev('a', 'agent_status_update', { status: 'restarting' }, { seq: 71 }));
    s = applySnapshot(s, snap([agent('a', { status: 'restarting', lastSeq: 71 })]));
    expect(row(s, 'a').restart?.attempt).toBe(2);
    s = applySnapshot(s, snap([agent('a', { status: 'running', lastSeq: 75 })]));
    expect(row(s, 'a').restart).toBeUndefined();
  });
});

describe('the snapshot from a server with the lifecycle view', () => {
  it('takes pid, the scheduled restart and the current task from the agent itself', () => {
    const s = applySnapshot(
      emptyFleet({ c: 5 }),
      snap([
        agent('c', {
          status: 'restarting',
          health: 'warning',
          lifecycle: { pid: null, circuit: 'closed', nextRestartAt: T0 + 9000, attempt: 3 },
          currentTask: null,
        }),
        agent('w', {
          lifecycle: { pid: 77, circuit: 'closed', nextRestartAt: null, attempt: null },
          currentTask: { taskId: 't-9', name: 'build', since: T0 - 60_000 },
        }),
        agent('self', { lifecycle: null, currentTask: null }),
      ]),
    );
    expect(row(s, 'c').restart).toEqual({ attempt: 3, maxAttempts: 5, at: T0 + 9000 });
    expect(row(s, 'w')).toMatchObject({ pid: 77, restart: undefined, processKnown: true });
    expect(row(s, 'w').task).toEqual({ taskId: 't-9', name: 'build', since: T0 - 60_000 });
    expect(row(s, 'self')).toMatchObject({ pid: undefined, processKnown: true });
    // Nothing left to read from the agents' recent events.
    expect(agentsAwaitingRestart(s)).toEqual([]);
  });

  it('a half-open circuit keeps the trial count the events told; closed drops it', () => {
    let s = applySnapshot(emptyFleet(), snap([agent('c')]));
    s = applyEvent(
      s,
      ev(
        'c',
        'agent_lifecycle',
        { action: 'circuit_half_open', attempt: 1, reason: 'trial 1 of 3' },
        { seq: 70 },
      ),
    );
    const half = { pid: 5, circuit: 'half_open' as const, nextRestartAt: null, attempt: 1 };
    s = applySnapshot(s, snap([agent('c', { lastSeq: 70, lifecycle: half })]));
    expect(row(s, 'c').trial).toEqual({ trial: 1, of: 3 });
    s = applySnapshot(
      s,
      snap([agent('c', { lastSeq: 80, lifecycle: { ...half, circuit: 'closed' } })]),
    );
    expect(row(s, 'c').trial).toBeUndefined();
  });
});

describe('events in place', () => {
  const base = () => applySnapshot(emptyFleet({ crashy: 5 }), snap([agent('a'), agent('crashy')]));

  it('a status update sets status, message and the health it implies', () => {
    const s = applyEvent(
      base(),
      ev('a', 'agent_status_update', { status: 'needs_input', message: 'Proceed? (y/n)' }),
    );
    expect(row(s, 'a')).toMatchObject({
      status: 'needs_input',
      statusMessage: 'Proceed? (y/n)',
      health: 'warning',
    });
    const f = applyEvent(s, ev('a', 'agent_status_update', { status: 'failed' }));
    expect(row(f, 'a')).toMatchObject({
      status: 'failed',
      statusMessage: null,
      health: 'critical',
    });
  });

  it('a failing check raises health above the status; its recovery lowers it again', () => {
    let s = applyEvent(
      base(),
      ev('a', 'health_changed', {
        check: 'memory_leak',
        health: 'warning',
        previous: 'healthy',
        reason: 'grew 60 MB',
      }),
    );
    expect(row(s, 'a').health).toBe('warning');
    expect(row(s, 'a').status).toBe('running');
    expect(row(s, 'a').checks.memory_leak?.reason).toBe('grew 60 MB');
    s = applyEvent(
      s,
      ev('a', 'health_changed', { check: 'memory_leak', health: 'healthy', reason: 'ok' }),
    );
    expect(row(s, 'a').health).toBe('healthy');
  });

  it('a stopped agent is unknown whatever its checks said', () => {
    let s = applyEvent(
      base(),
      ev('a', 'health_changed', { check: 'cpu', health: 'critical', reason: 'x' }),
    );
    s = applyEvent(s, ev('a', 'agent_status_update', { status: 'stopped' }));
    expect(row(s, 'a').health).toBe('unknown');
  });

  it('metric updates merge; values that are not numbers are left out', () => {
    const s = applyEvent(
      base(),
      ev('a', 'metric_update', { metrics: { memory_mb: 512, tokens: 7, bad: 'x' } }),
    );
    expect(row(s, 'a').metrics).toEqual({ cpu_percent: 10, memory_mb: 512, tokens: 7 });
  });

  it('tasks: assigned sets the task, progress its percent, completed clears only the same task', () => {
    let s = applyEvent(
      base(),
      ev('a', 'task_assigned', { taskId: 't-17', name: 'build' }, { ts: T0 }),
    );
    expect(row(s, 'a').task).toEqual({ taskId: 't-17', name: 'build', since: T0 });
    s = applyEvent(s, ev('a', 'task_progress', { taskId: 't-17', percent: 50 }));
    s = applyEvent(s, ev('a', 'task_progress', { taskId: 'other', percent: 99 }));
    expect(row(s, 'a').task?.percent).toBe(50);
    s = applyEvent(s, ev('a', 'task_completed', { taskId: 'other', success: true }));
    expect(row(s, 'a').task?.taskId).toBe('t-17');
    s = applyEvent(s, ev('a', 'task_completed', { taskId: 't-17', success: true }));
    expect(row(s, 'a').task).toBeUndefined();
  });

  it('restart_scheduled: attempt, the limit from the config, and when it is due', () => {
    const s = applyEvent(
      base(),
      ev(
        'crashy',
        'agent_lifecycle',
        { action: 'restart_scheduled', attempt: 2, delayMs: 30_000, reason: 'x' },
        { ts: T0 },
      ),
    );
    expect(row(s, 'crashy').restart).toEqual({ attempt: 2, maxAttempts: 5, at: T0 + 30_000 });
    expect(row(s, 'crashy').pid).toBeUndefined();
  });

  it('a limit the event carries wins over the config; without either there is none', () => {
    const s = applyEvents(base(), [
      ev('crashy', 'agent_lifecycle', {
        action: 'restart_scheduled',
        attempt: 1,
        delayMs: 1,
        maxRestarts: 3,
      }),
      ev('a', 'agent_lifecycle', { action: 'restart_scheduled', attempt: 4, delayMs: 1 }),
    ]);
    expect(row(s, 'crashy').restart?.maxAttempts).toBe(3);
    expect(row(s, 'a').restart).not.toHaveProperty('maxAttempts');
  });

  it('started clears the restart and records the pid; exited forgets the pid', () => {
    let s = applyEvents(base(), [
      ev('crashy', 'agent_lifecycle', { action: 'restart_scheduled', attempt: 1, delayMs: 1000 }),
      ev('crashy', 'agent_status_update', { status: 'restarting' }),
    ]);
    expect(row(s, 'crashy').restart).toBeDefined();
    s = applyEvent(
      s,
      ev('crashy', 'agent_lifecycle', { action: 'started', pid: 4242, attempt: 1 }),
    );
    expect(row(s, 'crashy').restart).toBeUndefined();
    expect(row(s, 'crashy').pid).toBe(4242);
    s = applyEvent(
      s,
      ev('crashy', 'agent_lifecycle', { action: 'exited', exitCode: 1, pid: 4242 }),
    );
    expect(row(s, 'crashy').pid).toBeUndefined();
  });

  it('a status that is neither restarting nor failed drops a pending restart', () => {
    let s = applyEvent(
      base(),
      ev('crashy', 'agent_lifecycle', { action: 'restart_scheduled', attempt: 1, delayMs: 1000 }),
    );
    s = applyEvent(s, ev('crashy', 'agent_status_update', { status: 'failed' }));
    expect(row(s, 'crashy').restart).toBeDefined();
    s = applyEvent(s, ev('crashy', 'agent_status_update', { status: 'running' }));
    expect(row(s, 'crashy').restart).toBeUndefined();
  });

  it('the circuit: half-open shows the trial of the threshold; closed and open clear it', () => {
    let s = applyEvent(
      base(),
      ev('crashy', 'agent_lifecycle', {
        action: 'circuit_half_open',
        attempt: 1,
        reason: 'circuit half-open after 15m: trial 1 of 3',
      }),
    );
    expect(row(s, 'crashy').trial).toEqual({ trial: 1, of: 3 });
    s = applyEvent(s, ev('crashy', 'agent_lifecycle', { action: 'circuit_closed', reason: 'ok' }));
    expect(row(s, 'crashy').trial).toBeUndefined();
    s = applyEvent(
      s,
      ev('crashy', 'agent_lifecycle', { action: 'circuit_half_open', attempt: 2, reason: '?' }),
    );
    expect(row(s, 'crashy').trial).toEqual({ trial: 2 });
    s = applyEvent(s, ev('crashy', 'agent_lifecycle', { action: 'circuit_open', reason: 'x' }));
    expect(row(s, 'crashy').trial).toBeUndefined();
  });

  it('an event from an unknown agent adds its row; any event marks it seen', () => {
    const s = applyEvent(
      base(),
      ev('newbie', 'log', { level: 'info', message: 'hi' }, { seq: 90, ts: T0 + 5 }),
    );
    expect(row(s, 'newbie')).toMatchObject({
      status: null,
      health: 'unknown',
      lastSeen: T0 + 5,
      lastSeq: 90,
    });
    expect(s.head).toBe(90);
  });

  it('an event the snapshot already has is skipped: applying twice changes nothing', () => {
    const s0 = base();
    const old = ev('a', 'agent_status_update', { status: 'failed' }, { seq: 40 });
    expect(row(applyEvent(s0, old), 'a').status).toBe('running');
    const e = ev('a', 'agent_status_update', { status: 'busy' }, { seq: 200 });
    const once = applyEvent(s0, e);
    expect(applyEvent(once, e)).toBe(once);
  });

  it('malformed data leaves the row as it was, apart from being seen', () => {
    const s0 = base();
    const s = applyEvents(s0, [
      ev('a', 'agent_status_update', { status: 42 }),
      ev('a', 'health_changed', { health: 'warning' }),
      ev('a', 'metric_update', { metrics: null }),
      ev('a', 'task_assigned', {}),
      ev('a', 'agent_lifecycle', { action: 'teleported' }),
    ]);
    const { lastSeq: _a, lastSeen: _b, ...before } = row(s0, 'a');
    const { lastSeq: _c, lastSeen: _d, ...after } = row(s, 'a');
    expect(after).toEqual(before);
  });

  it('never mutates the state it was given', () => {
    const s0 = base();
    const copy = JSON.stringify(s0);
    applyEvents(s0, [
      ev('a', 'agent_status_update', { status: 'busy' }),
      ev('a', 'metric_update', { metrics: { cpu_percent: 1 } }),
      ev('b', 'task_assigned', { taskId: 'x' }),
    ]);
    applySnapshot(s0, snap([agent('a', { lastSeq: 999, status: 'idle' })]));
    expect(JSON.stringify(s0)).toBe(copy);
  });
});

describe('history and refetch decisions', () => {
  it('an agent found restarting gets its countdown from its recent lifecycle events', () => {
    const s0 = applySnapshot(emptyFleet({ c: 3 }), snap([agent('c', { status: 'restarting' })]));
    expect(agentsAwaitingRestart(s0)).toEqual(['c']);
    const s = applyHistory(s0, 'c', [
      ev(
        'c',
        'agent_lifecycle',
        { action: 'restart_scheduled', attempt: 2, delayMs: 9000 },
        { seq: 20, ts: T0 },
      ),
      ev(
        'c',
        'agent_lifecycle',
        { action: 'restart_scheduled', attempt: 1, delayMs: 1000 },
        { seq: 10 },
      ),
      ev('c', 'agent_status_update', { status: 'restarting' }, { seq: 21 }),
    ]);
    expect(row(s, 'c').restart).toEqual({ attempt: 2, maxAttempts: 3, at: T0 + 9000 });
    expect(agentsAwaitingRestart(s)).toEqual([]);
  });

  it('history of an agent that is running again sets no countdown', () => {
    const s0 = applySnapshot(emptyFleet(), snap([agent('c', { status: 'running' })]));
    const s = applyHistory(s0, 'c', [
      ev('c', 'agent_lifecycle', { action: 'restart_scheduled', attempt: 1, delayMs: 1000 }),
    ]);
    expect(row(s, 'c').restart).toBeUndefined();
    expect(applyHistory(s0, 'nobody', [])).toBe(s0);
  });

  it('task, error and lifecycle events call for a refetch; status, metrics and logs do not', () => {
    expect(changesDerived(ev('a', 'task_assigned', { taskId: 'x' }))).toBe(true);
    expect(changesDerived(ev('a', 'task_completed', { taskId: 'x', success: true }))).toBe(true);
    expect(changesDerived(ev('a', 'error_occurred', { errorType: 'E', message: 'm' }))).toBe(true);
    expect(changesDerived(ev('a', 'agent_lifecycle', { action: 'started' }))).toBe(true);
    expect(changesDerived(ev('a', 'agent_status_update', { status: 'busy' }))).toBe(false);
    expect(changesDerived(ev('a', 'metric_update', { metrics: {} }))).toBe(false);
    expect(changesDerived(ev('a', 'log', { level: 'info', message: 'm' }))).toBe(false);
  });
});

describe('the header summary', () => {
  it('fleet health is the worst agent’s; stopped agents are not active, failed ones neither', () => {
    const s = applySnapshot(
      emptyFleet(),
      snap([
        agent('a'),
        agent('b', { status: 'stopped', health: 'unknown' }),
        agent('c', { status: 'idle', health: 'warning' }),
        agent('d', { status: 'failed', health: 'critical' }),
      ]),
    );
    expect(fleetSummary(s)).toEqual({
      health: 'critical',
      active: 2,
      total: 4,
      queue: { depth: 3, leased: 1, ratePerMin: 2.5 },
    });
  });

  it('an empty or all-stopped fleet is healthy, as the server says', () => {
    expect(fleetSummary(emptyFleet()).health).toBe('healthy');
    const s = applySnapshot(
      emptyFleet(),
      snap([agent('b', { status: 'stopped', health: 'unknown' })]),
    );
    expect(fleetSummary(s)).toMatchObject({ health: 'healthy', active: 0, total: 1 });
  });

  it('rows come sorted by agent id', () => {
    const s = applySnapshot(emptyFleet(), snap([agent('zed'), agent('Alpha'), agent('beta')]));
    expect(sortedRows(s).map((r) => r.agentId)).toEqual(['Alpha', 'beta', 'zed']);
  });
});
