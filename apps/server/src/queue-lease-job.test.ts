import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type WardenEvent } from '@warden/protocol';
import { QueueConfigSchema } from './queue-config.js';
import { QueueLeaseJob } from './queue-lease-job.js';
import { SqliteEventStore } from './store/sqlite-event-store.js';
import { SqliteTaskQueueStore } from './store/sqlite-task-queue-store.js';
import { TaskQueue } from './task-queue.js';

const T0 = 1_763_791_200_000;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TaskQueue on a real SQLite file, a hand-moved clock, and the events it would store. */
async function setup(config: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-lease-job-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'w.db');
  const events = new SqliteEventStore(file, { writerThread: false });
  await events.migrate();
  const store = SqliteTaskQueueStore.open(`sqlite:${file}`);
  cleanups.push(() => events.close());
  cleanups.push(() => store.close());
  const clock = { t: T0, now: () => clock.t };
  const stored: WardenEvent[] = [];
  const queueConfig = QueueConfigSchema.parse(config);
  const log = pino({ level: 'silent' });
  const queue = new TaskQueue({
    store,
    events: {
      submit: (evs) => {
        stored.push(...evs);
        return Promise.resolve(evs.map((e, i) => ({ id: e.id, seq: stored.length + i })));
      },
    },
    clock,
    config: queueConfig,
    limits: DEFAULT_LIMITS,
    log,
  });
  const job = new QueueLeaseJob(queue, queueConfig, clock, log);
  return { queue, job, clock, stored };
}

describe('QueueLeaseJob', () => {
  it('returns leases that expired on the clock to their queue, with a task_completed for the holder', async () => {
    const { queue, job, clock, stored } = await setup();
    const t = await queue.enqueue({ queue: 'q', name: 'n' });
    await queue.lease('q', 'slow', 1000);
    clock.t += 999;
    await job.runOnce();
    expect((await queue.get(t.id))!.state).toBe('leased');
    clock.t += 1;
    await job.runOnce();
    expect(await queue.get(t.id)).toMatchObject({ state: 'queued', attempts: 1 });
    expect(stored.map((e) => [e.type, e.agentId, e.id])).toEqual([
      ['task_assigned', 'slow', `${t.id}:1:assigned`],
      ['task_completed', 'slow', `${t.id}:1:ended`],
    ]);
    expect(stored[1]!.data).toMatchObject({ success: false, requeued: true, durationMs: 1000 });
  });

  it('fails a task for good when its last attempt expires', async () => {
    const { queue, job, clock, stored } = await setup({ max_attempts: 1 });
    const t = await queue.enqueue({ queue: 'q', name: 'n' });
    await queue.lease('q', 'slow', 10);
    clock.t += 10;
    await job.runOnce();
    expect(await queue.get(t.id)).toMatchObject({ state: 'failed', attempts: 1, agentId: 'slow' });
    expect(stored[1]!.data).toMatchObject({
      success: false,
      error: expect.stringContaining('expired'),
    });
    expect(stored[1]!.data).not.toHaveProperty('requeued');
  });

  it('deletes finished tasks older than keep_finished, at most once an hour', async () => {
    const { queue, job, clock } = await setup({ keep_finished: '30m' });
    const finish = async (name: string) => {
      const t = await queue.enqueue({ queue: 'q', name });
      await queue.lease('q', 'a', 1000);
      await queue.complete(t.id, 'a');
      return t.id;
    };
    const old = await finish('old');
    await job.runOnce(); // prunes at once: nothing is 30 minutes old yet
    expect(await queue.get(old)).toBeDefined();
    clock.t += 3_600_000;
    const young = await finish('young');
    await job.runOnce();
    expect(await queue.get(old)).toBeUndefined();
    expect(await queue.get(young)).toBeDefined();
    // 31 minutes later young is old enough, but the last prune was less than an hour ago.
    clock.t += 31 * 60_000;
    await job.runOnce();
    expect(await queue.get(young)).toBeDefined();
    clock.t += 29 * 60_000;
    await job.runOnce();
    expect(await queue.get(young)).toBeUndefined();
  });
});
