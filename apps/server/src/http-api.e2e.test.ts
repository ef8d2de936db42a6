import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_STATUSES, statusHealth } from '@warden/protocol';
import { FrameReader, startTestServer, type TestServer } from './test-support/test-server.js';

/*
 * The read API as projections of the event log (SPEC §3, §4, §8, §12 "Status → health"):
 * events go in over the real HTTP and WebSocket interfaces, and every read route is checked
 * against what was sent.
 */

type Json = Record<string, unknown>;

interface Reply<T = Json> {
  status: number;
  contentType: string;
  body: T;
}

let srv: TestServer;
let admin: string;
let viewer: string;

async function get<T = Json>(path: string): Promise<Reply<T>> {
  const res = await fetch(srv.url + path, { headers: { authorization: `Bearer ${viewer}` } });
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: (await res.json()) as T,
  };
}

async function send<T = Json>(method: string, path: string, body: unknown, token = admin) {
  const res = await fetch(srv.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

interface Ack {
  id: string;
  seq: number;
  duplicate?: boolean;
}

async function publish(events: Json | Json[]): Promise<Ack[]> {
  const r = await send<{ acks: Ack[] }>(
    'POST',
    '/api/v1/events',
    Array.isArray(events) ? { events } : events,
  );
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.acks;
}

interface StoredEvent {
  seq: number;
  receivedAt: number;
  id: string;
  type: string;
  agentId: string;
  ts: number;
  correlationId?: string;
  data: Json;
}

interface Agent {
  agentId: string;
  status: string | null;
  statusMessage: string | null;
  health: string;
  metrics: Record<string, number>;
  metricsAt: number | null;
  openTasks: number;
  unresolvedErrors: number;
  firstSeen: number;
  lastSeen: number;
}

interface ErrorRecord {
  id: number;
  eventId: string;
  agentId: string;
  errorType: string;
  message: string;
  taskId: string | null;
  fatal: boolean;
  resolved: boolean;
  resolvedAt: number | null;
}

interface Task {
  taskId: string;
  agentId: string;
  name: string | null;
  queue: string | null;
  priority: number | null;
  state: string;
  assignedAt: number | null;
  completedAt: number | null;
  success: boolean | null;
  durationMs: number | null;
  error: string | null;
}

const ev = (id: string, type: string, agentId: string, data: Json, extra: Json = {}) => ({
  id,
  type,
  agentId,
  data,
  ...extra,
});

async function agents(): Promise<Map<string, Agent>> {
  const r = await get<{ agents: Agent[] }>('/api/v1/agents');
  expect(r.status).toBe(200);
  return new Map(r.body.agents.map((a) => [a.agentId, a]));
}

async function allEvents(): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let since = 0;
  for (;;) {
    const r = await get<{ events: StoredEvent[]; next: number | null }>(
      `/api/v1/events?since=${since}&limit=1000`,
    );
    out.push(...r.body.events);
    if (r.body.next === null) return out;
    since = r.body.next;
  }
}

const HOUR = 3_600_000;
let t0 = 0;
let t1 = 0;

beforeAll(async () => {
  srv = await startTestServer();
  admin = await srv.token('admin');
  viewer = await srv.token('viewer');
  t0 = Date.now();
  await publish([
    // alpha: running, metrics (one sample older than an hour), two tasks, one error.
    ev('a-status', 'agent_status_update', 'alpha', { status: 'running', message: 'working' }),
    ev(
      'a-metric-old',
      'metric_update',
      'alpha',
      { metrics: { cpu_percent: 99, queue_depth: 7 } },
      { ts: t0 - 2 * HOUR },
    ),
    ev('a-metric-1', 'metric_update', 'alpha', {
      metrics: { cpu_percent: 15, memory_mb: 234, response_time_ms: 120 },
    }),
    ev('a-task-1', 'task_assigned', 'alpha', {
      taskId: 't-a1',
      name: 'build',
      queue: 'q1',
      priority: 2,
    }),
    ev('a-task-2', 'task_assigned', 'alpha', { taskId: 't-a2' }),
    ev('a-done-1', 'task_completed', 'alpha', { taskId: 't-a1', success: true, durationMs: 5300 }),
    ev('a-error-1', 'error_occurred', 'alpha', {
      errorType: 'TypeError',
      message: 'x is undefined',
      taskId: 't-a2',
    }),
    ev('a-metric-2', 'metric_update', 'alpha', { metrics: { cpu_percent: 20 } }),
    // beta: failed, one failed task, two errors.
    ev('b-status-1', 'agent_status_update', 'beta', { status: 'running' }),
    ev('b-task-1', 'task_assigned', 'beta', { taskId: 't-b1' }),
    ev('b-done-1', 'task_completed', 'beta', { taskId: 't-b1', success: false, error: 'OOM' }),
    ev('b-error-1', 'error_occurred', 'beta', {
      errorType: 'ValueError',
      message: 'bad value',
      fatal: true,
    }),
    ev('b-error-2', 'error_occurred', 'beta', { errorType: 'KeyError', message: 'missing key' }),
    ev('b-status-2', 'agent_status_update', 'beta', { status: 'failed', message: 'crashed' }),
    // eps: never reported a status.
    ev('e-metric', 'metric_update', 'eps', { metrics: { tokens: 12 } }),
  ]);
  // One agent per status, for the status → health table.
  await publish(
    AGENT_STATUSES.map((s) => ev(`st-${s}`, 'agent_status_update', `st-${s}`, { status: s })),
  );
  t1 = Date.now();
});

afterAll(async () => {
  await srv?.close();
});

describe('GET /api/v1/agents', () => {
  it('lists each agent with status, health, merged latest metrics, counts and last seen', async () => {
    const all = await agents();
    const alpha = all.get('alpha')!;
    expect(alpha).toMatchObject({
      agentId: 'alpha',
      status: 'running',
      statusMessage: 'working',
      health: 'healthy',
      // Later samples override earlier ones name by name; names not sent again are kept.
      metrics: { cpu_percent: 20, memory_mb: 234, response_time_ms: 120, queue_depth: 7 },
      openTasks: 1,
      unresolvedErrors: 1,
    });
    expect(alpha.lastSeen).toBeGreaterThanOrEqual(t0);
    expect(alpha.lastSeen).toBeLessThanOrEqual(t1);
    expect(alpha.firstSeen).toBeLessThanOrEqual(alpha.lastSeen);

    expect(all.get('beta')).toMatchObject({
      status: 'failed',
      statusMessage: 'crashed',
      health: 'critical',
      openTasks: 0,
      unresolvedErrors: 2,
    });
    expect(all.get('eps')).toMatchObject({
      status: null,
      health: 'unknown',
      metrics: { tokens: 12 },
      openTasks: 0,
      unresolvedErrors: 0,
    });
  });

  it('derives health from status as SPEC §12 says', async () => {
    const all = await agents();
    const expected: Record<string, string> = {
      running: 'healthy',
      busy: 'healthy',
      idle: 'healthy',
      starting: 'healthy',
      stopping: 'healthy',
      needs_input: 'warning',
      rate_limited: 'warning',
      unresponsive: 'warning',
      restarting: 'warning',
      failed: 'critical',
      stopped: 'unknown',
    };
    expect(Object.keys(expected).sort()).toEqual([...AGENT_STATUSES].sort());
    for (const s of AGENT_STATUSES) {
      expect({ s, health: all.get(`st-${s}`)?.health }).toEqual({ s, health: expected[s] });
      expect(statusHealth(s)).toBe(expected[s]);
    }
  });

  it('moves lastSeen forward on a WebSocket heartbeat (which is not stored)', async () => {
    const before = (await agents()).get('st-idle')!.lastSeen;
    const head = srv.warden.ctx.store.head();
    await new Promise((r) => setTimeout(r, 20));
    const ws = await srv.connect(await srv.token('agent', 'st-idle'));
    const reader = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'heartbeat', agentId: 'st-idle' }));
    ws.send(JSON.stringify({ op: 'ping', ref: 'after' }));
    await reader.next((f) => f.op === 'pong');
    ws.close();
    const after = (await agents()).get('st-idle')!.lastSeen;
    expect(after).toBeGreaterThan(before);
    expect(srv.warden.ctx.store.head()).toBe(head);
  });
});

