import { Redis } from 'ioredis';
import type WebSocket from 'ws';
import { afterEach, expect, it } from 'vitest';
import { LEVEL } from './test-support/log-capture.js';
import { startLoggedTestServer, type LoggedTestServer } from './test-support/logged-test-server.js';
import { RedisProcess } from './test-support/redis-process.js';
import { describeWithServices, needRedisServerBinary } from './test-support/service-gate.js';
import {
  range,
  readAllEvents,
  readStream,
  waitFor,
  wsPublish,
  type Ack,
} from './test-support/stream-check.js';
import { FrameReader } from './test-support/test-server.js';

/*
 * SPEC §7 "If Redis goes away, ingest and local delivery go on; Warden reconnects and /readyz
 * reports the outage." A private redis-server is killed with SIGKILL mid-ingest and started
 * again on the same port (empty: nothing is persisted), while a publisher and a subscriber on
 * the one replica keep going.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describeWithServices('Redis outage', [needRedisServerBinary()], () => {
  let redisProc: RedisProcess | undefined;
  let srv: LoggedTestServer | undefined;
  const sockets: WebSocket[] = [];
  const clients: Redis[] = [];
  let stop = false;

  afterEach(async () => {
    stop = true;
    for (const ws of sockets.splice(0)) ws.close();
    for (const c of clients.splice(0)) c.disconnect();
    await srv?.close();
    srv = undefined;
    await redisProc?.stop();
    redisProc = undefined;
  });

  it('kill -9 of Redis mid-ingest: acks and local delivery go on, /readyz says 503, the stream catches up after the restart, one warning per outage', async () => {
    redisProc = await RedisProcess.start();
    // A small backlog: most of the outage's events are dropped from memory and must be read
    // back from the database when the stream catches up.
    srv = await startLoggedTestServer({
      config: { server: { redis_url: redisProc.url }, redis: { max_backlog: 100 } },
    });
    const server = srv;
    expect(await readyz(server.url)).toMatchObject({
      status: 200,
      body: { checks: { storage: 'ok', redis: 'ok' } },
    });

    const sub = await server.connect(await server.token('viewer'));
    sockets.push(sub);
    const frames = new FrameReader(sub);
    sub.send(JSON.stringify({ op: 'subscribe', topics: ['events'] }));
    await frames.next((f) => f.op === 'subscribed');

    // One publisher, ten events a publish, back to back, until told to stop; a publish that
    // fails (no ack, or an error frame) ends the loop and fails the test below.
    const pub = await server.connect(await server.token('admin'));
    sockets.push(pub);
    const acked: Ack[] = [];
    let publishError: unknown;
    stop = false;
    const publishing = (async () => {
      for (let n = 0; !stop; n++) {
        const events = range(0, 9).map((i) => ({
          id: `o-${n}-${i}`,
          type: 'metric_update',
          agentId: `outage-${i % 3}`,
          data: { metrics: { queue_depth: n } },
        }));
        acked.push(...(await wsPublish(pub, `p${n}`, events, 5000)));
        await sleep(5);
      }
    })().catch((err: unknown) => {
      publishError = err;
    });
    const ingest = async (more: number, minMs = 0) => {
      const from = acked.length;
      const started = Date.now();
      await waitFor(() => {
        if (publishError) throw publishError as Error;
        return acked.length >= from + more && Date.now() - started >= minMs;
      }, `${more} more acks`);
    };

    await ingest(200);
    await redisProc.kill();
    const ackedBeforeKill = acked.length;
    await waitFor(async () => (await readyz(server.url)).status === 503, '/readyz says 503', 5000);
    const down = await readyz(server.url);
    expect(down.body).toMatchObject({
      status: 503,
      code: 'unavailable',
      checks: { storage: 'ok', redis: 'down' },
    });
    expect(down.body.detail).toMatch(/^redis unreachable since \S+: \S/);

    // Ingest goes on through the outage, long enough for several reconnect attempts.
    await ingest(300, 1500);
    expect((await readyz(server.url)).status).toBe(503);
    const ackedInOutage = acked.length;

    await redisProc.start();
    const restartedAt = Date.now();
    await waitFor(
      async () => (await readyz(server.url)).status === 200,
      '/readyz is 200 again after the restart',
      8000,
    );
    const recoveryMs = Date.now() - restartedAt;
    expect(recoveryMs).toBeLessThan(8000);
    await ingest(200);
    stop = true;
    await publishing;
    expect(publishError).toBeUndefined();

    // Nothing acked was lost or doubled, and the subscriber on this replica saw all of it, in
    // order, during the outage too.
    const admin = await server.token('admin');
    const stored = await readAllEvents(server.url, admin);
    const storedSeqs = stored.map((e) => e.seq);
    expect(acked.every((a) => !a.duplicate)).toBe(true);
    expect(acked.map((a) => a.seq)).toEqual(storedSeqs);
    expect(stored.map((e) => e.id)).toEqual(acked.map((a) => a.id));
    const lastSeq = storedSeqs[storedSeqs.length - 1]!;
    await frames.next((f) => f.op === 'event' && f.seq === lastSeq);
    const delivered = frames.frames.filter((f) => f.op === 'event');
    expect(delivered.map((f) => f.seq)).toEqual(storedSeqs);
    expect(delivered.map((f) => (f.event as { id: string }).id)).toEqual(acked.map((a) => a.id));

    // The new Redis started empty: what was appended before the kill is gone with the old one.
    // Everything acked since — in the outage and after — reaches the new stream, each seq once,
    // in order, as the stored event.
    const plain = new Redis(redisProc.url, { maxRetriesPerRequest: 1 });
    clients.push(plain);
    await waitFor(
      async () => Number(await plain.get('warden:events:head')) === lastSeq,
      'the new stream catches up to the last acked seq',
    );
    const entries = await readStream(plain, 'warden:events');
    const firstAfterKill = acked[ackedBeforeKill]!.seq;
    expect(entries.length).toBeGreaterThan(0);
    expect(entries[0]!.event.seq).toBeLessThanOrEqual(firstAfterKill);
    const expected = stored.filter((e) => e.seq >= entries[0]!.event.seq);
    expect(entries.map((e) => e.id)).toEqual(expected.map((e) => `${e.seq}-0`));
    expect(entries.map((e) => e.event)).toEqual(expected);
    expect(expected.length).toBeGreaterThanOrEqual(acked.length - ackedBeforeKill);
    expect(ackedInOutage - ackedBeforeKill).toBeGreaterThanOrEqual(300);

    // Said once per outage, not once per event or per reconnect attempt; nothing worse.
    const log = server.log;
    expect(log.matching(/redis unreachable/, LEVEL.warn)).toHaveLength(1);
    expect(log.matching(/redis reachable again/)).toHaveLength(1);
    expect(log.lines.filter((l) => l.level >= LEVEL.error)).toEqual([]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('starts while Redis is down: serves and acks, /readyz says 503, and connects when Redis comes', async () => {
    redisProc = await RedisProcess.start();
    await redisProc.kill();
    srv = await startLoggedTestServer({ config: { server: { redis_url: redisProc.url } } });
    const server = srv;
    const down = await readyz(server.url);
    expect(down).toMatchObject({ status: 503, body: { checks: { redis: 'down' } } });
    expect(down.body.detail).toMatch(/redis unreachable/);

    const pub = await server.connect(await server.token('admin'));
    sockets.push(pub);
    const events = range(1, 50).map((i) => ({
      id: `s-${i}`,
      type: 'agent_status_update',
      agentId: 'cold-start',
      data: { status: 'running' },
    }));
    const acks = await wsPublish(pub, 'cold', events);
    expect(acks.map((a) => a.seq)).toEqual(range(1, 50));

    await redisProc.start();
    await waitFor(
      async () => (await readyz(server.url)).status === 200,
      '/readyz is 200 once Redis is up',
      8000,
    );
    const plain = new Redis(redisProc.url, { maxRetriesPerRequest: 1 });
    clients.push(plain);
    await waitFor(
      async () => Number(await plain.get('warden:events:head')) === 50,
      'the stream gets what was acked while Redis was down',
    );
    const entries = await readStream(plain, 'warden:events');
    expect(entries.map((e) => e.event.id)).toEqual(events.map((e) => e.id));
    expect(server.log.matching(/redis unreachable/, LEVEL.warn)).toHaveLength(1);
  });
});
