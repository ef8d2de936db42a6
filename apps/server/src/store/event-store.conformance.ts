import { describe, expect, it } from 'vitest';
import type { WardenEvent } from '@warden/protocol';
import type { EventStore } from './event-store.js';

/**
 * The contract every EventStore adapter keeps, run against the real engine (DESIGN:
 * "a contract and a conformance suite"). `create` returns a fresh, migrated store.
 */
export function describeEventStoreConformance(
  name: string,
  create: () => Promise<{ store: EventStore; reopen?: () => Promise<EventStore> }>,
): void {
  const T0 = 1_763_791_200_000;
  const ev = (id: string, agentId: string, type: string, data: Record<string, unknown>, ts = T0) =>
    ({ id, agentId, type, data, ts }) as WardenEvent;

  describe(`${name} conformance`, () => {
    it('assigns strictly increasing seq in order and reports the head', async () => {
      const { store } = await create();
      const r = await store.append(
        [
          ev('a', 'x', 'metric_update', { metrics: { cpu_percent: 1 } }),
          ev('b', 'x', 'metric_update', { metrics: { cpu_percent: 2 } }),
        ],
        T0,
      );
      expect(r.map((x) => x.seq)).toEqual([1, 2]);
      expect(store.head()).toBe(2);
      const r2 = await store.append([ev('c', 'y', 'agent_status_update', { status: 'idle' })], T0);
      expect(r2[0]!.seq).toBe(3);
      await store.close();
    });

    it('stores an id once: a repeat acks as duplicate with the first seq, also within one call', async () => {
      const { store } = await create();
      const first = await store.append(
        [ev('dup', 'x', 'agent_status_update', { status: 'busy' })],
        T0,
      );
      const again = await store.append(
        [
          ev('dup', 'x', 'agent_status_update', { status: 'failed' }),
          ev('new', 'x', 'agent_status_update', { status: 'idle' }),
          ev('new', 'x', 'agent_status_update', { status: 'failed' }),
        ],
        T0,
      );
      expect(again[0]).toMatchObject({ seq: first[0]!.seq, duplicate: true });
      // A duplicate spends no seq: the log stays contiguous.
      expect(again[1]!.seq).toBe(first[0]!.seq + 1);
      const next = await store.append(
        [ev('after', 'x', 'agent_status_update', { status: 'idle' })],
        T0,
      );
      expect(next[0]!.seq).toBe(first[0]!.seq + 2);
      expect(again[1]).toMatchObject({ duplicate: false });
      expect(again[2]).toMatchObject({ seq: again[1]!.seq, duplicate: true });
      const all = await store.readEvents({ since: 0, limit: 100 });
      expect(all.map((e) => e.id)).toEqual(['dup', 'new', 'after']);
      // The first one stored wins, projections included.
      expect((await store.getAgent('x'))!.status).toBe('idle');
      await store.close();
    });

    it('stores nothing of a call that fails midway', async () => {
      const { store } = await create();
      await store.append([ev('ok-1', 'x', 'agent_status_update', { status: 'busy' })], T0);
      const poison = ev('p', 'x', 'metric_update', { metrics: { cpu_percent: 1 }, big: 10n });
      await expect(
        store.append([ev('ok-2', 'x', 'agent_status_update', { status: 'idle' }), poison], T0),
      ).rejects.toThrow();
      expect((await store.readEvents({ since: 0, limit: 10 })).map((e) => e.id)).toEqual(['ok-1']);
      expect(store.head()).toBe(1);
      expect((await store.getAgent('x'))!.status).toBe('busy');
      const next = await store.append(
        [ev('ok-3', 'x', 'agent_status_update', { status: 'idle' })],
        T0,
      );
      expect(next[0]!.seq).toBeGreaterThan(1);
      await store.close();
    });

    it('reads by agent, type and since, and by topic (any part matching)', async () => {
      const { store } = await create();
      await store.append(
        [
          ev('1', 'a', 'agent_status_update', { status: 'busy' }),
          ev('2', 'b', 'metric_update', { metrics: { memory_mb: 5 } }),
          ev('3', 'a', 'metric_update', { metrics: { memory_mb: 6 } }),
          ev('4', 'c', 'task_assigned', { taskId: 't1' }),
        ],
        T0,
      );
      expect(
        (await store.readEvents({ since: 0, limit: 10, agentId: 'a' })).map((e) => e.id),
      ).toEqual(['1', '3']);
      expect(
        (await store.readEvents({ since: 0, limit: 10, type: 'metric_update' })).map((e) => e.id),
      ).toEqual(['2', '3']);
      expect((await store.readEvents({ since: 2, limit: 10 })).map((e) => e.id)).toEqual([
        '3',
        '4',
      ]);
      expect((await store.readEvents({ since: 0, limit: 1 })).map((e) => e.id)).toEqual(['1']);
      const topics = await store.readTopics({
        since: 0,
        until: 4,
        limit: 10,
        all: false,
        agentIds: ['c'],
        types: ['agent_status_update'],
      });
      expect(topics.map((e) => e.id)).toEqual(['1', '4']);
      const upTo = await store.readTopics({
        since: 0,
        until: 2,
        limit: 10,
        all: true,
        agentIds: [],
        types: [],
      });
      expect(upTo.map((e) => e.id)).toEqual(['1', '2']);
      const stored = (await store.readEvents({ since: 0, limit: 1 }))[0]!;
      expect(stored).toEqual({
        seq: 1,
        receivedAt: T0,
        id: '1',
        type: 'agent_status_update',
        agentId: 'a',
        ts: T0,
        data: { status: 'busy' },
      });
      await store.close();
    });

    it('projects agents, tasks and errors from the events', async () => {
      const { store } = await create();
      await store.append(
        [
          ev('s1', 'w', 'agent_status_update', { status: 'running', message: 'up' }),
          ev('m1', 'w', 'metric_update', { metrics: { cpu_percent: 10, memory_mb: 100 } }),
          ev('m2', 'w', 'metric_update', { metrics: { cpu_percent: 20 } }),
          ev('t1', 'w', 'task_assigned', { taskId: 'task-1', name: 'build' }),
          ev('t2', 'w', 'task_assigned', { taskId: 'task-2' }),
          ev('t3', 'w', 'task_completed', { taskId: 'task-1', success: true, durationMs: 50 }),
          ev('e1', 'w', 'error_occurred', {
            errorType: 'TypeError',
            message: 'boom',
            taskId: 'task-2',
          }),
        ],
        T0,
      );
      await store.append([ev('s2', 'w', 'agent_status_update', { status: 'failed' })], T0 + 1000);
      const a = (await store.getAgent('w'))!;
      expect(a).toMatchObject({
        status: 'failed',
        health: 'critical',
        metrics: { cpu_percent: 20, memory_mb: 100 },
        openTasks: 1,
        unresolvedErrors: 1,
        lastSeen: T0 + 1000,
        firstSeen: T0,
      });
      expect(await store.getAgent('nobody')).toBeUndefined();
      const tasks = await store.listTasks({ agentId: 'w', limit: 10 });
      expect(tasks.find((t) => t.taskId === 'task-1')).toMatchObject({
        state: 'completed',
        success: true,
        durationMs: 50,
        name: 'build',
      });
      expect(tasks.find((t) => t.taskId === 'task-2')).toMatchObject({ state: 'running' });
      expect((await store.listTasks({ state: 'running', limit: 10 })).map((t) => t.taskId)).toEqual(
        ['task-2'],
      );
      const errors = await store.listErrors({ agentId: 'w', resolved: false, limit: 10 });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({
        errorType: 'TypeError',
        message: 'boom',
        taskId: 'task-2',
        resolved: false,
      });
      const resolved = await store.setErrorResolved(errors[0]!.id, true, T0 + 5);
      expect(resolved).toMatchObject({ resolved: true, resolvedAt: T0 + 5 });
      expect((await store.getAgent('w'))!.unresolvedErrors).toBe(0);
      expect(await store.setErrorResolved(999_999, true, T0)).toBeUndefined();
      const hist = await store.metricHistory('w', T0 - 1, 10);
      expect(hist.map((p) => p.metrics.cpu_percent)).toEqual([10, 20]);
      expect((await store.listAgents()).map((x) => x.agentId)).toEqual(['w']);
      await store.close();
    });

    it('stores the system types of SPEC §12, reads them by type and topic, and knows their agents', async () => {
      const { store } = await create();
      await store.append(
        [
          ev('l1', 'logger', 'log', { level: 'info', message: 'hello', stream: 'stdout' }),
          ev('p1', 'logger', 'task_progress', { taskId: 'job-1', percent: 50 }),
          ev('l2', 'other', 'log', { level: 'error', message: 'boom', stream: 'stderr' }),
          ev('c1', 'logger', 'agent_lifecycle', { action: 'started', pid: 42, reason: 'started' }),
          ev('h1', 'quiet', 'health_changed', {
            check: 'heartbeat',
            health: 'warning',
            previous: 'unknown',
            reason: 'no event for 30s',
          }),
          ev('x1', 'quiet', 'escalation', { reason: 'circuit open', severity: 'critical' }),
        ],
        T0,
      );
      expect(
        (await store.readEvents({ since: 0, limit: 10, type: 'log' })).map((e) => e.id),
      ).toEqual(['l1', 'l2']);
      expect(
        (await store.readEvents({ since: 0, limit: 10, type: 'agent_lifecycle' }))[0],
      ).toMatchObject({ agentId: 'logger', data: { action: 'started', pid: 42 } });
      const logsOfLogger = await store.readTopics({
        since: 0,
        until: 6,
        limit: 10,
        all: false,
        agentIds: [],
        types: ['escalation'],
        logAgentIds: ['logger'],
      });
      expect(logsOfLogger.map((e) => e.id)).toEqual(['l1', 'x1']);
      // An agent that only ever sent system events is known and seen all the same.
      expect((await store.listAgents()).map((a) => a.agentId)).toEqual([
        'logger',
        'other',
        'quiet',
      ]);
      expect(await store.getAgent('logger')).toMatchObject({
        status: null,
        health: 'unknown',
        checks: {},
        lastSeen: T0,
      });
      await store.close();
    });

    it('raises health by the failing checks and lowers it again as they recover', async () => {
      const { store } = await create();
      const change = (id: string, check: string, health: string, previous: string, ts = T0) =>
        ev(
          id,
          'w',
          'health_changed',
          { check, health, previous, reason: `${check} ${health}` },
          ts,
        );
      await store.append([ev('s', 'w', 'agent_status_update', { status: 'running' })], T0);
      expect((await store.getAgent('w'))!.health).toBe('healthy');
      await store.append([change('m1', 'memory', 'critical', 'unknown', T0 + 1)], T0 + 1);
      await store.append([change('c1', 'cpu', 'warning', 'unknown', T0 + 2)], T0 + 2);
      expect(await store.getAgent('w')).toMatchObject({
        status: 'running',
        health: 'critical',
        checks: {
          memory: { health: 'critical', reason: 'memory critical', at: T0 + 1 },
          cpu: { health: 'warning', reason: 'cpu warning', at: T0 + 2 },
        },
      });
      // Two moves of one check in one call: the later one wins.
      await store.append(
        [
          change('m2', 'memory', 'warning', 'critical', T0 + 3),
          change('m3', 'memory', 'healthy', 'warning', T0 + 4),
        ],
        T0 + 4,
      );
      expect((await store.getAgent('w'))!.health).toBe('warning');
      expect((await store.getAgent('w'))!.checks.memory).toEqual({
        health: 'healthy',
        reason: 'memory healthy',
        at: T0 + 4,
      });
      // A status change keeps the checks; a later check change keeps the status.
      await store.append([ev('s2', 'w', 'agent_status_update', { status: 'busy' })], T0 + 5);
      expect((await store.getAgent('w'))!.health).toBe('warning');
      await store.append([change('c2', 'cpu', 'healthy', 'warning', T0 + 6)], T0 + 6);
      expect(await store.getAgent('w')).toMatchObject({ status: 'busy', health: 'healthy' });
      await store.append([change('p1', 'probe', 'critical', 'healthy', T0 + 7)], T0 + 7);
      await store.append([ev('s3', 'w', 'agent_status_update', { status: 'stopped' })], T0 + 8);
      // Stopped on purpose: grey, whatever the checks said last (SPEC §12).
      expect((await store.getAgent('w'))!.health).toBe('unknown');
      await store.close();
    });

    it('keeps a check reason that holds U+0000 without refusing the event', async () => {
      const { store } = await create();
      const data = { check: 'probe', health: 'critical', previous: 'healthy', reason: 'a\u0000b' };
      await store.append([ev('nul', 'n', 'health_changed', data)], T0);
      expect((await store.readEvents({ since: 0, limit: 1 }))[0]!.data).toEqual(data);
      expect((await store.getAgent('n'))!.checks.probe!.reason).toMatch(/^a.b$/);
      await store.close();
    });

    it('deletes events received before a cutoff, oldest first, keeping seq monotonic', async () => {
      const { store } = await create();
      const day = 86_400_000;
      for (let d = 0; d < 5; d++) {
        const events = Array.from({ length: 50 }, (_, i) =>
          ev(`d${d}-${i}`, 'r', 'metric_update', { metrics: { n: i } }),
        );
        await store.append(events, T0 + d * day);
      }
      const deleted = await store.deleteEventsBefore(T0 + 3 * day);
      expect(deleted).toBe(150);
      const left = await store.readEvents({ since: 0, limit: 1000 });
      expect(left).toHaveLength(100);
      expect(left[0]!.seq).toBe(151);
      expect(await store.deleteEventsBefore(T0 + 3 * day)).toBe(0);
      await store.deleteEventsBefore(T0 + 10 * day);
      expect(await store.readEvents({ since: 0, limit: 10 })).toHaveLength(0);
      const r = await store.append([ev('after', 'r', 'metric_update', { metrics: { n: 1 } })], T0);
      expect(r[0]!.seq).toBe(251);
      await store.close();
    });

    it('keeps acked events and the head across a reopen', async () => {
      const { store, reopen } = await create();
      if (!reopen) return;
      await store.append([ev('keep', 'k', 'agent_status_update', { status: 'idle' })], T0);
      await store.close();
      const again = await reopen();
      expect(again.head()).toBe(1);
      expect((await again.readEvents({ since: 0, limit: 10 }))[0]!.id).toBe('keep');
      expect(
        (await again.append([ev('keep', 'k', 'agent_status_update', { status: 'idle' })], T0))[0]!
          .duplicate,
      ).toBe(true);
      await again.close();
    });
  });
}
