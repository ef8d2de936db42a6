import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueTask } from '@warden/protocol';
import { startTestServer, type TestServer } from './test-support/test-server.js';

/*
 * Generated hostile input against the task queue and agent state routes, over real HTTP.
 * Every answer must be one of the documented ones — never a 500 — with RFC 9457 problems
 * naming bad fields as JSON Pointers; nothing refused is stored; the server keeps serving.
 */

type Json = Record<string, unknown>;

interface Reply {
  status: number;
  contentType: string;
  body: Json | undefined;
}

let srv: TestServer;
let operator: string;
let agentToken: string;
let supervisor: string;

async function send(method: string, path: string, token: string, body?: string): Promise<Reply> {
  const res = await fetch(srv.url + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  let parsed: Json | undefined;
  try {
    parsed = text ? (JSON.parse(text) as Json) : undefined;
  } catch {
    parsed = { unparsable: text.slice(0, 200) };
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: parsed };
}

/** A refusal: problem+json with a stable code, and JSON Pointer paths when it names fields. */
function expectWellFormedProblem(r: Reply): void {
  expect(r.contentType, JSON.stringify(r.body)).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({
    status: r.status,
    code: expect.any(String),
    detail: expect.any(String),
  });
  const errors = r.body?.errors as Array<{ path: unknown; message: unknown }> | undefined;
  if (errors !== undefined) {
    expect(Array.isArray(errors)).toBe(true);
    for (const e of errors) {
      expect(typeof e.path).toBe('string');
      expect(e.path === '' || (e.path as string).startsWith('/')).toBe(true);
      expect(typeof e.message).toBe('string');
    }
  }
}

async function taskCount(): Promise<number> {
  const r = await send('GET', '/api/v1/queues', operator);
  return (
    r.body!.queues as Array<{ depth: number; leased: number; completed: number; failed: number }>
  )
    .map((q) => q.depth + q.leased + q.completed + q.failed)
    .reduce((a, b) => a + b, 0);
}

const queueName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}$/);
/** JSON values whose keys cannot be refused for prototype pollution. */
const safeJson = fc
  .jsonValue({ maxDepth: 4 })
  .filter((v) => !/__proto__|"constructor"|"prototype"/.test(JSON.stringify(v)));

const validEnqueue = fc.record(
  {
    queue: queueName,
    name: fc.string({ minLength: 1, maxLength: 40 }),
    payload: safeJson,
    priority: fc.integer({ min: -1000, max: 1000 }),
  },
  { requiredKeys: ['queue', 'name'] },
);

/** One field of a valid enqueue body made bad, and the path the problem must name. */
const corruptEnqueue = fc.oneof(
  validEnqueue.chain((b) =>
    fc.constantFrom<[Json, string]>(
      [{ ...b, queue: '' }, '/queue'],
      [{ ...b, queue: 'white space' }, '/queue'],
      [{ ...b, queue: 7 }, '/queue'],
      [{ ...b, name: '' }, '/name'],
      [{ ...b, name: null }, '/name'],
      [{ ...b, name: 'n'.repeat(1025) }, '/name'],
      [{ ...b, priority: 'high' }, '/priority'],
      [{ ...b, priority: 1e12 }, '/priority'],
      [{ ...b, unknown: true }, ''],
    ),
  ),
  validEnqueue.map((b): [Json, string] => {
    const { queue: _q, ...rest } = b;
    return [rest, '/queue'];
  }),
);

beforeAll(async () => {
  srv = await startTestServer();
  operator = await srv.token('operator');
  agentToken = await srv.token('agent', 'fuzz-agent');
  supervisor = await srv.token('agent', '*');
});
afterAll(() => srv.close());

