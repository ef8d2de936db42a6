import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import {
  startTestServer,
  type TestServer,
} from '../../../apps/server/src/test-support/test-server.js';
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

/** A connect timeout no backoff delay equals, so that the tests can tell the timers apart. */
const CONNECT_TIMEOUT = 99_999;
const backoffTimer = (t: { ms: number }) => t.ms !== CONNECT_TIMEOUT;

function track(c: WardenClient): WardenClient {
  cleanups.push(() => c.close({ timeoutMs: 0 }));
  return c;
}

describe('SDK timers on an injected clock', () => {
  it('backs off exponentially up to the maximum while the server is down, and starts over after a successful connection', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-sdk-clock-'));
    let s: TestServer = await startTestServer({ dataDir });
    const port = Number(new URL(s.url).port);
    cleanups.push(async () => {
      await s.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const clock = new FakeClock();
    const c = track(
      connect({
        url: s.url,
        token: await s.token('viewer'),
        clock,
        // 0.5 is the middle of the jitter range: no spread, so the delays are exact.
        random: () => 0.5,
        reconnect: { initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: 0.2 },
        connectTimeoutMs: CONNECT_TIMEOUT,
        heartbeatMs: 0,
        pingIntervalMs: 0,
        closeTimeoutMs: 0,
      }),
    );
    await waitFor(() => c.stats().connected);
    await s.close();

    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t = await clock.next(backoffTimer);
      delays.push(t.ms);
      clock.fire(t); // the attempt fails: nothing listens on the port
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);

    s = await startTestServer({ dataDir, port });
    clock.fire(await clock.next(backoffTimer));
    await waitFor(() => c.stats().connected);
    await s.close();
    expect((await clock.next(backoffTimer)).ms).toBe(100);
  });

  it('spreads the delay by the jitter fraction either way', async () => {
    const clock = new FakeClock();
    let r = 0;
    const c = track(
      connect({
        url: 'http://127.0.0.1:1',
        token: 'x',
        clock,
        random: () => r,
        reconnect: { initialDelayMs: 1000, maxDelayMs: 60_000, multiplier: 3, jitter: 0.25 },
        connectTimeoutMs: CONNECT_TIMEOUT,
        heartbeatMs: 0,
        pingIntervalMs: 0,
        closeTimeoutMs: 0,
      }),
    );
    const first = await clock.next(backoffTimer);
    expect(first.ms).toBe(750); // 1000 − 25 %
    r = 0.999999;
    clock.fire(first);
    expect((await clock.next((t) => backoffTimer(t) && t.id !== first.id)).ms).toBe(3750); // 3000 + 25 %
    void c;
  });

  it('sends a heartbeat on connect and then once per period', async () => {
    const s = await startTestServer();
    cleanups.push(() => s.close());
    const clock = new FakeClock();
    track(
      connect({
        url: s.url,
        token: await s.token('agent', 'beat'),
        agentId: 'beat',
        clock,
        heartbeatMs: 10_000,
        pingIntervalMs: 0,
      }),
    );
    const seen = s.warden.ctx.heartbeats;
    await waitFor(() => seen.has('beat'));
    seen.delete('beat');
    const period = await clock.next((t) => t.ms === 10_000);
    expect(period.ms).toBe(10_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.has('beat')).toBe(false);
    clock.fire(period);
    await waitFor(() => seen.has('beat'));
    expect((await clock.next((t) => t.ms === 10_000)).ms).toBe(10_000);
  });

  it('after unavailable, pauses publishing for the retry delay, then sends the events again', async () => {
    // A stand-in hub speaking the wire protocol: the real server cannot be made to answer
    // `unavailable` on demand. It refuses the first publish frame and acks the others.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    await new Promise((r) => wss.once('listening', r));
    const frames: Array<{ ref: string; events: Array<{ id: string }> }> = [];
    let seq = 0;
    wss.on('connection', (ws) => {
      ws.on('message', (data: Buffer) => {
        const f = JSON.parse(data.toString()) as { op: string; ref: string; events: [] };
        if (f.op !== 'publish') return;
        frames.push(f);
        if (frames.length === 1) {
          ws.send(JSON.stringify({ op: 'error', ref: f.ref, code: 'unavailable', message: 'x' }));
          return;
        }
        const acks = f.events.map((e: { id: string }) => ({ id: e.id, seq: ++seq }));
        ws.send(JSON.stringify({ op: 'ack', ref: f.ref, acks }));
      });
    });
    const clock = new FakeClock();
    const errors: string[] = [];
    const c = track(
      connect({
        url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
        token: 't',
        agentId: 'r',
        clock,
        random: () => 0.5,
        reconnect: { initialDelayMs: 300 },
        heartbeatMs: 0,
        pingIntervalMs: 0,
      }),
    );
    c.on('error', (e) => errors.push((e as WardenSdkError).code));
    const first = c.metrics({ tokens: 1 });
    await waitFor(() => errors.includes('unavailable'));
    // The only timer now: the connection is open, heartbeats and pings are off.
    const pause = await clock.next();
    expect(pause.ms).toBe(300);
    // Published during the pause: held back with the refused one.
    const second = c.metrics({ tokens: 2 });
    await new Promise((r) => setTimeout(r, 100));
    expect(frames).toHaveLength(1);
    clock.fire(pause);
    await expect(first).resolves.toMatchObject({ seq: 1 });
    await expect(second).resolves.toMatchObject({ seq: 2 });
    expect(frames[1]!.events.map((e) => e.id)).toEqual(
      frames[0]!.events.map((e) => e.id).concat(frames[1]!.events[1]!.id),
    );
    expect(c.pending()).toBe(0);
  });

  it('flush({ timeoutMs }) times out on the clock, keeping the events queued', async () => {
    const clock = new FakeClock();
    const c = track(
      connect({
        url: 'http://127.0.0.1:1',
        token: 'x',
        agentId: 'f',
        clock,
        heartbeatMs: 0,
        pingIntervalMs: 0,
        closeTimeoutMs: 0,
      }),
    );
    void c.metrics({ tokens: 1 }).catch(() => undefined);
    const flushed = c.flush({ timeoutMs: 5000 });
    const timer = await clock.next((t) => t.ms === 5000);
    clock.fire(timer);
    await expect(flushed).rejects.toMatchObject({ code: 'timeout' });
    expect(c.pending()).toBe(1);
  });
});
