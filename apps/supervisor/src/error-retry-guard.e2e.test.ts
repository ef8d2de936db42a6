import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import { startTestServer, type TestServer } from '../../server/src/test-support/test-server.js';
import { startHubSupervisor, type HubSupervisor } from './hub-supervisor.js';
import { AgentsConfigSchema, MonitoringConfigSchema, resolveAgents } from './supervisor-config.js';
import { silentLog } from './supervisor-reporter.js';

/*
 * The hub's retry policies in the supervisor's restart decisions (issue 5 point 4), with real
 * processes: a run that ends with an error a `retry: false` policy names is not restarted.
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
  const res = await fetch(`${srv.url}/api/v1/events?limit=1000&${query}`, {
    headers: { authorization: `Bearer ${await srv.token('admin')}` },
  });
  return ((await res.json()) as { events: StoredEvent[] }).events;
}

async function hub(): Promise<TestServer> {
  const srv = await startTestServer({
    config: {
      errors: {
        retry: [
          { name: 'bad-key', match: { type: 'AuthenticationError' }, retry: false, escalate: true },
          { name: 'flaky', match: { message: 'upstream \\d+ gone' }, retry: true, max_attempts: 3 },
        ],
      },
    },
  });
  servers.push(srv);
  return srv;
}

async function fleet(srv: TestServer, id: string, env: Record<string, string>) {
  const f = startHubSupervisor({
    url: srv.url,
    token: await srv.token('agent', '*'),
    agents: resolveAgents(
      AgentsConfigSchema.parse([
        {
          id,
          command: ['node', 'fatal-error.mjs'],
          cwd: agentsDir,
          env,
          restart: { policy: 'always', initial_delay: '300ms', multiplier: 1, max_restarts: 20 },
        },
      ]),
      MonitoringConfigSchema.parse({ check_interval: '200ms' }),
    ),
    log: silentLog,
    checkIntervalMs: 200,
  });
  fleets.push(f);
  return f;
}

const starts = async (srv: TestServer, id: string) =>
  (await events(srv, `agentId=${id}&type=agent_lifecycle`)).filter(
    (e) => (e.data as { action: string }).action === 'started',
  ).length;

describe('retry policies in restart decisions', () => {
  it('an agent that reports a fatal error of a retry: false pattern is left failed, with an escalation', async () => {
    const srv = await hub();
    const f = await fleet(srv, 'rp-fatal', {});
    const stopped = await until('the stop naming the policy', async () =>
      (await events(srv, 'agentId=rp-fatal&type=agent_lifecycle')).find(
        (e) => (e.data as { action: string }).action === 'stopped',
      ),
    );
    expect((stopped.data as { reason: string }).reason).toMatch(/retry policy config:bad-key/);
    expect(f.supervisor.list()[0]).toMatchObject({ status: 'failed' });
    const esc = await until(
      'the escalation',
      async () => (await events(srv, 'agentId=rp-fatal&type=escalation'))[0],
    );
    expect(esc.data).toMatchObject({ severity: 'critical' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await starts(srv, 'rp-fatal')).toBe(1);
  });

  it('an uncaught exception on stderr is matched too, and max_attempts caps the runs it ends', async () => {
    const srv = await hub();
    const f = await fleet(srv, 'rp-crash', {
      CRASH: '1',
      FATAL_TYPE: 'Error',
      FATAL_MESSAGE: 'upstream 503 gone',
    });
    const stopped = await until('the stop after max_attempts', async () =>
      (await events(srv, 'agentId=rp-crash&type=agent_lifecycle')).find(
        (e) => (e.data as { action: string }).action === 'stopped',
      ),
    );
    expect((stopped.data as { reason: string }).reason).toMatch(
      /ended 3 runs, max_attempts 3 of retry policy config:flaky/,
    );
    expect(await starts(srv, 'rp-crash')).toBe(3);
    expect(f.supervisor.list()[0]).toMatchObject({ status: 'failed' });
  });

  it('an error no policy names follows the restart policy alone', async () => {
    const srv = await hub();
    await fleet(srv, 'rp-other', { FATAL_TYPE: 'TypeError', FATAL_MESSAGE: 'x is undefined' });
    await until('three starts', async () => (await starts(srv, 'rp-other')) >= 3);
  });
});