describe('hostile task queue bodies', () => {
  it('answers any JSON body to POST /api/v1/tasks with 201 or a problem, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(safeJson, validEnqueue), async (body) => {
        const r = await send('POST', '/api/v1/tasks', operator, JSON.stringify(body));
        if (r.status === 201) {
          const b = body as Json;
          expect(r.body).toMatchObject({ queue: b.queue, name: b.name, state: 'queued' });
          expect(r.body!.payload).toEqual(
            b.payload === undefined ? null : JSON.parse(JSON.stringify(b.payload)),
          );
        } else {
          expect([400, 413]).toContain(r.status);
          expectWellFormedProblem(r);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('names the one bad field of an enqueue body and stores nothing', async () => {
    const before = await taskCount();
    await fc.assert(
      fc.asyncProperty(corruptEnqueue, async ([body, path]) => {
        const r = await send('POST', '/api/v1/tasks', operator, JSON.stringify(body));
        expect(r.status, JSON.stringify(r.body)).toBe(400);
        expectWellFormedProblem(r);
        expect(r.body!.code).toBe('invalid_request');
        expect((r.body!.errors as Array<{ path: string }>).map((e) => e.path)).toContain(path);
      }),
      { numRuns: 100 },
    );
    expect(await taskCount()).toBe(before);
  });

  it('answers any JSON body to lease, progress, complete and fail with a documented status', async () => {
    const held: string[] = [];
    for (let i = 0; i < 5; i++) {
      await send(
        'POST',
        '/api/v1/tasks',
        operator,
        JSON.stringify({ queue: 'fuzz', name: `f${i}` }),
      );
      const l = await send('POST', '/api/v1/queues/fuzz/lease', agentToken, '{}');
      held.push((l.body as unknown as QueueTask).id);
    }
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('lease', 'progress', 'complete', 'fail'),
        fc.oneof(
          safeJson,
          fc.record(
            {
              agentId: fc.oneof(fc.constant('fuzz-agent'), fc.string()),
              leaseMs: fc.oneof(fc.integer(), fc.double()),
            },
            { requiredKeys: [] },
          ),
          fc
            .record(
              {
                percent: fc.double(),
                message: fc.string(),
                error: fc.string(),
                retry: fc.anything(),
              },
              { requiredKeys: [] },
            )
            .filter((v) => !/__proto__|"constructor"/.test(JSON.stringify(v))),
        ),
        fc.constantFrom(...held, 'no-such-task'),
        async (op, body, id) => {
          const path = op === 'lease' ? '/api/v1/queues/fuzz/lease' : `/api/v1/tasks/${id}/${op}`;
          const r = await send('POST', path, agentToken, JSON.stringify(body));
          expect([200, 204, 400, 403, 404, 409, 413], JSON.stringify(r.body)).toContain(r.status);
          if (r.status >= 400) expectWellFormedProblem(r);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses prototype-pollution keys in payloads, results and states, and pollutes nothing', async () => {
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('payload', 'nested', 'state', 'result'),
        fc.constantFrom('__proto__', 'constructor'),
        async (where, key) => {
          const entry =
            key === 'constructor'
              ? '"constructor":{"prototype":{"polluted":1}}'
              : '"__proto__":{"polluted":1}';
          let r: Reply;
          if (where === 'state') {
            r = await send('PUT', '/api/v1/agents/fuzz-agent/state', agentToken, `{${entry}}`);
          } else if (where === 'result') {
            r = await send(
              'POST',
              '/api/v1/tasks/no-such/complete',
              agentToken,
              `{"result":{${entry}}}`,
            );
          } else {
            const payload = where === 'nested' ? `{"list":[{${entry}}]}` : `{${entry}}`;
            r = await send(
              'POST',
              '/api/v1/tasks',
              operator,
              `{"queue":"p","name":"n","payload":${payload}}`,
            );
          }
          expect(r.status).toBe(400);
          expectWellFormedProblem(r);
        },
      ),
      { numRuns: 30 },
    );
    expect(({} as Json).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
  });

  it('refuses deep nesting in payloads and states with 400 (or 413 over the size limit)', async () => {
    const before = await taskCount();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 33, max: 100_000 }),
        fc.constantFrom('payload', 'state', 'result'),
        async (depth, where) => {
          const nested = '['.repeat(depth) + ']'.repeat(depth);
          const r =
            where === 'state'
              ? await send('PUT', '/api/v1/agents/fuzz-agent/state', agentToken, nested)
              : where === 'result'
                ? await send(
                    'POST',
                    '/api/v1/tasks/no-such/complete',
                    agentToken,
                    `{"result":${nested}}`,
                  )
                : await send(
                    'POST',
                    '/api/v1/tasks',
                    operator,
                    `{"queue":"d","name":"n","payload":${nested}}`,
                  );
          expectWellFormedProblem(r);
          if (nested.length > 64 * 1024) {
            expect(r.status).toBe(413);
          } else {
            expect(r.status).toBe(400);
            expect((r.body!.errors as Array<{ path: string }>).map((e) => e.path)).toEqual([
              where === 'state' ? '' : `/${where}`,
            ]);
          }
        },
      ),
      { numRuns: 40 },
    );
    expect(await taskCount()).toBe(before);
  });

  it('keeps any JSON state as it was saved (a JSON round trip)', async () => {
    await fc.assert(
      fc.asyncProperty(safeJson, async (state) => {
        const put = await send(
          'PUT',
          '/api/v1/agents/fuzz-agent/state',
          agentToken,
          JSON.stringify(state),
        );
        expect(put.status, JSON.stringify(put.body)).toBe(200);
        const got = await send('GET', '/api/v1/agents/fuzz-agent/state', agentToken);
        expect(got.body!.state).toEqual(JSON.parse(JSON.stringify(state)));
      }),
      { numRuns: 100 },
    );
  });

  it('answers hostile path parameters and query strings with a problem, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 300 }),
        fc.constantFrom('lease', 'tasks', 'task', 'state', 'query'),
        async (raw, where) => {
          const p = encodeURIComponent(raw);
          const r =
            where === 'lease'
              ? await send('POST', `/api/v1/queues/${p}/lease`, supervisor, '{"agentId":"x"}')
              : where === 'tasks'
                ? await send('GET', `/api/v1/queues/${p}/tasks`, operator)
                : where === 'task'
                  ? await send('GET', `/api/v1/tasks/${p}`, operator)
                  : where === 'state'
                    ? await send('GET', `/api/v1/agents/${p}/state`, supervisor)
                    : await send('GET', `/api/v1/queues/q/tasks?state=${p}&limit=${p}`, operator);
          expect([200, 204, 400, 404], JSON.stringify(r.body)).toContain(r.status);
          if (r.status >= 400) expectWellFormedProblem(r);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('still serves a well-formed client after the barrage', async () => {
    const t = await send(
      'POST',
      '/api/v1/tasks',
      operator,
      JSON.stringify({ queue: 'after', name: 'ok' }),
    );
    expect(t.status).toBe(201);
    const l = await send('POST', '/api/v1/queues/after/lease', agentToken, '{}');
    expect(l.body).toMatchObject({ id: t.body!.id, agentId: 'fuzz-agent' });
    const c = await send(
      'POST',
      `/api/v1/tasks/${t.body!.id as string}/complete`,
      agentToken,
      '{"result":1}',
    );
    expect(c.body).toMatchObject({ state: 'completed', result: 1 });
  });
});
