import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import { LocalBus, BusMessage } from './bus.js';
import { agentFailureReason, releaseTasksOnAgentFailure } from './task-queue-release.js';

let seq = 0;
const ev = (type: string, data: Record<string, unknown>, agentId = 'w1') =>
  ({
    seq: ++seq,
    receivedAt: 1,
    id: `e${seq}`,
    type,
    agentId,
    ts: 1,
    data,
  }) as unknown as StoredEvent;

describe('agentFailureReason', () => {
  it('names the agent and what happened when it can no longer hold tasks', () => {
    expect(
      agentFailureReason(
        ev('agent_lifecycle', { action: 'circuit_open', reason: '6 restarts in 10m' }),
      ),
    ).toBe('agent w1 opened its circuit: 6 restarts in 10m');
    expect(
      agentFailureReason(
        ev('agent_lifecycle', {
          action: 'exited',
          exitCode: 137,
          signal: 'SIGKILL',
          reason: 'killed',
        }),
      ),
    ).toBe('agent w1 exited with code 137 on SIGKILL: killed');
    expect(
      agentFailureReason(ev('agent_lifecycle', { action: 'stopped', reason: 'by operator' })),
    ).toBe('agent w1 was stopped: by operator');
    for (const check of ['task_stale', 'task_duration']) {
      expect(
        agentFailureReason(
          ev('health_changed', { check, health: 'critical', previous: 'healthy', reason: 'stuck' }),
        ),
      ).toBe(`agent w1 is hung (${check}): stuck`);
    }
    expect(
      agentFailureReason(ev('agent_status_update', { status: 'failed', message: 'OOM' })),
    ).toBe('agent w1 failed: OOM');
    expect(agentFailureReason(ev('agent_status_update', { status: 'failed' }))).toBe(
      'agent w1 failed',
    );
  });

  it('says nothing for events that leave the agent able to work', () => {
    for (const e of [
      ev('agent_lifecycle', { action: 'started', reason: 'start' }),
      ev('agent_lifecycle', { action: 'restart_scheduled', reason: 'backoff' }),
      ev('agent_lifecycle', { action: 'circuit_half_open', reason: 'trial' }),
      ev('health_changed', {
        check: 'task_stale',
        health: 'warning',
        previous: 'healthy',
        reason: 'slow',
      }),
      ev('health_changed', {
        check: 'memory',
        health: 'critical',
        previous: 'healthy',
        reason: 'big',
      }),
      ev('agent_status_update', { status: 'unresponsive' }),
      ev('agent_status_update', { status: 'restarting' }),
      ev('task_completed', { taskId: 't', success: false }),
    ]) {
      expect(agentFailureReason(e)).toBeUndefined();
    }
  });
});

describe('releaseTasksOnAgentFailure', () => {
  it('releases the agent of every failure event on the bus, until unsubscribed', async () => {
    const bus = new LocalBus(0);
    const calls: Array<[string, string]> = [];
    const queue = {
      releaseAgentTasks: (agentId: string, reason: string) => {
        calls.push([agentId, reason]);
        return Promise.resolve([]);
      },
    };
    const stop = releaseTasksOnAgentFailure(bus, queue, { error: () => undefined });
    bus.publish([
      new BusMessage(ev('agent_status_update', { status: 'busy' }, 'a')),
      new BusMessage(ev('agent_status_update', { status: 'failed' }, 'b')),
      new BusMessage(ev('agent_lifecycle', { action: 'circuit_open', reason: 'r' }, 'c')),
    ]);
    stop();
    bus.publish([new BusMessage(ev('agent_status_update', { status: 'failed' }, 'd'))]);
    expect(calls).toEqual([
      ['b', 'agent b failed'],
      ['c', 'agent c opened its circuit: r'],
    ]);
  });

  it('logs a release that fails instead of throwing into the bus', async () => {
    const bus = new LocalBus(0);
    const errors: unknown[] = [];
    releaseTasksOnAgentFailure(
      bus,
      { releaseAgentTasks: () => Promise.reject(new Error('store down')) },
      { error: (obj: unknown) => errors.push(obj) },
    );
    bus.publish([new BusMessage(ev('agent_status_update', { status: 'failed' }))]);
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual([expect.objectContaining({ agentId: 'w1' })]);
  });
});
