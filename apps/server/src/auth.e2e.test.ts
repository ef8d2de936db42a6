import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { FrameReader, startTestServer, type TestServer } from './test-support/test-server.js';
import { createWarden, type Warden } from './warden.js';

/*
 * Auth over real sockets (SPEC §5, §6, §12 "Roles"): who may call what, how forged and
 * expired tokens are refused on HTTP and on the WebSocket upgrade, and that tokens never
 * leak into logs or problem bodies.
 */

type Json = Record<string, unknown>;

interface Reply {
  status: number;
  contentType: string;
  body: Json | undefined;
}

async function call(
  base: string,
  path: string,
  opts: { method?: string; token?: string; authorization?: string; body?: unknown } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  else if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method: opts.method ?? 'GET',
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: Json | undefined;
  try {
    body = text ? (JSON.parse(text) as Json) : undefined;
  } catch {
    body = { text };
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body };
}

function expectProblem(r: Reply, status: number, code: string, what = ''): void {
  expect({ what, status: r.status, code: r.body?.code }).toEqual({ what, status, code });
  expect(r.contentType).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status });
}

/** Tries a WebSocket upgrade; resolves with 101 when it opened, else the refusal. */
function upgrade(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json | undefined; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ status: 101, body: undefined, ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: Json | undefined;
        try {
          body = JSON.parse(text) as Json;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

function closeOf(ws: WebSocket, timeoutMs: number): Promise<{ code: number; at: number }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('connection was not closed')), timeoutMs);
    ws.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, at: Date.now() });
    });
  });
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

const status = (id: string, agentId: string, s = 'running') => ({
  id,
  type: 'agent_status_update',
  agentId,
  data: { status: s },
});

let srv: TestServer;
type Holder = 'admin' | 'operator' | 'viewer' | 'alpha' | 'star';
const tokens = {} as Record<Holder, string>;
/** Tokens that must be refused, by how they are broken. */
const forged = {} as Record<
  | 'wrongSecret'
  | 'algNone'
  | 'tampered'
  | 'tamperedAgent'
  | 'expired'
  | 'wrongIssuer'
  | 'badRole'
  | 'agentWithoutId'
  | 'hs512'
  | 'garbage',
  string
>;
/** Every /api/v1 route and /metrics, as [method, path]. */
let protectedRoutes: Array<[string, string]> = [];

