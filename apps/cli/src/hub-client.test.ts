import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, TokenService } from '@warden/server';
import { HubClient, HubClientError, reportClientError } from './hub-client.js';
import type { ProcessProbe } from './pid-file.js';

const servers: Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A loopback HTTP server answering with `handler`; resolves with its base URL. */
async function serve(
  handler: (req: { method: string; url: string; auth: string | undefined; body: string }) => {
    status: number;
    body?: string;
    type?: string;
  } | null,
): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const out = handler({
        method: req.method!,
        url: req.url!,
        auth: req.headers.authorization,
        body,
      });
      if (out === null) return; // hang
      res.writeHead(out.status, { 'content-type': out.type ?? 'application/json' });
      res.end(out.body ?? '');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function dataDir(): string {
  return mkdtempSync(join(tmpdir(), 'warden-client-'));
}

/** Env with no WARDEN_* of the test runner's own. */
const NO_ENV: NodeJS.ProcessEnv = {};

const alive: ProcessProbe = { alive: () => true, commandLine: () => 'node warden.js serve' };
const gone: ProcessProbe = { alive: () => false, commandLine: () => undefined };

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

async function failure(p: Promise<unknown>): Promise<HubClientError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HubClientError) return err;
    throw err;
  }
  throw new Error('expected a HubClientError');
}

describe('HubClient requests', () => {
  it('sends the bearer token and the query, and resolves with the JSON body', async () => {
    let seen: { url: string; auth: string | undefined } | undefined;
    const url = await serve((req) => {
      seen = req;
      return { status: 200, body: '{"agents":[]}' };
    });
    const client = new HubClient(url, 'tok');
    expect(
      await client.get('/api/v1/events', { agentId: 'w-1', since: 3, type: undefined }),
    ).toEqual({
      agents: [],
    });
    expect(seen).toMatchObject({ url: '/api/v1/events?agentId=w-1&since=3', auth: 'Bearer tok' });
  });

  it('turns a problem answer into one line naming its code and status', async () => {
    const url = await serve(() => ({
      status: 409,
      type: 'application/problem+json',
      body: JSON.stringify({
        code: 'conflict',
        title: 'Conflict',
        detail: 'no supervisor manages\nagent nope',
      }),
    }));
    const err = await failure(new HubClient(url, 't').post('/api/v1/agents/nope/start'));
    expect(err.code).toBe('conflict');
    expect(err.status).toBe(409);
    expect(err.message).toBe('conflict: no supervisor manages agent nope (HTTP 409)');
  });

  it('on a 401 with a minted token, says where the secret came from', async () => {
    const url = await serve(() => ({
      status: 401,
      body: JSON.stringify({ code: 'unauthorized', detail: 'bad signature' }),
    }));
    const client = new HubClient(url, 't', { tokenSource: 'minted', secretFrom: '/d/secret' });
    const err = await failure(client.get('/api/v1/agents'));
    expect(err.message).toMatch(
      /^unauthorized: bad signature \(HTTP 401\) — the token was minted from \/d\/secret/,
    );
  });

  it('names an error answer without a problem body http_error', async () => {
    const url = await serve(() => ({
      status: 502,
      type: 'text/html',
      body: '<h1>Bad gateway</h1>',
    }));
    const err = await failure(new HubClient(url, 't').get('/api/v1/agents'));
    expect(err.code).toBe('http_error');
    expect(err.message).toBe('http_error: <h1>Bad gateway</h1> (HTTP 502)');
  });

  it('refuses a 200 that is not JSON: that is not a Warden server', async () => {
    const url = await serve(() => ({ status: 200, type: 'text/html', body: '<html>' }));
    const err = await failure(new HubClient(url, 't').get('/api/v1/agents'));
    expect(err.code).toBe('invalid_response');
    expect(err.message).toMatch(/is .* a Warden server\?/);
  });

  it('says it cannot reach a closed port, with the socket error', async () => {
    const url = await serve(() => ({ status: 200, body: '{}' }));
    await new Promise((r) => servers.pop()!.close(r));
    const err = await failure(new HubClient(url, 't').get('/api/v1/agents'));
    expect(err.code).toBe('unreachable');
    expect(err.message).toMatch(new RegExp(`^cannot reach Warden at ${url}: .*ECONNREFUSED`));
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const url = await serve(() => null);
    const err = await failure(new HubClient(url, 't', { timeoutMs: 200 }).get('/healthz'));
    expect(err.message).toBe(`cannot reach Warden at ${url}: no answer within 200ms`);
    servers.pop()!.closeAllConnections();
  });
});

