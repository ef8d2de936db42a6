import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/test-server.js';

// The agents list and page carry each agent's process and current task (issue 6 point 3).
let s: TestServer;
let sup: string;
let admin: string;

async function publish(events: unknown[]): Promise<void> {
  const r = await fetch(`${s.url}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sup}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  expect(r.status).toBe(200);
}

async function get(path: string): Promise<Record<string, unknown>> {
  const r = await fetch(s.url + path, { headers: { authorization: `Bearer ${admin}` } });
  return (await r.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  s = await startTestServer();
  sup = await s.token('agent', '*');
  admin = await s.token('admin');
  // Stored before the restart below: the view reads them back from the log.
  await publish([
    {
      id: 'l1',
      type: 'agent_lifecycle',
      agentId: 'w1',
      ts: 1000,
      data: { action: 'started', pid: 42, reason: 'started' },
    },
    {
      id: 't1',
      type: 'task_assigned',
      agentId: 'w1',
      data: { taskId: 'job-1', name: 'index batch 1' },
    },
  ]);
});
afterAll(async () => {
  await s?.close();
});

describe('agent lifecycle in the read API', () => {
  it('shows the process, restarts and the current task, live and after events arrive', async () => {
    await publish([
      {
        id: 'l2',
        type: 'agent_lifecycle',
        agentId: 'w1',
        data: { action: 'exited', exitCode: 1, signal: null, reason: 'exited with code 1' },
      },
      {
        id: 'l3',
        type: 'agent_lifecycle',
        agentId: 'w1',
        data: { action: 'restart_scheduled', attempt: 1, delayMs: 30000, reason: 'crashed' },
      },
    ]);
    await expect
      .poll(async () => ((await get('/api/v1/agents')).agents as Array<Record<string, unknown>>)[0])
      .toMatchObject({
        agentId: 'w1',
        lifecycle: {
          pid: null,
          restarts: 0,
          attempt: 1,
          lastAction: 'restart_scheduled',
          circuit: 'closed',
        },
        currentTask: { taskId: 'job-1', name: 'index batch 1' },
      });
    await publish([
      {
        id: 'l4',
        type: 'agent_lifecycle',
        agentId: 'w1',
        data: { action: 'started', pid: 43, attempt: 1, reason: 'restarted' },
      },
      { id: 't2', type: 'task_completed', agentId: 'w1', data: { taskId: 'job-1', success: true } },
    ]);
    await expect
      .poll(async () => (await get('/api/v1/agents/w1')).agent)
      .toMatchObject({
        lifecycle: { pid: 43, restarts: 1, nextRestartAt: null },
        currentTask: null,
      });
  });

  it('an agent no supervisor runs has no lifecycle', async () => {
    await publish([
      { id: 'x1', type: 'agent_status_update', agentId: 'self-reporter', data: { status: 'idle' } },
    ]);
    await expect
      .poll(async () => (await get('/api/v1/agents/self-reporter')).agent)
      .toMatchObject({ lifecycle: null });
  });
});
