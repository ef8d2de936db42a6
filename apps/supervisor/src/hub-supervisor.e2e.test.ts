import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import { startTestServer, type TestServer } from '../../server/src/test-support/test-server.js';
import { startHubSupervisor, type HubSupervisor } from './hub-supervisor.js';
import { AgentsConfigSchema, MonitoringConfigSchema, resolveAgents } from './supervisor-config.js';
import { silentLog } from './supervisor-reporter.js';

/**
 * The supervisor as a client of a real hub: what it learns is stored as events, commands
 * reach it through the control routes, and its agents get their own tokens and report through
 * the SDK.
 */

const agentsDir = fileURLToPath(new URL('./test-support/agents/', import.meta.url));
const servers: TestServer[] = [];
const fleets: HubSupervisor[] = [];

afterEach(async () => {
  for (const f of fleets.splice(0)) await f.close();
  for (const s of servers.splice(0)) await s.close();
});

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function events(srv: TestServer, query: string): Promise<StoredEvent[]> {
  const token = await srv.token('admin');
  const res = await fetch(`${srv.url}/api/v1/events?limit=1000&${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return ((await res.json()) as { events: StoredEvent[] }).events;
}

async function fleet(srv: TestServer, agents: unknown[]) {
  const f = startHubSupervisor({
    url: srv.url,
    token: await srv.token('agent', '*'),
    agents: resolveAgents(
      AgentsConfigSchema.parse(agents),
      MonitoringConfigSchema.parse({ check_interval: '200ms' }),
    ),
    log: silentLog,
    checkIntervalMs: 200,
  });
  fleets.push(f);
  return f;
}

describe('supervisor against a real hub', () => {
  it('agents get their own token and report through the SDK; lifecycle, status and output are stored', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const f = await fleet(srv, [{ id: 'chatty', command: ['node', 'chatty.mjs'], cwd: agentsDir }]);
    // The agent's own events (its status through the SDK, with its own token).
    await until('agent status busy from the agent', async () =>
      (await events(srv, 'agentId=chatty&type=agent_status_update')).find(
        (e) => (e.data as { status: string }).status === 'busy',
      ),
    );
    const lifecycle = await events(srv, 'agentId=chatty&type=agent_lifecycle');
    expect(lifecycle[0]!.data).toMatchObject({
      action: 'started',
      pid: f.supervisor.list()[0]!.pid,
    });
    const logs = await until('output lines', async () => {
      const l = await events(srv, 'agentId=chatty&type=log');
      return l.length >= 2 ? l : undefined;
    });
    expect(logs[0]!.data).toMatchObject({ level: 'info', stream: 'stdout', message: 'tick 1' });
    await until(
      'tasks completed',
      async () => (await events(srv, 'agentId=chatty&type=task_completed')).length > 0,
    );
  });

  it('POST /api/v1/agents/:id/restart reaches the supervisor: a new pid, the outcome as lifecycle events', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const f = await fleet(srv, [{ id: 'sleeper', command: ['sleep', '1000'] }]);
    const first = await until('started', () => f.supervisor.list()[0]!.pid);
    const operator = await srv.token('operator');
    // The command subscription may still be on its way: 409 until the supervisor is connected.
    const res = await until('202', async () => {
      const r = await fetch(`${srv.url}/api/v1/agents/sleeper/restart`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}` },
      });
      return r.status === 202 ? r : undefined;
    });
    const body = (await res.json()) as { id: string; agentId: string; action: string };
    expect(body).toMatchObject({ agentId: 'sleeper', action: 'restart' });
    const second = await until('new pid', () => {
      const p = f.supervisor.list()[0]!.pid;
      return p !== undefined && p !== first ? p : undefined;
    });
    const actions = await until('lifecycle stored', async () => {
      const l = (await events(srv, 'agentId=sleeper&type=agent_lifecycle')).map(
        (e) => e.data as { action: string; pid?: number },
      );
      return l.length >= 3 ? l : undefined;
    });
    expect(actions.map((a) => a.action)).toEqual(['started', 'exited', 'started']);
    expect(actions[2]!.pid).toBe(second);
    // A viewer may not act.
    const viewer = await srv.token('viewer');
    const denied = await fetch(`${srv.url}/api/v1/agents/sleeper/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(denied.status).toBe(403);
    // The hub's agent view shows what the supervisor said.
    const agent = (await (
      await fetch(`${srv.url}/api/v1/agents/sleeper`, {
        headers: { authorization: `Bearer ${operator}` },
      })
    ).json()) as { agent: { status: string } };
    expect(agent.agent.status).toBe('running');
  });
});