describe('GET /api/v1/agents/:id', () => {
  it('shows the summary, recent events, recent errors, tasks and the last hour of metrics', async () => {
    const r = await get<{
      agent: Agent;
      recentEvents: StoredEvent[];
      recentErrors: ErrorRecord[];
      tasks: Task[];
      metrics: Array<{ ts: number; seq: number; metrics: Record<string, number> }>;
    }>('/api/v1/agents/alpha');
    expect(r.status).toBe(200);
    const { agent, recentEvents, recentErrors, tasks, metrics } = r.body;
    expect(agent).toMatchObject({ agentId: 'alpha', status: 'running', health: 'healthy' });
    // Newest first, only this agent's.
    expect(recentEvents.map((e) => e.id)).toEqual([
      'a-metric-2',
      'a-error-1',
      'a-done-1',
      'a-task-2',
      'a-task-1',
      'a-metric-1',
      'a-metric-old',
      'a-status',
    ]);
    expect(recentErrors).toEqual([
      expect.objectContaining({
        eventId: 'a-error-1',
        agentId: 'alpha',
        errorType: 'TypeError',
        message: 'x is undefined',
        taskId: 't-a2',
        fatal: false,
        resolved: false,
      }),
    ]);
    expect(tasks.map((t) => [t.taskId, t.state]).sort()).toEqual([
      ['t-a1', 'completed'],
      ['t-a2', 'running'],
    ]);
    // The sample from two hours ago is not in the last hour.
    expect(metrics.map((m) => m.metrics)).toEqual([
      { cpu_percent: 15, memory_mb: 234, response_time_ms: 120 },
      { cpu_percent: 20 },
    ]);
    expect(metrics[0]!.seq).toBeLessThan(metrics[1]!.seq);
  });

  it('answers an unknown agent with a 404 not_found problem', async () => {
    const r = await get('/api/v1/agents/nobody-here');
    expect(r.status).toBe(404);
    expect(r.contentType).toMatch(/^application\/problem\+json/);
    expect(r.body).toMatchObject({ status: 404, code: 'not_found', detail: expect.any(String) });
  });
});

