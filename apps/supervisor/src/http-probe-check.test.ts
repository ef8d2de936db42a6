import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckResult } from './health-check.js';
import { HttpProbeCheck } from './http-probe-check.js';
import type { HttpProbeCheckOptions } from './http-probe-check.js';
import { ManualClock } from './test-support/manual-clock.js';

type Mode = 'ok' | 'fail' | 'hang' | 'stream';

/** A real loopback server whose answer the test switches. */
interface Target {
  url: string;
  mode: Mode;
  /** Resolves when the next request arrives. */
  nextRequest(): Promise<void>;
  /** Resolves when the next streamed response's connection closes. */
  streamClosed(): Promise<void>;
  close(): Promise<void>;
}

async function startTarget(): Promise<Target> {
  let onRequest: (() => void) | undefined;
  let onStreamClosed: (() => void) | undefined;
  const target = { mode: 'ok' as Mode } as Target;
  const server = http.createServer((req, res) => {
    onRequest?.();
    onRequest = undefined;
    switch (target.mode) {
      case 'ok':
        res.end('ok');
        break;
      case 'fail':
        res.writeHead(500).end('broken');
        break;
      case 'hang':
        break; // never answers
      case 'stream': {
        res.writeHead(200);
        const t = setInterval(() => res.write('x'), 20);
        res.on('close', () => {
          clearInterval(t);
          onStreamClosed?.();
        });
        break;
      }
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  target.url = `http://127.0.0.1:${port}/health`;
  target.nextRequest = () => new Promise<void>((r) => (onRequest = r));
  target.streamClosed = () => new Promise<void>((r) => (onStreamClosed = r));
  target.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return target;
}

/** A port nothing listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('HttpProbeCheck against a real loopback server', () => {
  let target: Target;
  let clock: ManualClock;
  let probe: HttpProbeCheck | undefined;
  let settled: CheckResult[];
  let waiters: ((r: CheckResult) => void)[];

  const make = (options: Partial<HttpProbeCheckOptions> = {}) => {
    probe = new HttpProbeCheck({
      url: target.url,
      intervalMs: 10_000,
      timeoutMs: 2_000,
      failureThreshold: 3,
      clock,
      onSettled: (r) => {
        settled.push(r);
        waiters.shift()?.(r);
      },
      ...options,
    });
    return probe;
  };
  const nextSettle = () => new Promise<CheckResult>((r) => waiters.push(r));

  beforeEach(async () => {
    target = await startTarget();
    clock = new ManualClock();
    settled = [];
    waiters = [];
    probe = undefined;
  });

  afterEach(async () => {
    probe?.stop();
    await target.close();
  });

  it('is unknown until a probe answers, and healthy on a 200', async () => {
    const p = make();
    expect(p.evaluate(clock.now())).toEqual({
      check: 'probe',
      health: 'unknown',
      reason: 'no probe has answered yet',
    });
    expect(await p.probeOnce()).toEqual({
      check: 'probe',
      health: 'healthy',
      reason: `GET ${target.url} answered 200`,
    });
  });

  it('probes one interval after start, never overlapping: the next is scheduled when one settles', async () => {
    const p = make();
    p.start();
    p.start(); // idempotent
    expect(clock.pending()).toEqual([10_000]);
    target.mode = 'hang';
    const arrived = target.nextRequest();
    clock.advance(9_999);
    expect(settled).toHaveLength(0);
    clock.advance(1);
    await arrived;
    // In flight: only its timeout is pending, no next probe yet.
    expect(clock.pending()).toEqual([2_000]);
    const done = nextSettle();
    clock.advance(2_000);
    await done;
    expect(clock.pending()).toEqual([10_000]);
  });

  it('3 consecutive 500s make it critical, naming the last failure; fewer stay healthy with the count', async () => {
    target.mode = 'fail';
    const p = make();
    p.start();
    const results: CheckResult[] = [];
    for (let i = 0; i < 3; i++) {
      const done = nextSettle();
      clock.advance(10_000);
      results.push(await done);
    }
    expect(results.map((r) => r.health)).toEqual(['healthy', 'healthy', 'critical']);
    expect(results[1]!.reason).toBe(
      `2 consecutive failures of 3 allowed: GET ${target.url} answered 500`,
    );
    expect(results[2]!.reason).toBe(`3 consecutive failures: GET ${target.url} answered 500`);
  });

  it('one success after the threshold brings it back to healthy', async () => {
    target.mode = 'fail';
    const p = make({ failureThreshold: 1 });
    expect((await p.probeOnce()).health).toBe('critical');
    target.mode = 'ok';
    expect(await p.probeOnce()).toEqual({
      check: 'probe',
      health: 'healthy',
      reason: `GET ${target.url} answered 200`,
    });
  });

  it('a server that never answers times out at exactly 2,000 ms; three in a row are critical', async () => {
    target.mode = 'hang';
    const p = make();
    p.start();
    let last: CheckResult | undefined;
    for (let i = 0; i < 3; i++) {
      const arrived = target.nextRequest();
      clock.advance(10_000);
      await arrived;
      const done = nextSettle();
      clock.advance(1_999);
      for (let k = 0; k < 5; k++) await tick();
      expect(settled).toHaveLength(i); // still waiting at 1,999 ms
      clock.advance(1);
      last = await done;
    }
    expect(last).toEqual({
      check: 'probe',
      health: 'critical',
      reason: `3 consecutive failures: GET ${target.url} timed out after 2s`,
    });
  });

  it('a closed port is a failure that says the connection was refused', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/health`;
    const p = make({ url, failureThreshold: 1 });
    expect(await p.probeOnce()).toEqual({
      check: 'probe',
      health: 'critical',
      reason: `1 consecutive failure: GET ${url} failed: connection refused (ECONNREFUSED)`,
    });
  });

  it('does not read a body that never ends: a 200 is healthy and the connection is let go', async () => {
    target.mode = 'stream';
    const closed = target.streamClosed();
    const p = make();
    expect((await p.probeOnce()).health).toBe('healthy');
    await closed;
  });

  it('stop aborts the probe in flight, ignores its outcome and leaves no timer behind', async () => {
    target.mode = 'hang';
    const p = make();
    p.start();
    const arrived = target.nextRequest();
    clock.advance(10_000);
    await arrived;
    p.stop();
    for (let k = 0; k < 20; k++) await tick();
    expect(clock.pending()).toEqual([]);
    expect(settled).toHaveLength(0);
    expect(p.evaluate(clock.now()).health).toBe('unknown');
  });

  it('reset forgets the failures and probes again one interval later', async () => {
    target.mode = 'fail';
    const p = make({ failureThreshold: 1 });
    p.start();
    const done = nextSettle();
    clock.advance(10_000);
    expect((await done).health).toBe('critical');
    p.reset(clock.now());
    expect(p.evaluate(clock.now()).health).toBe('unknown');
    expect(clock.pending()).toEqual([10_000]);
  });

  it('keeps probing when the onSettled listener throws', async () => {
    let calls = 0;
    const p = make({
      onSettled: () => {
        calls++;
        throw new Error('listener bug');
      },
    });
    p.start();
    clock.advance(10_000);
    while (calls < 1) await tick();
    expect(clock.pending()).toEqual([10_000]);
  });

  it('refuses a zero interval or timeout and a threshold below 1', () => {
    const base = { url: 'http://127.0.0.1:1/', clock: new ManualClock() };
    expect(
      () => new HttpProbeCheck({ ...base, intervalMs: 0, timeoutMs: 1, failureThreshold: 1 }),
    ).toThrow(RangeError);
    expect(
      () => new HttpProbeCheck({ ...base, intervalMs: 1, timeoutMs: 0, failureThreshold: 1 }),
    ).toThrow(RangeError);
    expect(
      () => new HttpProbeCheck({ ...base, intervalMs: 1, timeoutMs: 1, failureThreshold: 0 }),
    ).toThrow(RangeError);
  });
});
