import type WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FrameReader, startTestServer, type TestServer } from './test-support/test-server.js';

/*
 * The command channel over real sockets (SPEC §9 "Control over HTTP", §12 "Commands" and
 * "Roles"): who may subscribe to commands topics, and how a control route reaches the
 * supervisor connection that manages the agent.
 */

type Json = Record<string, unknown>;

let srv: TestServer;
const tokens: Record<string, string> = {};
const open: WebSocket[] = [];

beforeAll(async () => {
  srv = await startTestServer();
  tokens.admin = await srv.token('admin');
  tokens.operator = await srv.token('operator');
  tokens.viewer = await srv.token('viewer');
  tokens.alpha = await srv.token('agent', 'alpha');
  tokens.supervisor = await srv.token('agent', '*');
});
afterAll(async () => {
  await srv.close();
});
afterEach(async () => {
  for (const ws of open.splice(0)) ws.close();
  // Every test starts with no supervisor registered.
  await waitFor(() => srv.warden.ctx.hub.commands.size === 0);
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A connection with a frame reader, closed after the test. */
async function peer(token: string): Promise<{ ws: WebSocket; frames: FrameReader }> {
  const ws = await srv.connect(token);
  open.push(ws);
  return { ws, frames: new FrameReader(ws) };
}

let refs = 0;
/** Sends a subscribe frame and returns the reply (`subscribed` or `error`). */
async function subscribe(p: { ws: WebSocket; frames: FrameReader }, topics: string[]) {
  const ref = `s${++refs}`;
  p.ws.send(JSON.stringify({ op: 'subscribe', ref, topics }));
  return p.frames.next((f) => f.ref === ref);
}

/** A supervisor connection that takes commands for `topics`. */
async function supervisor(topics: string[], token = tokens.supervisor!) {
  const p = await peer(token);
  expect(await subscribe(p, topics)).toMatchObject({ op: 'subscribed', topics });
  return p;
}

async function control(
  agentId: string,
  action: string,
  token = tokens.operator!,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${srv.url}/api/v1/agents/${agentId}/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const commands = (frames: FrameReader) => frames.frames.filter((f) => f.op === 'command');

describe('commands topics and roles', () => {
  it('lets an agent token take commands for its own agent only', async () => {
    const p = await peer(tokens.alpha!);
    for (const topics of [['commands:beta'], ['commands:*'], ['commands:alpha', 'commands:beta']]) {
      expect({ topics, reply: await subscribe(p, topics) }).toMatchObject({
        reply: { op: 'error', code: 'forbidden_agent' },
      });
    }
    expect(await subscribe(p, ['commands:alpha'])).toMatchObject({
      op: 'subscribed',
      topics: ['commands:alpha'],
    });
    // Its own logs, too (a part of agent:alpha, which it may read already); not others'.
    expect(await subscribe(p, ['logs:alpha'])).toMatchObject({ op: 'subscribed' });
    expect(await subscribe(p, ['logs:beta'])).toMatchObject({
      op: 'error',
      code: 'forbidden_agent',
      message: expect.stringContaining('agent:alpha, logs:alpha and commands:alpha'),
    });
  });

  it('lets a supervisor token take commands:* and any commands:<id>', async () => {
    const p = await peer(tokens.supervisor!);
    expect(await subscribe(p, ['commands:*', 'commands:beta', 'logs:beta'])).toMatchObject({
      op: 'subscribed',
      topics: ['commands:*', 'commands:beta', 'logs:beta'],
    });
  });

  it('refuses commands topics to viewers and operators, who read every other topic', async () => {
    for (const role of ['viewer', 'operator']) {
      const p = await peer(tokens[role]!);
      expect({ role, reply: await subscribe(p, ['commands:*']) }).toMatchObject({
        reply: { op: 'error', code: 'forbidden', message: expect.stringContaining('supervisors') },
      });
      expect({ role, reply: await subscribe(p, ['commands:alpha']) }).toMatchObject({
        reply: { op: 'error', code: 'forbidden' },
      });
      expect(await subscribe(p, ['logs:alpha', 'type:agent_lifecycle'])).toMatchObject({
        op: 'subscribed',
      });
    }
  });

  it('names a bad commands topic', async () => {
    const p = await peer(tokens.supervisor!);
    expect(await subscribe(p, ['commands:'])).toMatchObject({
      op: 'error',
      code: 'invalid_request',
      details: [{ path: '/topics', message: expect.stringContaining('or be * for every agent') }],
    });
  });
});

describe('POST /api/v1/agents/:id/start|stop|restart', () => {
  it('answers 202 with the command and sends it to the exact supervisor, not to commands:*', async () => {
    const exact = await supervisor(['commands:alpha']);
    const any = await supervisor(['commands:*']);
    const r = await control('alpha', 'restart');
    expect(r).toEqual({
      status: 202,
      body: { id: expect.stringMatching(/^cmd-/), agentId: 'alpha', action: 'restart' },
    });
    expect(await exact.frames.next((f) => f.op === 'command')).toEqual({
      op: 'command',
      ...r.body,
    });
    // The next command, for an agent only commands:* takes, is the first the other one sees.
    const other = await control('beta', 'stop');
    expect(await any.frames.next((f) => f.op === 'command')).toEqual({
      op: 'command',
      ...other.body,
    });
    expect(commands(any.frames)).toEqual([{ op: 'command', ...other.body }]);
    expect(commands(exact.frames)).toEqual([{ op: 'command', ...r.body }]);
  });

  it('sends a command for an agent never seen to the commands:* supervisors, who answer by lifecycle events', async () => {
    const a = await supervisor(['commands:*']);
    const b = await supervisor(['commands:*']);
    const r = await control('never-seen-1', 'start');
    expect(r.status).toBe(202);
    for (const s of [a, b]) {
      expect(await s.frames.next((f) => f.op === 'command')).toEqual({
        op: 'command',
        id: r.body.id,
        agentId: 'never-seen-1',
        action: 'start',
      });
    }
  });

  it('gives each command its own id, also for the same action twice', async () => {
    const s = await supervisor(['commands:alpha']);
    const first = await control('alpha', 'start');
    const second = await control('alpha', 'start');
    expect(first.body.id).not.toBe(second.body.id);
    await waitFor(() => commands(s.frames).length === 2);
    expect(commands(s.frames).map((f) => f.id)).toEqual([first.body.id, second.body.id]);
  });

  it('answers 409 conflict when no supervisor is connected, naming the agent', async () => {
    const r = await control('alpha', 'start');
    expect(r).toMatchObject({
      status: 409,
      body: {
        code: 'conflict',
        detail: expect.stringContaining('no supervisor connected manages agent alpha'),
      },
    });
  });

  it('stops routing to a supervisor that unsubscribed or went away', async () => {
    const s = await supervisor(['commands:alpha']);
    s.ws.send(JSON.stringify({ op: 'unsubscribe', ref: 'u', topics: ['commands:alpha'] }));
    expect(await s.frames.next((f) => f.ref === 'u')).toMatchObject({ op: 'unsubscribed' });
    expect((await control('alpha', 'stop')).status).toBe(409);
    const t = await supervisor(['commands:*']);
    expect((await control('alpha', 'stop')).status).toBe(202);
    t.ws.close();
    await waitFor(() => srv.warden.ctx.hub.commands.size === 0);
    expect((await control('alpha', 'stop')).status).toBe(409);
  });

  it('refuses viewers and agent tokens with 403 forbidden; admin and operator may act', async () => {
    await supervisor(['commands:*']);
    for (const who of ['viewer', 'alpha', 'supervisor']) {
      const r = await control('alpha', 'stop', tokens[who]);
      expect({ who, status: r.status, code: r.body.code }).toEqual({
        who,
        status: 403,
        code: 'forbidden',
      });
    }
    for (const who of ['admin', 'operator']) {
      expect({ who, status: (await control('alpha', 'stop', tokens[who])).status }).toEqual({
        who,
        status: 202,
      });
    }
  });

  it('lets an admin-token supervisor take commands', async () => {
    const s = await supervisor(['commands:*'], tokens.admin);
    const r = await control('gamma', 'restart');
    expect(r.status).toBe(202);
    expect(await s.frames.next((f) => f.op === 'command')).toMatchObject({ agentId: 'gamma' });
  });

  it('answers an unknown action with 404 and a bad agent id with 400 naming /params/id', async () => {
    await supervisor(['commands:*']);
    expect(await control('alpha', 'explode')).toMatchObject({
      status: 404,
      body: { code: 'not_found' },
    });
    expect(await control('-bad', 'start')).toMatchObject({
      status: 400,
      body: { code: 'invalid_request', errors: [{ path: '/params/id' }] },
    });
  });

  it('documents the three routes with their 202 body in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${srv.url}/docs/json`)).json()) as {
      paths: Record<string, { post?: { responses?: Record<string, unknown>; tags?: string[] } }>;
    };
    for (const action of ['start', 'stop', 'restart']) {
      const op = doc.paths[`/api/v1/agents/{id}/${action}`]?.post;
      expect({ action, tags: op?.tags, has202: op?.responses?.['202'] !== undefined }).toEqual({
        action,
        tags: ['agents'],
        has202: true,
      });
    }
  });
});