describe('GET /api/v1/dashboard', () => {
  it('summarises the fleet by status and health, with errors by agent and recent events', async () => {
    const r = await get<{
      fleet: {
        health: string;
        agents: number;
        byStatus: Record<string, number>;
        byHealth: Record<string, number>;
      };
      system: { head: number };
      recentEvents: StoredEvent[];
      unresolvedErrorsByAgent: Record<string, number>;
    }>('/api/v1/dashboard');
    expect(r.status).toBe(200);
    const all = [...(await agents()).values()];
    const { fleet } = r.body;
    expect(fleet.agents).toBe(all.length);
    const byStatus: Record<string, number> = {};
    const byHealth: Record<string, number> = { healthy: 0, warning: 0, critical: 0, unknown: 0 };
    for (const a of all) {
      byStatus[a.status ?? 'unknown'] = (byStatus[a.status ?? 'unknown'] ?? 0) + 1;
      byHealth[a.health] = (byHealth[a.health] ?? 0) + 1;
    }
    expect(fleet.byStatus).toEqual(byStatus);
    expect(fleet.byHealth).toEqual(byHealth);
    expect(fleet.byStatus.failed).toBe(2); // beta and st-failed
    // Fleet health is the worst agent's.
    expect(fleet.health).toBe('critical');
    expect(r.body.system.head).toBe(srv.warden.ctx.store.head());
    expect(r.body.unresolvedErrorsByAgent).toMatchObject({ alpha: 1, beta: 2 });
    const seqs = r.body.recentEvents.map((e) => e.seq);
    expect(seqs.length).toBeGreaterThan(0);
    expect(seqs[0]).toBe(srv.warden.ctx.store.head());
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);
  });
});

