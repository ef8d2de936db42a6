import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/test-server.js';

/*
 * Dashboard sign-in over real sockets (issue 6 point 1): one-time login links, pasted tokens,
 * sessions that end at sign-out on every route and on the WebSocket, and the SPA's pages.
 */

type Json = Record<string, unknown>;

async function call(
  base: string,
  path: string,
  opts: { method?: string; token?: string; body?: unknown; accept?: string } = {},
): Promise<{ status: number; body: Json; type: string; headers: Headers; text: string }> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.accept) headers.accept = opts.accept;
  const res = await fetch(base + path, {
    method: opts.method ?? 'GET',
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: Json = {};
  try {
    body = JSON.parse(text) as Json;
  } catch {
    /* a page */
  }
  return {
    status: res.status,
    body,
    type: res.headers.get('content-type') ?? '',
    headers: res.headers,
    text,
  };
}

function wsStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(0));
  });
}

describe('dashboard sessions', () => {
  let s: TestServer;
  let admin: string;
  const dist = mkdtempSync(join(tmpdir(), 'warden-dash-'));

  beforeAll(async () => {
    mkdirSync(join(dist, 'assets'));
    writeFileSync(
      join(dist, 'index.html'),
      '<!doctype html><title>Warden</title><div id="root"></div>',
    );
    writeFileSync(join(dist, 'assets', 'app-1234.js'), 'console.log(1)');
    s = await startTestServer({ config: { server: { dashboard_dir: dist } } });
    admin = await s.token('admin');
  });
  afterAll(async () => {
    await s.close();
    rmSync(dist, { recursive: true, force: true });
  });

  async function link(token: string, role = 'admin'): Promise<string> {
    const r = await call(s.url, '/api/v1/auth/login-links', {
      method: 'POST',
      token,
      body: { role },
    });
    expect(r.status).toBe(200);
    expect(r.body.path).toBe(`/login#code=${String(r.body.code)}`);
    return r.body.code as string;
  }

  it('a login link opens one session, once, and the session works on HTTP and the WebSocket', async () => {
    const code = await link(admin, 'operator');
    const first = await call(s.url, '/api/v1/auth/sessions', {
      method: 'POST',
      body: { loginCode: code },
    });
    expect(first.status).toBe(200);
    const session = first.body.session as Json;
    expect(session).toMatchObject({ role: 'operator', method: 'login_link' });
    const token = first.body.token as string;

    const me = await call(s.url, '/api/v1/auth/session', { token });
    expect(me.body).toMatchObject({ role: 'operator', sessionId: session.id });
    expect((await call(s.url, '/api/v1/agents', { token })).status).toBe(200);
    expect(await wsStatus(`${s.wsUrl}?token=${token}`)).toBe(101);

    const again = await call(s.url, '/api/v1/auth/sessions', {
      method: 'POST',
      body: { loginCode: code },
    });
    expect(again.status).toBe(401);
    expect(again.body.detail).toMatch(/used already/);
  });

  it('sign-out ends the session on every route and on the WebSocket upgrade', async () => {
    const r = await call(s.url, '/api/v1/auth/sessions', {
      method: 'POST',
      body: { loginCode: await link(admin, 'viewer') },
    });
    const token = r.body.token as string;
    const out = await call(s.url, '/api/v1/auth/session', { method: 'DELETE', token });
    expect(out.body).toEqual({ signedOut: true });
    const after = await call(s.url, '/api/v1/agents', { token });
    expect(after.status).toBe(401);
    expect(after.body.detail).toMatch(/signed out/);
    expect(await wsStatus(`${s.wsUrl}?token=${token}`)).toBe(401);
  });

  it('a pasted token opens a session of its role that never outlives the token', async () => {
    const viewer = await s.token('viewer', undefined, 120_000);
    const r = await call(s.url, '/api/v1/auth/sessions', {
      method: 'POST',
      body: { token: viewer },
    });
    expect(r.status).toBe(200);
    const session = r.body.session as Json;
    expect(session.role).toBe('viewer');
    expect(session.expiresAt as number).toBeLessThanOrEqual(Date.now() + 121_000);
    // A viewer's session can read but not act, and cannot make an admin link.
    const t = r.body.token as string;
    expect(
      (await call(s.url, '/api/v1/agents/x/restart', { method: 'POST', token: t })).status,
    ).toBe(403);
    const up = await call(s.url, '/api/v1/auth/login-links', {
      method: 'POST',
      token: t,
      body: { role: 'admin' },
    });
    expect(up.status).toBe(403);
    expect(up.body.detail).toMatch(/may not make a login link for admin/);
  });

  it('refuses agent tokens, API tokens as codes, codes as API tokens, and forged input', async () => {
    const agent = await s.token('agent', 'a-1');
    const a = await call(s.url, '/api/v1/auth/sessions', {
      method: 'POST',
      body: { token: agent },
    });
    expect(a.status).toBe(403);
    expect(a.body.detail).toMatch(/agent token cannot sign in/);

    const asCode = await call(s.url, '/api/v1/auth/sessions', {
      method: 'POST',
      body: { loginCode: admin },
    });
    expect(asCode.status).toBe(401);
    expect(asCode.body.detail).toMatch(/API token, not a login link code/);

    const code = await link(admin);
    const asToken = await call(s.url, '/api/v1/agents', { token: code });
    expect(asToken.status).toBe(401);
    expect(asToken.body.detail).toMatch(/one-time login link code/);

    const both = await call(s.url, '/api/v1/auth/sessions', {
      method: 'POST',
      body: { loginCode: code, token: admin },
    });
    expect(both.status).toBe(400);
    const dout = await call(s.url, '/api/v1/auth/session', { method: 'DELETE', token: admin });
    expect(dout.status).toBe(400);
    expect(dout.body.detail).toMatch(/not a dashboard session/);

    await fc.assert(
      fc.asyncProperty(fc.anything(), async (body) => {
        const r = await call(s.url, '/api/v1/auth/sessions', {
          method: 'POST',
          body: { loginCode: body },
        });
        expect([400, 401]).toContain(r.status);
        expect(r.type).toMatch(/problem\+json/);
      }),
      { numRuns: 40 },
    );
    // Nothing forged opened a session, and the server still answers.
    expect((await call(s.url, '/healthz')).status).toBe(200);
  });

  it('serves the SPA at / and for page deep links, with a CSP; API 404s stay problems', async () => {
    const root = await call(s.url, '/');
    expect(root.status).toBe(200);
    expect(root.text).toContain('<div id="root">');
    expect(root.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const deep = await call(s.url, '/agents/worker-1', {
      accept: 'text/html,application/xhtml+xml',
    });
    expect(deep.status).toBe(200);
    expect(deep.text).toContain('<div id="root">');
    const asset = await call(s.url, '/assets/app-1234.js');
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    const api = await call(s.url, '/api/v1/nope', { token: admin, accept: 'text/html' });
    expect(api.status).toBe(404);
    expect(api.type).toMatch(/problem\+json/);
    // A traversal out of the assets folder (encoded, so fetch keeps it) finds nothing.
    const out = await call(s.url, '/assets/..%2f..%2findex.html');
    expect([400, 403, 404]).toContain(out.status);
    expect(out.text).not.toContain('<div id="root">');
  });
});
