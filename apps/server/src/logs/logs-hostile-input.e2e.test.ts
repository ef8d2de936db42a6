import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/test-server.js';
import { parseTimeParam } from './logs-query.js';

/*
 * Generated hostile query strings against a real hub: every answer is a 200 page or a 400
 * problem naming the parameter, never a 500, and the hub keeps serving.
 */

let s: TestServer;
let token: string;

beforeAll(async () => {
  s = await startTestServer();
  token = await s.token('viewer');
  const admin = await s.token('admin');
  await fetch(`${s.url}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      events: Array.from({ length: 20 }, (_, i) => ({
        id: `h-${i}`,
        type: 'log',
        agentId: i % 2 ? 'odd' : 'even',
        data: { level: 'info', message: `line %_\\ ${i} ünïcödé` },
      })),
    }),
  });
  await s.warden.ctx.features.logs.settle();
});
afterAll(async () => {
  await s.close();
});

const PARAMS = [
  'agentId',
  'level',
  'q',
  'correlationId',
  'since',
  'until',
  'order',
  'limit',
  'cursor',
];

const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    '-1',
    '0',
    '1e309',
    'NaN',
    'Infinity',
    '9'.repeat(30),
    '10m',
    '999999999999y',
    '2025-13-45T99:99:99Z',
    '2025-11-22T06:00:00Z',
    "' OR 1=1 --",
    '%',
    '_',
    '\\',
    '\u0000',
    'a'.repeat(5000),
    '../../etc/passwd',
    '__proto__',
    'debug',
    'error',
    'asc',
  ),
);

const query = fc.array(
  fc.tuple(fc.oneof(fc.constantFrom(...PARAMS), fc.string({ maxLength: 10 })), nasty),
  {
    maxLength: 6,
  },
);

describe('GET /api/v1/logs under hostile input', () => {
  it('answers a page or a 400 problem naming the parameter, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(query, async (pairs) => {
        const qs = new URLSearchParams();
        for (const [k, v] of pairs) qs.append(k, v);
        const res = await fetch(`${s.url}/api/v1/logs?${qs.toString()}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const body = (await res.json()) as Record<string, unknown>;
        if (res.status === 200) {
          expect(Array.isArray(body.logs)).toBe(true);
          return;
        }
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
        expect(body.code).toBe('invalid_request');
        const errors = body.errors as Array<{ path: string }> | undefined;
        if (errors) expect(errors[0]!.path).toMatch(/^\/querystring/);
      }),
      { numRuns: 200 },
    );
    const ok = await fetch(`${s.url}/api/v1/logs?q=%25_%5C`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(((await ok.json()) as { logs: unknown[] }).logs).toHaveLength(20);
  });

  it('names the bad parameter in the problem', async () => {
    const cases: Array<[string, string]> = [
      ['level=loud', '/querystring/level'],
      ['since=yesterday', '/querystring/since'],
      ['limit=0', '/querystring/limit'],
      ['limit=1001', '/querystring/limit'],
      ['cursor=-3', '/querystring/cursor'],
      ['agentId=no%20spaces', '/querystring/agentId'],
      ['since=2h&until=3h', '/querystring/until'],
      ['color=red', '/querystring/'], // an unknown key: the message names it
    ];
    for (const [qs, path] of cases) {
      const res = await fetch(`${s.url}/api/v1/logs?${qs}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status, qs).toBe(400);
      const body = (await res.json()) as { errors: Array<{ path: string }> };
      expect(
        body.errors.map((e) => e.path),
        qs,
      ).toContain(path);
    }
  });

  it('takes times as epoch ms, ISO-8601 or a duration back from now', () => {
    const now = Date.UTC(2025, 10, 22, 6, 0, 0);
    expect(parseTimeParam('1763791200000', now)).toBe(1763791200000);
    expect(parseTimeParam('2025-11-22T05:00:00Z', now)).toBe(now - 3_600_000);
    expect(parseTimeParam('10m', now)).toBe(now - 600_000);
    expect(parseTimeParam('1w', now)).toBe(now - 604_800_000);
    expect(typeof parseTimeParam('10', now)).toBe('number'); // epoch ms, not seconds ago
    expect(typeof parseTimeParam('soon', now)).toBe('string');
    expect(typeof parseTimeParam('2025-02-30T00:00:00Z', now)).toBe('number'); // Date rolls it
  });
});
