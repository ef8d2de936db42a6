import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestServer } from '../test-support/test-server.js';

/*
 * The projection as the SQLite writer thread runs it (the built worker: `npm test` builds
 * first), across a restart of the hub on the same data dir.
 */

const dataDir = mkdtempSync(join(tmpdir(), 'warden-eg-thread-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('error groups written by the SQLite writer thread', () => {
  it('counts every error of concurrent batches once, and keeps groups and states across a restart', async () => {
    let s = await startTestServer({ dataDir });
    const admin = await s.token('admin');
    const post = (url: string, method: string, body: unknown) =>
      fetch(url, {
        method,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const batch = (b: number) => ({
      events: Array.from({ length: 20 }, (_, i) => ({
        id: `th-${b}-${i}`,
        type: 'error_occurred',
        agentId: `th-agent-${i % 3}`,
        data: { errorType: 'QuotaError', message: `quota exceeded for job ${b * 100 + i}` },
      })),
    });
    const replies = await Promise.all(
      [0, 1, 2, 3, 4].map((b) => post(`${s.url}/api/v1/events`, 'POST', batch(b))),
    );
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const list = async () =>
      (await (
        await fetch(`${s.url}/api/v1/error-groups?q=QuotaError`, {
          headers: { authorization: `Bearer ${await s.token('viewer')}` },
        })
      ).json()) as { groups: { id: string; count: number; agentCount: number; state: string }[] };
    const before = await list();
    expect(before.groups).toHaveLength(1);
    expect(before.groups[0]).toMatchObject({ count: 100, agentCount: 3, state: 'unresolved' });
    const id = before.groups[0]!.id;
    expect(
      (await post(`${s.url}/api/v1/error-groups/${id}`, 'PATCH', { state: 'resolved' })).status,
    ).toBe(200);
    await s.close();

    s = await startTestServer({ dataDir });
    const after = await list();
    expect(after.groups[0]).toMatchObject({ id, count: 100, state: 'resolved' });
    const again = await fetch(`${s.url}/api/v1/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await s.token('admin')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        id: 'th-late',
        type: 'error_occurred',
        agentId: 'th-agent-9',
        data: { errorType: 'QuotaError', message: 'quota exceeded for job 77777' },
      }),
    });
    expect(again.status).toBe(200);
    expect((await list()).groups[0]).toMatchObject({
      id,
      count: 101,
      agentCount: 4,
      state: 'regressed',
    });
    await s.close();
  });
});
