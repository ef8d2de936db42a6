import { describe, expect, it } from 'vitest';
import type { AgentStateStore } from './agent-state-store.js';
import type { NewQueueTask, TaskQueueStore } from './task-queue-store.js';

/** What one conformance test gets: fresh, migrated stores on the real engine. */
export interface QueueStores {
  tasks: TaskQueueStore;
  states: AgentStateStore;
  /** A second set of stores on the same database (another connection, or a replica). */
  other: () => Promise<{ tasks: TaskQueueStore; states: AgentStateStore }>;
  /** Closes everything this set opened (also what `other` opened). */
  close: () => Promise<void>;
}

/**
 * The contract of `TaskQueueStore` and `AgentStateStore`, run against every engine (DESIGN:
 * "a contract and a conformance suite"). `create` returns fresh, migrated stores.
 */
export function describeQueueStoreConformance(
  name: string,
  create: () => Promise<QueueStores>,
): void {
  const T0 = 1_763_791_200_000;
  let n = 0;
  const task = (queue: string, extra: Partial<NewQueueTask> = {}): NewQueueTask => ({
    id: `t-${++n}-${Math.random().toString(36).slice(2, 8)}`,
    queue,
    name: 'job',
    payloadJson: null,
    priority: 0,
    createdAt: T0,
    ...extra,
  });
  const withStores = (fn: (s: QueueStores) => Promise<void>) => async () => {
    const s = await create();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  };
  const lease = (s: TaskQueueStore, queue: string, agentId: string, now = T0, leaseMs = 1000) =>
    s.lease({ queue, agentId, leaseMs, now });

  describe(`${name} queue conformance`, () => {
    it(
      'stores an enqueued task as queued with its payload, and reads it back by id',
      withStores(async ({ tasks }) => {
        const t = await tasks.enqueue(
          task('q', { payloadJson: JSON.stringify({ n: 1, s: 'ünï' }), priority: 2.5 }),
        );
        expect(t).toMatchObject({
          queue: 'q',
          name: 'job',
          payload: { n: 1, s: 'ünï' },
          priority: 2.5,
          state: 'queued',
          attempts: 0,
          leases: 0,
          createdAt: T0,
          agentId: null,
          leaseExpiresAt: null,
          progress: null,
          result: null,
          error: null,
          finishedAt: null,
        });
        expect(await tasks.get(t.id)).toEqual(t);
        expect(await tasks.get('no-such-task')).toBeUndefined();
      }),
    );

    it(
      'leases the highest priority first, then the oldest, and nothing from an empty queue',
      withStores(async ({ tasks }) => {
        const low = await tasks.enqueue(task('q', { priority: 0 }));
        const high1 = await tasks.enqueue(task('q', { priority: 5 }));
        const high2 = await tasks.enqueue(task('q', { priority: 5 }));
        const negative = await tasks.enqueue(task('q', { priority: -1 }));
        await tasks.enqueue(task('other', { priority: 100 }));
        const order: string[] = [];
        for (let i = 0; i < 4; i++) order.push((await lease(tasks, 'q', 'a'))!.id);
        expect(order).toEqual([high1.id, high2.id, low.id, negative.id]);
        expect(await lease(tasks, 'q', 'a')).toBeUndefined();
        expect(await lease(tasks, 'empty', 'a')).toBeUndefined();
      }),
    );

    it(
      'gives the lease to the agent until now + leaseMs',
      withStores(async ({ tasks }) => {
        const t = await tasks.enqueue(task('q'));
        const got = await tasks.lease({ queue: 'q', agentId: 'a1', leaseMs: 30_000, now: T0 + 5 });
        expect(got).toMatchObject({
          id: t.id,
          state: 'leased',
          agentId: 'a1',
          leasedAt: T0 + 5,
          leaseMs: 30_000,
          leaseExpiresAt: T0 + 30_005,
          leases: 1,
          updatedAt: T0 + 5,
        });
        expect(await tasks.get(t.id)).toEqual(got);
      }),
    );

    it(
      'never leases one task twice: 50 leases at once for 20 tasks, also from a second connection',
      withStores(async ({ tasks, other }) => {
        const ids = new Set<string>();
        for (let i = 0; i < 20; i++) ids.add((await tasks.enqueue(task('race'))).id);
        const second = (await other()).tasks;
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            lease(i % 2 === 0 ? tasks : second, 'race', `agent-${i}`),
          ),
        );
        const got = results.filter((r) => r !== undefined);
        expect(got).toHaveLength(20);
        expect(new Set(got.map((t) => t.id))).toEqual(ids);
        // Each task went to the agent whose lease returned it, once.
        for (const t of got) expect((await tasks.get(t.id))!.agentId).toBe(t.agentId);
        expect(got.every((t) => t.leases === 1)).toBe(true);
      }),
    );

    it(
      'progress by the holder renews the lease by its original length and keeps unsent fields',
      withStores(async ({ tasks }) => {
        const t = await tasks.enqueue(task('q'));
        await lease(tasks, 'q', 'a', T0, 1000);
        const p1 = await tasks.progress(t.id, {
          agentId: 'a',
          percent: 10,
          message: 'x',
          now: T0 + 900,
        });
        expect(p1).toMatchObject({
          ok: true,
          changed: true,
          task: {
            leaseExpiresAt: T0 + 1900,
            progress: { percent: 10, message: 'x', at: T0 + 900 },
          },
        });
        const p2 = await tasks.progress(t.id, { agentId: 'a', percent: 50, now: T0 + 1800 });
        expect(p2).toMatchObject({
          ok: true,
          task: { leaseExpiresAt: T0 + 2800, progress: { percent: 50, message: 'x' } },
        });
        // Nothing expires at the old deadline now.
        expect(await tasks.expire({ now: T0 + 1900, maxAttempts: 3 })).toEqual([]);
        // Undefined reporter: whoever holds it (a supervisor or admin token).
        expect(await tasks.progress(t.id, { agentId: undefined, now: T0 + 2000 })).toMatchObject({
          ok: true,
          task: { leaseExpiresAt: T0 + 3000 },
        });
      }),
    );

    it(
      'refuses reports from an agent that does not hold the lease, and on unknown ids',
      withStores(async ({ tasks }) => {
        const t = await tasks.enqueue(task('q'));
        expect(await tasks.progress(t.id, { agentId: 'a', now: T0 })).toMatchObject({
          ok: false,
          reason: 'not_held',
          task: { state: 'queued' },
        });
        await lease(tasks, 'q', 'a');
        for (const r of [
          await tasks.progress(t.id, { agentId: 'b', now: T0 }),
          await tasks.complete(t.id, { agentId: 'b', resultJson: null, now: T0 }),
          await tasks.fail(t.id, {
            agentId: 'b',
            error: 'x',
            retry: true,
            maxAttempts: 3,
            now: T0,
          }),
        ]) {
          expect(r).toMatchObject({ ok: false, reason: 'not_held', task: { agentId: 'a' } });
        }
        expect(await tasks.complete('nope', { agentId: 'a', resultJson: null, now: T0 })).toEqual({
          ok: false,
          reason: 'not_found',
        });
        expect((await tasks.get(t.id))!.state).toBe('leased');
      }),
    );

    it(
      'completes for the holder with the result; a repeat by the same agent changes nothing',
      withStores(async ({ tasks }) => {
        const t = await tasks.enqueue(task('q'));
        await lease(tasks, 'q', 'a');
        const done = await tasks.complete(t.id, {
          agentId: 'a',
          resultJson: JSON.stringify([1, { ok: true }]),
          now: T0 + 300,
        });
        expect(done).toMatchObject({
          ok: true,
          changed: true,
          previous: { state: 'leased', leasedAt: T0 },
          task: {
            state: 'completed',
            agentId: 'a',
            result: [1, { ok: true }],
            finishedAt: T0 + 300,
            leaseExpiresAt: null,
          },
        });
        const again = await tasks.complete(t.id, { agentId: 'a', resultJson: null, now: T0 + 400 });
        expect(again).toMatchObject({ ok: true, changed: false, task: { finishedAt: T0 + 300 } });
        expect(
          await tasks.complete(t.id, { agentId: 'b', resultJson: null, now: T0 }),
        ).toMatchObject({
          ok: false,
          reason: 'not_held',
        });
        expect(await lease(tasks, 'q', 'b')).toBeUndefined();
      }),
    );

    it(
      'fail with retry requeues (attempts + 1) until maxAttempts, then fails for good',
      withStores(async ({ tasks }) => {
        const t = await tasks.enqueue(task('q'));
        for (let attempt = 1; attempt <= 2; attempt++) {
          await lease(tasks, 'q', `a${attempt}`);
          const r = await tasks.fail(t.id, {
            agentId: `a${attempt}`,
            error: `boom ${attempt}`,
            retry: true,
            maxAttempts: 3,
            now: T0 + attempt,
          });
          expect(r).toMatchObject({
            ok: true,
            task: {
              state: 'queued',
              attempts: attempt,
              agentId: null,
              leaseExpiresAt: null,
              error: `boom ${attempt}`,
              finishedAt: null,
            },
          });
        }
        const third = await lease(tasks, 'q', 'a3');
        expect(third).toMatchObject({ id: t.id, leases: 3, attempts: 2 });
        const last = await tasks.fail(t.id, {
          agentId: 'a3',
          error: 'boom 3',
          retry: true,
          maxAttempts: 3,
          now: T0 + 10,
        });
        expect(last).toMatchObject({
          ok: true,
          task: { state: 'failed', attempts: 3, agentId: 'a3', finishedAt: T0 + 10 },
        });
        expect(await lease(tasks, 'q', 'a4')).toBeUndefined();
      }),
    );

    it(
      'fail without retry fails for good at once',
      withStores(async ({ tasks }) => {
        const t = await tasks.enqueue(task('q'));
        await lease(tasks, 'q', 'a');
        const r = await tasks.fail(t.id, {
          agentId: 'a',
          error: 'bad input',
          retry: false,
          maxAttempts: 5,
          now: T0,
        });
        expect(r).toMatchObject({
          ok: true,
          task: { state: 'failed', attempts: 1, error: 'bad input' },
        });
      }),
    );

    it(
      'expiry returns only the leases past their deadline to the queue, oldest seq first again',
      withStores(async ({ tasks }) => {
        const first = await tasks.enqueue(task('q'));
        const second = await tasks.enqueue(task('q'));
        const elsewhere = await tasks.enqueue(task('other'));
        await tasks.lease({ queue: 'q', agentId: 'a', leaseMs: 1000, now: T0 });
        await tasks.lease({ queue: 'q', agentId: 'b', leaseMs: 5000, now: T0 });
        await tasks.lease({ queue: 'other', agentId: 'a', leaseMs: 1000, now: T0 });
        expect(await tasks.expire({ now: T0 + 999, maxAttempts: 3 })).toEqual([]);
        const onlyQ = await tasks.expire({ now: T0 + 1000, maxAttempts: 3, queue: 'q' });
        expect(onlyQ.map((l) => l.task.id)).toEqual([first.id]);
        expect(onlyQ[0]).toMatchObject({
          previous: { state: 'leased', agentId: 'a', leasedAt: T0 },
          task: {
            state: 'queued',
            attempts: 1,
            agentId: null,
            error: expect.stringMatching(/expired/),
          },
        });
        const rest = await tasks.expire({ now: T0 + 1000, maxAttempts: 3 });
        expect(rest.map((l) => l.task.id)).toEqual([elsewhere.id]);
        expect((await tasks.get(second.id))!.state).toBe('leased');
        // Back in place: the requeued first task goes before anything enqueued later.
        await tasks.enqueue(task('q'));
        expect((await lease(tasks, 'q', 'c', T0 + 2000))!.id).toBe(first.id);
        // A last expiry fails the task for good.
        expect(
          (await tasks.expire({ now: T0 + 10_000, maxAttempts: 2, queue: 'q' })).map((l) => [
            l.task.id,
            l.task.state,
          ]),
        ).toEqual(
          expect.arrayContaining([
            [first.id, 'failed'],
            [second.id, 'queued'],
          ]),
        );
      }),
    );

    it(
      "release returns every lease of one agent at once, and no one else's",
      withStores(async ({ tasks }) => {
        const mine = [await tasks.enqueue(task('q')), await tasks.enqueue(task('r'))];
        const theirs = await tasks.enqueue(task('q'));
        await lease(tasks, 'q', 'sick');
        await lease(tasks, 'r', 'sick');
        await lease(tasks, 'q', 'well');
        const lost = await tasks.release({
          agentId: 'sick',
          reason: 'agent sick opened its circuit',
          maxAttempts: 3,
          now: T0 + 50,
        });
        expect(lost.map((l) => l.task.id).sort()).toEqual(mine.map((t) => t.id).sort());
        for (const l of lost) {
          expect(l.previous.agentId).toBe('sick');
          expect(l.task).toMatchObject({
            state: 'queued',
            attempts: 1,
            error: 'agent sick opened its circuit',
          });
        }
        expect((await tasks.get(theirs.id))!).toMatchObject({ state: 'leased', agentId: 'well' });
        expect(
          await tasks.release({ agentId: 'sick', reason: 'again', maxAttempts: 3, now: T0 }),
        ).toEqual([]);
        expect((await lease(tasks, 'q', 'well'))!.id).toBe(mine[0]!.id);
      }),
    );

    it(
      'a completion racing a release: exactly one of them takes the task',
      withStores(async ({ tasks, other }) => {
        const second = (await other()).tasks;
        for (let i = 0; i < 10; i++) {
          const t = await tasks.enqueue(task('race'));
          await lease(tasks, 'race', 'a');
          const [done, released] = await Promise.all([
            tasks.complete(t.id, { agentId: 'a', resultJson: null, now: T0 }),
            second.release({ agentId: 'a', reason: 'gone', maxAttempts: 3, now: T0 }),
          ]);
          const state = (await tasks.get(t.id))!.state;
          if (done.ok) {
            expect({ state, released: released.length }).toEqual({
              state: 'completed',
              released: 0,
            });
          } else {
            expect({ state, released: released.length }).toEqual({ state: 'queued', released: 1 });
            await lease(tasks, 'race', 'b');
            await tasks.complete(t.id, { agentId: 'b', resultJson: null, now: T0 });
          }
        }
      }),
    );

    it(
      'counts depth, leased, completed and failed per queue, and the completion rate',
      withStores(async ({ tasks }) => {
        expect(await tasks.stats({ since: T0, windowMin: 5 })).toEqual([]);
        for (let i = 0; i < 6; i++) await tasks.enqueue(task('b-queue'));
        await tasks.enqueue(task('a-queue'));
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) ids.push((await lease(tasks, 'b-queue', 'w'))!.id);
        await tasks.complete(ids[0]!, { agentId: 'w', resultJson: null, now: T0 - 10 * 60_000 });
        await tasks.complete(ids[1]!, { agentId: 'w', resultJson: null, now: T0 + 1 });
        await tasks.complete(ids[2]!, { agentId: 'w', resultJson: null, now: T0 + 2 });
        await tasks.fail(ids[3]!, {
          agentId: 'w',
          error: 'x',
          retry: false,
          maxAttempts: 3,
          now: T0,
        });
        await lease(tasks, 'b-queue', 'w');
        expect(await tasks.stats({ since: T0 - 5 * 60_000, windowMin: 5 })).toEqual([
          { queue: 'a-queue', depth: 1, leased: 0, completed: 0, failed: 0, ratePerMin: 0 },
          { queue: 'b-queue', depth: 1, leased: 1, completed: 3, failed: 1, ratePerMin: 0.4 },
        ]);
      }),
    );

    it(
      'lists tasks by queue, state and agent, most recently changed first',
      withStores(async ({ tasks }) => {
        const a = await tasks.enqueue(task('q'));
        const b = await tasks.enqueue(task('q', { createdAt: T0 + 1 }));
        await tasks.enqueue(task('other'));
        await tasks.lease({ queue: 'q', agentId: 'x', leaseMs: 100, now: T0 + 5 });
        expect((await tasks.list({ queue: 'q', limit: 10 })).map((t) => t.id)).toEqual([
          a.id,
          b.id,
        ]);
        expect(
          (await tasks.list({ queue: 'q', state: 'queued', limit: 10 })).map((t) => t.id),
        ).toEqual([b.id]);
        expect((await tasks.list({ agentId: 'x', limit: 10 })).map((t) => t.id)).toEqual([a.id]);
        expect(await tasks.list({ limit: 1 })).toHaveLength(1);
      }),
    );

    it(
      'deletes finished tasks older than the cutoff and nothing else',
      withStores(async ({ tasks }) => {
        const old = await tasks.enqueue(task('q'));
        const young = await tasks.enqueue(task('q'));
        const failed = await tasks.enqueue(task('q'));
        const waiting = await tasks.enqueue(task('q'));
        for (const t of [old, young, failed]) {
          await lease(tasks, 'q', 'a');
          if (t === failed) {
            await tasks.fail(t.id, {
              agentId: 'a',
              error: 'x',
              retry: false,
              maxAttempts: 1,
              now: T0,
            });
          } else {
            await tasks.complete(t.id, {
              agentId: 'a',
              resultJson: null,
              now: t === old ? T0 : T0 + 1000,
            });
          }
        }
        expect(await tasks.deleteFinishedBefore(T0 + 1)).toBe(2);
        expect(await tasks.get(old.id)).toBeUndefined();
        expect(await tasks.get(failed.id)).toBeUndefined();
        expect((await tasks.get(young.id))!.state).toBe('completed');
        expect((await tasks.get(waiting.id))!.state).toBe('queued');
      }),
    );

    it(
      'keeps agent state per agent: none, saved, replaced, seen from another connection, deleted',
      withStores(async ({ states, other }) => {
        expect(await states.get('a')).toBeUndefined();
        expect(await states.put('a', JSON.stringify({ count: 1 }), T0)).toEqual({
          agentId: 'a',
          state: { count: 1 },
          updatedAt: T0,
        });
        await states.put('b', JSON.stringify('other'), T0);
        await states.put('a', JSON.stringify({ count: 2, list: [null, 'ünï'] }), T0 + 5);
        const second = (await other()).states;
        expect(await second.get('a')).toEqual({
          agentId: 'a',
          state: { count: 2, list: [null, 'ünï'] },
          updatedAt: T0 + 5,
        });
        expect(await second.get('b')).toMatchObject({ state: 'other' });
        expect(await states.delete('a')).toBe(true);
        expect(await states.delete('a')).toBe(false);
        expect(await second.get('a')).toBeUndefined();
      }),
    );
  });
}
