import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startTestServer,
  type TestServer,
} from '../../../apps/server/src/test-support/test-server.js';
import { connect, type WardenClient } from './index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fast = { reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, heartbeatMs: 0 };

function client(s: TestServer, token: string, agentId?: string): WardenClient {
  const c = connect({ url: s.url, token, ...(agentId ? { agentId } : {}), ...fast });
  cleanups.push(() => c.close());
  return c;
}

/** A server on a temp data dir that can be stopped and started again on the same port. */
async function restartable(): Promise<{ s: () => TestServer; restart: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-sdk-sub-'));
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

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('subscriptions of the SDK', () => {
  it('a refused subscription is reported and ended, and the others still resume after a restart', async () => {
    const srv = await restartable();
    const token = await srv.s().token('agent', 'me');
    const c = client(srv.s(), token, 'me');
    const errors: Array<{ code: string; message: string }> = [];
    c.on('error', (e) => errors.push(e as never));
    const mine: number[] = [];
    c.subscribe(['agent:me'], (e) => mine.push(e.seq), { since: 0 });
    // An agent token may read only its own topic.
    const theirs: number[] = [];
    c.subscribe(['agent:other'], (e) => theirs.push(e.seq), { since: 0 });
    await waitFor(() => errors.some((e) => e.code === 'forbidden_agent'));
    expect(errors.find((e) => e.code === 'forbidden_agent')!.message).toMatch(
      /subscription to agent:other refused and ended/,
    );

    await Promise.all(range(1, 10).map((i) => c.metrics({ queue_depth: i })));
    await waitFor(() => mine.length === 10);
    await srv.restart();
    // After the reconnect the refused topic is not asked for again, so the good one resumes.
    await Promise.all(range(11, 20).map((i) => c.metrics({ queue_depth: i })));
    await waitFor(() => mine.length >= 20);
    await new Promise((r) => setTimeout(r, 100));
    expect(mine).toEqual(range(1, 20));
    expect(theirs).toEqual([]);
    expect(errors.filter((e) => e.code === 'forbidden_agent')).toHaveLength(1);
  });

  it('a subscription joining with a later since does not cut short one still replaying', async () => {
    const srv = await restartable();
    const s = srv.s();
    const a = client(s, await s.token('agent', 'a'), 'a');
    const b = client(s, await s.token('agent', 'b'), 'b');
    // 3,000 stored events, a's and b's mixed.
    for (let i = 0; i < 1500; i++) {
      void a.metrics({ tokens: i });
      void b.metrics({ tokens: i });
      if (i % 100 === 99) await Promise.all([a.flush(), b.flush()]);
    }
    await Promise.all([a.flush(), b.flush()]);
    const seqsOf = async (agentId: string, since = 0) => {
      const token = await srv.s().token('viewer');
      const out: number[] = [];
      for (let next: number | null = since; next !== null;) {
        const r = await fetch(
          `${srv.s().url}/api/v1/events?agentId=${agentId}&since=${next}&limit=1000`,
          {
            headers: { authorization: `Bearer ${token}` },
          },
        );
        const body = (await r.json()) as { events: Array<{ seq: number }>; next: number | null };
        out.push(...body.events.map((e) => e.seq));
        next = body.next;
      }
      return out;
    };

    const viewer = client(s, await s.token('viewer'));
    await waitFor(() => viewer.stats().connected);
    const seenA: number[] = [];
    const seenB: number[] = [];
    // Both join one live connection in the same tick; the server has one stream per
    // connection, which a `since` restarts for every topic.
    viewer.subscribe(['agent:a'], (e) => seenA.push(e.seq), { since: 0 });
    viewer.subscribe(['agent:b'], (e) => seenB.push(e.seq), { since: 2900 });
    const wantA = await seqsOf('a');
    const wantB = await seqsOf('b', 2900);
    expect(wantA).toHaveLength(1500);
    await waitFor(() => seenA.length >= wantA.length && seenB.length >= wantB.length);
    await new Promise((r) => setTimeout(r, 100));
    expect(seenA).toEqual(wantA);
    expect(seenB).toEqual(wantB);

    // And across a restart, each resumes from its own point.
    await srv.restart();
    await a.metrics({ tokens: -1 });
    await b.metrics({ tokens: -2 });
    await waitFor(() => seenA.length === 1501 && seenB.length === wantB.length + 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(seenA).toEqual(await seqsOf('a'));
    expect(seenB).toEqual(await seqsOf('b', 2900));
  });
});
