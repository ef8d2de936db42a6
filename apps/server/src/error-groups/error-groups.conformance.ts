import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fingerprintError } from '@warden/protocol';
import type { ErrorGroup, ErrorGroupDetail } from './error-group-store.js';

/*
 * What error groups and retry policies must do on every store (SQLite and PostgreSQL): each
 * `error_occurred` counted once in its group, states and regression, filters and paging,
 * roles, bad input answered with a problem naming the field and nothing changed.
 */

/** The slice of test-support's TestServer used here (this file is part of the build). */
interface TestServer {
  url: string;
  warden: {
    ctx: { features: { errorGroups: { retain(now: number): Promise<Record<string, number>> } } };
  };
  token(role: 'admin' | 'operator' | 'viewer' | 'agent', agentId?: string): Promise<string>;
  close(): Promise<void>;
}

export interface ConformanceHub {
  server: TestServer;
  /** Moves the hub's clock (ms since epoch). */
  setNow(ms: number): void;
}

const HOUR = 3_600_000;
const T0 = Date.UTC(2030, 0, 1, 10, 0, 0);

export function errorGroupConformance(start: () => Promise<ConformanceHub>): void {
  let hub: ConformanceHub;
  let s: TestServer;
  let admin: string;
  let operator: string;
  let viewer: string;
  let n = 0;

  beforeAll(async () => {
    hub = await start();
    s = hub.server;
    hub.setNow(T0);
    admin = await s.token('admin');
    operator = await s.token('operator');
    viewer = await s.token('viewer');
  });
  afterAll(async () => {
    await s?.close();
  });

  async function call<T = unknown>(method: string, path: string, token: string, body?: unknown) {
    const res = await fetch(s.url + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  function errorEvent(agentId: string, data: Record<string, unknown>, ts = T0) {
    return { id: `err-${process.pid}-${++n}`, type: 'error_occurred', agentId, ts, data };
  }

  async function publish(events: unknown[]): Promise<void> {
    const r = await call('POST', '/api/v1/events', admin, { events });
    expect(r.status).toBe(200);
  }

  const stackAt = (line: number) => `TypeError: x is undefined
    at parseReply (/srv/agent/src/llm/parse.js:${line}:13)
    at Agent.step (/srv/agent/src/agent.js:${line + 7}:20)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`;

  it('counts every error_occurred once in its group: count, first/last seen, agents, last hour', async () => {
    await publish([
      errorEvent(
        'grp-a',
        { errorType: 'TypeError', message: 'x is undefined (1)', stack: stackAt(10) },
        T0 - 2 * HOUR,
      ),
      errorEvent(
        'grp-a',
        { errorType: 'TypeError', message: 'x is undefined (2)', stack: stackAt(99) },
        T0 - 10 * 60_000,
      ),
      errorEvent(
        'grp-b',
        { errorType: 'TypeError', message: 'x is undefined (3)', stack: stackAt(4) },
        T0 - 60_000,
      ),
    ]);
    const fp = fingerprintError({ errorType: 'TypeError', message: '', stack: stackAt(1) });
    const g = await call<ErrorGroupDetail>('GET', `/api/v1/error-groups/${fp}`, viewer);
    expect(g.status).toBe(200);
    expect(g.body).toMatchObject({
      id: fp,
      fingerprint: fp,
      errorType: 'TypeError',
      message: 'x is undefined (3)',
      state: 'unresolved',
      count: 3,
      firstSeen: T0 - 2 * HOUR,
      lastSeen: T0 - 60_000,
      lastHour: 2,
      agentCount: 2,
      lastAgentId: 'grp-b',
    });
    expect(g.body.stack).toContain('parseReply');
    expect(g.body.agents.map((a) => a.agentId)).toEqual(['grp-b', 'grp-a']);
    expect(g.body.agents[1]).toMatchObject({ count: 2 });
    expect(g.body.perHour).toBeCloseTo(3 / (119 / 60), 1);
    expect(g.body.hourly.reduce((t, h) => t + h.count, 0)).toBe(3);
    expect(g.body.recent).toHaveLength(3);
    // The errors list names each error's group.
    const errs = await call<{ errors: { fingerprint: string; agentId: string }[] }>(
      'GET',
      '/api/v1/errors?agentId=grp-a',
      viewer,
    );
    expect(errs.body.errors.map((e) => e.fingerprint)).toEqual([fp, fp]);
  });

  it('a duplicate event id is not counted again', async () => {
    const ev = errorEvent('dup-a', {
      errorType: 'DupError',
      message: 'once',
      fingerprint: 'dup-fp',
    });
    await publish([ev, ev]);
    await publish([ev]);
    const g = await call<ErrorGroup>('GET', '/api/v1/error-groups/dup-fp', viewer);
    expect(g.body.count).toBe(1);
  });

  it('the sender’s fingerprint names the group; messages differing by numbers group without one', async () => {
    await publish([
      errorEvent('fp-a', { errorType: 'Timeout', message: 'timed out after 3000 ms on task t-17' }),
      errorEvent('fp-a', { errorType: 'Timeout', message: 'timed out after 5000 ms on task t-99' }),
      errorEvent('fp-a', { errorType: 'Timeout', message: 'other', fingerprint: 'custom-timeout' }),
    ]);
    const list = await call<{ groups: ErrorGroup[] }>(
      'GET',
      '/api/v1/error-groups?agentId=fp-a',
      viewer,
    );
    expect(list.body.groups.map((g) => [g.errorType, g.count]).sort()).toEqual([
      ['Timeout', 1],
      ['Timeout', 2],
    ]);
    expect(list.body.groups.some((g) => g.id === 'custom-timeout')).toBe(true);
  });

  it('resolved → regressed when it recurs; ignored stays ignored but counts', async () => {
    await publish([
      errorEvent('st-a', { errorType: 'E', message: 'm', fingerprint: 'st-resolve' }),
      errorEvent('st-a', { errorType: 'E', message: 'm', fingerprint: 'st-ignore' }),
    ]);
    const r1 = await call<ErrorGroup>('PATCH', '/api/v1/error-groups/st-resolve', operator, {
      state: 'resolved',
    });
    expect(r1.status).toBe(200);
    expect(r1.body.state).toBe('resolved');
    await call('PATCH', '/api/v1/error-groups/st-ignore', operator, { state: 'ignored' });
    await publish([
      errorEvent('st-b', { errorType: 'E', message: 'm', fingerprint: 'st-resolve' }),
      errorEvent('st-b', { errorType: 'E', message: 'm', fingerprint: 'st-ignore' }),
    ]);
    const a = await call<ErrorGroup>('GET', '/api/v1/error-groups/st-resolve', viewer);
    expect(a.body).toMatchObject({ state: 'regressed', count: 2, agentCount: 2 });
    const b = await call<ErrorGroup>('GET', '/api/v1/error-groups/st-ignore', viewer);
    expect(b.body).toMatchObject({ state: 'ignored', count: 2 });
    const regressed = await call<{ groups: ErrorGroup[] }>(
      'GET',
      '/api/v1/error-groups?state=regressed',
      viewer,
    );
    expect(regressed.body.groups.map((g) => g.id)).toContain('st-resolve');
    expect(regressed.body.groups.every((g) => g.state === 'regressed')).toBe(true);
    const reopened = await call<ErrorGroup>('PATCH', '/api/v1/error-groups/st-resolve', operator, {
      state: 'unresolved',
    });
    expect(reopened.body.state).toBe('unresolved');
  });

  it('filters by text and sorts by count, with paging', async () => {
    await publish(
      [5, 3, 1].flatMap((k, i) =>
        Array.from({ length: k }, () =>
          errorEvent('pg-a', {
            errorType: 'PagingError',
            message: `page case ${i}`,
            fingerprint: `page-${i}`,
          }),
        ),
      ),
    );
    const p1 = await call<{ groups: ErrorGroup[]; next: number | null }>(
      'GET',
      '/api/v1/error-groups?q=pagingerror&sort=count&limit=2',
      viewer,
    );
    expect(p1.body.groups.map((g) => [g.id, g.count])).toEqual([
      ['page-0', 5],
      ['page-1', 3],
    ]);
    expect(p1.body.next).toBe(2);
    const p2 = await call<{ groups: ErrorGroup[]; next: number | null }>(
      'GET',
      `/api/v1/error-groups?q=pagingerror&sort=count&limit=2&offset=${p1.body.next}`,
      viewer,
    );
    expect(p2.body.groups.map((g) => g.id)).toEqual(['page-2']);
    expect(p2.body.next).toBeNull();
    // A LIKE wildcard in q is taken literally.
    const none = await call<{ groups: ErrorGroup[] }>(
      'GET',
      '/api/v1/error-groups?q=page%25case',
      viewer,
    );
    expect(none.body.groups).toEqual([]);
  });

  it('refuses a viewer’s PATCH (403), a bad state (400 naming /state), an unknown group (404)', async () => {
    await publish([errorEvent('rl-a', { errorType: 'E', message: 'm', fingerprint: 'roles-fp' })]);
    const v = await call<{ code: string }>('PATCH', '/api/v1/error-groups/roles-fp', viewer, {
      state: 'resolved',
    });
    expect(v.status).toBe(403);
    const bad = await call<{ code: string; errors: { path: string }[] }>(
      'PATCH',
      '/api/v1/error-groups/roles-fp',
      operator,
      { state: 'regressed' },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_request');
    expect(bad.body.errors.map((e) => e.path)).toContain('/state');
    const missing = await call<{ code: string }>('PATCH', '/api/v1/error-groups/nope', operator, {
      state: 'resolved',
    });
    expect(missing.status).toBe(404);
    expect((await call('GET', '/api/v1/error-groups/nope', viewer)).status).toBe(404);
    const badQuery = await call<{ errors: { path: string }[] }>(
      'GET',
      '/api/v1/error-groups?state=bogus',
      viewer,
    );
    expect(badQuery.status).toBe(400);
    const g = await call<ErrorGroup>('GET', '/api/v1/error-groups/roles-fp', viewer);
    expect(g.body.state).toBe('unresolved');
  });

  it('retry policies: API ones first in creation order, then config, then the default', async () => {
    const agent = await s.token('agent', 'rp-agent');
    const before = await call<{ policies: { id: string; source: string }[]; default: unknown }>(
      'GET',
      '/api/v1/retry-policies',
      agent,
    );
    expect(before.status).toBe(200);
    expect(before.body.policies.map((p) => p.id)).toEqual(['config:no-auth-retry']);
    expect(before.body.default).toMatchObject({ retry: true, maxAttempts: null });
    const created = await call<{ id: string; backoff: unknown; maxAttempts: number }>(
      'POST',
      '/api/v1/retry-policies',
      operator,
      {
        name: 'flaky-net',
        match: { message: 'ECONN(REFUSED|RESET)' },
        retry: true,
        max_attempts: 4,
        backoff: { initial: '2s', multiplier: 3, max: '1m' },
      },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      source: 'api',
      maxAttempts: 4,
      backoff: { initialMs: 2000, multiplier: 3, maxMs: 60_000 },
      escalate: false,
    });
    const second = await call<{ id: string }>('POST', '/api/v1/retry-policies', operator, {
      match: { type: 'AuthError' },
      retry: true,
    });
    const list = await call<{ policies: { id: string }[] }>('GET', '/api/v1/retry-policies', agent);
    expect(list.body.policies.map((p) => p.id)).toEqual([
      created.body.id,
      second.body.id,
      'config:no-auth-retry',
    ]);

    const put = await call<{ retry: boolean; backoff: unknown }>(
      'PUT',
      `/api/v1/retry-policies/${created.body.id}`,
      operator,
      {
        match: { message: 'ECONNREFUSED' },
        retry: false,
      },
    );
    expect(put.status).toBe(200);
    expect(put.body.retry).toBe(false);
    const one = await call<{ retry: boolean; backoff: unknown }>(
      'GET',
      `/api/v1/retry-policies/${created.body.id}`,
      agent,
    );
    expect(one.body).toMatchObject({
      retry: false,
      backoff: { initialMs: 1000, multiplier: 2, maxMs: 300_000 },
    });

    expect(
      (await call('DELETE', `/api/v1/retry-policies/${second.body.id}`, operator)).status,
    ).toBe(204);
    expect(
      (await call('DELETE', `/api/v1/retry-policies/${second.body.id}`, operator)).status,
    ).toBe(404);
    expect(
      (
        await call('PUT', '/api/v1/retry-policies/config:no-auth-retry', operator, {
          match: { type: 'X' },
          retry: true,
        })
      ).status,
    ).toBe(409);
    expect(
      (await call('DELETE', '/api/v1/retry-policies/config:no-auth-retry', operator)).status,
    ).toBe(409);
    expect(
      (await call('POST', '/api/v1/retry-policies', viewer, { match: { type: 'X' }, retry: true }))
        .status,
    ).toBe(403);
    expect(
      (await call('POST', '/api/v1/retry-policies', agent, { match: { type: 'X' }, retry: true }))
        .status,
    ).toBe(403);
    await call('DELETE', `/api/v1/retry-policies/${created.body.id}`, operator);
  });

  it('refuses a bad retry policy with the path of each bad field and stores nothing', async () => {
    const cases: [unknown, string][] = [
      [{ match: { message: '(unclosed' }, retry: true }, '/match/message'],
      [{ match: {}, retry: true }, '/match'],
      [{ match: { type: 'X' } }, '/retry'],
      [{ match: { type: 'X' }, retry: true, max_attempts: 0 }, '/max_attempts'],
      [{ match: { type: 'X' }, retry: true, backoff: { initial: 'soon' } }, '/backoff/initial'],
      [
        { match: { type: 'X' }, retry: true, backoff: { initial: '1m', max: '1s' } },
        '/backoff/max',
      ],
      [{ match: { type: 'X' }, retry: true, extra: 1 }, ''],
    ];
    for (const [body, path] of cases) {
      const r = await call<{ code: string; errors: { path: string }[] }>(
        'POST',
        '/api/v1/retry-policies',
        operator,
        body,
      );
      expect(r.status, JSON.stringify(body)).toBe(400);
      if (path)
        expect(
          r.body.errors.map((e) => e.path),
          JSON.stringify(body),
        ).toContain(path);
    }
    const junk = await call<{ code: string }>(
      'POST',
      '/api/v1/retry-policies',
      operator,
      '{"match":',
    );
    expect(junk.status).toBe(400);
    await fc.assert(
      fc.asyncProperty(fc.anything(), async (body) => {
        const r = await call('POST', '/api/v1/retry-policies', operator, {
          match: body,
          retry: 'yes',
        });
        return r.status === 400;
      }),
      { numRuns: 30 },
    );
    const list = await call<{ policies: { source: string }[] }>(
      'GET',
      '/api/v1/retry-policies',
      operator,
    );
    expect(list.body.policies.filter((p) => p.source === 'api')).toEqual([]);
  });

  it('retention drops hourly counts past errors.hourly_retention and keeps the totals', async () => {
    await publish([
      errorEvent(
        'ret-a',
        { errorType: 'E', message: 'old', fingerprint: 'ret-fp' },
        T0 - 30 * 24 * HOUR,
      ),
      errorEvent('ret-a', { errorType: 'E', message: 'new', fingerprint: 'ret-fp' }, T0),
    ]);
    const deleted = await s.warden.ctx.features.errorGroups.retain(T0);
    expect(deleted.error_group_hours).toBeGreaterThanOrEqual(1);
    const g = await call<ErrorGroupDetail>('GET', '/api/v1/error-groups/ret-fp', viewer);
    expect(g.body.count).toBe(2);
  });
}

/** The config both stores' conformance hubs run with. */
export const conformanceErrorsConfig = {
  errors: {
    retry: [
      {
        name: 'no-auth-retry',
        match: { type: 'AuthenticationError' },
        retry: false,
        escalate: true,
      },
    ],
    hourly_retention: '7d',
  },
};
