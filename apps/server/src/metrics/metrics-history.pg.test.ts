import { afterAll, expect, it } from 'vitest';
import { TestSchemas } from '../test-support/pg-schemas.js';
import type { Clock } from '../clock.js';
import { describeWithServices, needPostgres } from '../test-support/service-gate.js';
import { startTestServer, type TestServer } from '../test-support/test-server.js';
import type { MetricsAnswer } from './metrics-query.js';
import type { RollupStore } from './rollup-store.js';

/*
 * The rollup store on PostgreSQL (its own schema): merge-on-flush, the hour rollup, two hubs
 * flushing shares of one minute, replay after a stop without a flush, and retention.
 */

const schemas = new TestSchemas('wmh');
const schema = schemas.name();
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1, 10);
const servers: TestServer[] = [];

/** A retention pass at the clock's time (the pass the hub started at listen may still run). */
async function retainNow(s: TestServer): Promise<void> {
  await s.warden.retention.runOnce();
  await s.warden.retention.runOnce();
}

class ManualClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

let n = 0;
async function publish(s: TestServer, agentId: string, values: number[], ts: number) {
  const events = values.map((v, i) => ({
    id: `pg-${++n}`,
    type: 'metric_update',
    agentId,
    ts: ts + i,
    data: { metrics: { cpu_percent: v } },
  }));
  const res = await fetch(s.url + '/api/v1/events', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await s.token('admin')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ events }),
  });
  expect(res.status).toBe(200);
}

async function query(s: TestServer, qs: string): Promise<MetricsAnswer> {
  const res = await fetch(`${s.url}/api/v1/metrics/query?${qs}`, {
    headers: { authorization: `Bearer ${await s.token('viewer')}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as MetricsAnswer;
}

describeWithServices('metrics history on PostgreSQL', [await needPostgres()], () => {
  const config = {
    server: { database_url: schemas.url(schema) },
    metrics: { flush_interval: '1h', system_interval: '1h' },
  };
  const clock = new ManualClock(T0 + 10 * MIN);

  afterAll(async () => {
    for (const s of servers) await s.close();
    await schemas.dropAll();
  });

  it('merges two hubs’ shares of one minute, rolls the hour up, replays after a crash and keeps rollups through retention', async () => {
    const a = await startTestServer({ config, clock });
    servers.push(a);
    const b = await startTestServer({ config, clock });
    servers.push(b);
    const minute = T0 + 5 * MIN;
    await publish(a, 'p1', [1, 2, 3], minute);
    await publish(b, 'p1', [10, 20], minute + 100);
    await Promise.all([
      a.warden.ctx.features.metrics.flush(),
      b.warden.ctx.features.metrics.flush(),
    ]);
    const range = `agentId=p1&name=cpu_percent&from=${T0}&to=${T0 + HOUR}&step=1m`;
    expect((await query(a, range)).points).toEqual([
      expect.objectContaining({ ts: minute, count: 5, sum: 36, min: 1, max: 20 }),
    ]);
    // A late share of the same minute merges into the row.
    await publish(b, 'p1', [4], minute + 500);
    await b.warden.ctx.features.metrics.flush();
    expect((await query(a, range)).points[0]).toMatchObject({ count: 6, sum: 40 });

    // b stops without its last flush (connection gone): the replay by a new hub restores it.
    await b.close();
    servers.splice(servers.indexOf(b), 1);
    await a.close();
    servers.splice(servers.indexOf(a), 1);
    const c = await startTestServer({ config, clock });
    servers.push(c);
    await publish(c, 'p1', [100], minute + 900);
    await (Reflect.get(c.warden.ctx.features.metrics, 'rollups') as RollupStore).close();
    await c.close();
    servers.splice(servers.indexOf(c), 1);
    const d = await startTestServer({ config, clock });
    servers.push(d);
    expect((await query(d, range)).points[0]).toMatchObject({ count: 7, sum: 140, max: 100 });

    // The hour closes; past metrics_raw the raw samples go, the rollups answer.
    clock.t = T0 + DAY + 2 * HOUR;
    await retainNow(d);
    const raw = await fetch(`${d.url}/api/v1/events?type=metric_update`, {
      headers: { authorization: `Bearer ${await d.token('viewer')}` },
    });
    expect(((await raw.json()) as { events: unknown[] }).events).toEqual([]);
    expect((await query(d, range)).points[0]).toMatchObject({ count: 7, sum: 140 });
    clock.t = T0 + 40 * DAY;
    await retainNow(d);
    const old = await query(d, `agentId=p1&name=cpu_percent&from=${T0}&to=${T0 + 2 * HOUR}`);
    expect(old.source).toBe('1h');
    expect(old.points[0]).toMatchObject({ ts: T0, count: 7, sum: 140 });
    const counts = await d.warden.ctx.features.metrics.rowCounts();
    expect(counts).toMatchObject({ metric_rollups_1m: 0, metric_rollups_1h: 2, metric_series: 2 });
  });
});
