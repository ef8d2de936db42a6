import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { StoredEvent } from '@warden/protocol';
import { BusMessage, type Bus, type BusListener } from './bus.js';
import type { Clock } from './clock.js';
import { createRedisClient, RedisLink } from './redis-link.js';
import { SeqSequencer, type GapReader } from './seq-sequencer.js';
import { APPEND_BATCH, StreamAppender } from './stream-appender.js';

/** How often a replica cut off from Redis looks for other replicas' commits in the database. */
const OUTAGE_POLL_MS = 1000;
/** Longest a blocking stream read waits before it looks again. */
const READ_BLOCK_MS = 1000;

export interface RedisStreamBusOptions {
  url: string;
  /** Key prefix; the stream is `<prefix>events`. */
  prefix: string;
  /** `MAXLEN ~` of the stream. */
  maxLen: number;
  /** Wait for a missing lower seq from the stream this long, then read it from the database. */
  gapTimeoutMs: number;
  /** Own events kept in memory while Redis is down; older ones are re-read from the database. */
  maxBacklog: number;
  /**
   * Read the stream for other replicas' events. Only a shared database (PostgreSQL) has other
   * replicas; on SQLite the stream is written for its consumers and never read back.
   */
  readStream: boolean;
  /** Highest seq committed when the bus starts (the database's head). */
  head: number;
  /** Reads committed events with `since < seq <= until` from the database. */
  readGap: GapReader;
  /** The database's committed head (replicas' commits included). */
  readHead: () => Promise<number>;
  clock: Clock;
  log: Logger;
}

/**
 * The bus across replicas (SPEC §7). Every committed event goes into the Redis stream
 * `<prefix>events` (field `event`: the stored event JSON), and every replica reads the stream
 * and delivers what other replicas committed. The stream is the fast path; the database is the
 * truth: a `SeqSequencer` puts the sources back in seq order and fills any gap from the
 * database, so subscribers see every event once, in order, with no gap.
 *
 * When Redis goes away, ingest and this replica's delivery go on (its own commits are
 * delivered directly); the appender keeps a bounded backlog and the stream catches up after the
 * reconnect, the database filling whatever the backlog dropped. Transitions are logged once.
 */
export class RedisStreamBus implements Bus {
  private readonly listeners = new Set<BusListener>();
  private readonly sequencer: SeqSequencer;
  private readonly appender: StreamAppender;
  private readonly reader: Redis | undefined;
  private readonly link: RedisLink;
  private readonly streamKey: string;
  private closed = false;
  private reading: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Stream reads have stopped; woken by the reconnect. */
  private wake: (() => void) | undefined;

  private constructor(private readonly opts: RedisStreamBusOptions) {
    this.streamKey = `${opts.prefix}events`;
    this.sequencer = new SeqSequencer({
      head: opts.head,
      gapTimeoutMs: opts.gapTimeoutMs,
      readGap: opts.readGap,
      deliver: (messages) => {
        for (const l of this.listeners) l(messages);
      },
      onReadError: (err) =>
        opts.log.error({ err }, 'reading missed events from the database failed'),
    });
    // Only a shared database has other replicas to read; on SQLite nothing reads it back.
    this.reader = opts.readStream ? createRedisClient(opts.url, 'warden-reader') : undefined;
    let link: RedisLink | undefined;
    this.appender = new StreamAppender({
      url: opts.url,
      prefix: opts.prefix,
      maxLen: opts.maxLen,
      maxBacklog: opts.maxBacklog,
      head: opts.head,
      readGap: async (since, until) =>
        (await opts.readGap(since, until)).map((e) => new BusMessage(e)),
      now: () => opts.clock.now(),
      log: opts.log,
      // One link over the appender's and the reader's connections: an outage is told once.
      link: (writer) =>
        (link = new RedisLink(this.reader ? [writer, this.reader] : [writer], {
          now: () => opts.clock.now(),
          log: opts.log,
          onDown: () => this.onDown(),
          onUp: () => this.onUp(),
        })),
    });
    this.link = link!;
  }

  /**
   * Connects and starts reading the stream. A Redis that is down at start is not fatal: Warden
   * serves, /readyz says why, and the bus connects when Redis comes.
   */
  static async start(opts: RedisStreamBusOptions): Promise<RedisStreamBus> {
    const bus = new RedisStreamBus(opts);
    await bus.appender.start();
    if (bus.reader) bus.reading = bus.readLoop(bus.reader);
    return bus;
  }

  head(): number {
    return this.sequencer.head();
  }

  publish(messages: readonly BusMessage[]): void {
    if (messages.length === 0) return;
    this.sequencer.offer(messages);
    this.appender.push(messages);
  }

  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  problem(): string | undefined {
    return this.link.problem();
  }

  /** Own events not yet in the stream. */
  pendingAppends(): number {
    return this.appender.pending();
  }

  private onDown(): void {
    if (this.opts.readStream) {
      this.pollTimer = setInterval(() => void this.pollDatabase(), OUTAGE_POLL_MS);
      this.pollTimer.unref();
    }
  }

  private onUp(): void {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.wake?.();
    void this.appender.reconnected();
  }

  /** While Redis is down, other replicas' commits are read from the database instead. */
  private async pollDatabase(): Promise<void> {
    try {
      await this.sequencer.catchUpTo(await this.opts.readHead());
    } catch (err) {
      this.opts.log.debug({ err }, 'database head unavailable');
    }
  }

  /** Reads the stream after the delivered head and hands new entries to the sequencer. */
  private async readLoop(reader: Redis): Promise<void> {
    while (!this.closed) {
      if (reader.status !== 'ready') {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, READ_BLOCK_MS).unref();
        });
        this.wake = undefined;
        continue;
      }
      try {
        const from = `${this.sequencer.head()}-0`;
        const reply = (await reader.xreadBuffer(
          'COUNT',
          APPEND_BATCH,
          'BLOCK',
          READ_BLOCK_MS,
          'STREAMS',
          this.streamKey,
          from,
        )) as [Buffer, [Buffer, Buffer[]][]][] | null;
        if (!reply || this.closed) continue;
        const head = this.sequencer.head();
        const fresh: BusMessage[] = [];
        for (const [id, fields] of reply[0]![1]) {
          const seq = parseSeq(id);
          // Own events come back too: skipped before they are parsed.
          if (seq <= head) continue;
          const json = fieldValue(fields, 'event');
          if (json === undefined) continue;
          try {
            fresh.push(new BusMessage(JSON.parse(json) as StoredEvent, json));
          } catch {
            this.opts.log.warn({ seq }, 'unreadable stream entry skipped; read from the database');
          }
        }
        if (fresh.length > 0) this.sequencer.offer(fresh);
      } catch (err) {
        if (!this.closed) this.link.markDown(err as Error);
      }
    }
  }

  async close(): Promise<void> {
    // Gives the stream a moment to take the last commits, then disconnects.
    await this.appender.close();
    this.closed = true;
    clearInterval(this.pollTimer);
    this.sequencer.close();
    this.wake?.();
    this.listeners.clear();
    await this.reading;
  }
}

function parseSeq(id: Buffer): number {
  const s = id.toString('latin1');
  const dash = s.indexOf('-');
  return Number(dash < 0 ? s : s.slice(0, dash));
}

function fieldValue(fields: Buffer[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i]!.toString('latin1') === name) return fields[i + 1]!.toString('utf8');
  }
  return undefined;
}
