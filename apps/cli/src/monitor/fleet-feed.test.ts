import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import type { Clock } from '@warden/sdk';
import { HubClientError } from '../hub-client.js';
import { FleetFeed, type HubApi, type LiveSocket } from './fleet-feed.js';

const T0 = 1_763_791_200_000;

/** Time that moves only when the test says, with the timers due by then. */
class ManualClock implements Clock {
  t = T0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  /** Moves on `ms`, running each timer as its time comes, and lets promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

type Handler = (query: Record<string, unknown>) => unknown;

/** A hub answering from handlers, recording every request. */
class FakeHub implements HubApi {
  readonly url = 'http://hub.test';
  token: string | undefined = 'tok';
  calls: string[] = [];
  posts: string[] = [];
  handlers = new Map<string, Handler>();
  postHandler: (path: string) => unknown = () => ({ id: 'cmd-1' });
  async get<T>(path: string, query: Record<string, string | number | undefined> = {}) {
    this.calls.push(path);
    const h = this.handlers.get(path);
    if (!h) throw new HubClientError('not_found', `no ${path} (HTTP 404)`, 404);
    return h(query) as T;
  }
  async post<T>(path: string): Promise<T> {
    this.posts.push(path);
    return this.postHandler(path) as T;
  }
}

/** A socket the test drives: it holds the subscriptions and fires the connection events. */
class FakeSocket implements LiveSocket {
  subs: Array<{
    topics: string[];
    handler: (ev: StoredEvent) => void;
    since?: number;
    live: boolean;
  }> = [];
  private handlers: Record<string, Array<(arg: never) => void>> = {};
  closed = false;
  subscribe(topics: string[], handler: (ev: StoredEvent) => void, opts: { since?: number } = {}) {
    const sub = { topics, handler, ...opts, live: true };
    this.subs.push(sub);
    return () => {
      sub.live = false;
    };
  }
  on(event: string, fn: (arg: never) => void): void {
    (this.handlers[event] ??= []).push(fn);
  }
  fire(event: 'connected' | 'disconnected' | 'error', arg?: unknown): void {
    for (const fn of this.handlers[event] ?? []) (fn as (a: unknown) => void)(arg);
  }
  /** Delivers `ev` to the live subscriptions whose topics match. */
  deliver(ev: StoredEvent): void {
    for (const s of this.subs) {
      if (!s.live) continue;
      const match = s.topics.some(
        (t) => t === 'events' || (t === `logs:${ev.agentId}` && ev.type === 'log'),
      );
      if (match) s.handler(ev);
    }
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

let seq = 100;
function ev(agentId: string, type: string, data: Record<string, unknown>, ts = T0): StoredEvent {
  const s = seq++;
  return { id: `e${s}`, agentId, type, data, ts, seq: s, receivedAt: ts } as StoredEvent;
}

function fleetHub(agents: Array<Record<string, unknown>> = [{ agentId: 'a', status: 'running' }]) {
  const hub = new FakeHub();
  hub.handlers.set('/api/v1/dashboard', () => ({
    system: { head: 99 },
    queue: { depth: 4, leased: 1, ratePerMin: 1.5 },
  }));
  hub.handlers.set('/api/v1/agents', () => ({
    agents: agents.map((a) => ({
      statusMessage: null,
      health: 'healthy',
      checks: {},
      metrics: {},
      openTasks: 0,
      unresolvedErrors: 0,
      lastSeen: T0,
      lastSeq: 50,
      ...a,
    })),
  }));
  hub.handlers.set('/api/v1/tasks', () => ({ tasks: [] }));
  return hub;
}

async function started(hub: FakeHub, opts: { maxRestarts?: Record<string, number> } = {}) {
  const clock = new ManualClock();
  const socket = new FakeSocket();
  let socketUrl = '';
  let tokenFn: (() => Promise<string | undefined>) | undefined;
  const feed = new FleetFeed({
    clients: async () => hub,
    openSocket: (url, token) => {
      socketUrl = url;
      tokenFn = token;
      return socket;
    },
    clock,
    ...opts,
  });
  await feed.start();
  return { feed, clock, socket, socketUrl, tokenFn: tokenFn! };
}

describe('FleetFeed', () => {
  it('starts from the snapshot and subscribes to every event from its head', async () => {
    const hub = fleetHub();
    const { feed, socket, socketUrl, tokenFn } = await started(hub);
    expect(hub.calls).toEqual(['/api/v1/dashboard', '/api/v1/agents', '/api/v1/tasks']);
    const d = feed.getData();
    expect(d.loaded).toBe(true);
    expect(d.connection.state).toBe('connecting');
    expect(d.fleet.queue).toEqual({ depth: 4, leased: 1, ratePerMin: 1.5 });
    expect(Object.keys(d.fleet.agents)).toEqual(['a']);
    expect(socket.subs).toMatchObject([{ topics: ['events'], since: 99 }]);
    expect(socketUrl).toBe('http://hub.test');
    expect(await tokenFn()).toBe('tok');
  });

  it('a server that cannot be read at start rejects with its reason', async () => {
    const hub = new FakeHub();
    const feed = new FleetFeed({
      clients: async () => hub,
      openSocket: () => new FakeSocket(),
      clock: new ManualClock(),
    });
    await expect(feed.start()).rejects.toThrow(/no \/api\/v1\/dashboard/);
  });

  it('events are applied in batches: listeners hear once per flush, not once per event', async () => {
    const { feed, clock, socket } = await started(fleetHub());
    let told = 0;
    feed.subscribe(() => told++);
    for (let i = 0; i < 50; i++) {
      socket.deliver(ev('a', 'metric_update', { metrics: { cpu_percent: i } }));
    }
    expect(feed.getData().fleet.agents.a!.metrics.cpu_percent).toBeUndefined();
    await clock.advance(100);
    expect(told).toBe(1);
    expect(feed.getData().fleet.agents.a!.metrics.cpu_percent).toBe(49);
  });

  it('a task event fetches the snapshot again, at most once per refetchMs; quiet means no fetch', async () => {
    const hub = fleetHub();
    const { clock, socket } = await started(hub);
    hub.calls = [];
    await clock.advance(60_000);
    expect(hub.calls).toEqual([]); // no polling
    socket.deliver(ev('a', 'task_assigned', { taskId: 't-1' }));
    await clock.advance(10);
    expect(hub.calls.filter((c) => c === '/api/v1/agents')).toHaveLength(1);
    socket.deliver(ev('a', 'task_completed', { taskId: 't-1', success: true }));
    socket.deliver(ev('a', 'error_occurred', { errorType: 'E', message: 'm' }));
    await clock.advance(1000);
    expect(hub.calls.filter((c) => c === '/api/v1/agents')).toHaveLength(1);
    await clock.advance(1100);
    expect(hub.calls.filter((c) => c === '/api/v1/agents')).toHaveLength(2);
  });

  it('other events fetch the snapshot only after idleRefetchMs (the rate moves with time)', async () => {
    const hub = fleetHub();
    const { clock, socket } = await started(hub);
    hub.calls = [];
    socket.deliver(ev('a', 'metric_update', { metrics: { cpu_percent: 1 } }));
    await clock.advance(14_000);
    expect(hub.calls).toEqual([]);
    await clock.advance(1_100);
    expect(hub.calls).toContain('/api/v1/dashboard');
  });

  it('says reconnecting while the socket is away, and fetches the snapshot when it is back', async () => {
    const hub = fleetHub();
    const { feed, clock, socket } = await started(hub);
    socket.fire('connected');
    expect(feed.getData().connection.state).toBe('live');
    socket.fire('disconnected', { code: 1006, reason: '' });
    expect(feed.getData().connection).toEqual({ state: 'reconnecting', since: T0 });
    socket.fire('error', new Error('connect ECONNREFUSED 127.0.0.1:7070'));
    expect(feed.getData().connection.reason).toBe('connect ECONNREFUSED 127.0.0.1:7070');
    // The snapshot cannot be read meanwhile: the view stays, nothing throws.
    hub.handlers.delete('/api/v1/dashboard');
    socket.deliver(ev('a', 'task_assigned', { taskId: 't' }));
    await clock.advance(3000);
    expect(feed.getData().loaded).toBe(true);
    hub.handlers.set('/api/v1/dashboard', () => ({ system: { head: 500 }, queue: { depth: 9 } }));
    hub.calls = [];
    await clock.advance(20_000);
    socket.fire('connected');
    await clock.advance(0);
    expect(feed.getData().connection.state).toBe('live');
    expect(hub.calls).toContain('/api/v1/dashboard');
    expect(feed.getData().fleet.queue?.depth).toBe(9);
  });

  it('r: asks for the restart, then says the agent restarted once its start arrives', async () => {
    const hub = fleetHub();
    const { feed, clock, socket } = await started(hub);
    await feed.restart('a');
    expect(hub.posts).toEqual(['/api/v1/agents/a/restart']);
    expect(feed.getData().message).toEqual({
      text: 'restart of a requested (command cmd-1); waiting for it to start…',
      tone: 'info',
    });
    socket.deliver(ev('a', 'agent_lifecycle', { action: 'started', pid: 4242 }));
    await clock.advance(100);
    expect(feed.getData().message).toEqual({ text: 'a restarted (pid 4242)', tone: 'ok' });
  });

  it('r: a refusal is shown as the server said it', async () => {
    const hub = fleetHub();
    hub.postHandler = () => {
      throw new HubClientError('forbidden', 'forbidden: role viewer may not act (HTTP 403)', 403);
    };
    const { feed } = await started(hub);
    await feed.restart('a');
    expect(feed.getData().message).toEqual({
      text: 'restart of a failed: forbidden: role viewer may not act (HTTP 403)',
      tone: 'error',
    });
  });

  it('l: the history, then live lines of that agent from the history’s head; back unsubscribes', async () => {
    const hub = fleetHub();
    hub.handlers.set('/api/v1/logs', (q) => ({
      logs: [
        { seq: 90, agentId: q.agentId, ts: T0, level: 'info', message: 'second' },
        { seq: 80, agentId: q.agentId, ts: T0, level: 'warn', message: 'first' },
      ],
      next: null,
      head: 95,
    }));
    const { feed, clock, socket } = await started(hub);
    feed.showLogs('a');
    expect(feed.getData().logs).toMatchObject({ agentId: 'a', loading: true });
    await clock.advance(0);
    expect(feed.getData().logs?.lines.map((l) => l.message)).toEqual(['first', 'second']);
    const logSub = socket.subs.find((s) => s.topics[0] === 'logs:a')!;
    expect(logSub.since).toBe(95);
    socket.deliver(ev('a', 'log', { level: 'error', message: 'third' }));
    socket.deliver(ev('b', 'log', { level: 'info', message: 'not mine' }));
    await clock.advance(100);
    expect(feed.getData().logs?.lines.map((l) => l.message)).toEqual(['first', 'second', 'third']);
    feed.hideLogs();
    expect(feed.getData().logs).toBeUndefined();
    expect(logSub.live).toBe(false);
  });

  it('an agent found waiting for its restart gets its countdown from its recent events', async () => {
    const hub = fleetHub([{ agentId: 'c', status: 'restarting', health: 'warning' }]);
    hub.handlers.set('/api/v1/agents/c', () => ({
      recentEvents: [
        {
          id: 'x',
          seq: 49,
          agentId: 'c',
          type: 'agent_lifecycle',
          ts: T0,
          receivedAt: T0,
          data: { action: 'restart_scheduled', attempt: 2, delayMs: 30_000 },
        },
      ],
    }));
    const { feed } = await started(hub, { maxRestarts: { c: 5 } });
    expect(feed.getData().fleet.agents.c!.restart).toEqual({
      attempt: 2,
      maxAttempts: 5,
      at: T0 + 30_000,
    });
  });

  it('a server whose agents carry their process and task is read in two requests', async () => {
    const hub = fleetHub([
      {
        agentId: 'c',
        status: 'restarting',
        lifecycle: { pid: null, circuit: 'closed', nextRestartAt: T0 + 4000, attempt: 1 },
        currentTask: null,
      },
    ]);
    const { feed } = await started(hub);
    expect(hub.calls).toEqual(['/api/v1/dashboard', '/api/v1/agents']);
    expect(feed.getData().fleet.agents.c!.restart).toEqual({ attempt: 1, at: T0 + 4000 });
  });

  it('close ends the socket and stops telling listeners', async () => {
    const { feed, socket } = await started(fleetHub());
    let told = 0;
    feed.subscribe(() => told++);
    await feed.close();
    expect(socket.closed).toBe(true);
    socket.fire('connected');
    expect(told).toBe(0);
  });
});
