import {
  AGENT_ACTIONS,
  ANY_AGENT,
  DEFAULT_LIMITS,
  parseTopic,
  topicMatches,
  utf8Length,
  validateEvent,
  type Ack,
  type AgentCommand,
  type AgentLifecycleData,
  type AgentStateRecord,
  type AgentStatus,
  type EscalationData,
  type HealthChangedData,
  type LogLevel,
  type RetryPolicy,
  type StoredEvent,
  type Topic,
  type ValidationIssue,
  type WardenEvent,
} from '@warden/protocol';
import { AgentStateClient } from './agent-state.js';
import { Backoff, type ReconnectOptions } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import { OutboxFullError, WardenSdkError } from './errors.js';
import { newEventId } from './event-id.js';
import { RetryPolicyClient, type RetryableError } from './retry-policy-client.js';
import type { Spool } from './spool.js';
import { TaskQueueClient } from './task-queue-client.js';
import { TaskQueueHttp } from './task-queue-http.js';

/** The slice of the WHATWG WebSocket that the SDK uses (browsers' WebSocket and `ws` both have it). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (ev: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (ev: unknown) => void): void;
}

/** A WebSocket constructor; the second argument carries headers for `ws` (ignored by browsers). */
export type WebSocketFactory = new (url: string, protocolsOrOptions?: unknown) => WebSocketLike;

/** Options of {@link connect}. Every one has a default. */
export interface ConnectOptions {
  /** `http(s)://` or `ws(s)://` base of the server. @defaultValue env `WARDEN_URL` */
  url?: string;
  /** A JWT, or a function asked at every (re)connect. @defaultValue env `WARDEN_TOKEN` */
  token?: string | (() => string | Promise<string>);
  /** The agent this process reports for (helpers and heartbeats). @defaultValue env `WARDEN_AGENT_ID` */
  agentId?: string;
  /** WebSocket class. @defaultValue `globalThis.WebSocket`, else the `ws` package (Node) */
  WebSocket?: WebSocketFactory;
  /**
   * Send the token as `?token=` instead of an Authorization header. @defaultValue true for a
   * browser-style WebSocket, false for `ws`
   */
  tokenInQuery?: boolean;
  /** Heartbeat period while connected; 0 turns it off. @defaultValue 10000 */
  heartbeatMs?: number;
  /**
   * Liveness check while connected: a `ping` every period, and a connection that answered
   * nothing by the next one is dropped (`disconnected` with code 4000) and replaced, its
   * unacked events sent again. Catches half-open TCP connections, which stay silent instead
   * of closing. 0 turns it off. @defaultValue 15000
   */
  pingIntervalMs?: number;
  /** Longest wait for a connection to open before it is abandoned and retried. @defaultValue 10000 */
  connectTimeoutMs?: number;
  outbox?: {
    /** Most unacked events held. @defaultValue 10000 */
    maxEvents?: number;
    /** Most unacked bytes (JSON) held. @defaultValue 16 MiB */
    maxBytes?: number;
  };
  /** Keeps unacked events across restarts of this process (see `FileSpool`). */
  spool?: Spool;
  /** Publish frames waiting for an ack at once. @defaultValue 8 */
  maxInFlightFrames?: number;
  /** Events per publish frame (the server takes at most 1000). @defaultValue 500 */
  maxBatchEvents?: number;
  reconnect?: ReconnectOptions;
  /** Longest `close()` waits for acks. @defaultValue 5000 */
  closeTimeoutMs?: number;
  /**
   * Time and timers (heartbeats, reconnect backoff, publish retries, flush timeouts), injected
   * so tests drive them exactly. @defaultValue the system clock
   */
  clock?: Clock;
  /** Only the time (timers stay real); `clock` wins when both are given. @defaultValue Date.now */
  now?: () => number;
  /** Injected for tests (backoff jitter). @defaultValue Math.random */
  random?: () => number;
}

/** Connection events of a {@link WardenClient}. */
export interface ClientEvents {
  connected: () => void;
  disconnected: (info: { code: number; reason: string }) => void;
  /** Something went wrong that the client handles by itself (it reconnects, retries). */
  error: (err: Error) => void;
}

/** What {@link WardenClient.stats} reports. */
export interface ClientStats {
  connected: boolean;
  /** Events queued and not acked yet. */
  pending: number;
  /** Their JSON bytes. */
  pendingBytes: number;
  acked: number;
  rejected: number;
  reconnects: number;
}

/** A handler of subscribed events, called in seq order, once per seq. */
export type EventHandler = (event: StoredEvent) => void;

/**
 * A handler of commands from the hub (`{ id, agentId, action }`, SPEC §12 "Commands"), called
 * once per command frame received; a throw or a rejected promise is reported through `error`.
 * Commands are not stored: one sent while this client was disconnected never arrives (the
 * control route told the operator 409 then).
 */
// `void`, not `void | Promise<void>`: any function fits (one returning a number too), and a
// promise it returns anyway is caught at run time.
export type CommandHandler = (command: AgentCommand) => void;

