import { statSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { LEVEL, LogCapture } from '../test-support/log-capture.js';
import { FrameReader, startTestServer, type TestServer } from '../test-support/test-server.js';
import type { LogsPage } from './log-center.js';

const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(opts: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(opts);
  servers.push(s);
  return s;
}

let nextId = 0;
function logEvent(
  agentId: string,
  message: string,
  over: { level?: string; stream?: string; ts?: number; correlationId?: string } = {},
) {
  return {
    id: `log-${process.pid}-${nextId++}`,
    type: 'log',
    agentId,
    ...(over.ts !== undefined ? { ts: over.ts } : {}),
    ...(over.correlationId !== undefined ? { correlationId: over.correlationId } : {}),
    data: {
      level: over.level ?? 'info',
      message,
      ...(over.stream !== undefined ? { stream: over.stream } : {}),
    },
  };
}

async function publish(s: TestServer, events: unknown[]): Promise<Array<{ seq: number }>> {
  const res = await fetch(`${s.url}/api/v1/events`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await s.token('admin')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ events }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { acks: Array<{ seq: number }> }).acks;
}

async function logs(
  s: TestServer,
  query: Record<string, string | number>,
  role: 'viewer' | 'admin' = 'viewer',
): Promise<LogsPage> {
  const qs = new URLSearchParams(
    Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]),
  );
  const res = await fetch(`${s.url}/api/v1/logs?${qs.toString()}`, {
    headers: { authorization: `Bearer ${await s.token(role)}` },
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as LogsPage;
}

describe('central logs', () => {
  it('stores log events and searches them by agent, level and above, text and time, newest first', async () => {
    const s = await start();
    const now = Date.now();
    await publish(s, [
      logEvent('w1', 'booting', { level: 'debug', ts: now - 60_000 }),
      logEvent('w1', 'Listening on :9000', { stream: 'stdout', ts: now - 50_000 }),
      logEvent('w1', 'disk almost full', { level: 'warn', stream: 'stderr', ts: now - 40_000 }),
      logEvent('w2', 'listening too', { ts: now - 30_000, correlationId: 'req-7' }),
      logEvent('w2', 'crashed', { level: 'error', ts: now - 1000 }),
    ]);
    await s.warden.ctx.features.logs.settle();

    const all = await logs(s, {});
    expect(all.logs.map((l) => l.message)).toEqual([
      'crashed',
      'listening too',
      'disk almost full',
      'Listening on :9000',
      'booting',
    ]);
    expect(all.logs[2]).toMatchObject({
      agentId: 'w1',
      level: 'warn',
      stream: 'stderr',
      ts: now - 40_000,
    });
    expect(all.logs[1]).toMatchObject({ correlationId: 'req-7' });
    expect(all.next).toBeNull();
    expect(all.head).toBeGreaterThanOrEqual(all.logs[0]!.seq);

    const msgs = async (q: Record<string, string | number>) =>
      (await logs(s, q)).logs.map((l) => l.message);
    expect(await msgs({ agentId: 'w1' })).toHaveLength(3);
    expect(await msgs({ level: 'warn' })).toEqual(['crashed', 'disk almost full']);
    expect(await msgs({ q: 'LISTENING', order: 'asc' })).toEqual([
      'Listening on :9000',
      'listening too',
    ]);
    expect(await msgs({ since: '45s' })).toEqual(['crashed', 'listening too', 'disk almost full']);
    expect(
      await msgs({ since: now - 60_000, until: new Date(now - 40_000).toISOString() }),
    ).toEqual(['Listening on :9000', 'booting']);
    expect(await msgs({ correlationId: 'req-7' })).toEqual(['listening too']);
  });

  it('pages with the cursor either way, with no row twice and none left out', async () => {
    const s = await start({ config: { logs: { max_batch: 7 } } });
    await publish(
      s,
      Array.from({ length: 25 }, (_, i) => logEvent('pager', `line ${i}`)),
    );
    await s.warden.ctx.features.logs.settle();
    for (const order of ['desc', 'asc'] as const) {
      const seen: string[] = [];
      let cursor: number | null | undefined;
      for (let pages = 0; pages < 10 && cursor !== null; pages++) {
        const page = await logs(s, {
          agentId: 'pager',
          limit: 10,
          order,
          ...(cursor !== undefined ? { cursor } : {}),
        });
        seen.push(...page.logs.map((l) => l.message));
        cursor = page.next;
      }
      const expected = Array.from({ length: 25 }, (_, i) => `line ${i}`);
      expect(seen).toEqual(order === 'asc' ? expected : expected.reverse());
    }
  });

  it('streams live over logs:<agentId>, and from head on with no gap and no duplicate', async () => {
    const s = await start();
    await publish(s, [logEvent('live', 'before 1'), logEvent('live', 'before 2')]);
    await s.warden.ctx.features.logs.settle();
    const history = await logs(s, { agentId: 'live' });
    // Published after the history was read, before the subscription: must come by replay.
    await publish(s, [logEvent('live', 'between'), logEvent('other', 'not mine')]);
    const ws = await s.connect(await s.token('viewer'));
    const reader = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'subscribe', topics: ['logs:live'], since: history.head }));
    await reader.next((f) => f.op === 'subscribed');
    await publish(s, [
      {
        id: `st-${nextId++}`,
        type: 'agent_status_update',
        agentId: 'live',
        data: { status: 'busy' },
      },
      logEvent('live', 'after', { level: 'error' }),
    ]);
    await reader.next(
      (f) =>
        f.op === 'event' && (f.event as { data: { message: string } }).data.message === 'after',
    );
    const live = reader.frames
      .filter((f) => f.op === 'event')
      .map((f) => (f.event as { data: { message: string } }).data.message);
    expect(history.logs.map((l) => l.message)).toEqual(['before 2', 'before 1']);
    expect(live).toEqual(['between', 'after']);
    ws.close();
  });

  it('an agent token may follow its own logs only', async () => {
    const s = await start();
    const ws = await s.connect(await s.token('agent', 'a1'));
    const reader = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'subscribe', ref: 'x', topics: ['logs:a2'] }));
    expect(await reader.next((f) => f.op === 'error')).toMatchObject({ code: 'forbidden_agent' });
    ws.close();
    const res = await fetch(`${s.url}/api/v1/logs`, {
      headers: { authorization: `Bearer ${await s.token('agent', 'a1')}` },
    });
    expect(res.status).toBe(403);
  });

  it('after a crash that lost the table, the next start reads the log events back from the event log', async () => {
    const first = await start();
    const dataDir = first.dataDir;
    await publish(
      first,
      Array.from({ length: 30 }, (_, i) => logEvent('replayed', `line ${i}`)),
    );
    await first.warden.ctx.features.logs.settle();
    await first.warden.close();
    servers.splice(servers.indexOf(first), 1);
    // As if the rows and their position had never been written.
    const db = new BetterSqlite3(join(dataDir, 'warden.db'));
    db.exec("DELETE FROM logs; DELETE FROM projection_state WHERE name = 'logs'");
    db.close();
    const second = await start({ dataDir });
    await second.warden.ctx.features.logs.settle();
    const page = await logs(second, { agentId: 'replayed', limit: 100, order: 'asc' });
    expect(page.logs.map((l) => l.message)).toEqual(
      Array.from({ length: 30 }, (_, i) => `line ${i}`),
    );
  });

  it('retention deletes logs past retention.logs, then the oldest past logs_max_bytes, and gives the space back', async () => {
    let t = Date.now();
    const clock = { now: () => t };
    const s = await start({
      clock,
      config: { retention: { logs: '1h', logs_max_bytes: '100KiB', interval: '1d' } },
    });
    const big = 'x'.repeat(2000);
    // 100 old lines (2h ago), then 200 recent ones: ~400 KiB, four times the cap.
    await publish(
      s,
      Array.from({ length: 100 }, (_, i) =>
        logEvent('r', `old ${i} ${big}`, { ts: t - 2 * 3_600_000 }),
      ),
    );
    for (let b = 0; b < 2; b++) {
      await publish(
        s,
        Array.from({ length: 100 }, (_, i) => logEvent('r', `new ${b * 100 + i} ${big}`)),
      );
    }
    await s.warden.ctx.features.logs.settle();
    const file = join(s.dataDir, 'warden.db');
    const pages = () => {
      const db = new BetterSqlite3(file, { readonly: true });
      try {
        return {
          size: (db.pragma('page_count', { simple: true }) as number) * 4096,
          free: db.pragma('freelist_count', { simple: true }) as number,
        };
      } finally {
        db.close();
      }
    };
    const before = pages();
    t += 1000;
    const counts = await s.warden.ctx.features.logs.retain(t);
    expect(counts.logs_expired).toBe(100);
    expect(counts.logs_over_size).toBeGreaterThan(140);
    const left = await logs(s, { agentId: 'r', limit: 1000, order: 'asc' });
    const bytes = left.logs.reduce((n, l) => n + l.message.length + 64 + 2, 0);
    expect(bytes).toBeLessThanOrEqual(100 * 1024);
    expect(bytes).toBeGreaterThan(90 * 1024);
    // What stays is the newest.
    expect(left.logs[left.logs.length - 1]!.message).toMatch(/^new 199 /);
    // The log events stay in the event log (7 days), but the table's pages are given back.
    const after = pages();
    expect(after.free).toBe(0);
    expect(after.size).toBeLessThan(before.size - 300 * 1024);
    expect(statSync(file).size).toBeLessThanOrEqual(after.size);
  });

  it('the hub\u2019s own lines carry correlation ids: x-request-id in and out, generated when absent or unsafe', async () => {
    const capture = new LogCapture('debug');
    const s = await start({ logger: capture.logger });
    const token = await s.token('admin');
    const send = (headers: Record<string, string>, body?: unknown) =>
      fetch(`${s.url}/api/v1/events`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    const mine = await send({ 'x-request-id': 'req-42' });
    expect(mine.headers.get('x-request-id')).toBe('req-42');
    const none = await send({});
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    for (const bad of ['a'.repeat(129), 'x y', 'id"}{"level":60', '-leading-dash']) {
      const r = await send({ 'x-request-id': bad });
      expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    const refused = await fetch(`${s.url}/api/v1/events`, { headers: { 'x-request-id': 'r-401' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-request-id')).toBe('r-401');

    const pub = await send(
      { 'x-request-id': 'req-pub' },
      logEvent('c', 'hi', { correlationId: 'chain-9' }),
    );
    expect(pub.status, await pub.text()).toBe(200);
    const line = capture.matching(/events committed/).find((l) => l.correlationId === 'req-pub');
    expect(line).toMatchObject({ eventCorrelationIds: ['chain-9'] });
    const requestLines = capture.lines.filter((l) => l.msg === 'request');
    expect(requestLines.length).toBeGreaterThan(0);
    expect(requestLines.every((l) => typeof l.correlationId === 'string')).toBe(true);
    expect(requestLines.some((l) => l.correlationId === 'req-42')).toBe(true);
    expect(capture.matching(/.*/, LEVEL.error)).toEqual([]);
  });
});