describe('errors', () => {
  it('filters by agent and resolution, and PATCH resolved:true lowers the unresolved count', async () => {
    const open = await get<{ errors: ErrorRecord[] }>('/api/v1/errors?agentId=beta&resolved=false');
    expect(open.status).toBe(200);
    // Newest first.
    expect(open.body.errors.map((e) => e.eventId)).toEqual(['b-error-2', 'b-error-1']);
    expect(open.body.errors[1]).toMatchObject({ errorType: 'ValueError', fatal: true });

    const target = open.body.errors[1]!;
    const patched = await send<ErrorRecord>('PATCH', `/api/v1/errors/${target.id}`, {
      resolved: true,
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: target.id, resolved: true });
    expect(patched.body.resolvedAt).toEqual(expect.any(Number));

    const stillOpen = await get<{ errors: ErrorRecord[] }>(
      '/api/v1/errors?agentId=beta&resolved=false',
    );
    expect(stillOpen.body.errors.map((e) => e.eventId)).toEqual(['b-error-2']);
    const resolved = await get<{ errors: ErrorRecord[] }>(
      '/api/v1/errors?agentId=beta&resolved=true',
    );
    expect(resolved.body.errors.map((e) => e.eventId)).toEqual(['b-error-1']);
    expect((await agents()).get('beta')!.unresolvedErrors).toBe(1);
    const dash = await get<{ unresolvedErrorsByAgent: Record<string, number> }>(
      '/api/v1/dashboard',
    );
    expect(dash.body.unresolvedErrorsByAgent.beta).toBe(1);

    // Reopening counts it again.
    const reopened = await send<ErrorRecord>('PATCH', `/api/v1/errors/${target.id}`, {
      resolved: false,
    });
    expect(reopened.body).toMatchObject({ resolved: false, resolvedAt: null });
    expect((await agents()).get('beta')!.unresolvedErrors).toBe(2);

    const all = await get<{ errors: ErrorRecord[] }>('/api/v1/errors');
    expect(all.body.errors.map((e) => e.agentId).sort()).toEqual(['alpha', 'beta', 'beta']);
  });

  it('answers PATCH of an unknown error with 404 not_found', async () => {
    const r = await send('PATCH', '/api/v1/errors/999999', { resolved: true });
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ code: 'not_found' });
  });
});

describe('GET /api/v1/tasks', () => {
  it('derives tasks from task events, filtered by agent and state', async () => {
    const alpha = await get<{ tasks: Task[] }>('/api/v1/tasks?agentId=alpha');
    expect(alpha.body.tasks.map((t) => t.taskId).sort()).toEqual(['t-a1', 't-a2']);
    const done = await get<{ tasks: Task[] }>('/api/v1/tasks?agentId=alpha&state=completed');
    expect(done.body.tasks).toEqual([
      expect.objectContaining({
        taskId: 't-a1',
        agentId: 'alpha',
        name: 'build',
        queue: 'q1',
        priority: 2,
        state: 'completed',
        success: true,
        durationMs: 5300,
        assignedAt: expect.any(Number),
        completedAt: expect.any(Number),
      }),
    ]);
    const running = await get<{ tasks: Task[] }>('/api/v1/tasks?agentId=alpha&state=running');
    expect(running.body.tasks).toEqual([
      expect.objectContaining({ taskId: 't-a2', state: 'running', completedAt: null }),
    ]);
    const failed = await get<{ tasks: Task[] }>('/api/v1/tasks?state=failed');
    expect(failed.body.tasks).toEqual([
      expect.objectContaining({ taskId: 't-b1', agentId: 'beta', success: false, error: 'OOM' }),
    ]);
  });

  it("does not let one agent's task events change another agent's task", async () => {
    await publish([
      ev('own-assign', 'task_assigned', 'owner', { taskId: 'job-1', name: 'mine' }),
      ev('other-assign', 'task_assigned', 'intruder', { taskId: 'job-2' }),
    ]);
    // An agent reports a result for a task id that belongs to another agent (the same
    // counter-style ids are common): the owner's task must stay as it was.
    const intruder = await srv.token('agent', 'intruder');
    const r = await send(
      'POST',
      '/api/v1/events',
      ev('intruder-done', 'task_completed', 'intruder', { taskId: 'job-1', success: false }),
      intruder,
    );
    expect(r.status).toBe(200);
    const owner = await get<{ tasks: Task[] }>('/api/v1/tasks?agentId=owner');
    expect(owner.body.tasks).toEqual([
      expect.objectContaining({ taskId: 'job-1', agentId: 'owner', state: 'running' }),
    ]);
    expect((await agents()).get('owner')!.openTasks).toBe(1);
  });
});

