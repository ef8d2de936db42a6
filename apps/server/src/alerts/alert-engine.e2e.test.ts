import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpSink } from '../test-support/http-sink.js';
import { startTestServer, type TestServer } from '../test-support/test-server.js';

const T0 = 1_760_000_000_000;
const S = 1000;
const M = 60 * S;

/** The hub's time, moved by the test. */
class TestClock {
  t = T0;
  now(): number {
    return this.t;
  }
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let sink: HttpSink;
const servers: TestServer[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  sink = await HttpSink.start();
});
afterAll(async () => {
  await sink.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  sink.requests.length = 0;
});

async function hub(alerts: Json, clock: TestClock, dataDir?: string): Promise<TestServer> {
  const s = await startTestServer({
    clock,
    ...(dataDir ? { dataDir } : {}),
    config: {
      alerts: {
        builtin_rules: false,
        receivers: [
          { name: 'hook', type: 'webhook', url: sink.url('/hook'), max_attempts: 1, timeout: '2s' },
          {
            name: 'mail-hook',
            type: 'webhook',
            url: sink.url('/escalated'),
            max_attempts: 1,
            timeout: '2s',
          },
        ],
        default_receivers: ['hook'],
        group_wait: '0s',
        ...alerts,
      },
    },
  });
  servers.push(s);
  return s;
}

