import type { StoredEvent } from '@warden/protocol';
import type { Clock } from '@warden/sdk';
import { lineOfEvent, type LogLine } from '../logs-command.js';
import {
  agentsAwaitingRestart,
  applyEvents,
  applyHistory,
  applySnapshot,
  changesDerived,
  emptyFleet,
  type AgentSnapshot,
  type FleetState,
  type QueueSummary,
  type RunningTaskSnapshot,
} from './fleet-model.js';
import { appendLines, historyFailed, historyLoaded, openTail, type LogTail } from './log-tail.js';
import type { ConnectionState, StatusMessage } from './monitor-screen.js';

/** The slice of `HubClient` the feed uses (tests may hand in their own). */
export interface HubApi {
  readonly url: string;
  readonly token: string | undefined;
  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

/** A client whose token is still good (a minted one lives 5 minutes: it is minted again). */
export type ClientSource = () => Promise<HubApi>;

/** The slice of the SDK's `WardenClient` the feed uses. */
export interface LiveSocket {
  subscribe(
    topics: string[],
    handler: (ev: StoredEvent) => void,
    opts?: { since?: number },
  ): () => void;
  on(event: 'connected', fn: () => void): void;
  on(event: 'disconnected', fn: (info: { code: number; reason: string }) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  close(): Promise<void>;
}

/** Options of {@link FleetFeed}. */
export interface FleetFeedOptions {
  clients: ClientSource;
  /** Opens the WebSocket (the SDK's `connect`); `token` is asked at every (re)connect. */
  openSocket: (url: string, token: () => Promise<string | undefined>) => LiveSocket;
  clock: Clock;
  /** `max_restarts` per agent, for "attempt a/b". @defaultValue {} */
  maxRestarts?: Record<string, number>;
  /**
   * Shortest gap between two snapshot fetches after an event that changes what only the
   * snapshot tells (open tasks, errors, queue). @defaultValue 2000
   */
  refetchMs?: number;
  /**
   * Shortest gap between two snapshot fetches after any other event (the queue's rate moves
   * with time): a quiet fleet is not polled at all. @defaultValue 15000
   */
  idleRefetchMs?: number;
  /** Events are applied and listeners told at most this often. @defaultValue 100 */
  flushMs?: number;
  /** Log lines read for the log view. @defaultValue 200 */
  logLines?: number;
}

/** What the screen draws, apart from the keys' own state. */
export interface MonitorData {
  fleet: FleetState;
  loaded: boolean;
  connection: ConnectionState;
  logs: LogTail | undefined;
  message: StatusMessage | undefined;
}

interface DashboardBody {
  system?: { head?: number };
  queue?: Partial<QueueSummary>;
}

/**
 * The live fleet behind `warden monitor`: the first snapshot from `GET /api/v1/dashboard`
 * and `/agents` (and `/tasks?state=running` from a server whose agents do not name their
 * current task), then every event from the WebSocket (`events`, from
 * the snapshot's head, so none is missed or applied twice), folded in by the pure model.
 * Events that change what only the snapshot tells schedule a fetch of it, at most one per
 * `refetchMs`; there is no fixed polling. The SDK reconnects by itself and resumes with
 * `since`; the feed says "reconnecting" meanwhile and fetches the snapshot once it is back.
 * Listeners hear of changes at most every `flushMs`, so a busy fleet does not redraw per event.
 */
export class FleetFeed {
  private data: MonitorData;
  private readonly listeners = new Set<() => void>();
  private socket: LiveSocket | undefined;
  private pending: StoredEvent[] = [];
  private pendingLogs: LogLine[] = [];
  private flushTimer: unknown;
  private fetching = false;
  private fetchAgain = false;
  private lastFetchAt = -Infinity;
  private refetchTimer: unknown;
  private refetchDue = Infinity;
  /** Agent → the `lastSeq` its history was read at, so it is read once per change. */
  private historyRead = new Map<string, number>();
  private unsubscribeLogs: (() => void) | undefined;
  /** Restarts asked for: agent → when, to tell "restarted" once its start arrives. */
  private restarting = new Map<string, number>();
  private closed = false;
  private readonly refetchMs: number;
  private readonly idleRefetchMs: number;
  private readonly flushMs: number;

  constructor(private readonly opts: FleetFeedOptions) {
    this.refetchMs = opts.refetchMs ?? 2000;
    this.idleRefetchMs = opts.idleRefetchMs ?? 15_000;
    this.flushMs = opts.flushMs ?? 100;
    this.data = {
      fleet: emptyFleet(opts.maxRestarts ?? {}),
      loaded: false,
      connection: { state: 'connecting', since: opts.clock.now() },
      logs: undefined,
      message: undefined,
    };
  }

  /** The current data; a new object after every change (for `useSyncExternalStore`). */
  readonly getData = (): MonitorData => this.data;