describe('GET /api/v1/events', () => {
  let start = 0;
  let ids: string[] = [];
  beforeAll(async () => {
    start = srv.warden.ctx.store.head();
    const batch = Array.from({ length: 130 }, (_, i) =>
      i % 3 === 0
        ? ev(`pg-${i}`, 'metric_update', i % 2 ? 'pg-a' : 'pg-b', { metrics: { n: i } })
        : ev(`pg-${i}`, 'agent_status_update', i % 2 ? 'pg-a' : 'pg-b', { status: 'busy' }),
    );
    ids = batch.map((e) => e.id);
    const acks = await publish(batch);
    expect(acks.map((a) => a.seq)).toEqual(batch.map((_, i) => start + i + 1));
  });

  const page = (q: string) =>
    get<{ events: StoredEvent[]; next: number | null }>(`/api/v1/events?${q}`);

  it('pages with since and limit until next is null', async () => {
    const seen: StoredEvent[] = [];
    let since = start;
    let pages = 0;
    for (;;) {
      const r = await page(`since=${since}&limit=7`);
      expect(r.status).toBe(200);
      expect(r.body.events.length).toBeLessThanOrEqual(7);
      seen.push(...r.body.events);
      pages++;
      if (r.body.next === null) break;
      expect(r.body.next).toBe(r.body.events[r.body.events.length - 1]!.seq);
      since = r.body.next;
    }
    expect(pages).toBe(Math.ceil(130 / 7));
    expect(seen.map((e) => e.id)).toEqual(ids);
    expect(seen.map((e) => e.seq)).toEqual(ids.map((_, i) => start + i + 1));
  });

  it('gives next: null on a page that ends exactly at the last event', async () => {
    const exact = await page(`since=${start}&limit=130`);
    expect(exact.body.events).toHaveLength(130);
    expect(exact.body.next).toBeNull();
    const short = await page(`since=${start}&limit=129`);
    expect(short.body.next).toBe(start + 129);
    const last = await page(`since=${short.body.next}&limit=129`);
    expect(last.body.events.map((e) => e.id)).toEqual(['pg-129']);
    expect(last.body.next).toBeNull();
    const past = await page(`since=${start + 130}`);
    expect(past.body).toEqual({ events: [], next: null });
  });

  it('returns at most 100 events by default', async () => {
    const r = await page(`since=${start}`);
    expect(r.body.events).toHaveLength(100);
    expect(r.body.next).toBe(start + 100);
  });

  it('filters by agentId and type, and pages through the filtered set', async () => {
    const a = await page(`since=${start}&agentId=pg-a&limit=1000`);
    expect(a.body.events.every((e) => e.agentId === 'pg-a')).toBe(true);
    expect(a.body.events).toHaveLength(65);
    const m = await page(`since=${start}&type=metric_update&limit=1000`);
    expect(m.body.events.every((e) => e.type === 'metric_update')).toBe(true);
    expect(m.body.events).toHaveLength(44);
    const both = await page(`since=${start}&agentId=pg-a&type=metric_update&limit=1000`);
    const expected = ids.filter((_, i) => i % 3 === 0 && i % 2 === 1);
    expect(both.body.events.map((e) => e.id)).toEqual(expected);
    // Pages of a filtered query: next is the last seq returned.
    const first = await page(`since=${start}&agentId=pg-a&type=metric_update&limit=5`);
    expect(first.body.events.map((e) => e.id)).toEqual(expected.slice(0, 5));
    expect(first.body.next).toBe(first.body.events[4]!.seq);
    const second = await page(
      `since=${first.body.next}&agentId=pg-a&type=metric_update&limit=1000`,
    );
    expect(second.body.events.map((e) => e.id)).toEqual(expected.slice(5));
    expect(second.body.next).toBeNull();
  });
});