/** Options every event helper takes. */
export interface ReportOptions {
  /**
   * The agent the event is about. @defaultValue the client's `agentId`. A supervisor's one
   * connection (token `agent_id: "*"`) reports for each of its agents with it.
   */
  agentId?: string;
}

const ACTIONS: ReadonlySet<unknown> = new Set(AGENT_ACTIONS);

interface Entry {
  event: WardenEvent;
  json: string;
  bytes: number;
  /** Ref of the frame it was sent in, while waiting for its ack. */
  ref: string | undefined;
  /** Send alone (its batch was refused and the culprit is not known). */
  solo: boolean;
  promise: Promise<Ack>;
  resolve: (ack: Ack) => void;
  reject: (err: Error) => void;
}

interface Subscription {
  topics: string[];
  parsed: Topic[];
  handler: EventHandler;
  /** Last seq handed to the handler (resume point); undefined until known. */
  cursor: number | undefined;
  /**
   * Set for `commands:` topics, which carry no events: the subscription stays live-only (no
   * cursor, no `since`), so it never rewinds the connection's event stream on a reconnect.
   */
  command?: CommandHandler;
}

/** Server codes after which a publish is never retried. */
const PERMANENT = new Set([
  'invalid_event',
  'invalid_request',
  'invalid_json',
  'forbidden_agent',
  'forbidden',
  'payload_too_large',
]);
/** Frame budget for a publish batch, below the server's 1 MiB per batch. */
const MAX_BATCH_BYTES = 900 * 1024;
const OPEN = 1;

/**
 * Connects an agent (or any tool) to Warden: publishes with an outbox, ack tracking and replay,
 * subscribes with resume. Returns at once; events published before the connection is up wait
 * in the outbox. @see {@link ConnectOptions}
 *
 * @example
 * ```ts
 * const warden = connect(); // WARDEN_URL, WARDEN_TOKEN, WARDEN_AGENT_ID
 * await warden.status('busy');
 * ```
 */
export function connect(options: ConnectOptions = {}): WardenClient {
  return new WardenClient(options);
}

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  return v === '' ? undefined : v;
}

/** The Warden client: see {@link connect}. */
export class WardenClient {
  /** The agent this client reports for, if any. */
  readonly agentId: string | undefined;
  private readonly wsUrl: string;
  private readonly tokenSource: ConnectOptions['token'];
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  /** Pauses after `unavailable` / `rate_limited`; reset by the next ack. */
  private readonly retryBackoff: Backoff;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly maxInFlight: number;
  /** A {@link pump} is queued for the end of the current task. */
  private pumpQueued = false;
  private readonly maxBatch: number;
  private readonly heartbeatMs: number;
  private readonly pingIntervalMs: number;
  private readonly connectTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly spool: Spool | undefined;
  private readonly factory: Promise<{ ctor: WebSocketFactory; headers: boolean }>;

  /** Unacked events in publish order. */
  private readonly outbox = new Map<string, Entry>();
  private outboxBytes = 0;
  /** Sent frames waiting for their ack: ref → ids. */
  private readonly inFlight = new Map<string, string[]>();
  private nextRef = 1;
  private readonly subs = new Set<Subscription>();
  /** Subscribe frames awaiting their reply (`subscribed` or `error`): ref → subscription. */
  private readonly awaitingReply = new Map<string, Subscription>();
  private readonly listeners: { [K in keyof ClientEvents]: Set<ClientEvents[K]> } = {
    connected: new Set(),
    disconnected: new Set(),
    error: new Set(),
  };

  private ws: WebSocketLike | undefined;
  private connected = false;
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private reconnectTimer: unknown;
  private heartbeatTimer: unknown;
  private connectTimer: unknown;
  private pingTimer: unknown;
  /** A ping went out and nothing has come back since. */
  private awaitingPong = false;
  /** When the ping timer fires (see {@link keepalive}). */
  private pingDueAt = Infinity;
  /** What the socket's last `error` event said, for the report of a failed attempt. */
  private socketError: string | undefined;
  /** Set while publishing pauses after a retryable refusal. */
  private retryTimer: unknown;
  private everConnected = false;
  /** The task queue over HTTP, as this client's agent (see {@link TaskQueueClient}). */
  readonly tasks: TaskQueueClient;
  private readonly agentState: AgentStateClient;
  /** Retry policies per error pattern, cached (see {@link RetryPolicyClient}). */
  readonly retryPolicies: RetryPolicyClient;
  private acked = 0;
  private rejected = 0;
  private reconnects = 0;

