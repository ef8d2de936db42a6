import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import { BusMessage } from './bus.js';
import { systemClock } from './clock.js';
import { RedisStreamBus } from './redis-stream-bus.js';
import { LogCapture } from './test-support/log-capture.js';
import { describeWithServices, needRedis, TEST_REDIS_URL } from './test-support/service-gate.js';
import {
  deleteKeys,
  httpPublish,
  range,
  readAllEvents,
  readStream,
  seededRandom,
  waitFor,
  wsPublish,
  type Ack,
} from './test-support/stream-check.js';
import { startTestServer, type TestServer } from './test-support/test-server.js';

/*
 * SPEC §7 "With --redis-url": every committed event is appended to `<prefix>events`, field
 * `event` = the stored event JSON including seq, trimmed with MAXLEN ~. Checked from the outside
 * with a plain ioredis client against the machine's Redis; each test has its own key prefix.
 */

const missing = await needRedis();

const status = (id: string, agentId: string, s = 'running') => ({
  id,
  type: 'agent_status_update',
  agentId,
  data: { status: s, message: `from ${id}` },
});

describeWithServices('Redis stream <prefix>events', [missing], () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const servers: TestServer[] = [];
  const buses: RedisStreamBus[] = [];

  const freshPrefix = () => {
    const p = `warden-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
    prefixes.push(p);
    return p;
  };

  const streamHead = async (prefix: string) => Number(await redis.get(`${prefix}events:head`));

  async function serve(
    prefix: string,
    redisConfig: Record<string, unknown> = {},
    ingest: Record<string, unknown> = {},
  ) {
    const srv = await startTestServer({
      config: {
        server: { redis_url: TEST_REDIS_URL },
        redis: { prefix, ...redisConfig },
        ingest,
      },
    });
    servers.push(srv);
    return srv;
  }

  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    for (const b of buses.splice(0)) await b.close();
    for (const s of servers.splice(0)) await s.close();
    for (const p of prefixes) await deleteKeys(redis, p);
    await redis.quit();
  });

  // The writer thread appends on SQLite; with it off, the event loop does (as on PostgreSQL).
  it.each([
    ['from the SQLite writer thread', true],
    ['from the event loop (ingest.writer_thread: false)', false],
  ])(
    'appends every acked event once, as entry <seq>-0 holding the stored event, in seq order, %s',
    async (_how, writerThread) => {
      const prefix = freshPrefix();
      const srv = await serve(prefix, {}, { writer_thread: writerThread });
      const admin = await srv.token('admin');
      const acks: Ack[] = [];

      // HTTP: a single event, a batch with an id repeated inside it, a batch repeating earlier ids.
      acks.push(...(await httpPublish(srv.url, admin, [status('h-single', 'http-a')])));
      const batch = range(0, 99).map((i) => status(`h-${i % 90}`, `http-${i % 3}`));
      acks.push(...(await httpPublish(srv.url, admin, batch)));
      const again = [...range(0, 19).map((i) => status(`h-${i}`, 'http-0')), status('h-new', 'x')];
      acks.push(...(await httpPublish(srv.url, admin, again)));

      // WebSocket: two connections publishing at once, with ids that collide across them.
      const sockets = [await srv.connect(admin), await srv.connect(admin)];
      const wsAcks = await Promise.all(
        sockets.map(async (ws, c) => {
          const got: Ack[] = [];
          for (let b = 0; b < 20; b++) {
            const events = range(0, 24).map((i) =>
              // Every fifth id is shared by both connections: one stores it, one gets a duplicate.
              i % 5 === 0
                ? status(`w-shared-${b}-${i}`, 'ws-s')
                : status(`w-${c}-${b}-${i}`, `ws-${c}`),
            );
            got.push(...(await wsPublish(ws, `c${c}b${b}`, events)));
          }
          return got;
        }),
      );
      for (const ws of sockets) ws.close();
      for (const a of wsAcks) acks.push(...a);

      // What was acked: one seq per distinct id, a duplicate carrying the original's seq.
      const seqOf = new Map<string, number>();
      for (const a of acks.filter((x) => !x.duplicate)) {
        expect(seqOf.has(a.id), `${a.id} stored twice`).toBe(false);
        seqOf.set(a.id, a.seq);
      }
      for (const a of acks.filter((x) => x.duplicate)) expect(a.seq).toBe(seqOf.get(a.id));
      expect(acks.filter((a) => a.duplicate).length).toBeGreaterThanOrEqual(10 + 20 + 20 * 5);
      const storedSeqs = [...seqOf.values()].sort((a, b) => a - b);
      const last = storedSeqs[storedSeqs.length - 1]!;
      // Duplicates spend no seq: the log is contiguous from 1.
      expect(storedSeqs).toEqual(Array.from({ length: storedSeqs.length }, (_, i) => i + 1));

      await waitFor(
        async () => (await streamHead(prefix)) === last,
        'stream head reaches the last seq',
      );
      const entries = await readStream(redis, `${prefix}events`);
      expect(entries.map((e) => e.id)).toEqual(storedSeqs.map((s) => `${s}-0`));
      expect(entries.every((e) => e.fields.length === 1 && e.fields[0] === 'event')).toBe(true);

      // Each entry is the stored event, as the API returns it, including its seq.
      const stored = await readAllEvents(srv.url, admin);
      expect(stored.map((e) => e.seq)).toEqual(storedSeqs);
      expect(entries.map((e) => e.event)).toEqual(stored);
      for (const e of entries) expect(e.event.seq).toBe(Number(e.id.split('-')[0]));
      // Every acked id is in the stream exactly once.
      const ids = entries.map((e) => e.event.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(new Set(seqOf.keys()));
    },
  );

  it('trims the stream to about redis.stream_max_len, keeping the newest entries', async () => {
    const prefix = freshPrefix();
    const srv = await serve(prefix, { stream_max_len: 1000 });
    const admin = await srv.token('admin');
    const total = 6000;
    for (let b = 0; b < total / 500; b++) {
      const events = range(0, 499).map((i) => status(`t-${b}-${i}`, `trim-${i % 4}`));
      await httpPublish(srv.url, admin, events);
    }
    await waitFor(async () => (await streamHead(prefix)) === total, 'stream head reaches 6000');
    const len = await redis.xlen(`${prefix}events`);
    // `MAXLEN ~` trims whole stream nodes (100 entries by default): never below the limit,
    // never far above it, and far below what was appended.
    expect(len).toBeGreaterThanOrEqual(1000);
    expect(len).toBeLessThan(1500);
    const entries = await readStream(redis, `${prefix}events`);
    expect(entries.map((e) => e.event.seq)).toEqual(range(total - len + 1, total));
  });

  it('two buses on one prefix, publishing interleaved commits, each deliver every event once in order', async () => {
    const prefix = freshPrefix();
    // The shared database of two replicas: seq is assigned in commit order across both.
    const log: StoredEvent[] = [];
    const readGap = async (since: number, until: number) => {
      await new Promise((r) => setImmediate(r));
      return log.slice(Math.max(0, since), Math.max(0, until));
    };
    const commit = (replica: number, n: number): BusMessage[] => {
      const out: BusMessage[] = [];
      for (let i = 0; i < n; i++) {
        const seq = log.length + 1;
        const ev = {
          seq,
          receivedAt: 1_763_791_200_000 + seq,
          id: `r${replica}-${seq}`,
          type: 'agent_status_update',
          agentId: `replica-${replica}`,
          ts: 1_763_791_200_000,
          data: { status: 'busy' },
        } as StoredEvent;
        log.push(ev);
        out.push(new BusMessage(ev));
      }
      return out;
    };
    const logs = [new LogCapture('debug'), new LogCapture('debug')];
    const delivered: number[][] = [[], []];
    const deliveredIds: string[][] = [[], []];
    for (let r = 0; r < 2; r++) {
      const bus = await RedisStreamBus.start({
        url: TEST_REDIS_URL,
        prefix,
        maxLen: 1_000_000,
        gapTimeoutMs: 20,
        maxBacklog: 100_000,
        // Replicas of a shared database read the stream back.
        readStream: true,
        head: 0,
        readGap,
        readHead: () => Promise.resolve(log.length),
        clock: systemClock,
        log: logs[r]!.logger,
      });
      buses.push(bus);
      bus.subscribe((ms) => {
        for (const m of ms) {
          delivered[r]!.push(m.seq);
          deliveredIds[r]!.push(m.event.id);
        }
      });
    }
    const [a, b] = buses.slice(-2) as [RedisStreamBus, RedisStreamBus];

    // Each replica publishes its own commits in commit order, but late: the other replica's
    // higher seqs often reach Redis first, so both the stream and the readers meet gaps.
    const random = seededRandom(0x5eed);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await Promise.all(
      [a, b].map(async (bus, r) => {
        let chain = Promise.resolve();
        for (let i = 0; i < 150; i++) {
          const messages = commit(r, 1 + Math.floor(random() * 12));
          const delay = Math.floor(random() * 4);
          chain = chain.then(async () => {
            await sleep(delay);
            bus.publish(messages);
          });
          await sleep(Math.floor(random() * 3));
        }
        await chain;
      }),
    );
    const total = log.length;
    await waitFor(
      () => delivered[0]!.length >= total && delivered[1]!.length >= total,
      'both buses deliver every event',
      15_000,
    );
    for (let r = 0; r < 2; r++) {
      expect(delivered[r]).toEqual(range(1, total));
      expect(deliveredIds[r]).toEqual(log.map((e) => e.id));
    }
    await waitFor(async () => (await streamHead(prefix)) === total, 'stream head reaches total');
    const entries = await readStream(redis, `${prefix}events`);
    expect(entries.map((e) => e.id)).toEqual(range(1, total).map((s) => `${s}-0`));
    expect(entries.map((e) => e.event)).toEqual(log);
    expect(a.pendingAppends() + b.pendingAppends()).toBe(0);
    // The interleaving did what it is for: later seqs reached Redis before lower ones.
    const gapFills = logs.flatMap((l) => l.matching(/stream gap filled/));
    expect(gapFills.length).toBeGreaterThan(0);
  });
});
