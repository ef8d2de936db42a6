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

  it('an agent that only sends heartbeats after it spoke stays responsive; one that goes silent becomes unresponsive', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const agent = (id: string, heartbeatMs: number) => ({
      id,
      command: ['node', 'heartbeat-only.mjs'],
      cwd: agentsDir,
      env: { HEARTBEAT_MS: String(heartbeatMs) },
      health: { heartbeat_timeout: '7s' },
    });
    await fleet(srv, [agent('beating', 500), agent('silent', 0)]);
    // The hub's agent list (read every 5 s) carries the heartbeats the supervisor cannot see.
    const unresponsive = await until(
      'the silent agent unresponsive',
      async () =>
        (await events(srv, 'type=health_changed')).find(
          (e) => (e.data as { check: string }).check === 'heartbeat',
        ),
      20_000,
    );
    expect(unresponsive.agentId).toBe('silent');
    await new Promise((r) => setTimeout(r, 4000));
    const heartbeatVerdicts = (await events(srv, 'type=health_changed')).filter(
      (e) => (e.data as { check: string }).check === 'heartbeat',
    );
    expect(new Set(heartbeatVerdicts.map((e) => e.agentId))).toEqual(new Set(['silent']));
  });

  it('a supervisor started again against the same hub does not take its own or its predecessor’s reports for the agent speaking', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const sleeper = {
      id: 'sleeper',
      command: ['sleep', '1000'],
      health: { heartbeat_timeout: '2s' },
    };
    const first = await fleet(srv, [sleeper]);
    await until(
      'reported',
      async () => (await events(srv, 'agentId=sleeper&type=metric_update')).length > 0,
    );
    await first.close();
    fleets.splice(fleets.indexOf(first), 1);
    // A daemon restart: the same agent under a new supervisor, whose agent-list polls (every
    // 5 s) see a lastSeen its predecessor's reports moved.
    const second = await fleet(srv, [sleeper]);
    await until('running again', () => second.supervisor.list()[0]!.pid);
    await new Promise((r) => setTimeout(r, 8000));
    const verdicts = (await events(srv, 'agentId=sleeper&type=health_changed')).filter(
      (e) => (e.data as { check: string }).check === 'heartbeat',
    );
    expect(verdicts).toEqual([]);
    expect(second.supervisor.list()[0]!.status).toBe('running');
  }, 30_000);

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

  it('an agent killed mid-count resumes from its saved state (loadState after the restart)', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const f = await fleet(srv, [
      {
        id: 'counter',
        command: ['node', 'counter.mjs'],
        cwd: agentsDir,
        restart: { initial_delay: '50ms', jitter: 0 },
      },
    ]);
    const admin = await srv.token('admin');
    const saved = async () => {
      const r = await fetch(`${srv.url}/api/v1/agents/counter/state`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      return r.status === 200 ? ((await r.json()) as { state: { count: number } }).state.count : 0;
    };
    await until('counted to 10', async () => ((await saved()) >= 10 ? true : undefined));
    const pid = f.supervisor.list()[0]!.pid!;
    process.kill(pid, 'SIGKILL');
    const atKill = await saved();
    await until('restarted', () => {
      const p = f.supervisor.list()[0]!.pid;
      return p !== undefined && p !== pid ? p : undefined;
    });
    const resumed = await until('resuming line', async () =>
      (await events(srv, 'agentId=counter&type=log'))
        .map((e) => (e.data as { message: string }).message)
        .filter((m) => m.startsWith('resuming at '))
        .at(1),
    );
    // It went on from where it was (at most the one save in flight at the kill ahead).
    const from = Number(resumed.slice('resuming at '.length));
    expect(from).toBeGreaterThanOrEqual(atKill);
    expect(from).toBeLessThanOrEqual(atKill + 1);
    await until('counting on', async () => ((await saved()) > from + 3 ? true : undefined));
  });

  it('when an agent dies holding a lease and its circuit opens, its task goes back to the queue and a healthy agent completes it', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const admin = await srv.token('admin');
    const post = (path: string, body: unknown) =>
      fetch(`${srv.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const created = (await (
      await post('/api/v1/tasks', { queue: 'jobs', name: 'build #1' })
    ).json()) as {
      id: string;
    };
    const f = await fleet(srv, [
      {
        id: 'flaky',
        command: ['node', 'queue-worker.mjs', 'flaky'],
        cwd: agentsDir,
        queue: 'jobs',
        restart: { max_restarts: 0 },
      },
      {
        id: 'steady',
        command: ['node', 'queue-worker.mjs', 'good'],
        cwd: agentsDir,
        queue: 'jobs',
        autostart: false,
      },
    ]);
    const task = async () =>
      (await (
        await fetch(`${srv.url}/api/v1/tasks/${created.id}`, {
          headers: { authorization: `Bearer ${admin}` },
        })
      ).json()) as { state: string; agentId?: string; attempts: number };
    await until('circuit open for flaky', async () =>
      (await events(srv, 'agentId=flaky&type=agent_lifecycle')).find(
        (e) => (e.data as { action: string }).action === 'circuit_open',
      ),
    );
    // The hub gave the task back when flaky's circuit opened.
    await until('task back in the queue', async () =>
      (await task()).state === 'queued' ? true : undefined,
    );
    await f.supervisor.command({ id: 'c', agentId: 'steady', action: 'start' });
    const done = await until('completed by steady', async () => {
      const t = await task();
      return t.state === 'completed' ? t : undefined;
    });
    expect(done.agentId).toBe('steady');
  });
});
