import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import secureJson from 'secure-json-parse';
import WebSocket from 'ws';
import {
  CLIENT_OPS,
  CLOSE_CODES,
  ClientFrameSchema,
  toPointer,
  exceedsDepth,
  validateEventBody,
  type Ack,
  type AgentCommand,
  type ClientFrame,
  type ProblemCode,
  type ProtocolLimits,
  type ServerFrame,
  type ValidationIssue,
} from '@warden/protocol';
import type { Bus, BusMessage } from './bus.js';
import type { Clock } from './clock.js';
import type { CommandPeer, CommandRouter } from './command-router.js';
import { WardenError } from './errors.js';
import type { Ingestor } from './ingestor.js';
import { eventLogFields } from './logs/request-id.js';
import { can, mayPublishFor, maySubscribe, type Principal } from './roles.js';
import type { EventStore } from './store/event-store.js';
import { eventFrame, serializeStoredEvent } from './store/serialize.js';
import { TopicFilter } from './subscription.js';
import { textFrame } from './ws-frame.js';

/** What a connection needs from the hub. */
export interface ConnectionContext {
  bus: Bus;
  store: EventStore;
  ingestor: Ingestor;
  limits: ProtocolLimits;
  clock: Clock;
  log: Logger;
  /** Unsent bytes after which a live subscriber is closed with 4008. */
  maxBufferedBytes: number;
  markSeen(agentId: string, at: number): void;
}

/** Rows read per replay query. */
const REPLAY_PAGE = 500;
/** Live events held for one subscriber while it catches up; past this it re-reads the store. */
const MAX_PENDING = 20_000;
/** Longest a timer may be set for (setTimeout's 32-bit limit). */
const MAX_TIMER = 2 ** 31 - 1;

type Mode = 'none' | 'catchup' | 'live';
type PublishFrame = Extract<ClientFrame, { op: 'publish' }>;

/** The `ack` frame, built as text: it is sent once per publish. */
function ackFrame(ref: string | undefined, acks: readonly Ack[]): string {
  let s =
    ref === undefined
      ? '{"op":"ack","acks":['
      : `{"op":"ack","ref":${JSON.stringify(ref)},"acks":[`;
  for (let i = 0; i < acks.length; i++) {
    const a = acks[i]!;
    if (i > 0) s += ',';
    s += `{"id":${JSON.stringify(a.id)},"seq":${a.seq}${a.duplicate ? ',"duplicate":true' : ''}}`;
  }
  return s + ']}';
}

/** The frame's `ref`, if it has a usable one, to echo in an error. */
function refOf(raw: unknown): string | undefined {
  const ref = typeof raw === 'object' && raw !== null ? (raw as { ref?: unknown }).ref : undefined;
  return typeof ref === 'string' ? ref.slice(0, 128) : undefined;
}

/** Plain JSON.parse for reading a `ref` out of a refused frame (own keys only, no pollution). */
function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A well-formed publish frame, without a zod pass; anything unusual takes the full check. */
function asPublishFrame(raw: unknown): PublishFrame | undefined {
  if (typeof raw !== 'object' || raw === null || (raw as { op?: unknown }).op !== 'publish') {
    return undefined;
  }
  for (const k in raw) {
    if (k !== 'op' && k !== 'ref' && k !== 'event' && k !== 'events') return undefined;
  }
  const ref = (raw as { ref?: unknown }).ref;
  if (ref !== undefined && (typeof ref !== 'string' || ref.length > 128)) return undefined;
  const events = (raw as { events?: unknown }).events;
  if (events !== undefined && !Array.isArray(events)) return undefined;
  return raw as PublishFrame;
}

/**
 * One WebSocket peer: its token, its ops, and its subscription. Delivery is gap-free: while
 * a subscriber replays stored events up to the head it saw, live events are held, then sent
 * past the replay with every seq at most once. Its `commands:` topics register it with the
 * command router, which writes `command` frames to it directly.
 */
