import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support/test-server.js';

/*
 * Agent state (issue 4 "Recovery") over real HTTP: what an agent saves it reads back, also
 * after the hub restarts on the same data dir; only its own agent (or its supervisor) writes it.
 */

type Json = Record<string, unknown>;

async function call(
  srv: TestServer,
  method: string,
  path: string,
  token: string,
  body?: string,
): Promise<{ status: number; contentType: string; body: Json | undefined }> {
  const res = await fetch(srv.url + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: text ? (JSON.parse(text) as Json) : undefined,
  };
}

function expectProblem(
  r: { status: number; contentType: string; body: Json | undefined },
  status: number,
  code: string,
) {
  expect({ status: r.status, code: r.body?.code }, JSON.stringify(r.body)).toEqual({
    status,
    code,
  });
  expect(r.contentType).toMatch(/^application\/problem\+json/);
}

describe('agent state over HTTP', () => {
  let srv: TestServer;
  let own: string;
  let other: string;
  let supervisor: string;
  let viewer: string;
  let operator: string;

  beforeAll(async () => {
    srv = await startTestServer();
    own = await srv.token('agent', 'counter');
    other = await srv.token('agent', 'someone-else');
    supervisor = await srv.token('agent', '*');
    viewer = await srv.token('viewer');
    operator = await srv.token('operator');
  });
  afterAll(() => srv.close());

  it('answers 404 before anything is saved, then gives back what was saved', async () => {
    expectProblem(await call(srv, 'GET', '/api/v1/agents/counter/state', own), 404, 'not_found');
    const saved = await call(
      srv,
      'PUT',
      '/api/v1/agents/counter/state',
      own,
      '{"count":41,"at":"step-7"}',
    );
    expect(saved.status).toBe(200);
    expect(saved.body).toEqual({
      agentId: 'counter',
      state: { count: 41, at: 'step-7' },
      updatedAt: expect.any(Number),
    });
    expect((await call(srv, 'GET', '/api/v1/agents/counter/state', own)).body).toEqual(saved.body);
    await call(srv, 'PUT', '/api/v1/agents/counter/state', own, '{"count":42}');
    expect((await call(srv, 'GET', '/api/v1/agents/counter/state', viewer)).body).toMatchObject({
      state: { count: 42 },
    });
    // Any JSON value is a state.
    await call(srv, 'PUT', '/api/v1/agents/scalar/state', supervisor, '[1,"two",null]');
    expect((await call(srv, 'GET', '/api/v1/agents/scalar/state', supervisor)).body).toMatchObject({
      state: [1, 'two', null],
    });
  });

  it("keeps an agent token to its own agent's state (forbidden_agent); viewers read only", async () => {
    const put = await call(srv, 'PUT', '/api/v1/agents/counter/state', other, '{"count":0}');
    expectProblem(put, 403, 'forbidden_agent');
    expect(put.body?.errors).toEqual([{ path: '/params/id', message: expect.any(String) }]);
    expectProblem(
      await call(srv, 'GET', '/api/v1/agents/counter/state', other),
      403,
      'forbidden_agent',
    );
    expectProblem(
      await call(srv, 'PUT', '/api/v1/agents/counter/state', viewer, '{}'),
      403,
      'forbidden',
    );
    expectProblem(
      await call(srv, 'DELETE', '/api/v1/agents/counter/state', viewer),
      403,
      'forbidden',
    );
    expect(
      (await call(srv, 'PUT', '/api/v1/agents/managed/state', supervisor, '{"a":1}')).status,
    ).toBe(200);
    expect(
      (await call(srv, 'PUT', '/api/v1/agents/managed/state', operator, '{"a":2}')).status,
    ).toBe(200);
    expect((await call(srv, 'GET', '/api/v1/agents/counter/state', own)).body).toMatchObject({
      state: { count: 42 },
    });
  });

  it('refuses a state over 64 KiB with 413, too deep or missing with 400, a bad id with 400', async () => {
    const big = JSON.stringify({ blob: 'x'.repeat(64 * 1024) });
    expectProblem(
      await call(srv, 'PUT', '/api/v1/agents/counter/state', own, big),
      413,
      'payload_too_large',
    );
    const deep = '['.repeat(40) + ']'.repeat(40);
    const d = await call(srv, 'PUT', '/api/v1/agents/counter/state', own, deep);
    expectProblem(d, 400, 'invalid_request');
    expect(d.body?.errors).toEqual([{ path: '', message: expect.stringContaining('deeper') }]);
    expectProblem(
      await call(srv, 'PUT', '/api/v1/agents/counter/state', own),
      400,
      'invalid_request',
    );
    expectProblem(
      await call(srv, 'PUT', '/api/v1/agents/counter/state', own, '{"a":'),
      400,
      'invalid_json',
    );
    const badId = await call(srv, 'GET', '/api/v1/agents/-bad/state', viewer);
    expectProblem(badId, 400, 'invalid_request');
    expect(badId.body?.errors).toEqual([{ path: '/params/id', message: expect.any(String) }]);
    expect((await call(srv, 'GET', '/api/v1/agents/counter/state', own)).body).toMatchObject({
      state: { count: 42 },
    });
  });

  it('forgets a state on DELETE (204), then answers 404', async () => {
    await call(srv, 'PUT', '/api/v1/agents/gone/state', supervisor, '{"x":1}');
    expect((await call(srv, 'DELETE', '/api/v1/agents/gone/state', supervisor)).status).toBe(204);
    expectProblem(
      await call(srv, 'GET', '/api/v1/agents/gone/state', supervisor),
      404,
      'not_found',
    );
    expectProblem(
      await call(srv, 'DELETE', '/api/v1/agents/gone/state', supervisor),
      404,
      'not_found',
    );
  });
});

describe('agent state across a hub restart', () => {
  it('is still there after the server restarts on the same data dir', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-state-'));
    try {
      const first = await startTestServer({ dataDir });
      const token = await first.token('agent', 'resumer');
      await call(
        first,
        'PUT',
        '/api/v1/agents/resumer/state',
        token,
        '{"done":["a","b"],"next":"c"}',
      );
      await first.close();
      const second = await startTestServer({ dataDir });
      try {
        const again = await call(
          second,
          'GET',
          '/api/v1/agents/resumer/state',
          await second.token('agent', 'resumer'),
        );
        expect(again.body).toMatchObject({
          agentId: 'resumer',
          state: { done: ['a', 'b'], next: 'c' },
        });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