describe('HubClient.connect', () => {
  it('takes --url and --token over the env, and reads no config for them', async () => {
    const c = await HubClient.connect(
      { url: 'http://a:1/', token: 'T', config: '/does/not/exist.yaml' },
      { WARDEN_URL: 'http://b:2', WARDEN_TOKEN: 'U' },
    );
    expect(c.url).toBe('http://a:1');
  });

  it('takes WARDEN_URL when no --url is given', async () => {
    const c = await HubClient.connect({}, { WARDEN_URL: 'http://b:2', WARDEN_TOKEN: 'U' });
    expect(c.url).toBe('http://b:2');
  });

  it('refuses a malformed URL as bad_url, naming where it came from', async () => {
    expect((await failure(HubClient.connect({ url: 'nope', token: 't' }, NO_ENV))).message).toBe(
      '--url "nope" is not a URL',
    );
    const err = await failure(HubClient.connect({ token: 't' }, { WARDEN_URL: 'ftp://x' }));
    expect(err.code).toBe('bad_url');
    expect(err.message).toBe('WARDEN_URL "ftp://x" must be http:// or https://');
  });

  it('without a URL, reads server.json of the data dir', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'server.json'), JSON.stringify({ url: 'http://127.0.0.1:9', pid: 42 }));
    const c = await HubClient.connect({ dataDir: dir, token: 't' }, NO_ENV, alive);
    expect(c.url).toBe('http://127.0.0.1:9');
  });

  it('without a URL or server.json, says no server was found and how to give one', async () => {
    const dir = dataDir();
    const err = await failure(HubClient.connect({ dataDir: dir }, NO_ENV, alive));
    expect(err.code).toBe('no_server');
    expect(err.message).toContain(`${join(dir, 'server.json')} does not exist`);
    expect(err.message).toContain('--url');
  });

  it('treats a server.json whose pid is gone as no server', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'server.json'), JSON.stringify({ url: 'http://127.0.0.1:9', pid: 42 }));
    const err = await failure(HubClient.connect({ dataDir: dir }, NO_ENV, gone));
    expect(err.code).toBe('no_server');
    expect(err.message).toContain('names pid 42, which is gone');
  });

  it('mints a short-lived admin token from the data dir secret the server uses', async () => {
    const dir = dataDir();
    const secret = 'a-secret-of-at-least-16-chars';
    writeFileSync(join(dir, 'secret'), secret + '\n', { mode: 0o600 });
    let auth: string | undefined;
    const url = await serve((req) => {
      auth = req.auth;
      return { status: 200, body: '{}' };
    });
    const c = await HubClient.connect({ url, dataDir: dir }, NO_ENV);
    await c.get('/api/v1/agents');
    const principal = await new TokenService(secret).verify(auth!.replace(/^Bearer /, ''));
    expect(principal.role).toBe('admin');
    const exp = JSON.parse(Buffer.from(auth!.split('.')[1]!, 'base64url').toString()) as {
      exp: number;
      iat: number;
    };
    expect(exp.exp - exp.iat).toBe(300);
  });

  it('sends no token, and creates no secret, when the data dir has none', async () => {
    const dir = dataDir();
    let auth: string | undefined = 'unset';
    const url = await serve((req) => {
      auth = req.auth;
      return { status: 200, body: '{}' };
    });
    await (await HubClient.connect({ url, dataDir: dir }, NO_ENV)).get('/x');
    expect(auth).toBeUndefined();
    expect(existsSync(join(dir, 'secret'))).toBe(false);
  });

  it('uses the configured secret over the data dir file', async () => {
    const dir = dataDir();
    const secret = 'configured-secret-0123456789';
    let auth = '';
    const url = await serve((req) => {
      auth = req.auth ?? '';
      return { status: 200, body: '{}' };
    });
    await (await HubClient.connect({ url, dataDir: dir }, { WARDEN_JWT_SECRET: secret })).get('/x');
    expect((await new TokenService(secret).verify(auth.slice(7))).role).toBe('admin');
  });
});

describe('reportClientError', () => {
  it('prints one line and exits 1 for a server or network failure', () => {
    const out = capture();
    expect(
      reportClientError(new HubClientError('conflict', 'conflict: x (HTTP 409)', 409), out.stream),
    ).toBe(1);
    expect(out.text()).toBe('warden: conflict: x (HTTP 409)\n');
  });

  it('exits 64 for a malformed URL and 2 for an invalid config', () => {
    const out = capture();
    expect(
      reportClientError(new HubClientError('bad_url', '--url "x" is not a URL'), out.stream),
    ).toBe(64);
    expect(reportClientError(new ConfigError('unknown key server.colour'), out.stream)).toBe(2);
    expect(out.text()).toBe(
      'warden: --url "x" is not a URL\nwarden: invalid configuration: unknown key server.colour\n',
    );
  });

  it('rethrows what is not a client failure: that is a bug', () => {
    expect(() => reportClientError(new TypeError('oops'))).toThrow(TypeError);
  });
});
