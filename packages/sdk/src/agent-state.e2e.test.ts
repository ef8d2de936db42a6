import { afterEach, describe, expect, it } from 'vitest';
import {
  startTestServer,
  type TestServer,
} from '../../../apps/server/src/test-support/test-server.js';
import { AgentStateClient, connect, type WardenClient } from './index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(): Promise<TestServer> {
  const s = await startTestServer();
  cleanups.push(() => s.close());
  return s;
}

async function agent(s: TestServer, id: string): Promise<WardenClient> {
  const c = connect({ url: s.url, token: await s.token('agent', id), agentId: id });
  cleanups.push(() => c.close({ timeoutMs: 0 }));
  return c;
}

describe('saveState / loadState against a real server', () => {
  it('loads nothing before the first save, then what was saved last', async () => {
    const s = await server();
    const c = await agent(s, 'st-1');
    expect(await c.loadState()).toBeUndefined();
    const rec = await c.saveState({ step: 3, seen: ['a', 'b'] });
    expect(rec).toEqual({
      agentId: 'st-1',
      state: { step: 3, seen: ['a', 'b'] },
      updatedAt: expect.any(Number),
    });
    await c.saveState({ step: 4 });
    expect(await c.loadState<{ step: number }>()).toEqual({ step: 4 });
  });

  it('resumes where it was after the agent is killed mid-count', async () => {
    const s = await server();
    /** One run of a counting agent: counts from its saved state, saving after every step. */
    const run = async (c: WardenClient, killAt: number | undefined, log: number[]) => {
      let count = (await c.loadState<{ count: number }>())?.count ?? 0;
      while (count < 10) {
        count++;
        log.push(count);
        await c.saveState({ count });
        // Killed: the run ends here, between two steps, without any shutdown of its own.
        if (count === killAt) throw new Error('killed');
      }
    };
    const log: number[] = [];
    const first = await agent(s, 'counter');
    await expect(run(first, 6, log)).rejects.toThrow('killed');
    // The next run is a new process: a new client, nothing kept in memory.
    const second = await agent(s, 'counter');
    await run(second, undefined, log);
    expect(log).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await second.loadState()).toEqual({ count: 10 });
  });

  it('refuses, with clear codes, a state too large, one JSON cannot hold, or another agent', async () => {
    const s = await server();
    const c = await agent(s, 'st-2');
    await expect(c.saveState({ blob: 'x'.repeat(70_000) })).rejects.toMatchObject({
      code: 'payload_too_large',
    });
    await expect(c.saveState(undefined)).rejects.toMatchObject({ code: 'invalid_request' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(c.saveState(cyclic)).rejects.toMatchObject({ code: 'invalid_request' });
    const other = new AgentStateClient({
      url: s.url,
      token: await s.token('agent', 'st-2'),
      agentId: 'st-3',
    });
    await expect(other.save({ a: 1 })).rejects.toMatchObject({
      code: 'forbidden_agent',
      status: 403,
    });
    await expect(other.load()).rejects.toMatchObject({ code: 'forbidden_agent' });
    expect(await c.loadState()).toBeUndefined();
  });

  it('lets a supervisor token keep the state of the agents it names, and clear it', async () => {
    const s = await server();
    const sup = new AgentStateClient({ url: s.url, token: await s.token('agent', '*') });
    await sup.save({ restarts: 2 }, { agentId: 'managed-1' });
    expect(await sup.load({ agentId: 'managed-1' })).toEqual({ restarts: 2 });
    expect(await sup.record({ agentId: 'managed-1' })).toMatchObject({ agentId: 'managed-1' });
    expect(await sup.clear({ agentId: 'managed-1' })).toBe(true);
    expect(await sup.clear({ agentId: 'managed-1' })).toBe(false);
    await expect(sup.load()).rejects.toMatchObject({ code: 'no_agent_id' });
  });
});
