import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../clock.js';
import { startTestServer, type TestServer } from '../test-support/test-server.js';
import type { MetricsAnswer } from './metrics-query.js';
import type { RollupStore } from './rollup-store.js';

/*
 * The metrics history end to end: events go in over HTTP on a hub with a manual clock,
 * flushes are driven by the test (flush_interval is long), and what comes out is read through
 * GET /api/v1/metrics/query.
 */

type Json = Record<string, unknown>;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** 2026-01-01T10:00:00Z: an hour boundary. */
const T0 = Date.UTC(2026, 0, 1, 10);

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

const servers: TestServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close();
  while (dirs.length > 0) rmSync(dirs.pop()!, { recursive: true, force: true });
});

const QUIET = { metrics: { flush_interval: '1h', system_interval: '1h' } };

async function hub(clock: Clock, config: Json = {}, dataDir?: string): Promise<TestServer> {
  const s = await startTestServer({
    clock,
    config: { ...QUIET, ...config },
    ...(dataDir ? { dataDir } : {}),
  });
  servers.push(s);
  return s;
}

let n = 0;
function metric(agentId: string, ts: number, metrics: Record<string, number>): Json {
  return { id: `m-${++n}`, type: 'metric_update', agentId, ts, data: { metrics } };
}

async function publish(s: TestServer, events: Json[]): Promise<void> {
  const token = await s.token('admin');
  for (let i = 0; i < events.length; i += 1000) {
    const res = await fetch(s.url + '/api/v1/events', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: events.slice(i, i + 1000) }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }
}

async function get<T = Json>(
  s: TestServer,
  path: string,
  role: 'viewer' | 'agent' | null = 'viewer',
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (role)
    headers.authorization = `Bearer ${await s.token(role, role === 'agent' ? 'a1' : undefined)}`;
  const res = await fetch(s.url + path, { headers });
  const text = await res.text();
  return { status: res.status, body: (text.startsWith('{') ? JSON.parse(text) : text) as T };
}

