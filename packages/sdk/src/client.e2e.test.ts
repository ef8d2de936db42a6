import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { StoredEvent } from '@warden/protocol';
import {
  startTestServer,
  type TestServer,
} from '../../../apps/server/src/test-support/test-server.js';
import { FileSpool } from './file-spool.js';
import {
  connect,
  OutboxFullError,
  WardenSdkError,
  type WardenClient,
  type WebSocketFactory,
} from './index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(opts: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(opts);
  cleanups.push(() => s.close());
  return s;
}

function client(
  s: TestServer,
  token: string,
  extra: Parameters<typeof connect>[0] = {},
): WardenClient {
  const c = connect({
    url: s.url,
    token,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    heartbeatMs: 50,
    ...extra,
  });
  cleanups.push(() => c.close());
  return c;
}

async function storedEvents(s: TestServer): Promise<StoredEvent[]> {
  const admin = await s.token('admin');
  const out: StoredEvent[] = [];
  let since = 0;
  for (;;) {
    const r = await fetch(`${s.url}/api/v1/events?since=${since}&limit=1000`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    const body = (await r.json()) as { events: StoredEvent[]; next: number | null };
    out.push(...body.events);
    if (body.next === null) return out;
    since = body.next;
  }
}

const waitFor = async (cond: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('agent SDK against a real server', () => {
  it('reads WARDEN_URL, WARDEN_TOKEN and WARDEN_AGENT_ID, and every helper stores a valid event', async () => {
    const s = await server();
    const token = await s.token('agent', 'sdk-1');
    process.env.WARDEN_URL = s.url;
    process.env.WARDEN_TOKEN = token;
    process.env.WARDEN_AGENT_ID = 'sdk-1';
    const c = connect({ heartbeatMs: 50 });
    cleanups.push(() => c.close());
    delete process.env.WARDEN_URL;
    delete process.env.WARDEN_TOKEN;
    delete process.env.WARDEN_AGENT_ID;

    const acks = await Promise.all([
      c.status('busy', { message: 'working' }),
      c.taskAssigned('t-1', { name: 'build', queue: 'ci', priority: 2 }),
      c.metrics({ cpu_percent: 12, memory_mb: 300 }),
      c.error(new TypeError('boom'), { taskId: 't-1' }),
      c.taskCompleted('t-1', { success: false, durationMs: 1200, error: 'boom' }),
    ]);
    expect(acks.map((a) => a.seq)).toEqual([1, 2, 3, 4, 5]);
    const stored = await storedEvents(s);
    expect(stored.map((e) => e.type)).toEqual([
      'agent_status_update',
      'task_assigned',
      'metric_update',
      'error_occurred',
      'task_completed',
    ]);
    expect(stored.every((e) => e.agentId === 'sdk-1')).toBe(true);
    const err = stored[3]!.data as { errorType: string; message: string; stack: string };
    expect(err.errorType).toBe('TypeError');
    expect(err.message).toBe('boom');
    expect(err.stack).toContain('TypeError: boom');
    // Ids are made on the client, time-sortable ULIDs.
    expect(stored.every((e) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(e.id))).toBe(true);
    await waitFor(() => s.warden.ctx.heartbeats.has('sdk-1'));
    expect(c.pending()).toBe(0);
  });

  it('refuses an invalid event at once, naming the field, and queues nothing', async () => {
    const s = await server();
    const c = client(s, await s.token('agent', 'a'), { agentId: 'a' });
    const err = (await c
      .publish({ type: 'task_assigned', data: {} })
      .catch((e: unknown) => e)) as WardenSdkError;
    expect(err).toBeInstanceOf(WardenSdkError);
    expect(err.code).toBe('invalid_event');
    expect(err.details?.[0]?.path).toBe('/data/taskId');
    await expect(c.status('sleeping' as never)).rejects.toMatchObject({ code: 'invalid_event' });
    expect(c.pending()).toBe(0);
  });

  it('says outbox_full instead of dropping events when the outbox is full', async () => {
    const s = await server();
    // Not connected yet (no server at this URL): the outbox only fills.
    const offline = { url: 'http://127.0.0.1:1', token: 'x', agentId: 'a', closeTimeoutMs: 50 };
    const c = connect({ ...offline, outbox: { maxEvents: 3 } });
    cleanups.push(() => c.close());
    for (let i = 0; i < 3; i++) void c.metrics({ queue_depth: i });
    // A full outbox rejects the promise; publish() itself never throws.
    const err = await c.metrics({ queue_depth: 9 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboxFullError);
    expect((err as OutboxFullError).code).toBe('outbox_full');
    expect(c.pending()).toBe(3);
    const bytes = connect({ ...offline, outbox: { maxBytes: 300 } });
    cleanups.push(() => bytes.close());
    void bytes.metrics({ cpu_percent: 1 });
    await expect(bytes.status('idle', { message: 'x'.repeat(400) })).rejects.toMatchObject({
      code: 'outbox_full',
      limit: 'bytes',
    });
    void s;
  });

  it('rejects and drops an event the server refuses for good (forbidden_agent), keeping the rest', async () => {
    const s = await server();
    const c = client(s, await s.token('agent', 'mine'), { agentId: 'mine' });
    const bad = c.publish({
      type: 'metric_update',
      agentId: 'other',
      data: { metrics: { cpu_percent: 1 } },
    });
    const good = c.metrics({ cpu_percent: 2 });
    await expect(bad).rejects.toMatchObject({ code: 'forbidden_agent' });
    await expect(good).resolves.toMatchObject({ seq: 1 });
    expect(c.stats()).toMatchObject({ pending: 0, rejected: 1, acked: 1 });
    expect((await storedEvents(s)).map((e) => e.agentId)).toEqual(['mine']);
  });

  it('replays what was unacked after the server restarts on the same port, storing each event once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-sdk-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let s = await startTestServer({ dataDir });
    const port = Number(new URL(s.url).port);
    const c = connect({
      url: s.url,
      token: await s.token('agent', 'r'),
      agentId: 'r',
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    cleanups.push(() => c.close());
    const disconnects: number[] = [];
    c.on('disconnected', ({ code }) => disconnects.push(code));
    const first = Array.from({ length: 200 }, (_, i) => c.metrics({ tokens: i }));
    await Promise.all(first);
    await s.close();
    // Published while the server is down: they wait in the outbox.
    const during = Array.from({ length: 300 }, (_, i) => c.metrics({ tokens: 1000 + i }));
    expect(c.pending()).toBe(300);
    s = await startTestServer({ dataDir, port });
    cleanups.push(() => s.close());
    await Promise.all(during);
    await c.flush({ timeoutMs: 5000 });
    expect(disconnects.length).toBeGreaterThanOrEqual(1);
    const stored = await storedEvents(s);
    expect(stored).toHaveLength(500);
    expect(new Set(stored.map((e) => e.id)).size).toBe(500);
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(c.stats().reconnects).toBeGreaterThanOrEqual(1);
  });

  it('resumes a subscription after a restart with no gap and no duplicate', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-sdk-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let s = await startTestServer({ dataDir });
    const port = Number(new URL(s.url).port);
    const viewer = await s.token('viewer');
    const agent = await s.token('agent', 'pub');
    const sub = connect({
      url: s.url,
      token: viewer,
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    cleanups.push(() => sub.close());
    const seen: number[] = [];
    sub.subscribe(['agent:pub'], (e) => seen.push(e.seq), { since: 0 });
    const pub = connect({
      url: s.url,
      token: agent,
      agentId: 'pub',
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    cleanups.push(() => pub.close());
    await Promise.all(Array.from({ length: 100 }, (_, i) => pub.metrics({ queue_depth: i })));
    await waitFor(() => seen.length === 100);
    await s.close();
    const later = Array.from({ length: 100 }, (_, i) => pub.metrics({ queue_depth: 100 + i }));
    s = await startTestServer({ dataDir, port });
    cleanups.push(() => s.close());
    await Promise.all(later);
    await waitFor(() => seen.length >= 200);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('without since, takes live events only; unsubscribe stops them', async () => {
    const s = await server();
    const pub = client(s, await s.token('agent', 'p'), { agentId: 'p' });
    await pub.metrics({ cpu_percent: 1 });
    const sub = client(s, await s.token('viewer'));
    const seen: number[] = [];
    const stop = sub.subscribe(['events'], (e) => seen.push(e.seq));
    await waitFor(() => sub.stats().connected);
    await new Promise((r) => setTimeout(r, 50));
    await pub.metrics({ cpu_percent: 2 });
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual([2]);
    stop();
    await new Promise((r) => setTimeout(r, 50));
    await pub.metrics({ cpu_percent: 3 });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([2]);
  });

  it('keeps unacked events in a spool file (0600) that a new client of a restarted agent delivers', async () => {
    const s = await server();
    const dir = mkdtempSync(join(tmpdir(), 'warden-spool-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'outbox.jsonl');
    const token = await s.token('agent', 'spooler');
    // The agent's first life: the server is unreachable, its events only reach the spool.
    const first = connect({
      url: 'http://127.0.0.1:1',
      token,
      agentId: 'spooler',
      spool: FileSpool.open(file),
      closeTimeoutMs: 50,
    });
    for (let i = 0; i < 50; i++) void first.metrics({ tokens: i });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // It dies without a goodbye (no close(): that would be an orderly exit).
    // Its next life, pointed at the server, sends them first.
    const second = client(s, token, { agentId: 'spooler', spool: FileSpool.open(file) });
    expect(second.pending()).toBe(50);
    await second.flush({ timeoutMs: 5000 });
    const stored = await storedEvents(s);
    expect(stored.map((e) => (e.data as { metrics: { tokens: number } }).metrics.tokens)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    expect(FileSpool.open(file).size()).toBe(0);
    await first.close();
  });

  it('works with a browser-style WebSocket, the token in the query', async () => {
    const s = await server();
    // `ws` stands in for the browser's class: constructed with the URL alone.
    const Browserish = class extends WebSocket {
      constructor(url: string) {
        super(url);
      }
    } as unknown as WebSocketFactory;
    const c = client(s, await s.token('agent', 'web'), { agentId: 'web', WebSocket: Browserish });
    await expect(c.status('idle')).resolves.toMatchObject({ seq: 1 });
  });

  it('sends what is published in one go as one frame, not a frame per event', async () => {
    const s = await server();
    const frames: string[] = [];
    // Counts the publish frames the client sends through a real socket.
    const Counting = class extends WebSocket {
      override send(data: string): void {
        if (data.startsWith('{"op":"publish"')) frames.push(data);
        super.send(data);
      }
    } as unknown as WebSocketFactory;
    const c = client(s, await s.token('agent', 'burst'), {
      agentId: 'burst',
      WebSocket: Counting,
      heartbeatMs: 0,
    });
    await c.status('idle');
    frames.length = 0;
    const acks = Array.from({ length: 200 }, (_, i) => c.metrics({ tokens: i }));
    await Promise.all(acks);
    expect(frames).toHaveLength(1);
    expect((JSON.parse(frames[0]!) as { events: unknown[] }).events).toHaveLength(200);
    expect(await storedEvents(s)).toHaveLength(201);
  });

  it('close() waits for acks, then refuses new events', async () => {
    const s = await server();
    const c = connect({ url: s.url, token: await s.token('agent', 'z'), agentId: 'z' });
    const acks = Array.from({ length: 50 }, (_, i) => c.metrics({ tokens: i }));
    await c.close();
    await expect(Promise.all(acks)).resolves.toHaveLength(50);
    await expect(c.metrics({ tokens: 1 })).rejects.toMatchObject({ code: 'closed' });
    expect(await storedEvents(s)).toHaveLength(50);
  });
});