async function api(
  s: TestServer,
  method: string,
  path: string,
  body?: unknown,
  role: 'admin' | 'operator' | 'viewer' = 'admin',
) {
  const res = await fetch(s.url + path, {
    method,
    headers: {
      authorization: `Bearer ${await s.token(role)}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json };
}

let n = 0;
async function publish(s: TestServer, clock: TestClock, agentId: string, type: string, data: Json) {
  const r = await api(s, 'POST', '/api/v1/events', {
    id: `ev-${n++}-${Math.random()}`,
    type,
    agentId,
    ts: clock.t,
    data,
  });
  expect(r.status).toBe(200);
  // The bus delivers after the ack; let the listener run.
  await new Promise((r2) => setTimeout(r2, 20));
}

/** One evaluation cycle at the clock's time, and the deliveries it started. */
async function cycle(s: TestServer) {
  s.warden.ctx.features.alerts.runCycle();
  await s.warden.ctx.features.alerts.dispatcher.settle();
}

const hooks = () => sink.requests.filter((r) => r.path === '/hook').map((r) => r.json as Json);

describe('alert engine end to end', () => {
  it('a threshold rule with `for` fires, is delivered to a real webhook, listed, and resolves with start and end', async () => {
    const clock = new TestClock();
    const s = await hub(
      {
        rules: [
          {
            name: 'cpu-high',
            type: 'threshold',
            metric: 'cpu_percent',
            op: '>',
            threshold: 80,
            for: '1m',
            agents: { match: { team: 'ml' } },
            annotations: { summary: '{{agentId}} CPU at {{value}}% ({{labels.team}})' },
          },
        ],
      },
      clock,
    );
    await publish(s, clock, 'w1', 'agent_status_update', {
      status: 'running',
      meta: { labels: { team: 'ml' } },
    });
    await publish(s, clock, 'w2', 'agent_status_update', {
      status: 'running',
      meta: { labels: { team: 'web' } },
    });
    await publish(s, clock, 'w1', 'metric_update', { metrics: { cpu_percent: 95 } });
    await publish(s, clock, 'w2', 'metric_update', { metrics: { cpu_percent: 99 } });
    await cycle(s);
    let list = await api(s, 'GET', '/api/v1/alerts', undefined, 'viewer');
    expect(list.body.alerts.map((a: Json) => [a.agentId, a.state])).toEqual([['w1', 'pending']]);
    clock.t += M;
    await cycle(s);
    expect(hooks()).toHaveLength(1);
    const body = hooks()[0]!;
    expect(body.status).toBe('firing');
    expect(body.alerts[0].labels).toMatchObject({
      alertname: 'cpu-high',
      agentId: 'w1',
      team: 'ml',
    });
    expect(body.alerts[0].annotations.summary).toBe('w1 CPU at 95% (ml)');
    expect(body.text).toContain('w1 CPU at 95%');
    list = await api(s, 'GET', '/api/v1/alerts?state=firing');
    const a = list.body.alerts[0];
    expect(a).toMatchObject({
      rule: 'cpu-high',
      state: 'firing',
      value: 95,
      startsAt: T0,
      acknowledged: false,
    });
    expect(typeof a.id).toBe('string');
    const metrics = await fetch(`${s.url}/metrics`, {
      headers: { authorization: `Bearer ${await s.token('admin')}` },
    });
    expect(await metrics.text()).toContain('warden_alerts_firing{severity="warning"} 1');
    const dash = await api(s, 'GET', '/api/v1/dashboard', undefined, 'viewer');
    expect(dash.body.alerts.firing.map((x: Json) => x.id)).toEqual([a.id]);

    await publish(s, clock, 'w1', 'metric_update', { metrics: { cpu_percent: 10 } });
    clock.t += 5 * M;
    await cycle(s);
    expect(hooks().map((h) => h.status)).toEqual(['firing', 'resolved']);
    list = await api(s, 'GET', '/api/v1/alerts?state=all');
    expect(list.body.alerts).toHaveLength(1);
    expect(list.body.alerts[0]).toMatchObject({
      state: 'resolved',
      startsAt: T0,
      endsAt: T0 + 6 * M,
    });
    expect((await api(s, 'GET', '/api/v1/alerts')).body.alerts).toEqual([]);
  });

  it('an absence rule fires for an agent that went quiet', async () => {
    const clock = new TestClock();
    const s = await hub(
      { rules: [{ name: 'silent', type: 'absence', absent_for: '2m', severity: 'critical' }] },
      clock,
    );
    await publish(s, clock, 'quiet-1', 'metric_update', { metrics: { x: 1 } });
    await cycle(s);
    clock.t += 2 * M;
    await cycle(s);
    const h = hooks();
    expect(h).toHaveLength(1);
    expect(h[0]!.alerts[0].labels).toMatchObject({
      alertname: 'silent',
      agentId: 'quiet-1',
      agent_down: 'true',
      severity: 'critical',
    });
  });

  it('a rate rule fires on errors per window', async () => {
    const clock = new TestClock();
    const s = await hub(
      {
        rules: [
          {
            name: 'errs',
            type: 'rate',
            rate: { of: 'errors', window: '5m' },
            op: '>=',
            threshold: 3,
          },
        ],
      },
      clock,
    );
    for (let i = 0; i < 3; i++) {
      await publish(s, clock, 'e1', 'error_occurred', {
        errorType: 'TypeError',
        message: `bad ${i}`,
      });
      clock.t += 10 * S;
    }
    await cycle(s);
    expect(hooks()[0]!.alerts[0]).toMatchObject({ rule: 'errs', value: 3 });
  });

  it("the built-in agent-failed rule turns the supervisor's escalation into a critical alert that inhibits the agent's warnings", async () => {
    const clock = new TestClock();
    const s = await hub(
      {
        builtin_rules: true,
        rules: [{ name: 'cpu', type: 'threshold', metric: 'cpu_percent', op: '>', threshold: 50 }],
      },
      clock,
    );
    const rules = await api(s, 'GET', '/api/v1/alert-rules', undefined, 'viewer');
    expect(rules.body.rules.map((r: Json) => r.id)).toEqual(
      expect.arrayContaining([
        'agent-cpu-high',
        'agent-memory-high',
        'agent-error-rate',
        'agent-failed',
        'cpu',
      ]),
    );
    await publish(s, clock, 'sup-1', 'metric_update', { metrics: { cpu_percent: 60 } });
    await publish(s, clock, 'sup-1', 'escalation', {
      reason: 'circuit open after 5 restarts',
      severity: 'critical',
      attempts: 5,
    });
    await cycle(s);
    const h = hooks();
    expect(h.map((x) => x.groupLabels.alertname)).toEqual(['agent-failed']);
    expect(h[0]!.alerts[0].labels.severity).toBe('critical');
    const cpu = (await api(s, 'GET', '/api/v1/alerts?rule=cpu')).body.alerts[0];
    expect(cpu.state).toBe('firing');
    expect(cpu.inhibitedBy).toBe(h[0]!.alerts[0].fingerprint);
    // Back to running: the failure resolves.
    await publish(s, clock, 'sup-1', 'agent_status_update', { status: 'running' });
    clock.t += 5 * M;
    await cycle(s);
    expect(
      hooks()
        .map((x) => [x.groupLabels.alertname, x.status])
        .sort(),
    ).toEqual([
      ['agent-failed', 'firing'],
      ['agent-failed', 'resolved'],
      ['cpu', 'firing'],
    ]);
  });

  it('an event rule matches an error fingerprint', async () => {
    const clock = new TestClock();
    const s = await hub(
      {
        rules: [
          {
            name: 'quota',
            type: 'event',
            match: { type: 'error_occurred', fingerprint: 'quota' },
            severity: 'critical',
          },
        ],
      },
      clock,
    );
    await publish(s, clock, 'f1', 'error_occurred', { errorType: 'E', message: 'x' });
    await publish(s, clock, 'f2', 'error_occurred', {
      errorType: 'E',
      message: 'y',
      fingerprint: 'quota',
    });
    await cycle(s);
    expect(hooks().map((h) => h.alerts.map((a: Json) => a.labels.agentId))).toEqual([['f2']]);
  });

  it('an unacknowledged alert escalates to the next receiver once; an acknowledged one does not', async () => {
    const clock = new TestClock();
    const s = await hub(
      {
        rules: [
          {
            name: 'hot',
            type: 'threshold',
            metric: 'temp',
            op: '>=',
            threshold: 1,
            group_by: ['alertname', 'agentId'],
            escalate: [{ after: '15m', receivers: ['mail-hook'] }],
          },
        ],
      },
      clock,
    );
    await publish(s, clock, 'x1', 'metric_update', { metrics: { temp: 5 } });
    await publish(s, clock, 'x2', 'metric_update', { metrics: { temp: 5 } });
    await cycle(s);
    const x2 = (await api(s, 'GET', '/api/v1/alerts?agentId=x2')).body.alerts[0];
    expect((await api(s, 'POST', `/api/v1/alerts/${x2.id}/ack`, {}, 'viewer')).status).toBe(403);
    const acked = await api(
      s,
      'POST',
      `/api/v1/alerts/${x2.id}/ack`,
      { comment: 'looking at the cooling' },
      'operator',
    );
    expect(acked.body).toMatchObject({ acknowledged: true, ackComment: 'looking at the cooling' });
    expect((await api(s, 'GET', `/api/v1/alerts/${x2.id}`)).body).toMatchObject({
      ackComment: 'looking at the cooling',
    });
    expect((await api(s, 'POST', '/api/v1/alerts/nope/ack', {})).status).toBe(404);
    clock.t += 15 * M;
    await cycle(s);
    clock.t += 15 * M;
    await cycle(s);
    const esc = sink.requests.filter((r) => r.path === '/escalated').map((r) => r.json as Json);
    expect(esc).toHaveLength(1);
    expect(esc[0]!.escalation).toEqual({ tier: 0, afterMs: 15 * M });
    expect(esc[0]!.alerts.map((a: Json) => a.labels.agentId)).toEqual(['x1']);
  });

  it('silences: create, match, refuse an invalid regex naming the field, expire', async () => {
    const clock = new TestClock();
    const s = await hub(
      { rules: [{ name: 'hot', type: 'threshold', metric: 'temp', op: '>', threshold: 1 }] },
      clock,
    );
    const bad = await api(s, 'POST', '/api/v1/silences', {
      matchers: [{ name: 'agentId', value: '(', isRegex: true, isEqual: true }],
      endsAt: T0 + M,
      comment: 'x',
    });
    expect(bad.status, JSON.stringify(bad.body)).toBe(400);
    expect(bad.body.errors[0].path).toBe('/matchers/0/value');
    const all = await api(s, 'POST', '/api/v1/silences', {
      matchers: [{ name: 'x', value: '.*', isRegex: true }],
      endsAt: T0 + M,
      comment: 'x',
    });
    expect(all.status).toBe(400);
    const created = await api(
      s,
      'POST',
      '/api/v1/silences',
      {
        matchers: [{ name: 'agentId', value: 's-.*', isRegex: true, isEqual: true }],
        endsAt: new Date(T0 + 10 * M).toISOString(),
        comment: 'maintenance',
      },
      'operator',
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      createdBy: expect.any(String),
      startsAt: T0,
      endsAt: T0 + 10 * M,
      status: { state: 'active' },
    });
    await publish(s, clock, 's-1', 'metric_update', { metrics: { temp: 5 } });
    await cycle(s);
    expect(hooks()).toHaveLength(0);
    expect((await api(s, 'GET', '/api/v1/alerts')).body.alerts[0].silencedBy).toEqual([
      created.body.id,
    ]);
    const expired = await api(
      s,
      'DELETE',
      `/api/v1/silences/${created.body.id}`,
      undefined,
      'operator',
    );
    expect(expired.body.status.state).toBe('expired');
    expect((await api(s, 'DELETE', '/api/v1/silences/none')).status).toBe(404);
    clock.t += 5 * M;
    await cycle(s);
    expect(hooks()).toHaveLength(1);
    const listed = await api(s, 'GET', '/api/v1/silences', undefined, 'viewer');
    expect(listed.body.silences).toHaveLength(1);
  });

  it('rules API: add, read, replace, delete; config rules are read-only; bad input is a 400 naming the field', async () => {
    const clock = new TestClock();
    const s = await hub({ rules: [{ name: 'from-yaml', type: 'absence' }] }, clock);
    const rule = {
      name: 'api-cpu',
      type: 'threshold',
      metric: 'cpu_percent',
      op: '>',
      threshold: 90,
      for: '2m',
    };
    expect((await api(s, 'POST', '/api/v1/alert-rules', rule, 'viewer')).status).toBe(403);
    const created = await api(s, 'POST', '/api/v1/alert-rules', rule, 'operator');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 'api-cpu',
      source: 'api',
      readOnly: false,
      for: '2m',
    });
    expect((await api(s, 'POST', '/api/v1/alert-rules', rule)).status).toBe(409);
    const got = await api(s, 'GET', '/api/v1/alert-rules/api-cpu');
    expect(got.body.threshold).toBe(90);
    // What GET returns can be sent back.
    const {
      id: _id,
      source: _s,
      readOnly: _r,
      createdBy: _c,
      createdAt: _a,
      updatedAt: _u,
      ...again
    } = got.body;
    const put = await api(s, 'PUT', '/api/v1/alert-rules/api-cpu', { ...again, threshold: 70 });
    expect(put.status).toBe(200);
    expect(put.body.threshold).toBe(70);
    expect(
      (await api(s, 'PUT', '/api/v1/alert-rules/api-cpu', { ...again, name: 'other' })).body
        .errors[0].path,
    ).toBe('/name');
    const ro = await api(s, 'PUT', '/api/v1/alert-rules/from-yaml', { type: 'absence' });
    expect(ro.status).toBe(409);
    expect(ro.body.detail).toContain('config file');
    expect((await api(s, 'DELETE', '/api/v1/alert-rules/from-yaml')).status).toBe(409);
    const badReceiver = await api(s, 'POST', '/api/v1/alert-rules', {
      ...rule,
      name: 'r2',
      receivers: ['nope'],
    });
    expect(badReceiver.status).toBe(400);
    expect(badReceiver.body.errors[0].path).toBe('/receivers/0');
    const badOp = await api(s, 'POST', '/api/v1/alert-rules', { ...rule, name: 'r3', op: '==' });
    expect(badOp.body.errors[0].path).toBe('/op');
    expect((await api(s, 'POST', '/api/v1/alert-rules', '{"name":')).status).toBe(400);
    expect((await api(s, 'DELETE', '/api/v1/alert-rules/api-cpu')).status).toBe(204);
    expect((await api(s, 'GET', '/api/v1/alert-rules/api-cpu')).status).toBe(404);
    expect((await api(s, 'GET', '/api/v1/alerts?state=bogus')).body.errors[0].path).toBe(
      '/query/state',
    );
  });

  it('hostile bodies to the rules and silences routes get 4xx problems, store nothing partial, and the hub stays up', async () => {
    const clock = new TestClock();
    const s = await hub({}, clock);
    const token = await s.token('admin');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/api/v1/alert-rules', '/api/v1/silences', '/api/v1/alerts/x/ack'),
        fc.oneof(
          fc.jsonValue(),
          fc.record({
            name: fc.string(),
            type: fc.constantFrom('threshold', 'event', 'rate', 'absence'),
            matchers: fc.jsonValue(),
          }),
        ),
        async (path, body) => {
          const res = await fetch(s.url + path, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          expect(res.status).toBeGreaterThanOrEqual(200);
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400)
            expect(res.headers.get('content-type')).toContain('application/problem+json');
        },
      ),
      { numRuns: 150 },
    );
    const rules = await api(s, 'GET', '/api/v1/alert-rules');
    for (const r of rules.body.rules) expect(r.source).toBe('api');
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });

  it('a restart mid-group sends no duplicate webhook POST, and keeps startsAt and agent labels', async () => {
    const clock = new TestClock();
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-alerts-restart-'));
    dirs.push(dataDir);
    const cfg = {
      group_wait: '30s',
      rules: [
        {
          name: 'hot',
          type: 'threshold',
          metric: 'temp',
          op: '>',
          threshold: 1,
          agents: { match: { team: 'a' } },
        },
      ],
    };
    let s = await hub(cfg, clock, dataDir);
    await publish(s, clock, 'r1', 'agent_status_update', {
      status: 'running',
      meta: { labels: { team: 'a' } },
    });
    await publish(s, clock, 'r1', 'metric_update', { metrics: { temp: 5 } });
    await cycle(s);
    clock.t += 30 * S;
    await cycle(s);
    expect(hooks()).toHaveLength(1);
    const before = (await api(s, 'GET', '/api/v1/alerts')).body.alerts[0];
    await s.close();
    servers.splice(servers.indexOf(s), 1);

    clock.t += M;
    s = await hub(cfg, clock, dataDir);
    await cycle(s);
    clock.t += 5 * M;
    await cycle(s);
    expect(hooks()).toHaveLength(1);
    const after = (await api(s, 'GET', '/api/v1/alerts')).body.alerts[0];
    expect(after).toMatchObject({ id: before.id, startsAt: T0, state: 'firing' });
    // The persisted labels still select the agent: a new alert of it joins the group.
    await publish(s, clock, 'r1', 'metric_update', { metrics: { temp: 0 } });
    await cycle(s);
    clock.t += 5 * M;
    await cycle(s);
    expect(hooks().map((h) => h.status)).toEqual(['firing', 'resolved']);
  });
});