describe('ingest semantics', () => {
  it('acks a repeated id as a duplicate with the original seq; the first one stored wins', async () => {
    const [first] = await publish(
      ev('dup-1', 'error_occurred', 'dup-agent', { errorType: 'First', message: 'one' }),
    );
    expect(first).toEqual({ id: 'dup-1', seq: expect.any(Number) });
    const [again] = await publish(
      ev('dup-1', 'error_occurred', 'dup-agent', { errorType: 'Second', message: 'two' }),
    );
    expect(again).toEqual({ id: 'dup-1', seq: first!.seq, duplicate: true });
    // Over the WebSocket too.
    const ws = await srv.connect(admin);
    const reader = new FrameReader(ws);
    ws.send(
      JSON.stringify({
        op: 'publish',
        ref: 'd',
        event: ev('dup-1', 'task_assigned', 'other', { taskId: 'x' }),
      }),
    );
    expect(await reader.next((f) => f.ref === 'd')).toEqual({
      op: 'ack',
      ref: 'd',
      acks: [{ id: 'dup-1', seq: first!.seq, duplicate: true }],
    });
    ws.close();
    const stored = (await allEvents()).filter((e) => e.id === 'dup-1');
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ seq: first!.seq, data: { errorType: 'First' } });
    // Projections count it once.
    expect((await agents()).get('dup-agent')!.unresolvedErrors).toBe(1);
    expect((await agents()).has('other')).toBe(false);
  });

  it('acks a repeated id within one batch as a duplicate of the first', async () => {
    const acks = await publish([
      ev('dup-b1', 'task_assigned', 'dup-batch', { taskId: 'first' }),
      ev('dup-b2', 'task_assigned', 'dup-batch', { taskId: 'second' }),
      ev('dup-b1', 'task_assigned', 'dup-batch', { taskId: 'third' }),
      ev('dup-1', 'task_assigned', 'dup-batch', { taskId: 'fourth' }),
    ]);
    expect(acks[1]!.seq).toBe(acks[0]!.seq + 1);
    expect(acks).toEqual([
      { id: 'dup-b1', seq: acks[0]!.seq },
      { id: 'dup-b2', seq: acks[0]!.seq + 1 },
      { id: 'dup-b1', seq: acks[0]!.seq, duplicate: true },
      { id: 'dup-1', seq: expect.any(Number), duplicate: true },
    ]);
    const tasks = await get<{ tasks: Task[] }>('/api/v1/tasks?agentId=dup-batch');
    expect(tasks.body.tasks.map((t) => t.taskId).sort()).toEqual(['first', 'second']);
  });

  it('normalises ts to epoch milliseconds and fills it with the receive time when absent', async () => {
    const iso = '2025-01-02T03:04:05.678Z';
    const ms = Date.parse(iso);
    const before = Date.now();
    const acks = await publish([
      ev('ts-iso', 'task_assigned', 'ts-agent', { taskId: 'a' }, { ts: iso }),
      ev(
        'ts-offset',
        'task_assigned',
        'ts-agent',
        { taskId: 'b' },
        { ts: '2025-01-02T05:04:05.678+02:00' },
      ),
      ev('ts-date', 'task_assigned', 'ts-agent', { taskId: 'c' }, { ts: '2025-01-02' }),
      ev('ts-frac', 'task_assigned', 'ts-agent', { taskId: 'd' }, { ts: ms + 0.4 }),
      ev('ts-num', 'task_assigned', 'ts-agent', { taskId: 'e' }, { ts: ms }),
      ev('ts-none', 'task_assigned', 'ts-agent', { taskId: 'f' }),
    ]);
    const after = Date.now();
    const r = await get<{ events: StoredEvent[] }>(
      `/api/v1/events?agentId=ts-agent&since=${acks[0]!.seq - 1}`,
    );
    const byId = new Map(r.body.events.map((e) => [e.id, e]));
    expect(byId.get('ts-iso')!.ts).toBe(ms);
    expect(byId.get('ts-offset')!.ts).toBe(ms);
    expect(byId.get('ts-date')!.ts).toBe(Date.UTC(2025, 0, 2));
    expect(byId.get('ts-frac')!.ts).toBe(ms);
    expect(byId.get('ts-num')!.ts).toBe(ms);
    const none = byId.get('ts-none')!;
    expect(none.ts).toBeGreaterThanOrEqual(before);
    expect(none.ts).toBeLessThanOrEqual(after);
    for (const e of r.body.events) {
      expect(Number.isInteger(e.ts)).toBe(true);
      expect(Number.isInteger(e.receivedAt)).toBe(true);
      expect(e.receivedAt).toBeGreaterThanOrEqual(before);
      expect(e.receivedAt).toBeLessThanOrEqual(after);
    }
    // The task projection carries the normalised time too.
    const tasks = await get<{ tasks: Task[] }>('/api/v1/tasks?agentId=ts-agent');
    expect(tasks.body.tasks.find((t) => t.taskId === 'a')!.assignedAt).toBe(ms);
  });
});

// ---------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    expect(m, `sample line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = re.exec(m![2] ?? ''); l; l = re.exec(m![2] ?? '')) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    samples.push({ name: m![1]!, labels, value: Number(m![3]) });
  }
  return { samples, types };
}