  constructor(options: ConnectOptions = {}) {
    const url = options.url ?? env('WARDEN_URL');
    if (!url) {
      throw new WardenSdkError('no_url', 'no Warden URL: pass { url } or set WARDEN_URL');
    }
    this.wsUrl = url.replace(/^http/, 'ws').replace(/\/+$/, '').replace(/\/ws$/, '') + '/ws';
    this.tokenSource = options.token ?? env('WARDEN_TOKEN');
    this.agentId = options.agentId ?? env('WARDEN_AGENT_ID');
    this.clock =
      options.clock ?? (options.now ? { ...systemClock, now: options.now } : systemClock);
    this.backoff = new Backoff(options.reconnect, options.random);
    this.retryBackoff = new Backoff(options.reconnect, options.random);
    this.maxEvents = options.outbox?.maxEvents ?? 10_000;
    this.maxBytes = options.outbox?.maxBytes ?? 16 * 1024 * 1024;
    this.maxInFlight = options.maxInFlightFrames ?? 8;
    this.maxBatch = Math.min(options.maxBatchEvents ?? 500, DEFAULT_LIMITS.maxBatchEvents);
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.spool = options.spool;
    this.factory = resolveWebSocket(options);
    const http = new TaskQueueHttp({
      url,
      agentId: this.agentId,
      clock: this.clock,
      ...(this.tokenSource !== undefined ? { token: this.tokenSource } : {}),
    });
    this.tasks = new TaskQueueClient(http);
    this.agentState = new AgentStateClient(http);
    this.retryPolicies = new RetryPolicyClient(http);
    // Events an earlier run of this agent left unacked go first.
    if (this.spool) {
      // Never refused for lack of room: they were accepted once, and dropping them is loss.
      for (const event of this.spool.load()) this.enqueue(event, false, true);
    }
    void this.open();
  }

  /** Saves this agent's state on the hub (JSON, ≤ 64 KiB) to resume from after a restart. */
  saveState(state: unknown): Promise<AgentStateRecord> {
    return this.agentState.save(state);
  }

  /**
   * What the hub's operators want done about `err` (issue 5 point 4): `{ retry, maxAttempts,
   * backoff, escalate, policyId, fingerprint }`, from the policy list cached for 30 s.
   */
  retryPolicyFor(err: RetryableError): Promise<RetryPolicy> {
    return this.retryPolicies.retryPolicyFor(err);
  }

  /** This agent's saved state, or undefined when it saved none. */
  loadState<T = unknown>(): Promise<T | undefined> {
    return this.agentState.load<T>();
  }