  /** Calls `fn` after each change; returns the unsubscribe. */
  readonly subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  /**
   * Reads the first snapshot and opens the WebSocket from its head. Rejects (with the
   * client's error) when the server cannot be read, so the command can say why and exit.
   */
  async start(): Promise<void> {
    const client = await this.opts.clients();
    await this.fetchSnapshot(client, true);
    const socket = this.opts.openSocket(client.url, async () => (await this.opts.clients()).token);
    this.socket = socket;
    socket.on('connected', () => {
      const was = this.data.connection.state;
      this.set({ connection: { state: 'live', since: this.opts.clock.now() } });
      // Back after an outage: what changed meanwhile beyond the events (counts, the queue).
      if (was === 'reconnecting') this.requestRefetch(0);
    });
    socket.on('disconnected', () => {
      this.set({ connection: { state: 'reconnecting', since: this.opts.clock.now() } });
    });
    socket.on('error', (err) => {
      if (this.data.connection.state === 'live') return;
      this.set({ connection: { ...this.data.connection, reason: err.message } });
    });
    socket.subscribe(['events'], (ev) => this.onEvent(ev), { since: this.data.fleet.head });
  }

  /** Stops everything: the socket, timers, listeners. */
  async close(): Promise<void> {
    this.closed = true;
    this.opts.clock.clearTimeout(this.flushTimer);
    this.opts.clock.clearTimeout(this.refetchTimer);
    this.listeners.clear();
    await this.socket?.close();
  }

  /**
   * Asks the agent's supervisor to restart it (`POST /api/v1/agents/:id/restart`, operator
   * role). The status line says it was requested, then that it started (from its lifecycle
   * event), or the refusal.
   */
  async restart(agentId: string): Promise<void> {
    this.set({ message: { text: `restarting ${agentId}…`, tone: 'info' } });
    try {
      const client = await this.opts.clients();
      const cmd = await client.post<{ id?: string }>(
        `/api/v1/agents/${encodeURIComponent(agentId)}/restart`,
      );
      this.restarting.set(agentId, this.opts.clock.now());
      this.set({
        message: {
          text: `restart of ${agentId} requested${cmd?.id ? ` (command ${cmd.id})` : ''}; waiting for it to start…`,
          tone: 'info',
        },
      });
    } catch (err) {
      this.set({
        message: { text: `restart of ${agentId} failed: ${(err as Error).message}`, tone: 'error' },
      });
    }
  }

  /**
   * Opens the log view of `agentId`: the newest lines from `GET /api/v1/logs`, then live ones
   * from the `logs:<agentId>` topic from the history's head (no gap, no line twice).
   */
  showLogs(agentId: string): void {
    this.hideLogs();
    this.set({ logs: openTail(agentId) });
    void this.loadLogs(agentId);
  }

  /** Back to the fleet. */
  hideLogs(): void {
    this.unsubscribeLogs?.();
    this.unsubscribeLogs = undefined;
    this.pendingLogs = [];
    if (this.data.logs) this.set({ logs: undefined });
  }

  private async loadLogs(agentId: string): Promise<void> {
    let head = 0;
    try {
      const client = await this.opts.clients();
      const page = await client.get<{ logs?: LogLine[]; head?: number }>('/api/v1/logs', {
        agentId,
        limit: this.opts.logLines ?? 200,
      });
      if (this.data.logs?.agentId !== agentId) return; // left the view meanwhile
      head = typeof page.head === 'number' ? page.head : 0;
      this.set({
        logs: historyLoaded(this.data.logs, Array.isArray(page.logs) ? page.logs : [], head),
      });
    } catch (err) {
      if (this.data.logs?.agentId !== agentId) return;
      this.set({ logs: historyFailed(this.data.logs, (err as Error).message) });
      head = this.data.fleet.head;
    }
    if (!this.socket || this.closed) return;
    this.unsubscribeLogs = this.socket.subscribe(
      [`logs:${agentId}`],
      (ev) => {
        if (ev.type !== 'log' || ev.agentId !== agentId) return;
        this.pendingLogs.push(lineOfEvent(ev));
        this.scheduleFlush();
      },
      { since: head },
    );
  }

  private onEvent(ev: StoredEvent): void {
    this.pending.push(ev);
    if (changesDerived(ev)) this.requestRefetch(this.refetchMs);
    else this.requestRefetch(this.idleRefetchMs);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.closed) return;
    this.flushTimer = this.opts.clock.setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, this.flushMs);
  }

  /** Applies the events and log lines that came since the last flush, and tells listeners. */
  private flush(): void {
    const events = this.pending;
    const lines = this.pendingLogs;
    this.pending = [];
    this.pendingLogs = [];
    const patch: Partial<MonitorData> = {};
    if (events.length > 0) {
      patch.fleet = applyEvents(this.data.fleet, events);
      const started = this.startedAfterRequest(events);
      if (started) patch.message = started;
    }
    if (lines.length > 0 && this.data.logs) patch.logs = appendLines(this.data.logs, lines);
    if (Object.keys(patch).length > 0) this.set(patch);
    if (events.length > 0) this.readHistories();
  }

