import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { startTestServer } from '../../../apps/server/src/test-support/test-server.js';
import { FileSpool } from './file-spool.js';
import { connect, type WardenClient, type WardenSdkError } from './index.js';
import { FakeClock } from './test-support/fake-clock.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

function track(c: WardenClient): WardenClient {
  cleanups.push(() => c.close({ timeoutMs: 0 }));
  return c;
}

function errorsOf(c: WardenClient): WardenSdkError[] {
  const errors: WardenSdkError[] = [];
  c.on('error', (e) => errors.push(e as WardenSdkError));
  return errors;
}

describe('SDK connections', () => {
  it('reports a refused token as an unauthorized error and asks the token function again', async () => {
    const s = await startTestServer();
    cleanups.push(() => s.close());
    const good = await s.token('agent', 'tok');
    let calls = 0;
    const c = track(
      connect({
        url: s.url,
        // The first token is forged; the next one is real.
        token: () => (++calls === 1 ? 'not-a-jwt' : good),
        agentId: 'tok',
        reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
        heartbeatMs: 0,
      }),
    );
    const errors = errorsOf(c);
    await expect(c.status('idle')).resolves.toMatchObject({ seq: 1 });
    expect(errors.map((e) => e.code)).toEqual(['unauthorized']);
    expect(errors[0]!.message).toMatch(/refused the token \(HTTP 401\)/);
    expect(calls).toBe(2);
  });

  it('replaces a token that expires during the connection (4401) by calling the token function again', async () => {
    const s = await startTestServer();
    cleanups.push(() => s.close());
    const tokens = [await s.token('agent', 'exp', 1200), await s.token('agent', 'exp')];
    let calls = 0;
    const c = track(
      connect({
        url: s.url,
        token: () => tokens[Math.min(calls++, 1)]!,
        agentId: 'exp',
        reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
        heartbeatMs: 0,
      }),
    );
    const closes: number[] = [];
    c.on('disconnected', ({ code }) => closes.push(code));
    await c.status('busy');
    await waitFor(() => closes.includes(4401), 5000);
    await expect(c.status('idle')).resolves.toMatchObject({ seq: 2 });
    expect(calls).toBe(2);
  });

  it('abandons a connection that does not open in connectTimeoutMs and tries again', async () => {
    // Accepts TCP and never answers the upgrade.
    const sockets: Socket[] = [];
    const tcp = createServer((sock) => sockets.push(sock));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const sock of sockets) sock.destroy();
      return new Promise<void>((r) => tcp.close(() => r()));
    });
    const clock = new FakeClock();
    const c = track(
      connect({
        url: `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`,
        token: 't',
        clock,
        random: () => 0.5,
        connectTimeoutMs: 2000,
        reconnect: { initialDelayMs: 100 },
        heartbeatMs: 0,
      }),
    );
    const errors = errorsOf(c);
    const timeout = await clock.next((t) => t.ms === 2000);
    await waitFor(() => sockets.length === 1);
    clock.fire(timeout);
    expect(errors.map((e) => e.code)).toEqual(['connection_failed']);
    expect(errors[0]!.message).toMatch(/not open within 2000 ms/);
    clock.fire(await clock.next((t) => t.ms === 100));
    await waitFor(() => sockets.length === 2);
  });

  it('replaces a connection that stops answering and sends its unacked events again', async () => {
    // A stand-in hub: the first connection goes silent (a half-open link), later ones ack.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    cleanups.push(() => {
      for (const ws of wss.clients) ws.terminate();
      return new Promise<void>((r) => wss.close(() => r()));
    });
    const received: Array<{ conn: number; ids: string[] }> = [];
    let conns = 0;
    wss.on('connection', (ws: WsSocket) => {
      const conn = ++conns;
      ws.on('message', (data: Buffer) => {
        const f = JSON.parse(data.toString()) as {
          op: string;
          ref: string;
          events?: Array<{ id: string }>;
        };
        if (conn === 1) {
          if (f.op === 'publish') received.push({ conn, ids: f.events!.map((e) => e.id) });
          return;
        }
        if (f.op === 'ping') ws.send('{"op":"pong"}');
        if (f.op !== 'publish') return;
        received.push({ conn, ids: f.events!.map((e) => e.id) });
        const acks = f.events!.map((e, i) => ({ id: e.id, seq: i + 1 }));
        ws.send(JSON.stringify({ op: 'ack', ref: f.ref, acks }));
      });
    });
    const clock = new FakeClock();
    const c = track(
      connect({
        url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
        token: 't',
        agentId: 'half-open',
        clock,
        random: () => 0.5,
        pingIntervalMs: 1000,
        reconnect: { initialDelayMs: 100 },
        heartbeatMs: 0,
      }),
    );
    const closes: number[] = [];
    c.on('disconnected', ({ code }) => closes.push(code));
    const ack = c.metrics({ tokens: 1 });
    await waitFor(() => received.length === 1);
    clock.fire(await clock.next((t) => t.ms === 1000)); // ping: no answer
    clock.fire(await clock.next((t) => t.ms === 1000)); // still nothing: dead
    expect(closes).toEqual([4000]);
    clock.fire(await clock.next((t) => t.ms === 100)); // reconnect
    await expect(ack).resolves.toMatchObject({ seq: 1 });
    expect(received.map((r) => r.conn)).toEqual([1, 2]);
    expect(received[1]!.ids).toEqual(received[0]!.ids);
  });

  it("keepalive() runs the liveness ping on the caller's tick; the SDK's own timer never fires", async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    cleanups.push(() => {
      for (const ws of wss.clients) ws.terminate();
      return new Promise<void>((r) => wss.close(() => r()));
    });
    let pings = 0;
    let answer = true;
    wss.on('connection', (ws: WsSocket) => {
      ws.on('message', (data: Buffer) => {
        const f = JSON.parse(data.toString()) as { op: string };
        if (f.op !== 'ping') return;
        pings++;
        if (answer) ws.send('{"op":"pong"}');
      });
    });
    const clock = new FakeClock();
    const c = track(
      connect({
        url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
        token: 't',
        agentId: 'ticker',
        clock,
        pingIntervalMs: 15_000,
        reconnect: { initialDelayMs: 100 },
        heartbeatMs: 0,
      }),
    );
    const closes: number[] = [];
    c.on('disconnected', ({ code }) => closes.push(code));
    let connected = false;
    c.on('connected', () => (connected = true));
    await waitFor(() => connected);
    const pingTimers = () => [...clock.timers.values()].filter((t) => t.ms === 15_000);
    expect(pingTimers()).toHaveLength(1);
    // Ticks a second apart: nothing until the ping is due within a second.
    for (let i = 0; i < 13; i++) {
      clock.advance(1000);
      c.keepalive();
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(pings).toBe(0);
    clock.advance(1000); // 14 s: due within a second
    c.keepalive();
    await waitFor(() => pings === 1);
    // The timer was pushed out (one pending, armed anew), the pong clears the wait.
    expect(pingTimers()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 50));
    answer = false;
    for (let i = 0; i < 14; i++) {
      clock.advance(1000);
      c.keepalive();
    }
    await waitFor(() => pings === 2); // answered nothing
    for (let i = 0; i < 14; i++) {
      clock.advance(1000);
      c.keepalive();
    }
    expect(closes).toEqual([4000]);
    c.keepalive(); // not connected: nothing
  });

  it('refuses data that cannot be serialised without throwing at the caller', async () => {
    const c = track(
      connect({ url: 'http://127.0.0.1:1', token: 'x', agentId: 'a', heartbeatMs: 0 }),
    );
    const meta: Record<string, unknown> = {};
    meta.self = meta;
    let p: Promise<unknown> | undefined;
    expect(() => (p = c.status('busy', { meta }))).not.toThrow();
    await expect(p).rejects.toMatchObject({ code: 'invalid_event' });
    await expect(c.metrics({ tokens: 10n as unknown as number })).rejects.toMatchObject({
      code: 'invalid_event',
    });
    expect(c.pending()).toBe(0);
  });

  it('loads every event a spool holds even past the outbox bounds, and delivers them', async () => {
    const s = await startTestServer();
    cleanups.push(() => s.close());
    const dir = mkdtempSync(join(tmpdir(), 'warden-sdk-spool-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'outbox.jsonl');
    const token = await s.token('agent', 'big');
    const first = connect({
      url: 'http://127.0.0.1:1',
      token,
      agentId: 'big',
      spool: FileSpool.open(file),
      heartbeatMs: 0,
    });
    for (let i = 0; i < 5; i++) void first.metrics({ tokens: i });
    await first.close({ timeoutMs: 0 });
    // The next run has a smaller outbox: the spooled events still all count.
    const second = track(
      connect({
        url: s.url,
        token,
        agentId: 'big',
        spool: FileSpool.open(file),
        outbox: { maxEvents: 2 },
        heartbeatMs: 0,
      }),
    );
    expect(second.pending()).toBe(5);
    await second.flush({ timeoutMs: 5000 });
    expect(second.stats()).toMatchObject({ pending: 0, acked: 5 });
  });
});
