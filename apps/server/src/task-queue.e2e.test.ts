import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { QueueTask } from '@warden/protocol';
import { startTestServer, type TestServer } from './test-support/test-server.js';

/*
 * The task queue of SPEC §12 over real HTTP on a real hub (SQLite, writer thread): enqueue,
 * lease, progress, complete, fail; the events each transition stores; expiry on the injected
 * clock; release of a failed agent's tasks; problems; metrics and the dashboard.
 */

type Json = Record<string, unknown>;

interface Reply<T = Json> {
  status: number;
  contentType: string;
  body: T;
}

async function call<T = Json>(
  srv: TestServer,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<Reply<T>> {
  const res = await fetch(srv.url + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: (text ? JSON.parse(text) : undefined) as T,
  };
}

function expectProblem(r: Reply, status: number, code: string): void {
  expect({ status: r.status, code: r.body?.code }, JSON.stringify(r.body)).toEqual({
    status,
    code,
  });
  expect(r.contentType).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status });
}

interface StoredEvent {
  seq: number;
  id: string;
  type: string;
  agentId: string;
  data: Json;
}

async function events(srv: TestServer, token: string, type?: string): Promise<StoredEvent[]> {
  const r = await call<{ events: StoredEvent[] }>(
    srv,
    'GET',
    `/api/v1/events?limit=1000${type ? `&type=${type}` : ''}`,
    token,
  );
  return r.body.events;
}

/** Polls until `check` returns a value (real time; the hub's work is asynchronous). */
async function eventually<T>(check: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A clock the test moves by hand (the hub reads it for leases, expiry and tokens). */
class HandClock {
  t = Date.now();
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

const servers: TestServer[] = [];
async function server(opts: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(opts);
  servers.push(s);
  return s;
}
afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
});