  /** "worker-1 restarted (pid 123)" once a requested restart's `started` arrives. */
  private startedAfterRequest(events: readonly StoredEvent[]): StatusMessage | undefined {
    let msg: StatusMessage | undefined;
    for (const ev of events) {
      const asked = this.restarting.get(ev.agentId);
      if (asked === undefined || ev.type !== 'agent_lifecycle') continue;
      const d = ev.data as { action?: unknown; pid?: unknown };
      if (d.action !== 'started' || ev.receivedAt < asked - 1000) continue;
      this.restarting.delete(ev.agentId);
      msg = {
        text: `${ev.agentId} restarted${typeof d.pid === 'number' ? ` (pid ${d.pid})` : ''}`,
        tone: 'ok',
      };
    }
    return msg;
  }

  /** Fetches the snapshot after at least `gapMs` since the last fetch (sooner wins). */
  private requestRefetch(gapMs: number): void {
    if (this.closed) return;
    const due = Math.max(this.lastFetchAt + gapMs, this.opts.clock.now());
    if (due >= this.refetchDue) return;
    this.opts.clock.clearTimeout(this.refetchTimer);
    this.refetchDue = due;
    this.refetchTimer = this.opts.clock.setTimeout(() => {
      this.refetchTimer = undefined;
      this.refetchDue = Infinity;
      void this.refetch();
    }, due - this.opts.clock.now());
  }

  private async refetch(): Promise<void> {
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    try {
      await this.fetchSnapshot(await this.opts.clients(), false);
    } catch {
      // The server is away: the socket says "reconnecting", and its return fetches again.
    }
    if (this.fetchAgain) {
      this.fetchAgain = false;
      this.requestRefetch(this.refetchMs);
    }
  }

  private async fetchSnapshot(client: HubApi, first: boolean): Promise<void> {
    this.fetching = true;
    this.lastFetchAt = this.opts.clock.now();
    try {
      // The head first: whatever the agents and tasks then say is at least that fresh, and
      // events past it come over the socket (the model skips those a row already has).
      const dash = await client.get<DashboardBody>('/api/v1/dashboard');
      const agents = await client.get<{ agents?: AgentSnapshot[] }>('/api/v1/agents');
      if (!Array.isArray(agents.agents)) {
        throw new Error(`${client.url}/api/v1/agents answered without an agents list`);
      }
      // A server that names each agent's current task saves reading the running tasks.
      const needTasks = agents.agents.some((a) => !('currentTask' in a));
      const tasks = needTasks
        ? await client.get<{ tasks?: RunningTaskSnapshot[] }>('/api/v1/tasks', {
            state: 'running',
            limit: 1000,
          })
        : { tasks: [] };
      const q = dash.queue;
      const fleet = applySnapshot(this.data.fleet, {
        agents: agents.agents,
        runningTasks: Array.isArray(tasks.tasks) ? tasks.tasks : [],
        queue:
          q && typeof q.depth === 'number'
            ? { depth: q.depth, leased: q.leased ?? 0, ratePerMin: q.ratePerMin ?? 0 }
            : undefined,
        head: typeof dash.system?.head === 'number' ? dash.system.head : 0,
      });
      this.set({ fleet, loaded: true });
    } finally {
      this.fetching = false;
    }
    if (first) await this.readHistories(client);
    else void this.readHistories(client);
  }

  /**
   * For agents waiting for a restart whose countdown neither the snapshot (a server without
   * the lifecycle view) nor the events told yet (the monitor started after the
   * `restart_scheduled`), their recent events from `GET /api/v1/agents/:id`.
   */
  private async readHistories(client?: HubApi): Promise<void> {
    const ids = agentsAwaitingRestart(this.data.fleet).filter(
      (id) => this.historyRead.get(id) !== this.data.fleet.agents[id]?.lastSeq,
    );
    if (ids.length === 0) return;
    for (const id of ids) this.historyRead.set(id, this.data.fleet.agents[id]!.lastSeq);
    try {
      const c = client ?? (await this.opts.clients());
      const answers = await Promise.all(
        ids.map((id) =>
          c
            .get<{ recentEvents?: StoredEvent[] }>(`/api/v1/agents/${encodeURIComponent(id)}`)
            .then((body) => ({ id, events: body.recentEvents ?? [] }))
            .catch(() => ({ id, events: [] as StoredEvent[] })),
        ),
      );
      let fleet = this.data.fleet;
      for (const a of answers) fleet = applyHistory(fleet, a.id, a.events);
      if (fleet !== this.data.fleet) this.set({ fleet });
    } catch {
      // No client now; the next change tries again.
      for (const id of ids) this.historyRead.delete(id);
    }
  }

  private set(patch: Partial<MonitorData>): void {
    if (this.closed) return;
    this.data = { ...this.data, ...patch };
    for (const fn of this.listeners) fn();
  }
}
