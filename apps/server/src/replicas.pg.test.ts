import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  describeWithServices,
  needPostgres,
  needRedis,
  TEST_PG_URL,
  TEST_REDIS_URL,
} from './test-support/service-gate.js';
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
import { FrameReader } from './test-support/test-server.js';
import { WardenProcess } from './test-support/warden-process.js';
import { TokenService } from './token-service.js';

/*
 * SPEC §7 replicas: two real `warden serve` processes on different ports, sharing one
 * PostgreSQL schema and one Redis prefix (and the JWT secret). Publishers on both at once;
 * subscribers on both, replaying from since 0 and live; one subscriber moves from replica A to
 * replica B with `since` half-way. Every subscriber sees the whole log, in seq order, once.
 */

const missing = [await needPostgres(), await needRedis()];

type Frame = Record<string, unknown>;

/** A subscriber on `events`; `seqs()` are the event frames it has taken so far. */
class Subscriber {
  readonly frames: FrameReader;
  private taken: number | undefined;

  private constructor(readonly ws: WebSocket) {
    this.frames = new FrameReader(ws);
  }

  static async open(wsUrl: string, token: string, since?: number): Promise<Subscriber> {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const s = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
      s.once('open', () => resolve(s));
      s.once('error', reject);
    });
    const sub = new Subscriber(ws);
    ws.send(
      JSON.stringify({
        op: 'subscribe',
        topics: ['events'],
        ...(since !== undefined ? { since } : {}),
      }),
    );
    await sub.frames.next((f) => f.op === 'subscribed');
    return sub;
  }

  events(): Frame[] {
    const all = this.frames.frames.filter((f) => f.op === 'event');
    return this.taken === undefined ? all : all.slice(0, this.taken);
  }

  seqs(): number[] {
    return this.events().map((f) => f.seq as number);
  }

  ids(): string[] {
    return this.events().map((f) => (f.event as { id: string }).id);
  }

  /** Disconnects; what arrives after this moment is not taken (the client has gone). */
  leave(): void {
    this.taken = this.frames.frames.filter((f) => f.op === 'event').length;
    this.ws.close();
  }

  async seen(seq: number, timeoutMs = 20_000): Promise<void> {
    await this.frames.next((f) => f.op === 'event' && f.seq === seq, timeoutMs);
  }
}

async function sql(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_PG_URL });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

