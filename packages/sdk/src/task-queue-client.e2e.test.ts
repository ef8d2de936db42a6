import { afterEach, describe, expect, it } from 'vitest';
import type { QueueTask } from '@warden/protocol';
import {
  startTestServer,
  type TestServer,
} from '../../../apps/server/src/test-support/test-server.js';
import { connect, TaskQueueClient, WardenHttpError, type TaskContext } from './index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(opts: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(opts);
  cleanups.push(() => s.close());
  return s;
}

async function queueClient(s: TestServer, agentId: string, role: 'agent' | 'operator' = 'agent') {
  const token = await s.token(role, role === 'agent' ? agentId : undefined);
  const c = new TaskQueueClient({ url: s.url, token, agentId });
  cleanups.push(() => c.close());
  return c;
}

const waitFor = async (cond: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('TaskQueueClient against a real server', () => {
  it('enqueues, leases, reports progress and completes; an empty queue leases null', async () => {
    const s = await server();
    const producer = await queueClient(s, 'producer', 'operator');
    const worker = await queueClient(s, 'w-1');
    const t = await producer.enqueue({
      queue: 'sdk',
      name: 'resize',
      payload: { f: 'a.png' },
      priority: 3,
    });
    expect(t).toMatchObject({ state: 'queued', priority: 3, payload: { f: 'a.png' } });
    const leased = (await worker.lease('sdk', { leaseMs: 10_000 }))!;
    expect(leased).toMatchObject({ id: t.id, state: 'leased', agentId: 'w-1' });
    expect(await worker.lease('sdk')).toBeNull();
    expect((await worker.progress(t.id, { percent: 50, message: 'half' })).progress).toMatchObject({
      percent: 50,
      message: 'half',
    });
    const done = await worker.complete(t.id, { size: [64, 64] });
    expect(done).toMatchObject({ state: 'completed', result: { size: [64, 64] } });
    expect(await producer.get(t.id)).toMatchObject({ state: 'completed' });
    expect(await producer.get('nope')).toBeNull();
    expect((await producer.queues()).find((q) => q.queue === 'sdk')).toMatchObject({
      completed: 1,
    });
  });

  it('fails with retry back to the queue, and without retry for good', async () => {
    const s = await server();
    const producer = await queueClient(s, 'p', 'operator');
    const worker = await queueClient(s, 'w-1');
    const t = await producer.enqueue({ queue: 'f', name: 'x' });
    await worker.lease('f');
    expect(await worker.fail(t.id, new Error('ECONNRESET'), { retry: true })).toMatchObject({
      state: 'queued',
      attempts: 1,
      error: 'ECONNRESET',
    });
    await worker.lease('f');
    expect(await worker.fail(t.id, 'bad input')).toMatchObject({ state: 'failed', attempts: 2 });
  });

  it('raises the server problems as WardenHttpError with code, status and fields', async () => {
    const s = await server();
    const producer = await queueClient(s, 'p', 'operator');
    const w1 = await queueClient(s, 'w-1');
    const w2 = await queueClient(s, 'w-2');
    const t = await producer.enqueue({ queue: 'e', name: 'x' });
    await w1.lease('e');
    const conflict = (await w2.complete(t.id).catch((e: unknown) => e)) as WardenHttpError;
    expect(conflict).toBeInstanceOf(WardenHttpError);
    expect(conflict).toMatchObject({ code: 'conflict', status: 409 });
    expect(conflict.message).toContain('leased to agent w-1');
    await expect(w1.complete('nope')).rejects.toMatchObject({ code: 'not_found', status: 404 });
    await expect(w1.lease('e', { agentId: 'w-2' })).rejects.toMatchObject({
      code: 'forbidden_agent',
      status: 403,
      details: [{ path: '/agentId', message: expect.any(String) }],
    });
    await expect(producer.enqueue({ queue: 'bad queue', name: '' })).rejects.toMatchObject({
      code: 'invalid_request',
      details: expect.arrayContaining([expect.objectContaining({ path: '/queue' })]),
    });
    const offline = new TaskQueueClient({ url: 'http://127.0.0.1:1', token: 'x', agentId: 'a' });
    await expect(offline.lease('e')).rejects.toMatchObject({ code: 'connection_failed' });
    await expect(new TaskQueueClient({ url: s.url, token: 'x' }).lease('e')).rejects.toMatchObject({
      code: 'no_agent_id',
    });
  });
});

describe('TaskQueueClient.work', () => {
  it('works a queue with two loops, retries a handler that throws, and stops on close', async () => {
    const s = await server();
    const producer = await queueClient(s, 'p', 'operator');
    const worker = await queueClient(s, 'w-1');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++)
      ids.push((await producer.enqueue({ queue: 'loop', name: `n${i}`, payload: i })).id);
    const seen: number[] = [];
    let running = 0;
    let maxRunning = 0;
    let threw = false;
    const errors: Error[] = [];
    const w = worker.work(
      'loop',
      async (task: QueueTask, ctx: TaskContext) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        try {
          await ctx.progress({ percent: 10 });
          await new Promise((r) => setTimeout(r, 10));
          if (task.payload === 3 && !threw) {
            threw = true;
            throw new Error('first try fails');
          }
          seen.push(task.payload as number);
          return { double: (task.payload as number) * 2 };
        } finally {
          running--;
        }
      },
      { concurrency: 2, pollMs: 20, leaseMs: 5000, onError: (e) => errors.push(e) },
    );
    await waitFor(
      async () => (await producer.queues()).find((q) => q.queue === 'loop')?.completed === 10,
    );
    await w.close();
    expect(errors).toEqual([]);
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(maxRunning).toBe(2);
    expect({ completed: w.completed, failed: w.failed }).toEqual({ completed: 10, failed: 1 });
    const three = (await producer.get(ids[3]!))!;
    expect(three).toMatchObject({
      state: 'completed',
      attempts: 1,
      result: { double: 6 },
      error: 'first try fails',
    });
    // Closed: a new task stays queued.
    const later = await producer.enqueue({ queue: 'loop', name: 'after' });
    await new Promise((r) => setTimeout(r, 100));
    expect((await producer.get(later.id))!.state).toBe('queued');
  });

  it('aborts the handler signal when its lease is lost, and a healthy agent finishes the task', async () => {
    const s = await server();
    const producer = await queueClient(s, 'p', 'operator');
    const sick = connect({ url: s.url, token: await s.token('agent', 'sick'), agentId: 'sick' });
    cleanups.push(() => sick.close({ timeoutMs: 0 }));
    const healthy = await queueClient(s, 'healthy');
    const t = await producer.enqueue({ queue: 'handover', name: 'long' });
    let aborted: unknown;
    let lost: unknown;
    let started = false;
    const w = sick.tasks.work(
      'handover',
      async (_task, ctx) => {
        started = true;
        // Reports as it goes, until a report says the lease is gone.
        for (;;) {
          try {
            await ctx.progress({ message: 'still here' });
          } catch (err) {
            lost = err;
            break;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        aborted = ctx.signal.aborted ? ctx.signal.reason : undefined;
        throw new Error('gave up');
      },
      { pollMs: 20, leaseMs: 60_000, onError: () => undefined },
    );
    await waitFor(() => started);
    // The agent fails (its supervisor says so): its leases go back to the queue at once.
    await sick.status('failed', { message: 'out of memory' });
    await waitFor(async () => (await producer.get(t.id))!.state === 'queued');
    const h = healthy.work('handover', () => 'done by healthy', { pollMs: 20 });
    await waitFor(async () => (await producer.get(t.id))!.state === 'completed');
    await h.close();
    expect(await producer.get(t.id)).toMatchObject({
      agentId: 'healthy',
      result: 'done by healthy',
    });
    // The sick loop learned the lease is gone at its next report.
    await waitFor(() => lost !== undefined);
    expect(lost).toMatchObject({ code: 'conflict', status: 409 });
    expect(aborted).toBe(lost);
    await w.close();
  });

  it('ends the loop on a refusal that will not change (forbidden_agent)', async () => {
    const s = await server();
    const c = new TaskQueueClient({
      url: s.url,
      token: await s.token('agent', 'me'),
      agentId: 'me',
    });
    const errors: Error[] = [];
    const w = c.work('q', () => undefined, {
      agentId: 'not-me',
      onError: (e) => errors.push(e),
      pollMs: 10,
    });
    await waitFor(() => errors.length > 0);
    await w.close();
    expect(errors).toEqual([expect.objectContaining({ code: 'forbidden_agent' })]);
  });

  it('stops the loops of client.tasks when the client closes', async () => {
    const s = await server();
    const c = connect({ url: s.url, token: await s.token('agent', 'w'), agentId: 'w' });
    let calls = 0;
    c.tasks.work('idle', () => calls++, { pollMs: 10 });
    await new Promise((r) => setTimeout(r, 50));
    await c.close();
    const producer = await queueClient(s, 'p', 'operator');
    const t = await producer.enqueue({ queue: 'idle', name: 'x' });
    await new Promise((r) => setTimeout(r, 100));
    expect((await producer.get(t.id))!.state).toBe('queued');
    expect(calls).toBe(0);
  });
});