export class Connection implements CommandPeer {
  /** The peer answered the last ping (or none was sent yet). */
  alive = true;
  /** The peer sent a frame since the last ping sweep: it is there, and needs no ping. */
  heard = false;
  private readonly socket: Socket | undefined;
  private readonly filter = new TopicFilter();
  private mode: Mode = 'none';
  private cursor = 0;
  private target = 0;
  private pending: BusMessage[] = [];
  private overflow = false;
  private generation = 0;
  private closed = false;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
    private readonly ctx: ConnectionContext,
    private readonly commands?: CommandRouter,
  ) {
    // Broadcast frames are written straight to the socket, framed once for every peer.
    // Safe because permessage-deflate is off, so ws never holds frames back in its sender.
    this.socket = (ws as unknown as { _socket?: Socket })._socket;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.heard = true;
      // Whatever a frame holds, it must never take the process down.
      try {
        this.onMessage(data, isBinary);
      } catch (err) {
        ctx.log.warn({ err }, 'frame handling failed');
        this.sendError('invalid_request', 'frame could not be handled');
      }
    });
    ws.on('pong', () => {
      this.alive = true;
    });
    this.armExpiry();
  }

  private armExpiry(): void {
    const left = this.principal.expiresAt - this.ctx.clock.now();
    if (left <= 0) {
      this.ws.close(CLOSE_CODES.tokenExpired, 'token expired');
      return;
    }
    this.expiryTimer = setTimeout(() => this.armExpiry(), Math.min(left, MAX_TIMER));
    this.expiryTimer.unref();
  }

  onClose(): void {
    this.closed = true;
    this.generation++;
    this.pending = [];
    clearTimeout(this.expiryTimer);
    this.commands?.drop(this);
  }

  /** Writes a `command` frame (see CommandRouter); false once the connection is closing. */
  sendCommand(command: AgentCommand): boolean {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    this.send({ op: 'command', id: command.id, agentId: command.agentId, action: command.action });
    return true;
  }

  private replies: string[] = [];
  private readonly flushReplies = () => {
    const replies = this.replies;
    this.replies = [];
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (replies.length === 1 || !this.socket) {
      for (const r of replies) this.ws.send(r);
      return;
    }
    this.socket.cork();
    for (const r of replies) this.ws.send(r);
    this.socket.uncork();
  };

  private send(frame: ServerFrame): void {
    this.sendRaw(JSON.stringify(frame));
  }

  /**
   * Replies written in one tick (e.g. the acks of one group commit) leave together once the
   * current microtasks have run: one plain write for one reply, one writev for several.
   */
  private sendRaw(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.replies.push(text) === 1) process.nextTick(this.flushReplies);
  }

  private sendError(
    code: ProblemCode,
    message: string,
    ref?: string,
    details?: ValidationIssue[],
  ): void {
    this.send({
      op: 'error',
      ...(ref !== undefined ? { ref } : {}),
      code,
      message,
      ...(details ? { details } : {}),
    });
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.sendError('invalid_request', 'binary frames are not accepted: send JSON text frames');
      return;
    }
    const text = data.toString('utf8');
    let raw: unknown;
    try {
      // Same rules as the HTTP body parser: __proto__ / constructor.prototype keys are refused.
      raw = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch (err) {
      this.sendError(
        'invalid_json',
        `frame is not valid JSON: ${(err as Error).message}`,
        refOf(safeParse(text)),
      );
      return;
    }
    const ref = refOf(raw);
    // Publish is the hot path: its frame shape is checked by hand, its events by the protocol.
    const fast = asPublishFrame(raw);
    if (fast) {
      this.publish(fast, data.length);
      return;
    }
    const parsed = ClientFrameSchema.safeParse(raw);
    if (!parsed.success) {
      const op = (raw as { op?: unknown } | null)?.op;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        this.sendError('invalid_request', 'a frame must be a JSON object with an "op"', ref);
      } else if (typeof op !== 'string' || !(CLIENT_OPS as readonly string[]).includes(op)) {
        this.sendError(
          'invalid_request',
          `unknown op ${typeof op === 'string' ? JSON.stringify(op.slice(0, 100)) : `(${op === null ? 'null' : typeof op})`}: expected one of ${CLIENT_OPS.join(', ')}`,
          ref,
          [{ path: '/op', message: `must be one of ${CLIENT_OPS.join(', ')}` }],
        );
      } else {
        const details = parsed.error.issues.map((i) => ({
          path: toPointer(i.path as Array<string | number>),
          message:
            i.code === 'unrecognized_keys' ? `unknown key(s): ${i.keys.join(', ')}` : i.message,
        }));
        this.sendError(
          'invalid_request',
          `invalid ${op} frame: ${details[0]!.path} ${details[0]!.message}`,
          ref,
          details,
        );
      }
      return;
    }
    const frame = parsed.data;
    switch (frame.op) {
      case 'publish':
        this.publish(frame, data.length);
        break;
      case 'subscribe':
        this.subscribe(frame);
        break;
      case 'unsubscribe':
        this.commands?.remove(
          this,
          frame.topics.flatMap((t) => (t.startsWith('commands:') ? [t.slice(9)] : [])),
        );
        this.filter.remove(frame.topics);
        if (this.filter.empty) this.stopStream();
        this.send({
          op: 'unsubscribed',
          ...(frame.ref !== undefined ? { ref: frame.ref } : {}),
          topics: this.filter.names(),
        });
        break;
      case 'ping':
        this.send({ op: 'pong', ...(frame.ref !== undefined ? { ref: frame.ref } : {}) });
        break;
      case 'heartbeat':
        if (!mayPublishFor(this.principal, frame.agentId)) {
          this.sendError(
            'forbidden_agent',
            `this token may not speak for agent ${frame.agentId}`,
            frame.ref,
          );
          return;
        }
        this.ctx.markSeen(frame.agentId, this.ctx.clock.now());
        break;
    }
  }

  private publish(frame: PublishFrame, frameBytes: number): void {
    const ref = frame.ref;
    if (!can(this.principal, 'publish')) {
      this.sendError('forbidden', `role ${this.principal.role} may not publish events`, ref);
      return;
    }
    const hasBatch = frame.events !== undefined;
    const hasOne = frame.event !== undefined;
    if (hasBatch === hasOne) {
      this.sendError('invalid_request', 'a publish frame carries either "event" or "events"', ref, [
        { path: '', message: 'needs exactly one of event, events' },
      ]);
      return;
    }
    const limits = this.ctx.limits;
    if (
      hasBatch &&
      frameBytes > limits.maxBatchBytes &&
      !exceedsDepth(frame.events, limits.maxDepth + 3)
    ) {
      const bytes = Buffer.byteLength(JSON.stringify(frame.events));
      if (bytes > limits.maxBatchBytes) {
        this.sendError(
          'payload_too_large',
          `batch is ${bytes} bytes, over the limit of ${limits.maxBatchBytes}`,
          ref,
        );
        return;
      }
    }
    const result = validateEventBody(hasBatch ? { events: frame.events } : frame.event, {
      limits,
      now: this.ctx.clock.now(),
      rawBytes: frameBytes,
      pathPrefix: hasBatch ? [] : ['event'],
    });
    if (!result.ok) {
      this.sendError(result.code, result.message, ref, result.errors);
      return;
    }
    for (let i = 0; i < result.events.length; i++) {
      const ev = result.events[i]!;
      if (!mayPublishFor(this.principal, ev.agentId)) {
        this.sendError(
          'forbidden_agent',
          `this token publishes for agent ${this.principal.agentId ?? '(none)'} only, not ${ev.agentId}; nothing was stored`,
          ref,
          [
            {
              path: hasBatch ? `/events/${i}/agentId` : '/event/agentId',
              message: "not this token's agent",
            },
          ],
        );
        return;
      }
    }
    this.ctx.ingestor.submit(result.events).then(
      (acks) => this.sendRaw(ackFrame(ref, acks)),
      (err: unknown) => {
        this.ctx.log.warn(
          { err, sub: this.principal.sub, ...eventLogFields(result.events, false) },
          'publish failed',
        );
        const code = err instanceof WardenError ? err.code : 'internal';
        this.sendError(code, err instanceof Error ? err.message : 'publish failed', ref);
      },
    );
  }

  private subscribe(frame: Extract<ClientFrame, { op: 'subscribe' }>): void {
    const topics = TopicFilter.parse(frame.topics);
    if (typeof topics === 'string') {
      this.sendError('invalid_request', topics, frame.ref, [{ path: '/topics', message: topics }]);
      return;
    }
    const denied = topics
      .map((t) => maySubscribe(this.principal, t))
      .find((why) => why !== undefined);
    if (denied) {
      this.sendError(
        this.principal.role === 'agent' ? 'forbidden_agent' : 'forbidden',
        denied,
        frame.ref,
      );
      return;
    }
    this.filter.add(topics);
    this.commands?.add(
      this,
      topics.flatMap((t) => (t.kind === 'commands' ? [t.agentId] : [])),
    );
    const head = this.ctx.bus.head();
    const reply: ServerFrame = {
      op: 'subscribed',
      ...(frame.ref !== undefined ? { ref: frame.ref } : {}),
      topics: this.filter.names(),
      head,
    };
    if (frame.since !== undefined) {
      this.send(reply);
      this.startCatchup(frame.since, head);
    } else {
      if (this.mode === 'none') {
        this.mode = 'live';
        this.cursor = head;
      }
      this.send(reply);
    }
  }

  private stopStream(): void {
    this.mode = 'none';
    this.generation++;
    this.pending = [];
  }

  private startCatchup(since: number, head: number): void {
    const gen = ++this.generation;
    this.mode = 'catchup';
    this.cursor = since;
    this.target = head;
    this.pending = [];
    this.overflow = false;
    this.catchup(gen).catch((err: unknown) => {
      if (gen !== this.generation) return;
      this.ctx.log.warn({ err }, 'subscription replay failed');
      this.sendError('unavailable', 'replay from the store failed; subscribe again with since');
      this.stopStream();
    });
  }

  private async catchup(gen: number): Promise<void> {
    for (;;) {
      while (this.cursor < this.target) {
        const rows = await this.ctx.store.readTopics({
          since: this.cursor,
          until: this.target,
          limit: REPLAY_PAGE,
          ...this.filter.query(),
        });
        if (gen !== this.generation) return;
        if (rows.length === 0) {
          this.cursor = this.target;
          break;
        }
        for (const ev of rows) {
          const text = eventFrame(ev.seq, serializeStoredEvent(ev, JSON.stringify(ev.data)));
          this.write(textFrame(text), text);
          this.cursor = ev.seq;
        }
        await this.drained();
        if (gen !== this.generation) return;
      }
      if (this.overflow) {
        // Live events were dropped while replaying; they are in the store, so read on.
        this.overflow = false;
        this.pending = [];
        this.target = this.ctx.bus.head();
        continue;
      }
      const held = this.pending;
      this.pending = [];
      this.mode = 'live';
      this.deliver(held);
      return;
    }
  }

  /** Waits until the socket's unsent bytes fall under the limit (replay backpressure). */
  private drained(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.writableLength < this.ctx.maxBufferedBytes / 4) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  private write(wire: Buffer, text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.socket) this.socket.write(wire);
    else this.ws.send(text);
  }

  /** Called by the hub for every committed batch, in seq order. */
  deliver(messages: readonly BusMessage[]): void {
    if (this.mode === 'none' || this.closed) return;
    if (this.mode === 'catchup') {
      if (this.overflow) return;
      for (const m of messages) {
        if (m.seq > this.target && this.filter.matches(m.event.agentId, m.event.type)) {
          this.pending.push(m);
        }
      }
      if (this.pending.length > MAX_PENDING) {
        this.overflow = true;
        this.pending = [];
      }
      return;
    }
    const socket = this.socket;
    // One matching event goes out as a plain write; several are corked into one writev.
    let first: BusMessage | undefined;
    let corked = false;
    for (const m of messages) {
      if (m.seq <= this.cursor || !this.filter.matches(m.event.agentId, m.event.type)) continue;
      this.cursor = m.seq;
      if (first === undefined) {
        first = m;
        continue;
      }
      if (!corked) {
        corked = true;
        socket?.cork();
        this.write(first.wire(), first.frame());
      }
      this.write(m.wire(), m.frame());
    }
    if (first === undefined) return;
    if (!corked) this.write(first.wire(), first.frame());
    else socket?.uncork();
    if (!socket) return;
    if (socket.writableLength > this.ctx.maxBufferedBytes) {
      this.ctx.log.info(
        { agent: this.principal.sub, buffered: socket.writableLength, cursor: this.cursor },
        'closing slow subscriber',
      );
      this.stopStream();
      this.ws.close(CLOSE_CODES.slowConsumer, `slow consumer: resume with since=${this.cursor}`);
      // A peer that cannot even take the close frame is cut off.
      setTimeout(() => this.ws.terminate(), 5000).unref();
    }
  }
}
