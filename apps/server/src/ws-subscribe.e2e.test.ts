import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameReader, startTestServer, type TestServer } from './test-support/test-server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.close();
});

const status = (id: string, agentId: string, status = 'running') => ({
  id,
  type: 'agent_status_update',
  agentId,
  data: { status },
});

describe('WebSocket publish and subscribe', () => {
  it('acks a publish after commit and delivers it to a live subscriber', async () => {
    const admin = await srv.token('admin');
    const sub = await srv.connect(await srv.token('viewer'));
    const subFrames = new FrameReader(sub);
    sub.send(JSON.stringify({ op: 'subscribe', ref: 's', topics: ['events'] }));
    await subFrames.next((f) => f.op === 'subscribed');
    const pub = await srv.connect(admin);
    const pubFrames = new FrameReader(pub);
    pub.send(JSON.stringify({ op: 'publish', ref: 'r1', event: status('ws-1', 'alpha') }));
    const ack = await pubFrames.next((f) => f.op === 'ack');
    expect(ack).toMatchObject({ ref: 'r1', acks: [{ id: 'ws-1' }] });
    const ev = await subFrames.next((f) => f.op === 'event');
    expect(ev).toMatchObject({ event: { id: 'ws-1', agentId: 'alpha' } });
    expect(ev.seq).toBe((ack.acks as Array<{ seq: number }>)[0]!.seq);
    sub.close();
    pub.close();
  });

  it('replays stored events from since, then live, with no gap and no duplicate', async () => {
    const admin = await srv.token('admin');
    const pub = await srv.connect(admin);
    const pubFrames = new FrameReader(pub);
    const startHead = srv.warden.ctx.bus.head();
    // 300 events stored before the subscriber arrives.
    for (let i = 0; i < 3; i++) {
      const events = Array.from({ length: 100 }, (_, j) =>
        status(`gap-${i}-${j}`, `agent-${j % 5}`),
      );
      pub.send(JSON.stringify({ op: 'publish', ref: `b${i}`, events }));
      await pubFrames.next((f) => f.op === 'ack' && f.ref === `b${i}`);
    }
    const sub = await srv.connect(await srv.token('viewer'));
    const subFrames = new FrameReader(sub);
    sub.send(JSON.stringify({ op: 'subscribe', topics: ['events'], since: startHead }));
    // Publish more while the replay is running.
    for (let i = 3; i < 6; i++) {
      const events = Array.from({ length: 100 }, (_, j) =>
        status(`gap-${i}-${j}`, `agent-${j % 5}`),
      );
      pub.send(JSON.stringify({ op: 'publish', ref: `b${i}`, events }));
    }
    await pubFrames.next((f) => f.op === 'ack' && f.ref === 'b5');
    const finalHead = srv.warden.ctx.bus.head();
    await subFrames.next((f) => f.op === 'event' && f.seq === finalHead);
    const seqs = subFrames.frames.filter((f) => f.op === 'event').map((f) => f.seq as number);
    expect(subFrames.frames[0]!.op).toBe('subscribed');
    expect(seqs.length).toBe(finalHead - startHead);
    expect(seqs).toEqual(
      Array.from({ length: finalHead - startHead }, (_, i) => startHead + i + 1),
    );
    sub.close();
    pub.close();
  });

  it('refuses an upgrade without a valid token with 401', async () => {
    const res = await new Promise<number>((resolve) => {
      const ws = new WebSocket(srv.wsUrl + '?token=forged.token.value');
      ws.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(res).toBe(401);
  });
});