  /** Subscribes to connection events; returns a function that removes the listener. */
  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  private emit<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>): void {
    for (const l of this.listeners[event]) {
      try {
        (l as (...a: Parameters<ClientEvents[K]>) => void)(...args);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  // ── publishing ──────────────────────────────────────────────────────────────

  /**
   * Queues an event and resolves with its ack once the server has durably stored it. `id` and
   * `ts` are filled in when absent; the event is validated here first, so a bad one fails at
   * once with `invalid_event` naming the field. Throws {@link OutboxFullError} when the outbox
   * is full (nothing is queued then).
   */
  publish(event: {
    type: string;
    agentId?: string;
    data: unknown;
    id?: string;
    ts?: number | string;
    correlationId?: string;
  }): Promise<Ack> {
    if (this.closing) {
      return Promise.reject(
        new WardenSdkError('closed', 'client is closed: the event was not queued'),
      );
    }
    const candidate = {
      ...event,
      id: event.id ?? newEventId(this.clock.now()),
      agentId: event.agentId ?? this.agentId,
    };
    let json: string;
    try {
      json = JSON.stringify(candidate);
    } catch (err) {
      // A cycle or a BigInt in data: refused like any bad event, never thrown at the caller.
      const message = `cannot be serialised as JSON: ${(err as Error).message}`;
      return Promise.reject(
        new WardenSdkError('invalid_event', `invalid event: ${message}`, {
          details: [{ path: '/data', message }],
        }),
      );
    }
    const bytes = utf8Length(json);
    const checked = validateEvent(candidate, { now: this.clock.now(), rawBytes: bytes });
    if (!checked.ok) {
      const first = checked.errors[0];
      return Promise.reject(
        new WardenSdkError(
          'invalid_event',
          `invalid event${first ? `: ${first.path || '/'} ${first.message}` : ''}`,
          { details: checked.errors },
        ),
      );
    }
    try {
      return this.enqueue(checked.event, true).promise;
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private enqueue(event: WardenEvent, spool: boolean, restored = false): Entry {
    const existing = this.outbox.get(event.id);
    if (existing) return existing;
    const json = JSON.stringify(event);
    const bytes = utf8Length(json);
    if (!restored && this.outbox.size >= this.maxEvents) {
      throw new OutboxFullError('events', this.maxEvents);
    }
    if (!restored && this.outboxBytes + bytes > this.maxBytes) {
      throw new OutboxFullError('bytes', this.maxBytes);
    }
    if (spool) this.spool?.append(event);
    let resolve!: (a: Ack) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<Ack>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers that fire and forget must not see unhandled rejections: errors also go to 'error'.
    promise.catch(() => undefined);
    const entry: Entry = {
      event,
      json,
      bytes,
      ref: undefined,
      solo: false,
      promise,
      resolve,
      reject,
    };
    this.outbox.set(event.id, entry);
    this.outboxBytes += bytes;
    // Sent once the caller's synchronous work is done: what it publishes in one go (a
    // supervisor's pass over its fleet) leaves in one frame, not one frame per event.
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      queueMicrotask(() => {
        this.pumpQueued = false;
        this.pump();
      });
    }
    return entry;
  }

  /** `agent_status_update`. */
  status(
    status: AgentStatus,
    opts: { message?: string; meta?: Record<string, unknown> } & ReportOptions = {},
  ): Promise<Ack> {
    const { agentId, ...data } = opts;
    return this.publish({ type: 'agent_status_update', agentId, data: { status, ...data } });
  }

  /** `task_assigned`. */
  taskAssigned(
    taskId: string,
    opts: { name?: string; queue?: string; priority?: number } & ReportOptions = {},
  ): Promise<Ack> {
    const { agentId, ...data } = opts;
    return this.publish({ type: 'task_assigned', agentId, data: { taskId, ...data } });
  }

  /** `task_completed`. */
  taskCompleted(
    taskId: string,
    opts: {
      success: boolean;
      durationMs?: number;
      error?: string;
      result?: unknown;
    } & ReportOptions,
  ): Promise<Ack> {
    const { agentId, ...data } = opts;
    return this.publish({ type: 'task_completed', agentId, data: { taskId, ...data } });
  }

  /**
   * `error_occurred`, from an `Error` (its name, message and stack) or plain fields. From an
   * `Error`, fields past the protocol's caps (name 256, message 16,384 characters, stack kept
   * under 32 KiB) are shortened, so that a report of a huge error still goes out.
   */
  error(
    err: Error | { errorType: string; message: string; stack?: string },
    opts: { taskId?: string; fatal?: boolean; fingerprint?: string } & ReportOptions = {},
  ): Promise<Ack> {
    const { agentId, ...fields } = opts;
    const base =
      err instanceof Error
        ? {
            errorType: cut(err.name || 'Error', 256),
            message: cut(err.message || String(err), 16_384),
            ...(err.stack ? { stack: cut(err.stack, 32_768) } : {}),
          }
        : err;
    return this.publish({ type: 'error_occurred', agentId, data: { ...base, ...fields } });
  }

  /** `metric_update`: `{ cpu_percent: 12, memory_mb: 512, … }`. */
  metrics(metrics: Record<string, number>, opts: ReportOptions = {}): Promise<Ack> {
    return this.publish({ type: 'metric_update', agentId: opts.agentId, data: { metrics } });
  }

  /**
   * `log`: one line of output (`stream`) or a message about the agent. Longer than the 64 KiB
   * event limit is refused with `payload_too_large` like any event: split long output first.
   */
  log(
    level: LogLevel,
    message: string,
    opts: { stream?: 'stdout' | 'stderr' } & ReportOptions = {},
  ): Promise<Ack> {
    const { agentId, ...data } = opts;
    return this.publish({ type: 'log', agentId, data: { level, message, ...data } });
  }

  /**
   * `task_progress`: the task is moving (`percent` 0–100, a `message`). Any progress resets
   * the supervisor's stale-task clock, so a long task that reports progress is never hung.
   */
  taskProgress(
    taskId: string,
    opts: { percent?: number; message?: string } & ReportOptions = {},
  ): Promise<Ack> {
    const { agentId, ...data } = opts;
    return this.publish({ type: 'task_progress', agentId, data: { taskId, ...data } });
  }

  /** `agent_lifecycle`: a fact about the agent's process (started, exited, restart scheduled…). */
  lifecycle(data: AgentLifecycleData, opts: ReportOptions = {}): Promise<Ack> {
    return this.publish({ type: 'agent_lifecycle', agentId: opts.agentId, data });
  }

  /** `health_changed`: one health check's verdict moved from `previous` to `health`. */
  healthChanged(data: HealthChangedData, opts: ReportOptions = {}): Promise<Ack> {
    return this.publish({ type: 'health_changed', agentId: opts.agentId, data });
  }

  /** `escalation`: automatic recovery gave up and a person is needed. */
  escalation(data: EscalationData, opts: ReportOptions = {}): Promise<Ack> {
    return this.publish({ type: 'escalation', agentId: opts.agentId, data });
  }

  /** Sends what the outbox holds, in order, as long as frames may be in flight. */
  private pump(): void {
    if (!this.connected || !this.ws || this.retryTimer !== undefined) return;
    while (this.inFlight.size < this.maxInFlight) {
      const batch: Entry[] = [];
      let bytes = 0;
      for (const e of this.outbox.values()) {
        if (e.ref !== undefined) continue;
        if (e.solo && batch.length > 0) break;
        if (
          batch.length > 0 &&
          (batch.length >= this.maxBatch || bytes + e.bytes > MAX_BATCH_BYTES)
        )
          break;
        batch.push(e);
        bytes += e.bytes;
        if (e.solo) break;
      }
      if (batch.length === 0) return;
      const ref = `p${this.nextRef++}`;
      for (const e of batch) e.ref = ref;
      this.inFlight.set(
        ref,
        batch.map((e) => e.event.id),
      );
      this.send(`{"op":"publish","ref":"${ref}","events":[${batch.map((e) => e.json).join(',')}]}`);
    }
  }

  private onAck(ref: string | undefined, acks: Ack[]): void {
    if (ref !== undefined) this.inFlight.delete(ref);
    const done: string[] = [];
    for (const a of acks) {
      const e = this.outbox.get(a.id);
      if (!e) continue;
      this.outbox.delete(a.id);
      this.outboxBytes -= e.bytes;
      done.push(a.id);
      this.acked++;
      e.resolve(a);
    }
    this.retryBackoff.reset();
    this.spool?.ack(done);
    this.pump();
  }

  private onPublishError(
    ref: string,
    code: string,
    message: string,
    details?: ValidationIssue[],
  ): void {
    const ids = this.inFlight.get(ref) ?? [];
    this.inFlight.delete(ref);
    const entries = ids.map((id) => this.outbox.get(id)).filter((e): e is Entry => e !== undefined);
    if (PERMANENT.has(code) && entries.length > 1) {
      // One bad event refuses its whole batch: send each alone to find it.
      for (const e of entries) {
        e.ref = undefined;
        e.solo = true;
      }
    } else if (PERMANENT.has(code)) {
      const dropped: string[] = [];
      for (const e of entries) {
        this.outbox.delete(e.event.id);
        this.outboxBytes -= e.bytes;
        dropped.push(e.event.id);
        this.rejected++;
        const err = new WardenSdkError(code, `server refused event ${e.event.id}: ${message}`, {
          ...(details ? { details } : {}),
        });
        e.reject(err);
        this.emit('error', err);
      }
      this.spool?.ack(dropped);
    } else {
      // unavailable, rate_limited, …: the same events again after a pause, during which
      // nothing new is sent either (the server just said it cannot take more).
      for (const e of entries) e.ref = undefined;
      const delay = this.retryBackoff.next();
      this.emit(
        'error',
        new WardenSdkError(code, `publish failed, retrying in ${delay} ms: ${message}`),
      );
      if (this.retryTimer === undefined) {
        this.retryTimer = this.clock.setTimeout(() => {
          this.retryTimer = undefined;
          this.pump();
        }, delay);
      }
      return;
    }
    this.pump();
  }

  /** Unacked events. */
  pending(): number {
    return this.outbox.size;
  }

  stats(): ClientStats {
    return {
      connected: this.connected,
      pending: this.outbox.size,
      pendingBytes: this.outboxBytes,
      acked: this.acked,
      rejected: this.rejected,
      reconnects: this.reconnects,
    };
  }

  /**
   * Resolves when every event queued before the call is acked or refused; rejects with
   * `timeout` after `timeoutMs` (events stay queued and keep being retried).
   */
  async flush(opts: { timeoutMs?: number } = {}): Promise<void> {
    const waiting = [...this.outbox.values()].map((e) => e.promise.catch(() => undefined));
    if (waiting.length === 0) return;
    const all = Promise.all(waiting).then(() => undefined);
    const timeoutMs = opts.timeoutMs;
    if (timeoutMs === undefined) return all;
    let timer: unknown;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(
        () =>
          reject(
            new WardenSdkError(
              'timeout',
              `flush timed out after ${timeoutMs} ms with ${this.outbox.size} events unacked`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([all, timeout]);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  // ── subscriptions ───────────────────────────────────────────────────────────

  /**
   * Receives stored events of `topics` (`events`, `agent:<id>`, `type:<type>`) in seq order,
   * once each. With `since`, stored events after it come first; without, live events only.
   * After a reconnect the stream resumes after the last seq handed to `handler`, with no gap
   * and no duplicate. Returns a function that ends the subscription.
   */
  subscribe(topics: string[], handler: EventHandler, opts: { since?: number } = {}): () => void {
    const parsed = topics.map((t) => {
      const p = parseTopic(t);
      if (typeof p === 'string') throw new WardenSdkError('invalid_request', p);
      return p;
    });
    const sub: Subscription = { topics, parsed, handler, cursor: opts.since };
    this.subs.add(sub);
    if (this.connected) this.sendSubscribe(sub, this.lowestCursor(sub));
    return () => this.endSubscription(sub);
  }

  /**
   * Receives the hub's commands (`{ id, agentId, action }` with action `start`, `stop` or
   * `restart`) for `agents`: one `commands:<id>` subscription each, `['*']` for every agent
   * (`commands:*`, a supervisor). The hub sends a command to the connections subscribed to its
   * agent exactly, and only when there are none to the `commands:*` ones, so a supervisor that
   * names its agents is preferred over a catch-all one. Renewed after every reconnect; a
   * command sent while disconnected is lost (the control route answered 409 then). An agent
   * token may take only its own agent's commands: a refusal is reported through `error` and
   * ends the subscription. Returns a function that ends it.
   *
   * @param opts.agents — @defaultValue `[agentId]` of this client (`['*']` when it is `*`)
   */
  onCommand(handler: CommandHandler, opts: { agents?: string[] } = {}): () => void {
    const agents = opts.agents ?? (this.agentId !== undefined ? [this.agentId] : []);
    if (agents.length === 0) {
      throw new WardenSdkError(
        'invalid_request',
        'onCommand needs agents: pass { agents: [...] } or connect with an agentId',
      );
    }
    const topics = agents.map((a) => `commands:${a}`);
    const parsed = topics.map((t) => {
      const p = parseTopic(t);
      if (typeof p === 'string') throw new WardenSdkError('invalid_request', p);
      return p;
    });
    const sub: Subscription = {
      topics,
      parsed,
      handler: () => {},
      cursor: undefined,
      command: handler,
    };
    this.subs.add(sub);
    if (this.connected) this.sendSubscribe(sub, undefined);
    return () => this.endSubscription(sub);
  }

  /** Drops a subscription and unsubscribes the topics no other subscription still needs. */
  private endSubscription(sub: Subscription): void {
    if (!this.subs.delete(sub)) return;
    const still = new Set([...this.subs].flatMap((s) => s.topics));
    const gone = sub.topics.filter((t) => !still.has(t));
    if (gone.length > 0 && this.connected) {
      this.send(JSON.stringify({ op: 'unsubscribe', topics: gone }));
    }
  }

  /** A `command` frame: to every command subscription that names its agent, or `*`. */
  private onCommandFrame(frame: Record<string, unknown>): void {
    const { id, agentId, action } = frame;
    if (typeof id !== 'string' || typeof agentId !== 'string' || !ACTIONS.has(action)) return;
    const command = { id, agentId, action } as AgentCommand;
    for (const sub of this.subs) {
      if (!sub.command) continue;
      const mine = sub.parsed.some(
        (t) => t.kind === 'commands' && (t.agentId === ANY_AGENT || t.agentId === agentId),
      );
      if (!mine) continue;
      const fail = (err: unknown) =>
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
      try {
        const done = sub.command(command) as unknown;
        if (done instanceof Promise) done.catch(fail);
      } catch (err) {
        fail(err);
      }
    }
  }

  /**
   * The `since` for a subscription joining a live connection. A `subscribe` with `since`
   * restarts the connection's one stream for all its topics from there, so it must not start
   * past what another subscription still needs: it goes from the lowest resume point, and
   * each subscription drops the seqs it has already handed on.
   */
  private lowestCursor(sub: Subscription): number | undefined {
    if (sub.cursor === undefined) return undefined;
    let since = sub.cursor;
    for (const s of this.subs) if (s.cursor !== undefined && s.cursor < since) since = s.cursor;
    return since;
  }

  private sendSubscribe(sub: Subscription, since: number | undefined): void {
    const ref = `s${this.nextRef++}`;
    this.awaitingReply.set(ref, sub);
    const frame = { op: 'subscribe', ref, topics: sub.topics };
    this.send(JSON.stringify(since === undefined ? frame : { ...frame, since }));
  }

  /**
   * After a (re)connect: one subscribe frame per subscription, so that a refused one (say, a
   * topic this token may not read) is told apart and does not take the others down. Live-only
   * ones go first, then by descending resume point: every frame with `since` restarts the
   * stream for all topics so far, so the last one, from the lowest point, covers them all.
   */
  private resubscribe(): void {
    const order = [...this.subs].sort((a, b) => (b.cursor ?? Infinity) - (a.cursor ?? Infinity));
    for (const sub of order) this.sendSubscribe(sub, sub.cursor);
  }

  /** The server refused a subscribe frame: a permanent refusal ends that subscription. */
  private onSubscribeError(sub: Subscription, frame: Record<string, unknown>): void {
    const code = String(frame.code);
    const permanent = PERMANENT.has(code);
    if (permanent) this.subs.delete(sub);
    this.emit(
      'error',
      new WardenSdkError(
        code,
        `subscription to ${sub.topics.join(', ')} refused${permanent ? ' and ended' : ''}: ${String(frame.message)}`,
        Array.isArray(frame.details) ? { details: frame.details as ValidationIssue[] } : {},
      ),
    );
  }

  private onEvent(seq: number, event: StoredEvent): void {
    for (const sub of this.subs) {
      if (sub.cursor !== undefined && seq <= sub.cursor) continue;
      if (!sub.parsed.some((t) => topicMatches(t, event.agentId, event.type))) continue;
      // Before the subscribed reply a subscription without `since` takes live events only.
      if (sub.cursor === undefined) continue;
      sub.cursor = seq;
      try {
        sub.handler(event);
      } catch (err) {
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  // ── connection ──────────────────────────────────────────────────────────────

  private async open(): Promise<void> {
    if (this.closed) return;
    let token: string | undefined;
    try {
      token = typeof this.tokenSource === 'function' ? await this.tokenSource() : this.tokenSource;
    } catch (err) {
      this.emit(
        'error',
        new WardenSdkError('unauthorized', `token source failed: ${(err as Error).message}`, {
          cause: err,
        }),
      );
      this.scheduleReconnect();
      return;
    }
    const { ctor, headers } = await this.factory;
    if (this.closed) return;
    let ws: WebSocketLike;
    try {
      if (token && !headers) {
        ws = new ctor(`${this.wsUrl}?token=${encodeURIComponent(token)}`);
      } else {
        ws = new ctor(
          this.wsUrl,
          token ? { headers: { authorization: `Bearer ${token}` } } : undefined,
        );
      }
    } catch (err) {
      this.emit('error', err as Error);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.socketError = undefined;
    this.clock.clearTimeout(this.connectTimer);
    this.connectTimer = this.clock.setTimeout(() => {
      if (this.ws === ws && !this.connected) {
        this.socketError = `not open within ${this.connectTimeoutMs} ms`;
        this.abandon(ws, 1006, 'connect timeout');
      }
    }, this.connectTimeoutMs);
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      this.clock.clearTimeout(this.connectTimer);
      this.connected = true;
      this.awaitingPong = false;
      this.schedulePing(ws);
      if (this.everConnected) this.reconnects++;
      this.everConnected = true;
      this.backoff.reset();
      this.emit('connected');
      this.resubscribe();
      this.pump();
      this.heartbeat();
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws) return;
      this.awaitingPong = false;
      this.onFrame(ev.data);
    });
    ws.addEventListener('error', (ev) => {
      // The close event follows with the code; keep the reason for the report (`ws` says
      // e.g. "Unexpected server response: 401" or "connect ECONNREFUSED …").
      if (this.ws !== ws) return;
      const e = ev as { message?: unknown; error?: unknown };
      if (typeof e.message === 'string' && e.message !== '') this.socketError = e.message;
      else if (e.error instanceof Error) this.socketError = e.error.message;
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.onClose(ev.code, ev.reason);
    });
  }

  /**
   * A ping per period; if nothing at all came back since the previous one, the connection is
   * taken for dead. A half-open TCP connection (peer gone without a FIN or RST) would
   * otherwise hold the in-flight events until the OS gives up, many minutes later.
   */
  private schedulePing(ws: WebSocketLike): void {
    if (this.pingIntervalMs <= 0) return;
    this.clock.clearTimeout(this.pingTimer);
    this.pingDueAt = this.clock.now() + this.pingIntervalMs;
    this.pingTimer = this.clock.setTimeout(() => this.pingStep(ws), this.pingIntervalMs);
    (this.pingTimer as { unref?: () => void } | undefined)?.unref?.();
  }

  /** The liveness step of {@link schedulePing}: drop a silent connection, else ping it. */
  private pingStep(ws: WebSocketLike): void {
    if (this.ws !== ws || !this.connected) return;
    if (this.awaitingPong) {
      this.abandon(ws, 4000, `no reply within ${this.pingIntervalMs} ms`);
      return;
    }
    this.awaitingPong = true;
    this.send('{"op":"ping"}');
    this.schedulePing(ws);
  }

  /**
   * Runs the connection's liveness step (see `pingIntervalMs`) now if it is due within
   * `withinMs`, instead of on its own timer. A caller that wakes up regularly anyway (a
   * sampler ticking every second) calls this from its tick: the ping then goes out while the
   * process is awake, and the SDK's timer, always pushed further out, never wakes it (the
   * answer still arrives on its own). The step may run up to `withinMs` early, so a ping has at
   * least `pingIntervalMs - withinMs` to be answered. No-op while not connected or with pings
   * off. @param withinMs - @defaultValue 1000
   */
  keepalive(withinMs = 1000): void {
    const ws = this.ws;
    if (ws === undefined || !this.connected || this.pingIntervalMs <= 0) return;
    if (this.clock.now() >= this.pingDueAt - withinMs) this.pingStep(ws);
  }

  /**
   * Gives up on a socket that will not open or stopped answering: its late events are ignored
   * from now on (a dead peer may never complete the closing handshake), and the client goes
   * on as after any close.
   */
  private abandon(ws: WebSocketLike, code: number, reason: string): void {
    this.ws = undefined;
    try {
      ws.close(1000, reason);
    } catch {
      // Closing a socket that is not open yet may throw; it is dropped either way.
    }
    this.onClose(code, reason);
  }

  /** One heartbeat now (the server marks the agent seen at once), then one per period. */
  private heartbeat(): void {
    const agentId = this.agentId;
    // A supervisor (`*`) is no agent: its agents' liveness comes from their own events.
    if (this.heartbeatMs <= 0 || !agentId || agentId === ANY_AGENT || !this.connected) return;
    this.send(JSON.stringify({ op: 'heartbeat', ref: 'hb', agentId }));
    this.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = this.clock.setTimeout(() => this.heartbeat(), this.heartbeatMs);
    // The socket keeps a Node process alive while connected; the heartbeat need not.
    (this.heartbeatTimer as { unref?: () => void } | undefined)?.unref?.();
  }

  private onFrame(data: unknown): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data)) as Record<string, unknown>;
    } catch {
      return;
    }
    switch (frame.op) {
      case 'ack':
        this.onAck(frame.ref as string | undefined, frame.acks as Ack[]);
        break;
      case 'event':
        this.onEvent(frame.seq as number, frame.event as StoredEvent);
        break;
      case 'command':
        this.onCommandFrame(frame);
        break;
      case 'subscribed': {
        const ref = frame.ref as string | undefined;
        const sub = ref !== undefined ? this.awaitingReply.get(ref) : undefined;
        if (ref !== undefined) this.awaitingReply.delete(ref);
        if (sub && !sub.command && sub.cursor === undefined && typeof frame.head === 'number') {
          sub.cursor = frame.head;
        }
        break;
      }
      case 'error': {
        const ref = frame.ref as string | undefined;
        const sub = ref !== undefined ? this.awaitingReply.get(ref) : undefined;
        if (ref !== undefined && this.inFlight.has(ref)) {
          this.onPublishError(
            ref,
            frame.code as string,
            frame.message as string,
            frame.details as ValidationIssue[] | undefined,
          );
        } else if (sub) {
          this.awaitingReply.delete(ref!);
          this.onSubscribeError(sub, frame);
        } else if (ref === undefined && frame.code === 'unavailable' && this.subs.size > 0) {
          // The server's replay from the store failed and it stopped the stream: resume.
          this.emit('error', new WardenSdkError('unavailable', String(frame.message)));
          this.resubscribe();
        } else {
          this.emit('error', new WardenSdkError(frame.code as string, String(frame.message)));
        }
        break;
      }
    }
  }

  private onClose(code: number, reason: string): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.ws = undefined;
    this.clock.clearTimeout(this.heartbeatTimer);
    this.clock.clearTimeout(this.connectTimer);
    this.clock.clearTimeout(this.pingTimer);
    // Whatever was in flight is sent again after the reconnect (the server dedupes by id).
    for (const e of this.outbox.values()) e.ref = undefined;
    this.inFlight.clear();
    this.awaitingReply.clear();
    if (wasConnected) this.emit('disconnected', { code, reason });
    else if (!this.closed) this.emit('error', this.attemptError(code));
    // Also while close() waits for acks: the flush may still succeed on a new connection.
    this.scheduleReconnect();
  }

  /** Why an attempt failed before the connection opened (it is retried with backoff). */
  private attemptError(code: number): WardenSdkError {
    const why = this.socketError ?? `closed with code ${code} before opening`;
    if (/\b401\b/.test(why)) {
      return new WardenSdkError(
        'unauthorized',
        `the server refused the token (HTTP 401) at ${this.wsUrl}; retrying ${
          typeof this.tokenSource === 'function'
            ? 'with a fresh token from the token function'
            : '(a string token stays the same: pass a function to refresh it)'
        }`,
      );
    }
    return new WardenSdkError('connection_failed', `cannot connect to ${this.wsUrl}: ${why}`);
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const delay = this.backoff.next();
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.open();
    }, delay);
  }

  private send(text: string): void {
    if (this.ws && this.ws.readyState === OPEN) this.ws.send(text);
  }

  /**
   * Waits (up to `timeoutMs`, by default `closeTimeoutMs`; 0 does not wait) for every queued
   * event to be acked, then closes and stops every timer. Events still unacked are rejected
   * with `closed`, and stay in the spool when there is one. Calling it again returns the same
   * promise.
   */
  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.closePromise ??= this.shutdown(opts.timeoutMs ?? this.closeTimeoutMs);
    return this.closePromise;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closing = true;
    // Work loops stop leasing and their handlers are told (ctx.signal); one that ignores it
    // must not hold the close past its timeout.
    let timer: unknown;
    await Promise.race([
      this.tasks.close(),
      new Promise<void>((r) => (timer = this.clock.setTimeout(r, Math.max(timeoutMs, 0)))),
    ]);
    this.clock.clearTimeout(timer);
    if (timeoutMs > 0) {
      try {
        await this.flush({ timeoutMs });
      } catch {
        // Reported below through the rejected events.
      }
    }
    this.closed = true;
    this.clock.clearTimeout(this.reconnectTimer);
    this.clock.clearTimeout(this.heartbeatTimer);
    this.clock.clearTimeout(this.connectTimer);
    this.clock.clearTimeout(this.pingTimer);
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const left = [...this.outbox.values()];
    this.outbox.clear();
    this.outboxBytes = 0;
    for (const e of left) {
      e.reject(new WardenSdkError('closed', `client closed before event ${e.event.id} was acked`));
    }
    const ws = this.ws;
    this.ws = undefined;
    this.connected = false;
    ws?.close(1000, 'client closed');
    this.spool?.close();
  }
}

/** `s` shortened to at most `max` characters, marked with an ellipsis. */
function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

async function resolveWebSocket(
  options: ConnectOptions,
): Promise<{ ctor: WebSocketFactory; headers: boolean }> {
  if (options.WebSocket)
    return { ctor: options.WebSocket, headers: options.tokenInQuery === false };
  const global = (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
  if (global && options.tokenInQuery !== false) return { ctor: global, headers: false };
  // Node without a global WebSocket: the `ws` package, which takes headers.
  const mod = (await import('ws')) as unknown as { default: WebSocketFactory };
  return { ctor: mod.default, headers: options.tokenInQuery !== true };
}