async function query(s: TestServer, params: Record<string, string | number>) {
  const qs = new URLSearchParams(
    Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
  );
  const r = await get<MetricsAnswer>(s, `/api/v1/metrics/query?${qs}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

const flush = (s: TestServer) => s.warden.ctx.features.metrics.flush();

describe('metrics history', () => {
  it('keeps per-agent and fleet minute rows, merges late samples into written rows, and rolls closed hours up', async () => {
    const clock = new ManualClock(T0 + 12 * MIN);
    const s = await hub(clock);
    await publish(s, [
      metric('a1', T0 + 10 * MIN + 1000, { cpu_percent: 10, memory_mb: 100 }),
      metric('a1', T0 + 10 * MIN + 2000, { cpu_percent: 30 }),
      metric('a2', T0 + 10 * MIN + 3000, { cpu_percent: 50 }),
      metric('a1', T0 + 11 * MIN, { cpu_percent: 20 }),
    ]);
    // Before a flush the answer already holds this process's samples (from memory).
    const early = await query(s, {
      agentId: 'a1',
      name: 'cpu_percent',
      from: T0,
      to: T0 + HOUR,
      step: '1m',
    });
    expect(early.points.map((p) => p.count)).toEqual([2, 1]);
    await flush(s);
    const a1 = await query(s, {
      agentId: 'a1',
      name: 'cpu_percent',
      from: T0,
      to: T0 + HOUR,
      step: '1m',
    });
    expect(a1).toMatchObject({ source: '1m', step: MIN, coarsened: false });
    expect(a1.points[0]).toMatchObject({
      ts: T0 + 10 * MIN,
      count: 2,
      sum: 40,
      avg: 20,
      min: 10,
      max: 30,
      last: 30,
      ratePerMinute: 2,
    });
    const fleet = await query(s, { name: 'cpu_percent', from: T0, to: T0 + HOUR, step: '1m' });
    expect(fleet.agentId).toBe('*');
    expect(fleet.points.map((p) => [p.count, p.sum, p.max])).toEqual([
      [3, 90, 50],
      [1, 20, 20],
    ]);

    // A late sample (older ts, arriving after the flush) is merged into the row written.
    await publish(s, [metric('a1', T0 + 10 * MIN + 500, { cpu_percent: 90 })]);
    await flush(s);
    const merged = await query(s, {
      agentId: 'a1',
      name: 'cpu_percent',
      from: T0,
      to: T0 + HOUR,
      step: '1m',
    });
    expect(merged.points[0]).toMatchObject({ count: 3, sum: 130, max: 90, last: 30 });
    expect(merged.points[0]!.p99).toBeCloseTo(90, -0.5);

    // The hour closes (a minute of grace after it ends): its row is its minutes merged, and a
    // 40-day-old range is answered from the hour rows.
    clock.t = T0 + HOUR + 2 * MIN;
    await flush(s);
    clock.t = T0 + 40 * DAY;
    const hourly = await query(s, {
      agentId: 'a1',
      name: 'cpu_percent',
      from: T0,
      to: T0 + 2 * HOUR,
    });
    expect(hourly).toMatchObject({ source: '1h', step: HOUR });
    expect(hourly.points).toHaveLength(1);
    expect(hourly.points[0]).toMatchObject({ ts: T0, count: 4, sum: 150, min: 10, max: 90 });
    // A sample for a closed hour goes into its hour row directly.
    await publish(s, [metric('a1', T0 + 30 * MIN, { cpu_percent: 5 })]);
    await flush(s);
    const again = await query(s, {
      agentId: 'a1',
      name: 'cpu_percent',
      from: T0,
      to: T0 + 2 * HOUR,
    });
    expect(again.points[0]).toMatchObject({ count: 5, sum: 155, min: 5 });
    const counts = await s.warden.ctx.features.metrics.rowCounts();
    // a1: cpu_percent, memory_mb; a2: cpu_percent; fleet: both.
    expect(counts.metric_series).toBe(5);
    expect(counts.metric_rollups_1h).toBe(5);
  });

  it('derives task success, duration, error and restart series from their events', async () => {
    const clock = new ManualClock(T0 + 5 * MIN);
    const s = await hub(clock);
    const ts = T0 + MIN;
    await publish(s, [
      {
        id: 't1',
        type: 'task_completed',
        agentId: 'w',
        ts,
        data: { taskId: 'a', success: true, durationMs: 100 },
      },
      {
        id: 't2',
        type: 'task_completed',
        agentId: 'w',
        ts,
        data: { taskId: 'b', success: true, durationMs: 300 },
      },
      { id: 't3', type: 'task_completed', agentId: 'w', ts, data: { taskId: 'c', success: false } },
      {
        id: 'e1',
        type: 'error_occurred',
        agentId: 'w',
        ts,
        data: { errorType: 'E', message: 'x' },
      },
      {
        id: 'e2',
        type: 'error_occurred',
        agentId: 'w',
        ts,
        data: { errorType: 'F', message: 'y' },
      },
      {
        id: 'l1',
        type: 'agent_lifecycle',
        agentId: 'w',
        ts,
        data: { action: 'started', attempt: 1, reason: 'r' },
      },
      {
        id: 'l2',
        type: 'agent_lifecycle',
        agentId: 'w',
        ts,
        data: { action: 'started', reason: 'first' },
      },
      metric('w', ts, { response_time_ms: 250 }),
    ]);
    await flush(s);
    const q = (name: string) =>
      query(s, { agentId: 'w', name, from: T0, to: T0 + 10 * MIN, step: '10m' });
    const success = (await q('task_success')).points[0]!;
    expect(success).toMatchObject({ count: 3, sum: 2, ratePerMinute: 0.3 });
    expect(success.avg).toBeCloseTo(2 / 3, 10);
    expect((await q('task_duration_ms')).points[0]).toMatchObject({
      count: 2,
      sum: 400,
      min: 100,
      max: 300,
    });
    expect((await q('errors')).points[0]).toMatchObject({ count: 2 });
    expect((await q('restarts')).points[0]).toMatchObject({ count: 1 });
    expect((await q('response_time_ms')).points[0]).toMatchObject({ count: 1, p50: 250, p99: 250 });
    const listed = await get<{ series: Array<{ agentId: string; names: string[] }> }>(
      s,
      '/api/v1/metrics/query?agentId=w',
    );
    expect(listed.body.series).toEqual([
      {
        agentId: 'w',
        names: ['errors', 'response_time_ms', 'restarts', 'task_duration_ms', 'task_success'],
      },
    ]);
    const names = await get<{ names: string[] }>(s, '/api/v1/metrics/names');
    expect(names.body.names).toEqual(expect.arrayContaining(['errors', 'task_success']));
  });

  it('samples host CPU, memory, load, disk and queue depth into the fleet history', async () => {
    const clock = new ManualClock(T0);
    const s = await hub(clock);
    await s.warden.ctx.features.metrics.sampleSystem();
    await flush(s);
    const host = await get<{ series: Array<{ agentId: string; names: string[] }> }>(
      s,
      '/api/v1/metrics/query?agentId=*',
    );
    expect(host.body.series[0]!.names).toEqual(
      expect.arrayContaining([
        'host_cpu_percent',
        'host_memory_used_bytes',
        'host_load1',
        'host_disk_free_bytes',
        'task_queue_depth',
      ]),
    );
    const mem = await query(s, { name: 'host_memory_total_bytes', from: T0 - MIN, to: T0 + MIN });
    expect(mem.points[0]!.last).toBeGreaterThan(0);
  });

  it('replays the events after the last flush when the hub stops without flushing: counts stay exact', async () => {
    const clock = new ManualClock(T0 + 30 * MIN);
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-metrics-'));
    dirs.push(dataDir);
    const first = await hub(clock, {}, dataDir);
    const batch = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) =>
        metric(`r${i % 3}`, T0 + 20 * MIN + (from + i) * 100, { cpu_percent: from + i }),
      );
    await publish(first, batch(0, 30));
    await flush(first);
    // Mid-minute: 20 more are committed but only held in memory when the hub goes away.
    await publish(first, batch(30, 20));
    // A crash: the rollup connection is gone before the last flush, which then fails.
    await (Reflect.get(first.warden.ctx.features.metrics, 'rollups') as RollupStore).close();
    await first.close();
    servers.splice(servers.indexOf(first), 1);

    const second = await hub(clock, {}, dataDir);
    const after = await query(second, { name: 'cpu_percent', from: T0, to: T0 + HOUR, step: '1h' });
    expect(after.points).toEqual([expect.objectContaining({ count: 50, sum: (49 * 50) / 2 })]);
    await flush(second);
    await second.close();
    servers.splice(servers.indexOf(second), 1);
    // A clean stop flushes: the next start replays nothing more.
    const third = await hub(clock, {}, dataDir);
    const again = await query(third, { name: 'cpu_percent', from: T0, to: T0 + HOUR, step: '1h' });
    expect(again.points[0]).toMatchObject({ count: 50, sum: (49 * 50) / 2 });
  });

  it('retention deletes raw samples after metrics_raw but keeps the rollups, and the file shrinks', async () => {
    const clock = new ManualClock(T0);
    const s = await hub(clock);
    const pad = 'x'.repeat(200);
    const events: Json[] = [];
    for (let i = 0; i < 12_000; i++) {
      events.push(metric(`g${i % 20}`, T0 + i * 300, { cpu_percent: i % 100, memory_mb: 512 }));
      if (i % 10 === 0) events[events.length - 1]!.correlationId = pad.slice(0, 100);
    }
    events.push({
      id: 'keep',
      type: 'task_completed',
      agentId: 'g1',
      ts: T0,
      data: { taskId: 'k', success: true },
    });
    for (let i = 0; i < events.length; i += 2000) {
      clock.t = T0 + (i / 2000) * 10 * MIN;
      await publish(s, events.slice(i, i + 2000));
    }
    clock.t = T0 + HOUR;
    await flush(s);
    const range = { agentId: 'g1', name: 'cpu_percent', from: T0, to: T0 + DAY, step: '1h' };
    const before = await query(s, range);
    const total = before.points.reduce((a, p) => a + p.count, 0);
    expect(total).toBe(600);
    const db = join(s.dataDir, 'warden.db');
    const size = () =>
      statSync(db).size + (existsSync(db + '-wal') ? statSync(db + '-wal').size : 0);
    // The writer's own checkpoints: measure the file as retention finds it.
    await retainNow(s);
    const sizeBefore = size();

    clock.t = T0 + DAY + 2 * HOUR;
    await retainNow(s);
    const raw = await get<{ events: unknown[] }>(s, '/api/v1/events?type=metric_update&limit=10');
    expect(raw.body.events).toEqual([]);
    const kept = await get<{ events: Array<{ id: string }> }>(
      s,
      '/api/v1/events?type=task_completed',
    );
    expect(kept.body.events.map((e) => e.id)).toEqual(['keep']);
    expect(size()).toBeLessThan(sizeBefore * 0.6);
    // The rollups still answer, and a 30-day chart reads them (raw rows are gone).
    const after = await query(s, range);
    expect(after.points).toEqual(before.points);
    const month = await query(s, {
      agentId: 'g1',
      name: 'cpu_percent',
      from: clock.t - 30 * DAY,
      to: clock.t,
    });
    expect(month.source).toBe('1m');
    expect(month.points.reduce((a, p) => a + p.count, 0)).toBe(600);
    // A short range asked at a fine step would read raw rows: there are none left.
    const fine = await query(s, {
      agentId: 'g1',
      name: 'cpu_percent',
      from: T0,
      to: T0 + HOUR,
      step: '10s',
    });
    expect(fine.source).toBe('1m');

    // Past metrics_1m the minute rows go; the hour rows stay.
    clock.t = T0 + 31 * DAY;
    await retainNow(s);
    const counts = await s.warden.ctx.features.metrics.rowCounts();
    expect(counts.metric_rollups_1m).toBe(0);
    expect(counts.metric_rollups_1h).toBeGreaterThan(0);
    const old = await query(s, range);
    expect(old.source).toBe('1h');
    expect(old.points.reduce((a, p) => a + p.count, 0)).toBe(600);
  });

  it('answers short fine-grained ranges from raw samples and caps every answer at 1,000 points', async () => {
    const clock = new ManualClock(T0 + 20 * MIN);
    const s = await hub(clock);
    const events: Json[] = [];
    for (let i = 0; i < 600; i++) events.push(metric('fine', T0 + i * 1000, { cpu_percent: i }));
    await publish(s, events);
    const raw = await query(s, {
      agentId: 'fine',
      name: 'cpu_percent',
      from: T0,
      to: T0 + 10 * MIN,
      step: '5s',
    });
    expect(raw).toMatchObject({ source: 'raw', step: 5000, coarsened: false });
    expect(raw.points).toHaveLength(120);
    expect(raw.points[1]).toMatchObject({ ts: T0 + 5000, count: 5, min: 5, max: 9, last: 9 });
    // 30 days at 1 s would be 2.6 M points: the step is made coarser, and says so.
    const month = await query(s, {
      agentId: 'fine',
      name: 'cpu_percent',
      from: T0 - 30 * DAY + 30 * MIN,
      to: T0 + 30 * MIN,
      step: '1s',
    });
    expect(month.coarsened).toBe(true);
    expect(month.source).toBe('1m');
    expect(month.requestedStep).toBe(1000);
    expect(Math.ceil((month.to - month.from) / month.step) + 1).toBeLessThanOrEqual(1000);
    expect(month.points.reduce((a, p) => a + p.count, 0)).toBe(600);
    // The fleet is never read raw.
    const fleet = await query(s, { name: 'cpu_percent', from: T0, to: T0 + 10 * MIN, step: '5s' });
    expect(fleet).toMatchObject({ source: '1m', step: MIN, coarsened: true });
  });

  it('refuses hostile query parameters with problems naming the field, and stays up', async () => {
    const clock = new ManualClock(T0);
    const s = await hub(clock);
    await publish(s, [metric('a1', T0 - MIN, { cpu_percent: 1 })]);
    const bad = async (qs: string, path: string) => {
      const r = await get<{ code: string; errors: Array<{ path: string }> }>(
        s,
        `/api/v1/metrics/query?${qs}`,
      );
      expect(r.status, qs).toBe(400);
      expect(r.body.code).toBe('invalid_request');
      expect(
        r.body.errors.some((e) => e.path.startsWith(path)),
        JSON.stringify(r.body),
      ).toBe(true);
    };
    await bad('name=CPU', '/querystring/name');
    await bad('name=cpu_percent&from=yesterday', '/querystring/from');
    await bad(`name=cpu_percent&from=${T0}&to=${T0 - 1}`, '/querystring/from');
    await bad('name=cpu_percent&step=0s', '/querystring/step');
    await bad('name=cpu_percent&step=-5', '/querystring/step');
    await bad('name=cpu_percent&agentId=%20bad', '/querystring/agentId');
    await bad('name=cpu_percent&extra=1', '/querystring');
    await bad('name=cpu_percent&from=1&from=2', '/querystring/from');
    expect((await get(s, '/api/v1/metrics/query?name=cpu_percent&agentId=ghost')).status).toBe(404);
    expect((await get(s, '/api/v1/metrics/query?agentId=ghost')).status).toBe(404);
    expect((await get(s, '/api/v1/metrics/query?name=nothing_here&agentId=a1')).status).toBe(200);
    expect((await get(s, '/api/v1/metrics/query?name=cpu_percent', null)).status).toBe(401);
    expect((await get(s, '/api/v1/metrics/query?name=cpu_percent', 'agent')).status).toBe(403);

    const keys = ['agentId', 'name', 'from', 'to', 'step', 'x'];
    const value = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.integer().map(String),
      fc.double().map(String),
      fc.constantFrom(
        '*',
        'a1',
        'cpu_percent',
        '1m',
        '0',
        '-1',
        '9'.repeat(30),
        '2026-01-01T00:00:00Z',
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 5 }),
        async (params) => {
          const r = await get<{ code?: string; points?: unknown[] }>(
            s,
            `/api/v1/metrics/query?${new URLSearchParams(params)}`,
          );
          expect([200, 400, 404], JSON.stringify({ params, body: r.body })).toContain(r.status);
          if (r.status === 400) expect(r.body.code).toBe('invalid_request');
          if (r.status === 200 && r.body.points)
            expect(r.body.points.length).toBeLessThanOrEqual(1000);
        },
      ),
      { numRuns: 150 },
    );
    expect((await get(s, '/healthz', null)).status).toBe(200);
  });
});

describe('/metrics export', () => {
  /** `promtool check metrics` on the text; undefined when promtool is not installed. */
  function promtool(input: string): { status: number | null; output: string } | undefined {
    const bin = process.env.PROMTOOL ?? '/usr/bin/promtool';
    if (!existsSync(bin)) {
      if (process.env.CI) expect.fail(`${bin} is missing; CI must install promtool`);
      console.warn(`skipping the promtool check: ${bin} is not installed`);
      return undefined;
    }
    const r = spawnSync(bin, ['check', 'metrics'], { input, encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  async function scrape(s: TestServer): Promise<string> {
    const r = await get<string>(s, '/metrics');
    expect(r.status).toBe(200);
    return r.body;
  }

  const fleetEvents = (ts: number): Json[] => [
    metric('a1', ts, { cpu_percent: 10, memory_mb: 100, response_time_ms: 120 }),
    metric('a2', ts, { cpu_percent: 30, memory_mb: 300, response_time_ms: 80 }),
    metric('a3', ts, { cpu_percent: 5, memory_mb: 50 }),
    {
      id: `x-${++n}`,
      type: 'task_completed',
      agentId: 'a1',
      ts,
      data: { taskId: 't', success: true },
    },
    {
      id: `x-${++n}`,
      type: 'task_completed',
      agentId: 'a3',
      ts,
      data: { taskId: 'u', success: false },
    },
    {
      id: `x-${++n}`,
      type: 'error_occurred',
      agentId: 'a2',
      ts,
      data: { errorType: 'Timeout', message: 'm' },
    },
    {
      id: `x-${++n}`,
      type: 'agent_lifecycle',
      agentId: 'a3',
      ts,
      data: { action: 'started', attempt: 2, reason: 'r' },
    },
    { id: `x-${++n}`, type: 'agent_status_update', agentId: 'a1', ts, data: { status: 'busy' } },
  ];

  it('exports the SPEC §8 families and host gauges, and promtool finds nothing to complain about', async () => {
    const s = await hub(new ManualClock(T0));
    await publish(s, fleetEvents(T0));
    const text = await scrape(s);
    for (const family of [
      'warden_events_ingested_total',
      'warden_ws_connections',
      'warden_agents',
      'warden_agent_cpu_percent',
      'warden_agent_memory_bytes',
      'warden_agent_response_time_seconds',
      'warden_tasks_completed_total',
      'warden_errors_total',
      'warden_agent_restarts_total',
      'warden_host_cpu_percent',
      'warden_host_memory_bytes',
      'warden_host_load1',
      'warden_host_load5',
      'warden_host_load15',
      'warden_host_disk_bytes',
      'process_cpu_user_seconds_total',
    ]) {
      expect(text, family).toMatch(new RegExp(`^# TYPE ${family} `, 'm'));
    }
    expect(text).toMatch(/^warden_host_memory_bytes\{kind="total"\} [1-9]/m);
    expect(text).toMatch(/^warden_host_disk_bytes\{kind="free"\} [1-9]/m);
    expect(text).toContain('warden_agent_restarts_total{agent="a3"} 1');
    const r = promtool(text);
    if (r) expect(r).toEqual({ status: 0, output: '' });
  });

  it('caps per-agent series (the rest add up under agent="_other") and can drop the agent label', async () => {
    const capped = await hub(new ManualClock(T0), {
      metrics: { ...QUIET.metrics, max_agent_series: 1 },
    });
    await publish(capped, fleetEvents(T0));
    const c = await scrape(capped);
    expect(c).toContain('warden_agent_cpu_percent{agent="a1"} 10');
    expect(c).toContain('warden_agent_cpu_percent{agent="_other"} 35');
    expect(c).not.toContain('agent="a2"');
    expect(promtool(c)?.status ?? 0).toBe(0);

    const flat = await hub(new ManualClock(T0), {
      metrics: { ...QUIET.metrics, per_agent_labels: false },
    });
    await publish(flat, fleetEvents(T0));
    const f = await scrape(flat);
    expect(f).not.toMatch(/agent="/);
    expect(f).toMatch(/^warden_agent_cpu_percent 45$/m);
    expect(f).toMatch(/^warden_agent_memory_bytes 471859200$/m);
    expect(f).toContain('warden_tasks_completed_total{outcome="failure"} 1');
    expect(f).toContain('warden_agent_response_time_seconds_count 2');
    const r = promtool(f);
    if (r) expect(r).toEqual({ status: 0, output: '' });
  });
});
