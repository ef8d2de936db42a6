import { describe, expect, it } from 'vitest';
import type { AgentLifecycleData } from '@warden/protocol';
import { applyLifecycle, type AgentLifecycle } from './agent-lifecycle-view.js';

function run(events: Array<[number, AgentLifecycleData]>): AgentLifecycle {
  let s: AgentLifecycle | undefined;
  for (const [ts, d] of events) s = applyLifecycle(s, ts, d);
  return s!;
}

describe('applyLifecycle', () => {
  it('a first start is no restart; each later start is one, and uptime runs from the last', () => {
    const s = run([
      [1000, { action: 'started', pid: 10, reason: 'started' }],
      [5000, { action: 'exited', exitCode: 1, signal: null, reason: 'exited with code 1' }],
      [
        5001,
        {
          action: 'restart_scheduled',
          attempt: 1,
          delayMs: 2000,
          maxRestarts: 5,
          reason: 'crashed',
        },
      ],
    ]);
    expect(s).toMatchObject({ pid: null, startedAt: null, restarts: 0, exitCode: 1 });
    expect(s.nextRestartAt).toBe(7001);
    expect(s.attempt).toBe(1);
    expect(s.maxRestarts).toBe(5);
    const after = applyLifecycle(s, 7002, {
      action: 'started',
      pid: 11,
      attempt: 1,
      reason: 'restarted',
    });
    expect(after).toMatchObject({
      pid: 11,
      startedAt: 7002,
      restarts: 1,
      nextRestartAt: null,
      exitCode: null,
    });
  });

  it('an open circuit has no next restart until its half-open trial; closing it says so', () => {
    const open = run([
      [1, { action: 'started', pid: 1, reason: 'started' }],
      [2, { action: 'restart_scheduled', attempt: 5, delayMs: 100, reason: 'crashed' }],
      [3, { action: 'circuit_open', reason: '6 restarts within 60s' }],
    ]);
    expect(open).toMatchObject({
      circuit: 'open',
      nextRestartAt: null,
      reason: '6 restarts within 60s',
    });
    const half = applyLifecycle(open, 4, {
      action: 'circuit_half_open',
      attempt: 1,
      reason: 'trial',
    });
    expect(half.circuit).toBe('half_open');
    const closed = applyLifecycle(half, 5, { action: 'circuit_closed', reason: 'stable' });
    expect(closed.circuit).toBe('closed');
  });

  it('a stop clears the process and any scheduled restart', () => {
    const s = run([
      [1, { action: 'started', pid: 1, reason: 'started' }],
      [2, { action: 'restart_scheduled', delayMs: 10, reason: 'x' }],
      [3, { action: 'stopped', reason: 'stopped by operator' }],
    ]);
    expect(s).toMatchObject({
      pid: null,
      startedAt: null,
      nextRestartAt: null,
      lastAction: 'stopped',
    });
  });
});
