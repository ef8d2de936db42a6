import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameReader, startTestServer, type TestServer } from './test-support/test-server.js';

/*
 * The system event types of SPEC §12 through the real hub: validated with paths, stored and
 * read by type, projected onto the agents they concern, streamed by `logs:<id>`, and
 * counted by warden_agent_restarts_total.
 */

type Json = Record<string, unknown>;

let srv: TestServer;
let supervisor: string;
let admin: string;

beforeAll(async () => {
  srv = await startTestServer();
  supervisor = await srv.token('agent', '*');
  admin = await srv.token('admin');
});
afterAll(async () => {
  await srv.close();
});

async function call(
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<{ status: number; body: Json; text: string }> {
  const res = await fetch(srv.url + path, {
    method: opts.body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${opts.token ?? admin}`,
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: Json = {};
  try {
    body = JSON.parse(text) as Json;
  } catch {
    // /metrics is text.
  }
  return { status: res.status, body, text };
}

let n = 0;
const ev = (agentId: string, type: string, data: Json) => ({
  id: `sys-${++n}`,
  type,
  agentId,
  data,
});

describe('system event types over HTTP', () => {
  it('stores every type for the agents a supervisor token speaks for', async () => {
    const events = [
      ev('sys-w1', 'agent_status_update', { status: 'running' }),
      ev('sys-w1', 'agent_lifecycle', { action: 'started', pid: 100, reason: 'started' }),
      ev('sys-w1', 'agent_lifecycle', {
        action: 'exited',
        pid: 100,
        exitCode: 1,
        signal: null,
        reason: 'exited with code 1',
      }),
      ev('sys-w1', 'agent_lifecycle', {
        action: 'restart_scheduled',
        attempt: 1,
        delayMs: 1000,
        reason: 'restart 1 in 1.0s',
      }),
      ev('sys-w1', 'agent_lifecycle', {
        action: 'started',
        pid: 101,
        attempt: 1,
        reason: 'started (restart 1)',
      }),
      ev('sys-w1', 'agent_lifecycle', {
        action: 'started',
        pid: 102,
        attempt: 2,
        reason: 'started (restart 2)',
      }),
      ev('sys-w1', 'health_changed', {
        check: 'memory',
        health: 'critical',
        previous: 'healthy',
        reason: 'tree RSS 1.2 GiB over 1 GiB for 2m',
      }),
      ev('sys-w1', 'log', { level: 'info', message: 'listening', stream: 'stdout' }),
      ev('sys-w1', 'task_progress', { taskId: 'sys-t1', percent: 30, message: 'epoch 3/10' }),
      ev('sys-w2', 'log', { level: 'error', message: 'Traceback …', stream: 'stderr' }),
      ev('sys-w2', 'escalation', { reason: 'circuit open after 5 restarts', severity: 'critical' }),
    ];
    const r = await call('/api/v1/events', { token: supervisor, body: { events } });
    expect(r.status).toBe(200);
    expect((r.body.acks as unknown[]).length).toBe(events.length);

    const lifecycle = await call('/api/v1/events?type=agent_lifecycle&agentId=sys-w1');
    expect((lifecycle.body.events as Json[]).map((e) => (e.data as Json).action)).toEqual([
      'started',
      'exited',
      'restart_scheduled',
      'started',
      'started',
    ]);
    const escalations = await call('/api/v1/events?type=escalation');
    expect(escalations.body.events).toMatchObject([
      { agentId: 'sys-w2', data: { severity: 'critical' } },
    ]);
  });

  it("raises an agent's health by a failing check and shows the check's reason", async () => {
    const w1 = await call('/api/v1/agents/sys-w1');
    expect(w1.body.agent).toMatchObject({
      status: 'running',
      health: 'critical',
      checks: { memory: { health: 'critical', reason: 'tree RSS 1.2 GiB over 1 GiB for 2m' } },
    });
    // Known from system events alone.
    const w2 = await call('/api/v1/agents/sys-w2');
    expect(w2.body.agent).toMatchObject({ agentId: 'sys-w2', status: null, health: 'unknown' });
    const dash = await call('/api/v1/dashboard');
    expect((dash.body.fleet as Json).health).toBe('critical');
  });

  it('counts restarts as started events with attempt ≥ 1, not plans or first starts', async () => {
    const r = await call('/metrics');
    expect(r.text).toContain('# TYPE warden_agent_restarts_total counter');
    expect(r.text).toMatch(/^warden_agent_restarts_total\{agent="sys-w1"\} 2$/m);
    expect(r.text).not.toMatch(/^warden_agent_restarts_total\{agent="sys-w2"\}/m);
  });

  it('refuses a bad lifecycle event naming each field, and stores nothing of the batch', async () => {
    const head = srv.warden.ctx.store.head();
    const r = await call('/api/v1/events', {
      token: supervisor,
      body: {
        events: [
          ev('sys-w1', 'log', { level: 'info', message: 'fine' }),
          ev('sys-w1', 'agent_lifecycle', { action: 'crashed', pid: 7 }),
          ev('sys-w1', 'task_progress', { taskId: 't', percent: 120 }),
        ],
      },
    });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('invalid_event');
    expect((r.body.errors as Json[]).map((e) => e.path)).toEqual([
      '/events/1/data/action',
      '/events/1/data/reason',
      '/events/2/data/percent',
    ]);
    expect(srv.warden.ctx.store.head()).toBe(head);
  });

  it('refuses a system event for another agent from an agent token (forbidden_agent)', async () => {
    const own = await srv.token('agent', 'sys-w1');
    const r = await call('/api/v1/events', {
      token: own,
      body: ev('sys-w2', 'log', { level: 'info', message: 'not mine' }),
    });
    expect({ status: r.status, code: r.body.code }).toEqual({
      status: 403,
      code: 'forbidden_agent',
    });
  });
});

describe('system event types over the WebSocket', () => {
  it('names the bad field of a published health_changed in the error frame', async () => {
    const ws = await srv.connect(supervisor);
    const frames = new FrameReader(ws);
    ws.send(
      JSON.stringify({
        op: 'publish',
        ref: 'bad',
        event: ev('sys-w1', 'health_changed', {
          check: 'disk',
          health: 'warning',
          previous: 'healthy',
          reason: 'full',
        }),
      }),
    );
    expect(await frames.next((f) => f.ref === 'bad')).toMatchObject({
      op: 'error',
      code: 'invalid_event',
      details: [{ path: '/event/data/check' }],
    });
    ws.close();
  });

  it("streams logs:<id>: that agent's log events only, replayed from since, then live", async () => {
    const viewer = await srv.token('viewer');
    const ws = await srv.connect(viewer);
    const frames = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'subscribe', ref: 'l', topics: ['logs:sys-w1'], since: 0 }));
    const subscribed = await frames.next((f) => f.ref === 'l');
    expect(subscribed).toMatchObject({ op: 'subscribed', topics: ['logs:sys-w1'] });
    const live = [
      ev('sys-w2', 'log', { level: 'info', message: 'other agent' }),
      ev('sys-w1', 'agent_lifecycle', { action: 'stopped', reason: 'stopped by operator' }),
      ev('sys-w1', 'log', { level: 'warn', message: 'live line', stream: 'stderr' }),
    ];
    expect(
      (await call('/api/v1/events', { token: supervisor, body: { events: live } })).status,
    ).toBe(200);
    await frames.next((f) => f.op === 'event' && (f.event as Json).id === live[2]!.id);
    const got = frames.frames.filter((f) => f.op === 'event').map((f) => f.event as Json);
    expect(got.map((e) => [e.agentId, e.type, (e.data as Json).message])).toEqual([
      ['sys-w1', 'log', 'listening'],
      ['sys-w1', 'log', 'live line'],
    ]);
    ws.close();
  });
});
