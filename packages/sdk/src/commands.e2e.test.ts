import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentCommand, StoredEvent } from '@warden/protocol';
import {
  startTestServer,
  type TestServer,
} from '../../../apps/server/src/test-support/test-server.js';
import { connect, type WardenClient } from './index.js';

/*
 * The SDK's side of the command channel (SPEC §12 "Commands") and the system event helpers,
 * against a real hub: onCommand subscribes to commands:<id> (or commands:*), is renewed after
 * the server drops the connection, and one supervisor connection reports for many agents.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fast = { reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, heartbeatMs: 0 };

function client(s: TestServer, token: string, agentId?: string, extra = {}): WardenClient {
  const c = connect({ url: s.url, token, ...(agentId ? { agentId } : {}), ...fast, ...extra });
  cleanups.push(() => c.close());
  return c;
}

/** A server on a temp data dir that can be stopped and started again on the same port. */
async function restartable(): Promise<{ s: () => TestServer; restart: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-sdk-cmd-'));
  let s = await startTestServer({ dataDir });
  const port = Number(new URL(s.url).port);
  cleanups.push(async () => {
    await s.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    s: () => s,
    async restart() {
      await s.close();
      s = await startTestServer({ dataDir, port });
    },
  };
}

const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** The hub knows this many connections that take commands. */
const routed = (s: TestServer, n: number) => waitFor(() => s.warden.ctx.hub.commands.size === n);

async function control(s: TestServer, agentId: string, action: string) {
  const token = await s.token('operator');
  const res = await fetch(`${s.url}/api/v1/agents/${agentId}/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('onCommand', () => {
  it("receives its own agent's commands, and again after the server dropped the connection", async () => {
    const srv = await restartable();
    const c = client(srv.s(), await srv.s().token('agent', 'w1'), 'w1');
    const got: AgentCommand[] = [];
    c.onCommand((cmd) => got.push(cmd));
    await routed(srv.s(), 1);
    const first = await control(srv.s(), 'w1', 'restart');
    expect(first.status).toBe(202);
    await waitFor(() => got.length === 1);
    expect(got[0]).toEqual(first.body);

    const drops: number[] = [];
    c.on('disconnected', (info) => drops.push(info.code));
    await srv.restart();
    await waitFor(() => drops.length > 0);
    // Renewed on the new connection, with no `since`: the next command arrives as well.
    await routed(srv.s(), 1);
    const second = await control(srv.s(), 'w1', 'stop');
    expect(second.status).toBe(202);
    await waitFor(() => got.length === 2);
    expect(got[1]).toEqual({ id: second.body.id, agentId: 'w1', action: 'stop' });
  });

  it('is renewed when the server closes the connection itself (token expired, 4401)', async () => {
    const srv = await restartable();
    const s = srv.s();
    let minted = 0;
    // The first token lives one second; the server then closes the socket with 4401.
    const token = () => s.token('agent', 'w1', minted++ === 0 ? 1000 : 3_600_000);
    const c = client(s, '', 'w1', { token });
    const drops: number[] = [];
    c.on('disconnected', (info) => drops.push(info.code));
    const got: AgentCommand[] = [];
    c.onCommand((cmd) => got.push(cmd));
    await routed(s, 1);
    await waitFor(() => drops.includes(4401));
    await waitFor(() => c.stats().connected && minted >= 2);
    await routed(s, 1);
    const r = await control(s, 'w1', 'start');
    expect(r.status).toBe(202);
    await waitFor(() => got.length === 1);
    expect(got[0]).toEqual(r.body);
  });

  it('prefers the supervisor that names the agent over the one that takes commands:*', async () => {
    const srv = await restartable();
    const token = await srv.s().token('agent', '*');
    const named: AgentCommand[] = [];
    const catchAll: AgentCommand[] = [];
    client(srv.s(), token).onCommand((cmd) => named.push(cmd), { agents: ['a', 'b'] });
    // A client whose agentId is `*` takes commands:* by default.
    client(srv.s(), token, '*').onCommand((cmd) => catchAll.push(cmd));
    await routed(srv.s(), 2);
    await control(srv.s(), 'a', 'start');
    await control(srv.s(), 'c', 'start');
    await control(srv.s(), 'b', 'restart');
    await waitFor(() => named.length === 2 && catchAll.length === 1);
    expect(named.map((c) => [c.agentId, c.action])).toEqual([
      ['a', 'start'],
      ['b', 'restart'],
    ]);
    expect(catchAll.map((c) => c.agentId)).toEqual(['c']);
  });

  it("reports an agent token's request for another agent's commands, and ends it", async () => {
    const srv = await restartable();
    const c = client(srv.s(), await srv.s().token('agent', 'w1'), 'w1');
    const errors: Array<{ code: string; message: string }> = [];
    c.on('error', (e) => errors.push(e as never));
    c.onCommand(() => undefined, { agents: ['w2'] });
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toMatchObject({
      code: 'forbidden_agent',
      message: expect.stringMatching(/subscription to commands:w2 refused and ended/),
    });
    expect((await control(srv.s(), 'w2', 'stop')).status).toBe(409);
  });

  it('stops taking commands once ended: the route answers 409 again', async () => {
    const srv = await restartable();
    const c = client(srv.s(), await srv.s().token('agent', 'w1'), 'w1');
    const end = c.onCommand(() => undefined);
    await routed(srv.s(), 1);
    end();
    await routed(srv.s(), 0);
    expect((await control(srv.s(), 'w1', 'start')).status).toBe(409);
  });

  it('reports a handler that throws or rejects through error, and keeps taking commands', async () => {
    const srv = await restartable();
    const c = client(srv.s(), await srv.s().token('agent', 'w1'), 'w1');
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    let calls = 0;
    c.onCommand(() => {
      calls++;
      throw new Error('sync failure');
    });
    c.onCommand(() => Promise.reject(new Error('async failure')));
    await routed(srv.s(), 1);
    await control(srv.s(), 'w1', 'start');
    await control(srv.s(), 'w1', 'stop');
    await waitFor(() => errors.length === 4);
    expect(calls).toBe(2);
    expect(errors.map((e) => e.message).sort()).toEqual([
      'async failure',
      'async failure',
      'sync failure',
      'sync failure',
    ]);
  });

  it('needs agents when the client has no agentId', async () => {
    const srv = await restartable();
    const c = client(srv.s(), await srv.s().token('admin'));
    expect(() => c.onCommand(() => undefined)).toThrow(/onCommand needs agents/);
    expect(() => c.onCommand(() => undefined, { agents: ['-bad'] })).toThrow(/agent id/);
  });
});

describe('system event helpers', () => {
  it('let one supervisor connection report for many agents, each event for the agent named', async () => {
    const srv = await restartable();
    const s = srv.s();
    const errors: Error[] = [];
    // agentId `*`: no heartbeat is sent for it (the server would refuse `*` as an agent id).
    const c = client(s, await s.token('agent', '*'), '*', { heartbeatMs: 20 });
    c.on('error', (e) => errors.push(e));
    await Promise.all([
      c.status('running', { agentId: 'w1', message: 'up' }),
      c.log('info', 'listening on :9000', { agentId: 'w1', stream: 'stdout' }),
      c.taskProgress('t-1', { agentId: 'w2', percent: 40, message: 'epoch 4/10' }),
      c.lifecycle(
        { action: 'started', pid: 4242, attempt: 1, reason: 'started (restart 1)' },
        { agentId: 'w1' },
      ),
      c.healthChanged(
        { check: 'heartbeat', health: 'warning', previous: 'unknown', reason: '3 misses' },
        { agentId: 'w2' },
      ),
      c.escalation({ reason: 'circuit open', severity: 'critical' }, { agentId: 'w2' }),
      c.metrics({ cpu_percent: 12 }, { agentId: 'w1' }),
      c.taskAssigned('t-1', { agentId: 'w2', queue: 'q' }),
      c.taskCompleted('t-1', { agentId: 'w2', success: true }),
      c.error({ errorType: 'E', message: 'boom' }, { agentId: 'w1', fatal: false }),
    ]);
    const token = await s.token('viewer');
    const res = await fetch(`${s.url}/api/v1/events?limit=100`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const events = ((await res.json()) as { events: StoredEvent[] }).events;
    expect(events.map((e) => [e.type, e.agentId]).sort()).toEqual(
      [
        ['agent_status_update', 'w1'],
        ['log', 'w1'],
        ['task_progress', 'w2'],
        ['agent_lifecycle', 'w1'],
        ['health_changed', 'w2'],
        ['escalation', 'w2'],
        ['metric_update', 'w1'],
        ['task_assigned', 'w2'],
        ['task_completed', 'w2'],
        ['error_occurred', 'w1'],
      ].sort(),
    );
    // The override names the event's agent; it is not part of the data.
    for (const e of events) expect(Object.keys(e.data)).not.toContain('agentId');
    expect(events.find((e) => e.type === 'log')!.data).toEqual({
      level: 'info',
      message: 'listening on :9000',
      stream: 'stdout',
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(errors).toEqual([]);
  });

  it("default to the client's agentId and refuse a bad event at once, naming the field", async () => {
    const srv = await restartable();
    const s = srv.s();
    const c = client(s, await s.token('agent', 'w9'), 'w9');
    const ack = await c.log('warn', 'disk 91% full');
    expect(ack.seq).toBeGreaterThan(0);
    expect((await s.warden.ctx.store.readEvents({ since: 0, limit: 1 }))[0]).toMatchObject({
      agentId: 'w9',
      type: 'log',
    });
    await expect(c.lifecycle({ action: 'exploded', reason: '' } as never)).rejects.toMatchObject({
      code: 'invalid_event',
      details: [{ path: '/data/action' }, { path: '/data/reason' }],
    });
    await expect(c.taskProgress('t', { percent: 101 })).rejects.toMatchObject({
      code: 'invalid_event',
      details: [{ path: '/data/percent' }],
    });
  });
});