describe('GET /metrics', () => {
  let text = '';
  let samples: Sample[] = [];
  let types = new Map<string, string>();
  const value = (name: string, labels: Record<string, string>) =>
    samples.find(
      (s) =>
        s.name === name &&
        Object.entries(labels).every(([k, v]) => s.labels[k] === v) &&
        Object.keys(s.labels).length === Object.keys(labels).length,
    )?.value;

  beforeAll(async () => {
    // Label values that need escaping in the exposition format.
    await publish([
      ev('weird-error', 'error_occurred', 'weird', {
        errorType: 'Quote"Back\\slash\nNewline ünï',
        message: 'm',
      }),
      ev('weird-status', 'agent_status_update', 'weird', { status: 'busy' }),
    ]);
    const open = await srv.connect(viewer);
    const res = await fetch(srv.url + '/metrics', {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    text = await res.text();
    ({ samples, types } = parseExposition(text));
    expect(value('warden_ws_connections', {})).toBeGreaterThanOrEqual(1);
    open.close();
  });

  it('exposes the SPEC §8 names the hub knows, with their types', () => {
    expect(Object.fromEntries([...types].filter(([n]) => n.startsWith('warden_')))).toMatchObject({
      warden_events_ingested_total: 'counter',
      warden_ws_connections: 'gauge',
      warden_agents: 'gauge',
      warden_agent_cpu_percent: 'gauge',
      warden_agent_memory_bytes: 'gauge',
      warden_agent_response_time_seconds: 'histogram',
      warden_tasks_completed_total: 'counter',
      warden_errors_total: 'counter',
    });
    // Node's default process metrics are there too.
    expect(types.has('process_cpu_user_seconds_total')).toBe(true);
  });

  it('counts ingested events by type, duplicates excluded', async () => {
    const byType = new Map<string, number>();
    for (const e of await allEvents()) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
    for (const [type, n] of byType) {
      expect({ type, n: value('warden_events_ingested_total', { type }) }).toEqual({ type, n });
    }
  });

  it('reports agents by status and the latest agent metrics', async () => {
    const all = [...(await agents()).values()];
    for (const s of [...AGENT_STATUSES, 'unknown']) {
      const n = all.filter((a) => (a.status ?? 'unknown') === s).length;
      expect({ s, n: value('warden_agents', { status: s }) }).toEqual({ s, n });
    }
    expect(value('warden_agent_cpu_percent', { agent: 'alpha' })).toBe(20);
    expect(value('warden_agent_memory_bytes', { agent: 'alpha' })).toBe(234 * 1024 * 1024);
    const h = 'warden_agent_response_time_seconds';
    expect(value(`${h}_count`, { agent: 'alpha' })).toBe(1);
    expect(value(`${h}_sum`, { agent: 'alpha' })).toBeCloseTo(0.12, 6);
    expect(value(`${h}_bucket`, { agent: 'alpha', le: '0.1' })).toBe(0);
    expect(value(`${h}_bucket`, { agent: 'alpha', le: '0.25' })).toBe(1);
    expect(value(`${h}_bucket`, { agent: 'alpha', le: '+Inf' })).toBe(1);
  });

  it('counts completed tasks by outcome and errors by type', () => {
    expect(value('warden_tasks_completed_total', { agent: 'alpha', outcome: 'success' })).toBe(1);
    expect(value('warden_tasks_completed_total', { agent: 'beta', outcome: 'failure' })).toBe(1);
    expect(value('warden_errors_total', { agent: 'beta', error_type: 'ValueError' })).toBe(1);
    expect(value('warden_errors_total', { agent: 'alpha', error_type: 'TypeError' })).toBe(1);
    // Counted once although dup-1 was sent three times.
    expect(value('warden_errors_total', { agent: 'dup-agent', error_type: 'First' })).toBe(1);
    expect(
      value('warden_errors_total', {
        agent: 'weird',
        error_type: 'Quote"Back\\slash\nNewline ünï',
      }),
    ).toBe(1);
  });

  /** Runs `promtool check metrics` on the text; undefined when promtool is not installed. */
  function promtool(input: string): { status: number | null; output: string } | undefined {
    const bin = '/usr/bin/promtool';
    if (!existsSync(bin)) {
      if (process.env.CI) expect.fail(`${bin} is missing; CI must install promtool`);
      console.warn(`skipping the promtool check: ${bin} is not installed`);
      return undefined;
    }
    const r = spawnSync(bin, ['check', 'metrics'], { input, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  it("passes promtool check metrics for the hub's own warden_* families", () => {
    const own = text
      .split('\n')
      .filter((l) => /^(# (HELP|TYPE) )?warden_/.test(l))
      .join('\n');
    expect(own).toContain('warden_errors_total');
    const r = promtool(own + '\n');
    if (r) expect(r).toEqual({ status: 0, output: '' });
  });

  it('passes promtool check metrics for the whole /metrics output', () => {
    const r = promtool(text);
    if (r) expect(r).toEqual({ status: 0, output: '' });
  });
});
