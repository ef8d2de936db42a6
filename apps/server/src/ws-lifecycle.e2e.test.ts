import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameReader, startTestServer, type TestServer } from './test-support/test-server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({
    config: { websocket: { ping_interval: '300ms', max_buffered_bytes: '256KiB' } },
  });
});
afterAll(async () => {
  await srv.close();
});

const closed = (ws: WebSocket) =>
  new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );

async function publish(
  count: number,
  prefix: string,
  agentId = 'busy',
  pad = 0,
  on: TestServer = srv,
): Promise<void> {
  const token = await on.token('admin');
  for (let i = 0; i < count; i += 500) {
    const events = Array.from({ length: Math.min(500, count - i) }, (_, j) => ({
      id: `${prefix}-${i + j}`,
      type: 'agent_status_update',
      agentId,
      data: { status: 'busy', message: 'x'.repeat(pad) },
    }));
    const res = await fetch(`${on.url}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(200);
  }
}

describe('WebSocket connection lifecycle', () => {
  it('drops a peer that stops answering pings', async () => {
    const ws = new WebSocket(srv.wsUrl, {
      headers: { authorization: `Bearer ${await srv.token('viewer')}` },
      autoPong: false,
    });
    await new Promise((r) => ws.once('open', r));
    const started = Date.now();
    const { code } = await closed(ws);
    // Terminated (no close frame): the peer sees an abnormal closure within two intervals.
    expect(code).toBe(1006);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('does not ping a peer that keeps talking, and drops it once it falls silent', async () => {
    const ws = new WebSocket(srv.wsUrl, {
      headers: { authorization: `Bearer ${await srv.token('viewer')}` },
      autoPong: false,
    });
    await new Promise((r) => ws.once('open', r));
    let pings = 0;
    ws.on('ping', () => pings++);
    // Its own pings, every 100 ms: four sweeps (300 ms apart) each find it heard from.
    const talk = setInterval(() => ws.send('{"op":"ping"}'), 100);
    await new Promise((r) => setTimeout(r, 1300));
    clearInterval(talk);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(pings).toBe(0);
    // Silent now, and it does not answer the ping that comes: dropped within two sweeps more.
    const started = Date.now();
    const { code } = await closed(ws);
    expect(code).toBe(1006);
    expect(pings).toBe(1);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('keeps a peer that answers pings', async () => {
    const ws = await srv.connect(await srv.token('viewer'));
    await new Promise((r) => setTimeout(r, 1200));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('closes a live subscriber that falls behind with 4008, naming the seq to resume from', async () => {
    // Its own server: pings every 30 s, so the paused peer is cut for lag, not for silence.
    const slow = await startTestServer({ config: { websocket: { max_buffered_bytes: '256KiB' } } });
    const ws = await slow.connect(await slow.token('viewer'));
    const frames = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'subscribe', topics: ['agent:slowpoke'] }));
    await frames.next((f) => f.op === 'subscribed');
    // Stop reading: the kernel buffers fill, then the server's unsent buffer passes 256 KiB.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const done = closed(ws);
    const resume = (ws as unknown as { _socket: { resume(): void } })._socket;
    // Enough to overflow the loopback socket buffers (several MiB) on both sides.
    await publish(24_000, 'slow', 'slowpoke', 1000, slow);
    resume.resume();
    const { code, reason } = await done;
    expect(code).toBe(4008);
    expect(reason).toMatch(/since=\d+/);
    // Resuming from that seq yields the rest, in order, with nothing missing.
    const since = Number(/since=(\d+)/.exec(reason)![1]);
    const again = await slow.connect(await slow.token('viewer'));
    const r2 = new FrameReader(again);
    again.send(JSON.stringify({ op: 'subscribe', topics: ['agent:slowpoke'], since }));
    const head = slow.warden.ctx.bus.head();
    await r2.next((f) => f.op === 'event' && f.seq === head, 20_000);
    const seqs = r2.frames.filter((f) => f.op === 'event').map((f) => f.seq as number);
    expect(seqs[0]).toBeGreaterThan(since);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual(Array.from({ length: head - since }, (_, i) => since + i + 1));
    again.close();
    await slow.close();
  }, 60_000);

  it('delivers every event to every subscriber, once, and stops after unsubscribe', async () => {
    const viewers = await Promise.all(
      Array.from({ length: 20 }, async () => srv.connect(await srv.token('viewer'))),
    );
    const readers = viewers.map((v) => new FrameReader(v));
    viewers.forEach((v) =>
      v.send(
        JSON.stringify({ op: 'subscribe', topics: ['agent:fan', 'type:agent_status_update'] }),
      ),
    );
    await Promise.all(readers.map((r) => r.next((f) => f.op === 'subscribed')));
    const start = srv.warden.ctx.bus.head();
    await publish(1000, 'fan', 'fan');
    const head = srv.warden.ctx.bus.head();
    for (const r of readers) {
      await r.next((f) => f.op === 'event' && f.seq === head);
      const seqs = r.frames.filter((f) => f.op === 'event').map((f) => f.seq as number);
      expect(seqs).toEqual(Array.from({ length: head - start }, (_, i) => start + i + 1));
    }
    viewers[0]!.send(
      JSON.stringify({
        op: 'unsubscribe',
        ref: 'u',
        topics: ['agent:fan', 'type:agent_status_update'],
      }),
    );
    expect(await readers[0]!.next((f) => f.op === 'unsubscribed')).toMatchObject({
      ref: 'u',
      topics: [],
    });
    const before = readers[0]!.frames.length;
    await publish(10, 'after', 'fan');
    await readers[1]!.next((f) => f.op === 'event' && f.seq === srv.warden.ctx.bus.head());
    expect(readers[0]!.frames.length).toBe(before);
    viewers.forEach((v) => v.close());
  });

  it('lets an agent token subscribe to its own topic and answers ping with pong', async () => {
    const ws = await srv.connect(await srv.token('agent', 'self-1'));
    const frames = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'subscribe', ref: 'me', topics: ['agent:self-1'], since: 0 }));
    expect(await frames.next((f) => f.op === 'subscribed')).toMatchObject({
      ref: 'me',
      topics: ['agent:self-1'],
    });
    ws.send(JSON.stringify({ op: 'ping', ref: 'p1' }));
    expect(await frames.next((f) => f.op === 'pong')).toEqual({ op: 'pong', ref: 'p1' });
    ws.send(JSON.stringify({ op: 'heartbeat', agentId: 'self-1' }));
    ws.send(JSON.stringify({ op: 'heartbeat', ref: 'h2', agentId: 'someone-else' }));
    expect(await frames.next((f) => f.op === 'error' && f.ref === 'h2')).toMatchObject({
      code: 'forbidden_agent',
    });
    expect(srv.warden.ctx.heartbeats.get('self-1')).toBeGreaterThan(0);
    ws.close();
  });
});