describeWithServices('two warden serve replicas on one PostgreSQL and one Redis', missing, () => {
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const schema = `wr_${tag}`;
  const prefix = `warden-test:replicas:${tag}:`;
  const secret = randomBytes(32).toString('base64url');
  const tokens = new TokenService(secret);
  const dirs: string[] = [];
  const sockets: WebSocket[] = [];
  let a: WardenProcess | undefined;
  let b: WardenProcess | undefined;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'warden-replicas-'));
    dirs.push(dir);
    const config = join(dir, 'warden.yaml');
    // A long gap timeout: a replica that read other replicas' events from the database instead
    // of the stream would be seconds late, and the latency check below would see it.
    writeFileSync(
      config,
      stringify({ server: { log_level: 'warn' }, redis: { prefix, gap_timeout: '5s' } }),
    );
    const start = (name: string) => {
      const dataDir = join(dir, name);
      // Made here: with the secret from the env and a PostgreSQL store, nothing else creates
      // it before serve writes server.json into it.
      mkdirSync(dataDir);
      return WardenProcess.start(
        [
          '--config',
          config,
          '--data-dir',
          dataDir,
          '--port',
          '0',
          '--database-url',
          `${TEST_PG_URL}?schema=${schema}`,
          '--redis-url',
          TEST_REDIS_URL,
        ],
        { WARDEN_JWT_SECRET: secret },
      );
    };
    // Both at once on a fresh schema: concurrent first starts agree on one migration.
    const [ra, rb] = await Promise.allSettled([start('a'), start('b')]);
    if (ra.status === 'fulfilled') a = ra.value;
    if (rb.status === 'fulfilled') b = rb.value;
    if (ra.status === 'rejected') throw ra.reason;
    if (rb.status === 'rejected') throw rb.reason;
  }, 60_000);

  afterAll(async () => {
    for (const ws of sockets.splice(0)) ws.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await deleteKeys(redis, prefix);
    await redis.quit();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 30_000);

  it('every subscriber on either replica gets every event published on either, in seq order, once, also across a since resume from A to B', async () => {
    const A = a!;
    const B = b!;
    expect(A.url).not.toBe(B.url);
    const admin = await tokens.mint({ role: 'admin', ttlMs: 3_600_000 });
    const viewer = await tokens.mint({ role: 'viewer', ttlMs: 3_600_000 });
    for (const r of [A, B]) {
      const res = await fetch(`${r.url}/readyz`);
      expect(await res.json()).toMatchObject({ checks: { storage: 'ok', redis: 'ok' } });
    }

    // Subscribers before the first publish: live ones and replaying ones on each replica, and
    // the one that will move from A to B.
    const subs = {
      liveA: await Subscriber.open(A.wsUrl, viewer),
      liveB: await Subscriber.open(B.wsUrl, viewer),
      replayA: await Subscriber.open(A.wsUrl, viewer, 0),
      replayB: await Subscriber.open(B.wsUrl, viewer, 0),
    };
    const mover = await Subscriber.open(A.wsUrl, viewer, 0);
    for (const s of [...Object.values(subs), mover]) sockets.push(s.ws);

    // Publishers on both replicas at once: two WebSocket connections and HTTP on each. Batch
    // k of connection c on A and on B share one id, so the database decides which replica's
    // copy is stored and the other acks it as a duplicate.
    const random = seededRandom(0xa11ce);
    const acks: Ack[] = [];
    const publishers = [A, B].flatMap((r, ri) => [
      ...[0, 1].map(async (c) => {
        const ws = await new Promise<WebSocket>((resolve, reject) => {
          const s = new WebSocket(r.wsUrl, { headers: { authorization: `Bearer ${admin}` } });
          s.once('open', () => resolve(s));
          s.once('error', reject);
        });
        sockets.push(ws);
        for (let k = 0; k < 40; k++) {
          const n = 1 + Math.floor(random() * 25);
          const events = range(1, n).map((i) => ({
            id: `r${ri}-c${c}-${k}-${i}`,
            type: 'agent_status_update',
            agentId: `replica-${ri}-agent-${i % 4}`,
            data: { status: i % 2 ? 'busy' : 'idle' },
          }));
          events.push({
            id: `shared-c${c}-${k}`,
            type: 'agent_status_update',
            agentId: 'shared',
            data: { status: 'running' },
          });
          acks.push(...(await wsPublish(ws, `r${ri}c${c}k${k}`, events)));
        }
      }),
      (async () => {
        for (let k = 0; k < 10; k++) {
          const events = range(1, 10).map((i) => ({
            id: `r${ri}-http-${k}-${i}`,
            type: 'metric_update',
            agentId: `replica-${ri}-http`,
            data: { metrics: { queue_depth: k * 10 + i } },
          }));
          acks.push(...(await httpPublish(r.url, admin, events)));
        }
      })(),
    ]);

    // Half-way through, the mover leaves A and resumes on B from the last seq it took.
    const moved = (async () => {
      await waitFor(() => mover.seqs().length >= 400, 'the mover takes 400 events on A', 20_000);
      mover.leave();
      const taken = mover.seqs();
      const resumed = await Subscriber.open(B.wsUrl, viewer, taken[taken.length - 1]!);
      sockets.push(resumed.ws);
      return { taken, resumed };
    })();

    await Promise.all(publishers);
    const { taken, resumed } = await moved;

    // The log, as the database holds it: seqs are assigned under one lock across replicas.
    const stored = await readAllEvents(B.url, admin);
    const storedSeqs = stored.map((e) => e.seq);
    const last = storedSeqs[storedSeqs.length - 1]!;
    expect(storedSeqs).toEqual(range(1, last));
    // Every id once; a duplicate ack (either replica) carries the stored copy's seq.
    const seqOf = new Map(stored.map((e) => [e.id, e.seq]));
    expect(seqOf.size).toBe(stored.length);
    for (const ack of acks) expect(ack.seq, ack.id).toBe(seqOf.get(ack.id));
    expect(
      acks
        .filter((x) => !x.duplicate)
        .map((x) => x.seq)
        .sort((x, y) => x - y),
    ).toEqual(storedSeqs);
    expect(acks.filter((x) => x.duplicate)).toHaveLength(80);
    expect(new Set(stored.map((e) => e.agentId.slice(0, 9)))).toEqual(
      new Set(['replica-0', 'replica-1', 'shared']),
    );

    for (const [name, s] of Object.entries(subs)) {
      await s.seen(last);
      expect(s.seqs(), name).toEqual(storedSeqs);
      expect(s.ids(), name).toEqual(stored.map((e) => e.id));
    }
    await resumed.seen(last);
    expect(taken.length).toBeGreaterThanOrEqual(400);
    expect(taken.length).toBeLessThan(stored.length);
    expect([...taken, ...resumed.seqs()]).toEqual(storedSeqs);
    expect([...mover.ids(), ...resumed.ids()]).toEqual(stored.map((e) => e.id));

    // The stream holds the whole log once, in order, whichever replica committed each event.
    const entries = await readStream(redis, `${prefix}events`);
    expect(entries.map((e) => e.id)).toEqual(storedSeqs.map((s) => `${s}-0`));
    expect(entries.map((e) => e.event)).toEqual(stored);

    // Cross-replica delivery is the stream's, not the database's: one event published on one
    // replica reaches a live subscriber on the other well within the 5 s gap timeout.
    for (const [from, sub] of [
      [A, subs.liveB],
      [B, subs.liveA],
    ] as const) {
      const t0 = Date.now();
      const [ack] = await httpPublish(from.url, admin, [
        {
          id: `probe-${from === A ? 'a' : 'b'}`,
          type: 'agent_status_update',
          agentId: 'probe',
          data: { status: 'idle' },
        },
      ]);
      await sub.seen(ack!.seq, 5000);
      expect(Date.now() - t0).toBeLessThan(2000);
    }

    // Neither replica fell over: both stop cleanly on SIGTERM.
    for (const ws of sockets.splice(0)) ws.close();
    expect(await A.stop()).toBe(0);
    expect(await B.stop()).toBe(0);
  }, 90_000);
});