beforeAll(async () => {
  srv = await startTestServer();
  tokens.admin = await srv.token('admin');
  tokens.operator = await srv.token('operator');
  tokens.viewer = await srv.token('viewer');
  tokens.alpha = await srv.token('agent', 'alpha');
  tokens.star = await srv.token('agent', '*');

  const secret = readFileSync(join(srv.dataDir, 'secret'), 'utf8').trim();
  const key = new TextEncoder().encode(secret);
  const signed = (
    claims: Json,
    o: { key?: Uint8Array; alg?: string; iat?: number; exp?: number; iss?: string } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: o.alg ?? 'HS256', typ: 'JWT' })
      .setIssuer(o.iss ?? 'warden')
      .setSubject('mallory')
      .setIssuedAt(o.iat ?? nowS())
      .setExpirationTime(o.exp ?? nowS() + 3600)
      .sign(o.key ?? key);

  forged.wrongSecret = await signed(
    { role: 'admin' },
    { key: new TextEncoder().encode('not-the-server-secret-at-all-0123456789') },
  );
  forged.algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({
    role: 'admin',
    sub: 'mallory',
    iss: 'warden',
    iat: nowS(),
    exp: nowS() + 3600,
  })}.`;
  const [h, p, s] = tokens.viewer.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Json;
  forged.tampered = `${h}.${b64({ ...claims, role: 'admin' })}.${s}`;
  forged.tamperedAgent = `${tokens.alpha.split('.')[0]}.${b64({
    ...(JSON.parse(Buffer.from(tokens.alpha.split('.')[1]!, 'base64url').toString()) as Json),
    agent_id: '*',
  })}.${tokens.alpha.split('.')[2]}`;
  // Expired an hour ago: far past the 30 s clock tolerance.
  forged.expired = await signed({ role: 'admin' }, { iat: nowS() - 7200, exp: nowS() - 3600 });
  forged.wrongIssuer = await signed({ role: 'admin' }, { iss: 'someone-else' });
  forged.badRole = await signed({ role: 'root' });
  forged.agentWithoutId = await signed({ role: 'agent' });
  forged.hs512 = await signed({ role: 'admin' }, { alg: 'HS512' });
  forged.garbage = 'not.a.jwt';

  const doc = await call(srv.url, '/docs/json');
  const paths = (doc.body as { paths: Record<string, Record<string, unknown>> }).paths;
  for (const [path, ops] of Object.entries(paths)) {
    if (!path.startsWith('/api/v1/') && path !== '/metrics') continue;
    // Sign-in is the one public API route: it checks the code or token in its body itself
    // (auth/dashboard-sessions.e2e.test.ts).
    if (path === '/api/v1/auth/sessions') continue;
    for (const method of Object.keys(ops)) {
      protectedRoutes.push([method.toUpperCase(), path.replace(/\{[^}]+\}/g, '1')]);
    }
  }
  protectedRoutes = protectedRoutes.sort();
});

afterAll(async () => {
  await srv?.close();
});

describe('routes without a valid token', () => {
  it('covers every /api/v1 route the server documents', () => {
    const names = protectedRoutes.map(([m, p]) => `${m} ${p}`);
    for (const known of [
      'GET /api/v1/events',
      'POST /api/v1/events',
      'GET /api/v1/agents',
      'GET /api/v1/agents/1',
      'GET /api/v1/dashboard',
      'GET /api/v1/errors',
      'PATCH /api/v1/errors/1',
      'GET /api/v1/tasks',
      'GET /metrics',
    ]) {
      expect(names).toContain(known);
    }
  });

  it('answers every /api/v1 route and /metrics with 401 unauthorized when no token is sent', async () => {
    for (const [method, path] of protectedRoutes) {
      const body = method === 'GET' ? undefined : {};
      const r = await call(srv.url, path, { method, ...(body ? { body } : {}) });
      expectProblem(r, 401, 'unauthorized', `${method} ${path}`);
    }
  });

  it('answers every route with 401 for forged, tampered, expired and malformed tokens', async () => {
    for (const [kind, token] of Object.entries(forged)) {
      for (const [method, path] of protectedRoutes) {
        const body = method === 'GET' ? undefined : {};
        const r = await call(srv.url, path, { method, token, ...(body ? { body } : {}) });
        expectProblem(r, 401, 'unauthorized', `${kind}: ${method} ${path}`);
      }
    }
  });

  it('refuses HEAD requests without a token too', async () => {
    for (const path of ['/api/v1/agents', '/api/v1/events', '/metrics']) {
      const res = await fetch(srv.url + path, { method: 'HEAD' });
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
    }
  });

  it('refuses a malformed Authorization header with 401', async () => {
    for (const authorization of [
      '',
      'Bearer',
      'Bearer ',
      `Basic ${Buffer.from('admin:admin').toString('base64')}`,
      `Token ${tokens.admin}`,
      `Bearer ${tokens.admin} extra`,
    ]) {
      const r = await call(srv.url, '/api/v1/agents', { authorization });
      expectProblem(r, 401, 'unauthorized', JSON.stringify(authorization));
    }
  });

  it('does not take ?token= on HTTP routes (only the WebSocket upgrade accepts it)', async () => {
    const r = await call(srv.url, `/api/v1/agents?token=${tokens.admin}`);
    expectProblem(r, 401, 'unauthorized');
    expect(JSON.stringify(r.body)).not.toContain(tokens.admin);
  });

  it('keeps /healthz, /readyz and the API reference public', async () => {
    const health = await call(srv.url, '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok' });
    const ready = await call(srv.url, '/readyz');
    expect(ready.status).toBe(200);
    const doc = await call(srv.url, '/docs/json');
    expect(doc.status).toBe(200);
    expect(String(doc.body?.openapi)).toMatch(/^3\./);
    const docs = await fetch(srv.url + '/docs');
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('needs a token for /metrics unless server.metrics_public is set', async () => {
    expectProblem(await call(srv.url, '/metrics'), 401, 'unauthorized');
    const withToken = await call(srv.url, '/metrics', { token: tokens.viewer });
    expect(withToken.status).toBe(200);
    const open = await startTestServer({ config: { server: { metrics_public: true } } });
    try {
      const res = await fetch(open.url + '/metrics');
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('warden_events_ingested_total');
      // Only /metrics is opened up.
      expectProblem(await call(open.url, '/api/v1/agents'), 401, 'unauthorized');
    } finally {
      await open.close();
    }
  });
});

describe('WebSocket upgrade', () => {
  it('is refused with 401 before the upgrade when the token is missing', async () => {
    const r = await upgrade(srv.wsUrl);
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ code: 'unauthorized' });
  });

  it('is refused with 401 for every forged or expired token, by header and by ?token=', async () => {
    for (const [kind, token] of Object.entries(forged)) {
      const byHeader = await upgrade(srv.wsUrl, { authorization: `Bearer ${token}` });
      expect({ kind, status: byHeader.status }).toEqual({ kind, status: 401 });
      expect(byHeader.body).toMatchObject({ code: 'unauthorized' });
      const byQuery = await upgrade(`${srv.wsUrl}?token=${encodeURIComponent(token)}`);
      expect({ kind, status: byQuery.status }).toEqual({ kind, status: 401 });
      expect(byQuery.body).toMatchObject({ code: 'unauthorized' });
      // The refusal names the URL without the secret.
      expect(JSON.stringify(byQuery.body)).not.toContain(token);
    }
  });

  it('accepts a valid token by header and by ?token=', async () => {
    const byHeader = await upgrade(srv.wsUrl, { authorization: `Bearer ${tokens.viewer}` });
    expect(byHeader.status).toBe(101);
    byHeader.ws!.close();
    const byQuery = await upgrade(`${srv.wsUrl}?token=${tokens.viewer}`);
    expect(byQuery.status).toBe(101);
    const reader = new FrameReader(byQuery.ws!);
    byQuery.ws!.send(JSON.stringify({ op: 'ping', ref: 'q' }));
    expect(await reader.next((f) => f.op === 'pong')).toEqual({ op: 'pong', ref: 'q' });
    byQuery.ws!.close();
  });

  it('closes a connection with 4401 when its token expires', async () => {
    const token = await srv.token('viewer', undefined, 1500);
    const exp = (
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }
    ).exp;
    const ws = await srv.connect(token);
    const closed = closeOf(ws, 5000);
    const reader = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'ping', ref: 'before' }));
    await reader.next((f) => f.op === 'pong');
    const { code, at } = await closed;
    expect(code).toBe(4401);
    // Closed at the expiry, not long before or after it.
    expect(at).toBeGreaterThanOrEqual(exp * 1000 - 50);
    expect(at).toBeLessThan(exp * 1000 + 1500);
  });
});

describe('roles', () => {
  const publish = (token: string, body: unknown) =>
    call(srv.url, '/api/v1/events', { method: 'POST', token, body });

  async function ids(agentId: string): Promise<string[]> {
    const r = await call(srv.url, `/api/v1/events?agentId=${agentId}&limit=1000`, {
      token: tokens.admin,
    });
    return (r.body!.events as Array<{ id: string }>).map((e) => e.id);
  }

  it('lets viewer and operator read but not publish (403 forbidden)', async () => {
    const seed = await publish(tokens.admin, {
      events: [
        status('roles-seed-1', 'alpha'),
        {
          id: 'roles-seed-err',
          type: 'error_occurred',
          agentId: 'alpha',
          data: { errorType: 'E', message: 'boom' },
        },
      ],
    });
    expect(seed.status).toBe(200);
    for (const role of ['viewer', 'operator'] as const) {
      const token = tokens[role];
      for (const path of [
        '/api/v1/agents',
        '/api/v1/agents/alpha',
        '/api/v1/dashboard',
        '/api/v1/errors',
        '/api/v1/tasks',
        '/api/v1/events',
        '/metrics',
      ]) {
        const r = await call(srv.url, path, { token });
        expect({ role, path, status: r.status }).toEqual({ role, path, status: 200 });
      }
      const head = srv.warden.ctx.store.head();
      const r = await publish(token, status(`roles-${role}-pub`, 'alpha'));
      expectProblem(r, 403, 'forbidden', role);
      expect(srv.warden.ctx.store.head()).toBe(head);
    }
  });

  it('refuses a viewer publish over WebSocket with a forbidden error frame', async () => {
    const ws = await srv.connect(tokens.viewer);
    const reader = new FrameReader(ws);
    const head = srv.warden.ctx.store.head();
    ws.send(
      JSON.stringify({ op: 'publish', ref: 'v1', event: status('roles-viewer-ws', 'alpha') }),
    );
    const f = await reader.next((x) => x.ref === 'v1');
    expect(f).toMatchObject({ op: 'error', ref: 'v1', code: 'forbidden' });
    ws.send(JSON.stringify({ op: 'ping', ref: 'still' }));
    await reader.next((x) => x.op === 'pong');
    expect(srv.warden.ctx.store.head()).toBe(head);
    ws.close();
  });

  it('lets operator and admin resolve errors but not viewer or agent (403)', async () => {
    const errs = await call(srv.url, '/api/v1/errors?agentId=alpha', { token: tokens.viewer });
    const id = (errs.body!.errors as Array<{ id: number }>)[0]!.id;
    const patch = (token: string, resolved: boolean) =>
      call(srv.url, `/api/v1/errors/${id}`, { method: 'PATCH', token, body: { resolved } });
    expectProblem(await patch(tokens.viewer, true), 403, 'forbidden', 'viewer');
    expectProblem(await patch(tokens.alpha, true), 403, 'forbidden', 'agent');
    const op = await patch(tokens.operator, true);
    expect(op.status).toBe(200);
    expect(op.body).toMatchObject({ id, resolved: true });
    const admin = await patch(tokens.admin, false);
    expect(admin.status).toBe(200);
    expect(admin.body).toMatchObject({ id, resolved: false });
  });

  it('keeps agent tokens out of the read API (403 forbidden)', async () => {
    for (const path of ['/api/v1/agents', '/api/v1/events', '/api/v1/dashboard']) {
      expectProblem(await call(srv.url, path, { token: tokens.alpha }), 403, 'forbidden', path);
    }
  });

  it('lets an agent token publish for its own agent only; a mixed batch stores nothing', async () => {
    const own = await publish(tokens.alpha, status('agent-own-1', 'alpha'));
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ acks: [{ id: 'agent-own-1' }] });

    const head = srv.warden.ctx.store.head();
    const other = await publish(tokens.alpha, status('agent-other-1', 'beta'));
    expectProblem(other, 403, 'forbidden_agent');

    const mixed = await publish(tokens.alpha, {
      events: [
        status('agent-mixed-1', 'alpha'),
        status('agent-mixed-2', 'alpha'),
        status('agent-mixed-3', 'beta'),
        status('agent-mixed-4', 'alpha'),
      ],
    });
    expectProblem(mixed, 403, 'forbidden_agent');
    expect(mixed.body!.errors).toEqual([
      { path: '/events/2/agentId', message: expect.any(String) },
    ]);
    expect(srv.warden.ctx.store.head()).toBe(head);
    expect(await ids('alpha')).not.toContain('agent-mixed-1');
    expect(await ids('beta')).not.toContain('agent-other-1');
  });

  it('applies the same agent rule over WebSocket, storing nothing from a mixed batch', async () => {
    const ws = await srv.connect(tokens.alpha);
    const reader = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'publish', ref: 'own', event: status('agent-ws-own', 'alpha') }));
    expect(await reader.next((f) => f.ref === 'own')).toMatchObject({ op: 'ack' });
    const head = srv.warden.ctx.store.head();
    ws.send(
      JSON.stringify({
        op: 'publish',
        ref: 'mixed',
        events: [status('agent-ws-m1', 'alpha'), status('agent-ws-m2', 'gamma')],
      }),
    );
    const f = await reader.next((x) => x.ref === 'mixed');
    expect(f).toMatchObject({ op: 'error', code: 'forbidden_agent' });
    ws.send(JSON.stringify({ op: 'heartbeat', ref: 'hb', agentId: 'gamma' }));
    expect(await reader.next((x) => x.ref === 'hb')).toMatchObject({
      op: 'error',
      code: 'forbidden_agent',
    });
    expect(srv.warden.ctx.store.head()).toBe(head);
    expect(await ids('alpha')).not.toContain('agent-ws-m1');
    ws.close();
  });

  it('lets an agent token with agent_id "*" publish for any agent', async () => {
    const r = await publish(tokens.star, {
      events: [status('star-1', 'alpha'), status('star-2', 'beta'), status('star-3', 'zeta')],
    });
    expect(r.status).toBe(200);
    expect((r.body!.acks as unknown[]).length).toBe(3);
    const ws = await srv.connect(tokens.star);
    const reader = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'publish', ref: 's', event: status('star-ws', 'omega') }));
    expect(await reader.next((f) => f.ref === 's')).toMatchObject({ op: 'ack' });
    expect(await ids('omega')).toEqual(['star-ws']);
    ws.close();
  });

  it('lets an agent token subscribe only to agent:<own id>', async () => {
    const ws = await srv.connect(tokens.alpha);
    const reader = new FrameReader(ws);
    for (const topics of [
      ['events'],
      ['agent:beta'],
      ['type:task_assigned'],
      ['agent:alpha', 'events'],
    ]) {
      const ref = topics.join(',');
      ws.send(JSON.stringify({ op: 'subscribe', ref, topics }));
      const f = await reader.next((x) => x.ref === ref);
      expect({ topics, f }).toMatchObject({ f: { op: 'error', code: 'forbidden_agent' } });
    }
    ws.send(JSON.stringify({ op: 'subscribe', ref: 'own', topics: ['agent:alpha'] }));
    expect(await reader.next((x) => x.ref === 'own')).toMatchObject({
      op: 'subscribed',
      topics: ['agent:alpha'],
    });
    // It sees its own events and nobody else's.
    await publish(tokens.admin, {
      events: [status('sub-beta', 'beta'), status('sub-alpha', 'alpha')],
    });
    const ev = await reader.next((x) => x.op === 'event');
    expect(ev).toMatchObject({ event: { id: 'sub-alpha', agentId: 'alpha' } });
    expect(reader.frames.filter((x) => x.op === 'event')).toHaveLength(1);
    ws.close();
  });

  it('lets a viewer subscribe to everything', async () => {
    const ws = await srv.connect(tokens.viewer);
    const reader = new FrameReader(ws);
    ws.send(JSON.stringify({ op: 'subscribe', ref: 'all', topics: ['events', 'agent:beta'] }));
    expect(await reader.next((x) => x.ref === 'all')).toMatchObject({ op: 'subscribed' });
    ws.close();
  });
});

describe('secrets', () => {
  it('creates <dataDir>/secret with mode 0600', () => {
    const mode = statSync(join(srv.dataDir, 'secret')).mode & 0o777;
    expect(mode.toString(8)).toBe('600');
  });

  it('never writes a token to the log or into a problem body', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-auth-log-'));
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const file = join(dir, 'warden.test.yaml');
    writeFileSync(file, stringify({}));
    const config = loadConfig({ config: file, dataDir: dir, port: 0 }, {}, dir);
    let warden: Warden | undefined;
    try {
      warden = await createWarden({
        config,
        logger: pino({ level: 'trace' }, sink),
        writeServerFile: false,
      });
      const url = await warden.listen();
      const wsUrl = url.replace(/^http/, 'ws') + '/ws';
      const admin = await warden.ctx.tokens.mint({ role: 'admin', ttlMs: 60_000 });
      const viewer = await warden.ctx.tokens.mint({ role: 'viewer', ttlMs: 60_000 });
      const agent = await warden.ctx.tokens.mint({ role: 'agent', agentId: 'a1', ttlMs: 60_000 });
      const secrets = [admin, viewer, agent, forged.expired, forged.wrongSecret];

      // Tokens in headers and query strings, on good and failing requests.
      const q = await call(url, `/api/v1/events?token=${admin}&since=abc`, { token: admin });
      expectProblem(q, 400, 'invalid_request');
      expect(String(q.body!.instance)).toContain('token=[redacted]');
      const nf = await call(url, `/api/v1/nowhere?token=${viewer}`, { token: viewer });
      expect(nf.status).toBe(404);
      await call(url, '/api/v1/agents', { token: forged.expired });
      await call(url, '/api/v1/agents', { token: forged.wrongSecret });
      await call(url, '/api/v1/events', {
        method: 'POST',
        token: agent,
        body: status('log-1', 'someone-else'),
      });
      await call(url, '/api/v1/events', {
        method: 'POST',
        token: agent,
        body: status('log-2', 'a1'),
      });
      await upgrade(`${wsUrl}?token=${forged.expired}`);
      await upgrade(wsUrl, { authorization: `Bearer ${forged.wrongSecret}` });
      const ok = await upgrade(`${wsUrl}?token=${agent}`);
      expect(ok.status).toBe(101);
      const reader = new FrameReader(ok.ws!);
      ok.ws!.send('{"op":"publish","ref":"x","event":{"bad":true}}');
      ok.ws!.send(JSON.stringify({ op: 'publish', ref: 'y', event: status('log-3', 'other') }));
      await reader.next((f) => f.ref === 'y');
      ok.ws!.close();
      await new Promise((r) => setTimeout(r, 100));

      for (const body of [q.body, nf.body]) {
        for (const s of secrets) expect(JSON.stringify(body)).not.toContain(s);
      }
      const log = lines.join('');
      expect(log).toContain('warden listening');
      // URLs are logged, with the query token redacted.
      expect(log).toContain('token=[redacted]');
      for (const s of secrets) {
        expect(log).not.toContain(s);
        // Not even the signature alone.
        expect(log).not.toContain(s.split('.')[2]!);
      }
    } finally {
      await warden?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
