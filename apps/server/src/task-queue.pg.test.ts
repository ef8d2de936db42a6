import { afterAll, expect, it } from 'vitest';
import { TestSchemas } from './test-support/pg-schemas.js';
import type { QueueTask } from '@warden/protocol';
import { describeWithServices, needPostgres } from './test-support/service-gate.js';
import { startTestServer, type TestServer } from './test-support/test-server.js';

/*
 * The task queue and agent state of two hubs (replicas) on one PostgreSQL schema: leases from
 * both at once never share a task, a failure seen by one hub frees the tasks for the other,
 * and state saved through one is read through the other.
 */

const schemas = new TestSchemas('wqe');
const schema = schemas.name();
const servers: TestServer[] = [];

async function post<T>(s: TestServer, path: string, token: string, body: unknown) {
  const res = await fetch(s.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

describeWithServices('task queue on PostgreSQL replicas', [await needPostgres()], () => {
  afterAll(async () => {
    for (const s of servers) await s.close();
    await schemas.dropAll();
  });

  it('two hubs share one queue: no task leased twice, releases and state seen by both', async () => {
    const config = { server: { database_url: schemas.url(schema) } };
    const a = await startTestServer({ config });
    servers.push(a);
    const b = await startTestServer({ config });
    servers.push(b);
    const supA = await a.token('agent', '*');
    const supB = await b.token('agent', '*');
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const hub = i % 2 === 0 ? a : b;
      const r = await post<QueueTask>(hub, '/api/v1/tasks', await hub.token('operator'), {
        queue: 'shared',
        name: `n${i}`,
      });
      ids.add(r.body.id);
    }
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        post<QueueTask>(
          i % 2 === 0 ? a : b,
          '/api/v1/queues/shared/lease',
          i % 2 === 0 ? supA : supB,
          {
            agentId: `r-${i % 4}`,
          },
        ),
      ),
    );
    const got = replies.filter((r) => r.status === 200).map((r) => r.body);
    expect(got).toHaveLength(20);
    expect(new Set(got.map((t) => t.id))).toEqual(ids);

    // Agent r-0 fails; hub A sees it, and hub B leases its tasks at once.
    const held = got.filter((t) => t.agentId === 'r-0').map((t) => t.id);
    expect(held.length).toBeGreaterThan(0);
    expect(
      (
        await post(a, '/api/v1/events', supA, {
          id: 'r0-failed',
          type: 'agent_status_update',
          agentId: 'r-0',
          data: { status: 'failed' },
        })
      ).status,
    ).toBe(200);
    const retaken: string[] = [];
    const end = Date.now() + 5000;
    while (retaken.length < held.length && Date.now() < end) {
      const r = await post<QueueTask>(b, '/api/v1/queues/shared/lease', supB, { agentId: 'r-9' });
      if (r.status === 200) retaken.push(r.body.id);
      else await new Promise((res) => setTimeout(res, 20));
    }
    expect(retaken.sort()).toEqual(held.sort());

    const put = await fetch(`${a.url}/api/v1/agents/r-1/state`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${supA}`, 'content-type': 'application/json' },
      body: '{"resume":"here"}',
    });
    expect(put.status).toBe(200);
    const got2 = await fetch(`${b.url}/api/v1/agents/r-1/state`, {
      headers: { authorization: `Bearer ${supB}` },
    });
    expect(await got2.json()).toMatchObject({ state: { resume: 'here' } });
  });
});