describe('task queue over HTTP', () => {
  let srv: TestServer;
  let admin: string;
  let operator: string;
  let viewer: string;
  let supervisor: string;
  const agent: Record<string, string> = {};

  beforeAll(async () => {
    srv = await server({ config: { queue: { max_attempts: 2 } } });
    admin = await srv.token('admin');
    operator = await srv.token('operator');
    viewer = await srv.token('viewer');
    supervisor = await srv.token('agent', '*');
    for (const id of ['w1', 'w2', 'w3']) agent[id] = await srv.token('agent', id);
  });

  const enqueue = async (body: Json, token = operator) => {
    const r = await call<QueueTask>(srv, 'POST', '/api/v1/tasks', token, body);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  const lease = (queue: string, id: string, body: Json = {}) =>
    call<QueueTask>(srv, 'POST', `/api/v1/queues/${queue}/lease`, agent[id]!, body);

  it('enqueue → lease → complete, each step a stored event for the agent', async () => {
    const t = await enqueue({ queue: 'basic', name: 'resize', payload: { image: 'a.png' } });
    expect(t).toMatchObject({
      id: expect.any(String),
      queue: 'basic',
      name: 'resize',
      payload: { image: 'a.png' },
      priority: 0,
      state: 'queued',
      attempts: 0,
      createdAt: expect.any(Number),
    });
    const leased = await lease('basic', 'w1', { leaseMs: 60_000 });
    expect(leased.status).toBe(200);
    expect(leased.body).toMatchObject({ id: t.id, state: 'leased', agentId: 'w1' });
    expect(leased.body.leaseExpiresAt).toBe(leased.body.leasedAt! + 60_000);
    const done = await call<QueueTask>(srv, 'POST', `/api/v1/tasks/${t.id}/complete`, agent.w1!, {
      result: { thumbnails: 3 },
    });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ state: 'completed', result: { thumbnails: 3 } });
    expect((await call(srv, 'GET', `/api/v1/tasks/${t.id}`, viewer)).body).toMatchObject({
      state: 'completed',
    });

    const mine = (await events(srv, admin)).filter(
      (e) => (e.data as { taskId?: string }).taskId === t.id,
    );
    expect(mine.map((e) => [e.type, e.agentId])).toEqual([
      ['task_assigned', 'w1'],
      ['task_completed', 'w1'],
    ]);
    expect(mine[0]!.data).toEqual({ taskId: t.id, name: 'resize', queue: 'basic', priority: 0 });
    expect(mine[1]!.data).toMatchObject({
      taskId: t.id,
      success: true,
      durationMs: expect.any(Number),
    });
    // The task projection of GET /api/v1/tasks sees the queue's work like any other task.
    const projected = await call<{ tasks: Array<Json> }>(
      srv,
      'GET',
      '/api/v1/tasks?agentId=w1',
      viewer,
    );
    expect(projected.body.tasks.find((x) => x.taskId === t.id)).toMatchObject({
      state: 'completed',
      queue: 'basic',
      success: true,
    });
  });

  it('leases the highest priority first, then the oldest, and answers 204 when empty', async () => {
    const a = await enqueue({ queue: 'prio', name: 'a' });
    const b = await enqueue({ queue: 'prio', name: 'b', priority: 10 });
    const c = await enqueue({ queue: 'prio', name: 'c', priority: 10 });
    const d = await enqueue({ queue: 'prio', name: 'd', priority: -3 });
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push((await lease('prio', 'w1')).body.id);
    expect(order).toEqual([b.id, c.id, a.id, d.id]);
    const empty = await lease('prio', 'w1');
    expect(empty.status).toBe(204);
    expect(empty.body).toBeUndefined();
  });

  it('never gives one task to two leasers: 50 leases at once for 20 tasks', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add((await enqueue({ queue: 'race', name: `n${i}` })).id);
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call<QueueTask>(srv, 'POST', '/api/v1/queues/race/lease', supervisor, {
          agentId: `racer-${i}`,
        }),
      ),
    );
    const got = replies.filter((r) => r.status === 200).map((r) => r.body);
    expect(replies.filter((r) => r.status === 204)).toHaveLength(30);
    expect(got).toHaveLength(20);
    expect(new Set(got.map((t) => t.id))).toEqual(ids);
    const assigned = (await events(srv, admin, 'task_assigned')).filter((e) =>
      ids.has((e.data as { taskId: string }).taskId),
    );
    expect(assigned).toHaveLength(20);
    for (const t of got) {
      expect(assigned.find((e) => e.data.taskId === t.id)!.agentId).toBe(t.agentId);
    }
  });

  it('progress renews the lease by its original length and is stored as task_progress', async () => {
    const t = await enqueue({ queue: 'progress', name: 'train' });
    const l = (await lease('progress', 'w2', { leaseMs: 5000 })).body;
    await new Promise((r) => setTimeout(r, 20));
    const p = await call<QueueTask>(srv, 'POST', `/api/v1/tasks/${t.id}/progress`, agent.w2!, {
      percent: 40,
      message: 'epoch 4/10',
    });
    expect(p.status).toBe(200);
    expect(p.body.progress).toMatchObject({ percent: 40, message: 'epoch 4/10' });
    expect(p.body.leaseExpiresAt).toBe(p.body.progress!.at + 5000);
    expect(p.body.leaseExpiresAt!).toBeGreaterThan(l.leaseExpiresAt!);
    const stored = (await events(srv, admin, 'task_progress')).filter(
      (e) => e.data.taskId === t.id,
    );
    expect(stored.map((e) => [e.agentId, e.data])).toEqual([
      ['w2', { taskId: t.id, percent: 40, message: 'epoch 4/10' }],
    ]);
  });

  it('fail with retry goes back to the queue (attempts + 1) until max_attempts, then fails', async () => {
    const t = await enqueue({ queue: 'flaky', name: 'fetch' });
    await lease('flaky', 'w1');
    const first = await call<QueueTask>(srv, 'POST', `/api/v1/tasks/${t.id}/fail`, agent.w1!, {
      error: 'ECONNRESET',
      retry: true,
    });
    expect(first.body).toMatchObject({
      state: 'queued',
      attempts: 1,
      agentId: null,
      error: 'ECONNRESET',
    });
    const again = await lease('flaky', 'w2');
    expect(again.body).toMatchObject({ id: t.id, agentId: 'w2', attempts: 1, leases: 2 });
    const last = await call<QueueTask>(srv, 'POST', `/api/v1/tasks/${t.id}/fail`, agent.w2!, {
      error: 'ECONNRESET again',
      retry: true,
    });
    expect(last.body).toMatchObject({ state: 'failed', attempts: 2, agentId: 'w2' });
    expect((await lease('flaky', 'w3')).status).toBe(204);
    const ends = (await events(srv, admin, 'task_completed')).filter((e) => e.data.taskId === t.id);
    expect(ends.map((e) => [e.agentId, e.data.success, e.data.requeued ?? false])).toEqual([
      ['w1', false, true],
      ['w2', false, false],
    ]);
  });

  it('lets only the leasing agent report: 409 naming the holder, 404 for an unknown id', async () => {
    const t = await enqueue({ queue: 'owned', name: 'x' });
    await lease('owned', 'w1');
    for (const op of ['progress', 'complete']) {
      const r = await call(srv, 'POST', `/api/v1/tasks/${t.id}/${op}`, agent.w2!, {});
      expectProblem(r, 409, 'conflict');
      expect(r.body.detail).toContain('leased to agent w1');
    }
    const f = await call(srv, 'POST', `/api/v1/tasks/${t.id}/fail`, agent.w2!, { error: 'x' });
    expectProblem(f, 409, 'conflict');
    expectProblem(
      await call(srv, 'POST', '/api/v1/tasks/no-such/complete', agent.w1!, {}),
      404,
      'not_found',
    );
    expectProblem(await call(srv, 'GET', '/api/v1/tasks/no-such', viewer), 404, 'not_found');
    // A completion repeated by its agent (a lost reply) answers the same; another agent's does not.
    const done = await call(srv, 'POST', `/api/v1/tasks/${t.id}/complete`, agent.w1!, {});
    expect((await call(srv, 'POST', `/api/v1/tasks/${t.id}/complete`, agent.w1!, {})).body).toEqual(
      done.body,
    );
    const late = await call(srv, 'POST', `/api/v1/tasks/${t.id}/progress`, agent.w1!, {});
    expectProblem(late, 409, 'conflict');
    expect(late.body.detail).toContain('already completed');
  });

  it('refuses agents acting for another agent (forbidden_agent) and roles without the right', async () => {
    const t = await enqueue({ queue: 'auth', name: 'x' }, agent.w3!);
    const other = (await lease('auth', 'w1', { agentId: 'w2' })) as unknown as Reply;
    expectProblem(other, 403, 'forbidden_agent');
    expect(other.body.errors).toEqual([{ path: '/agentId', message: expect.any(String) }]);
    expectProblem(
      await call(srv, 'POST', '/api/v1/tasks', viewer, { queue: 'auth', name: 'x' }),
      403,
      'forbidden',
    );
    expectProblem(
      await call(srv, 'POST', '/api/v1/queues/auth/lease', operator, { agentId: 'w1' }),
      403,
      'forbidden',
    );
    expectProblem(
      await call(srv, 'POST', '/api/v1/queues/auth/lease', viewer, { agentId: 'w1' }),
      403,
      'forbidden',
    );
    // A supervisor or admin must say for which agent.
    const nameless = await call(srv, 'POST', '/api/v1/queues/auth/lease', supervisor, {});
    expectProblem(nameless, 400, 'invalid_request');
    expect(nameless.body.errors).toEqual([{ path: '/agentId', message: expect.any(String) }]);
    const viaSupervisor = await call<QueueTask>(
      srv,
      'POST',
      '/api/v1/queues/auth/lease',
      supervisor,
      {
        agentId: 'w1',
      },
    );
    expect(viaSupervisor.body).toMatchObject({ id: t.id, agentId: 'w1' });
    expectProblem(
      await call(srv, 'POST', `/api/v1/tasks/${t.id}/complete`, agent.w2!, { agentId: 'w1' }),
      403,
      'forbidden_agent',
    );
    // The supervisor reports for the agent; admin too, for whoever holds it.
    expect(
      (await call(srv, 'POST', `/api/v1/tasks/${t.id}/progress`, supervisor, { agentId: 'w1' }))
        .status,
    ).toBe(200);
    expect(
      (await call(srv, 'POST', `/api/v1/tasks/${t.id}/complete`, admin, {})).body,
    ).toMatchObject({
      state: 'completed',
      agentId: 'w1',
    });
    // Agents may read the queues' depth (a producer paces itself by it), not their tasks.
    expect((await call(srv, 'GET', '/api/v1/queues', agent.w1!)).status).toBe(200);
    expectProblem(await call(srv, 'GET', '/api/v1/queues/auth/tasks', agent.w1!), 403, 'forbidden');
  });

  it('names every bad field of a request, and refuses bodies over the event limit with 413', async () => {
    const bad = await call(srv, 'POST', '/api/v1/tasks', operator, {
      queue: 'has space',
      name: '',
      priority: 'high',
      extra: 1,
    });
    expectProblem(bad, 400, 'invalid_request');
    expect((bad.body.errors as Array<{ path: string }>).map((e) => e.path).sort()).toEqual([
      '',
      '/name',
      '/priority',
      '/queue',
    ]);
    const missing = await call(srv, 'POST', '/api/v1/tasks', operator, { name: 'x' });
    expect(missing.body.errors).toEqual([{ path: '/queue', message: 'is required (string)' }]);
    const lease0 = (await lease('q', 'w1', { leaseMs: 0 })) as unknown as Reply;
    expectProblem(lease0, 400, 'invalid_request');
    expect(lease0.body.errors).toEqual([{ path: '/leaseMs', message: expect.any(String) }]);
    const tooLong = (await lease('q', 'w1', { leaseMs: 25 * 3_600_000 })) as unknown as Reply;
    expect(tooLong.body.errors).toEqual([
      { path: '/leaseMs', message: expect.stringContaining('max_lease') },
    ]);
    expectProblem(
      await call(srv, 'POST', '/api/v1/queues/bad%20name/lease', agent.w1!, {}),
      400,
      'invalid_request',
    );
    const deep = await call(srv, 'POST', '/api/v1/tasks', operator, {
      queue: 'q',
      name: 'deep',
      payload: JSON.parse('['.repeat(40) + ']'.repeat(40)) as unknown,
    });
    expectProblem(deep, 400, 'invalid_request');
    expect(deep.body.errors).toEqual([
      { path: '/payload', message: expect.stringContaining('deeper') },
    ]);
    const big = await call(srv, 'POST', '/api/v1/tasks', operator, {
      queue: 'q',
      name: 'big',
      payload: 'x'.repeat(64 * 1024),
    });
    expectProblem(big, 413, 'payload_too_large');
    expectProblem(
      await call(srv, 'POST', '/api/v1/tasks', operator, '{"queue":'),
      400,
      'invalid_json',
    );
  });

  it('reports depth, leases and processing rate per queue, in the dashboard and in /metrics', async () => {
    for (let i = 0; i < 3; i++) await enqueue({ queue: 'stats', name: `s${i}` });
    const retried = await enqueue({ queue: 'stats-retry', name: 'r' });
    await lease('stats-retry', 'w3');
    await call(srv, 'POST', `/api/v1/tasks/${retried.id}/fail`, agent.w3!, {
      error: 'e',
      retry: true,
    });
    const first = (await lease('stats', 'w1')).body;
    await lease('stats', 'w1');
    await call(srv, 'POST', `/api/v1/tasks/${first.id}/complete`, agent.w1!, {});
    const queues = await call<{ queues: Array<Json> }>(srv, 'GET', '/api/v1/queues', viewer);
    expect(queues.body.queues.find((q) => q.queue === 'stats')).toEqual({
      queue: 'stats',
      depth: 1,
      leased: 1,
      completed: 1,
      failed: 0,
      ratePerMin: 0.2,
    });
    const dash = await call<{
      queue: { depth: number; leased: number; ratePerMin: number; queues: Json[] };
    }>(srv, 'GET', '/api/v1/dashboard', viewer);
    expect(dash.body.queue.queues).toEqual(queues.body.queues);
    expect(dash.body.queue.depth).toBe(
      queues.body.queues.reduce((n, q) => n + (q.depth as number), 0),
    );
    const res = await fetch(`${srv.url}/metrics`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    const text = await res.text();
    expect(text).toMatch(/^warden_queue_depth\{queue="stats"\} 1$/m);
    expect(text).toMatch(/^warden_queue_leased\{queue="stats"\} 1$/m);
    expect(text).toMatch(/^warden_queue_tasks_total\{queue="stats",outcome="completed"\} 1$/m);
    expect(text).toMatch(/^warden_queue_enqueued_total\{queue="stats"\} 3$/m);
    expect(text).toMatch(/^warden_queue_tasks_total\{queue="stats-retry",outcome="retried"\} 1$/m);
    const bin = process.env.PROMTOOL ?? '/usr/bin/promtool';
    if (!existsSync(bin)) {
      if (process.env.CI) expect.fail(`${bin} is missing; CI must install promtool`);
      console.warn(`skipping the promtool check: ${bin} is not installed`);
      return;
    }
    const own = text
      .split('\n')
      .filter((l) => /^(# (HELP|TYPE) )?warden_queue_/.test(l))
      .join('\n');
    // The queue's families alone, and the whole output with them.
    for (const input of [own + '\n', text]) {
      const r = spawnSync(bin, ['check', 'metrics'], { input, encoding: 'utf8' });
      expect({ status: r.status, output: `${r.stdout}${r.stderr}` }).toEqual({
        status: 0,
        output: '',
      });
    }
  });
});

describe('task queue recovery', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function hub(config: Json = {}, clock?: HandClock) {
    const s = await startTestServer({ config, ...(clock ? { clock } : {}) });
    cleanups.push(() => s.close());
    return {
      s,
      admin: await s.token('admin'),
      supervisor: await s.token('agent', '*'),
    };
  }

  it('a lease that expires on the clock goes back to its queue, and another agent takes it', async () => {
    const clock = new HandClock();
    const { s, admin, supervisor } = await hub({ queue: { sweep_interval: '20ms' } }, clock);
    const t = (
      await call<QueueTask>(s, 'POST', '/api/v1/tasks', admin, { queue: 'exp', name: 'x' })
    ).body;
    const held = await call<QueueTask>(s, 'POST', '/api/v1/queues/exp/lease', supervisor, {
      agentId: 'slow',
      leaseMs: 1000,
    });
    expect(held.body.leaseExpiresAt).toBe(clock.t + 1000);
    // Real time passes, the hub's clock does not: the lease holds.
    await new Promise((r) => setTimeout(r, 100));
    expect((await call<QueueTask>(s, 'GET', `/api/v1/tasks/${t.id}`, admin)).body.state).toBe(
      'leased',
    );
    clock.advance(1000);
    const back = await eventually(async () => {
      const r = await call<QueueTask>(s, 'GET', `/api/v1/tasks/${t.id}`, admin);
      return r.body.state === 'queued' ? r.body : undefined;
    });
    expect(back).toMatchObject({
      attempts: 1,
      agentId: null,
      error: expect.stringContaining('expired'),
    });
    // The event goes through the ingest path: it may be stored a moment after the task row.
    const ended = await eventually(async () =>
      (await events(s, admin, 'task_completed')).find((e) => e.data.taskId === t.id),
    );
    expect(ended).toMatchObject({ agentId: 'slow', data: { success: false, requeued: true } });
    const taken = await call<QueueTask>(s, 'POST', '/api/v1/queues/exp/lease', supervisor, {
      agentId: 'fast',
    });
    expect(taken.body).toMatchObject({ id: t.id, agentId: 'fast', leases: 2 });
    // The old holder's late report is refused.
    expectProblem(
      await call(s, 'POST', `/api/v1/tasks/${t.id}/complete`, supervisor, { agentId: 'slow' }),
      409,
      'conflict',
    );
  });

  it('a lease request ends the expired leases of its queue itself, before any sweep', async () => {
    const clock = new HandClock();
    const { s, admin, supervisor } = await hub({ queue: { sweep_interval: '1h' } }, clock);
    const t = (
      await call<QueueTask>(s, 'POST', '/api/v1/tasks', admin, { queue: 'exp2', name: 'x' })
    ).body;
    await call(s, 'POST', '/api/v1/queues/exp2/lease', supervisor, { agentId: 'a', leaseMs: 500 });
    expect(
      (await call(s, 'POST', '/api/v1/queues/exp2/lease', supervisor, { agentId: 'b' })).status,
    ).toBe(204);
    clock.advance(500);
    const r = await call<QueueTask>(s, 'POST', '/api/v1/queues/exp2/lease', supervisor, {
      agentId: 'b',
    });
    expect(r.body).toMatchObject({ id: t.id, agentId: 'b', attempts: 1 });
  });

  const failures: Array<[string, Json]> = [
    [
      'agent_lifecycle circuit_open',
      { type: 'agent_lifecycle', data: { action: 'circuit_open', reason: '6 restarts in 10m' } },
    ],
    [
      'agent_lifecycle exited',
      {
        type: 'agent_lifecycle',
        data: { action: 'exited', exitCode: 1, reason: 'exited with code 1' },
      },
    ],
    [
      'health_changed task_stale critical',
      {
        type: 'health_changed',
        data: {
          check: 'task_stale',
          health: 'critical',
          previous: 'healthy',
          reason: 'no progress for 180s',
        },
      },
    ],
    ['agent_status_update failed', { type: 'agent_status_update', data: { status: 'failed' } }],
  ];

  it.each(failures)(
    'an event %s for the leasing agent returns its tasks at once, and a healthy agent takes them',
    async (_name, failure) => {
      const { s, admin, supervisor } = await hub();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push(
          (
            await call<QueueTask>(s, 'POST', '/api/v1/tasks', admin, {
              queue: 'work',
              name: `j${i}`,
            })
          ).body.id,
        );
      }
      const sick: string[] = [];
      for (let i = 0; i < 2; i++) {
        sick.push(
          (
            await call<QueueTask>(s, 'POST', '/api/v1/queues/work/lease', supervisor, {
              agentId: 'sick',
              leaseMs: 3_600_000,
            })
          ).body.id,
        );
      }
      const healthyFirst = (
        await call<QueueTask>(s, 'POST', '/api/v1/queues/work/lease', supervisor, {
          agentId: 'healthy',
        })
      ).body.id;
      // The supervisor reports the failure through the normal publish path.
      const pub = await call(s, 'POST', '/api/v1/events', supervisor, {
        id: `fail-${Math.random()}`,
        agentId: 'sick',
        ...failure,
      });
      expect(pub.status, JSON.stringify(pub.body)).toBe(200);
      await eventually(async () => {
        const r = await call<{ tasks: QueueTask[] }>(
          s,
          'GET',
          '/api/v1/queues/work/tasks?state=queued',
          admin,
        );
        return r.body.tasks.length === 2 ? true : undefined;
      });
      // The sick agent's leases ended in the task projection too (their events follow the
      // release at once).
      await eventually(async () => {
        const r = await call<{ tasks: Json[] }>(s, 'GET', '/api/v1/tasks?agentId=sick', admin);
        return r.body.tasks.length === 2 && r.body.tasks.every((t) => t.state === 'failed')
          ? true
          : undefined;
      });
      expect((await call(s, 'GET', '/api/v1/agents/sick', admin)).body).toMatchObject({
        agent: { openTasks: 0 },
      });
      const taken: string[] = [];
      for (let i = 0; i < 2; i++) {
        taken.push(
          (
            await call<QueueTask>(s, 'POST', '/api/v1/queues/work/lease', supervisor, {
              agentId: 'healthy',
            })
          ).body.id,
        );
      }
      expect(taken.sort()).toEqual(sick.sort());
      expect(
        (await call<QueueTask>(s, 'GET', `/api/v1/tasks/${healthyFirst}`, admin)).body,
      ).toMatchObject({
        state: 'leased',
        agentId: 'healthy',
      });
      // Their tasks now run on the healthy agent in the task projection too.
      const theirs = await call<{ tasks: Json[] }>(s, 'GET', '/api/v1/tasks?agentId=sick', admin);
      expect(theirs.body.tasks).toEqual([]);
      expect(ids).toEqual(expect.arrayContaining([...sick, healthyFirst]));
    },
  );

  it('a warning about a stale task, or a healthy agent event, releases nothing', async () => {
    const { s, admin, supervisor } = await hub();
    await call(s, 'POST', '/api/v1/tasks', admin, { queue: 'calm', name: 'x' });
    await call(s, 'POST', '/api/v1/queues/calm/lease', supervisor, { agentId: 'ok' });
    for (const [i, ev] of [
      {
        type: 'health_changed',
        data: { check: 'task_stale', health: 'warning', previous: 'healthy', reason: 'slow' },
      },
      {
        type: 'health_changed',
        data: { check: 'cpu', health: 'critical', previous: 'healthy', reason: 'hot' },
      },
      { type: 'agent_lifecycle', data: { action: 'started', pid: 42, reason: 'start' } },
      { type: 'agent_status_update', data: { status: 'busy' } },
    ].entries()) {
      expect(
        (
          await call(s, 'POST', '/api/v1/events', supervisor, {
            id: `calm-${i}`,
            agentId: 'ok',
            ...ev,
          })
        ).status,
      ).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 200));
    const r = await call<{ tasks: QueueTask[] }>(s, 'GET', '/api/v1/queues/calm/tasks', admin);
    expect(r.body.tasks.map((t) => t.state)).toEqual(['leased']);
  });
});
