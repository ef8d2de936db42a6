import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { StoredEvent } from '@warden/protocol';
import { BusMessage, type Bus, type BusListener } from './bus.js';
import type { Clock } from './clock.js';
import { SeqSequencer, type GapReader } from './seq-sequencer.js';

/**
 * Appends events to the stream in seq order, each seq once, with the seq as the entry id
 * (`<seq>-0`). `<stream>:head` is the highest seq appended: lower or equal ones are skipped
 * (a retry, or another replica got there first). In strict mode (ARGV[2] = 0) the first seq
 * past a gap stops the call and the caller fills the gap from the database; in complete mode
 * (ARGV[2] = N, the caller read every event up to N) gaps are seqs that do not exist and are
 * passed, and the head ends at least at N. So the stream holds every committed event once, in
 * order, whichever replica committed it and however often an append was retried.
 * KEYS: stream, head. ARGV: maxlen, complete-up-to, then seq, json pairs ascending.
 * Returns the new head.
 */
const APPEND_SCRIPT = `
local head = tonumber(redis.call('GET', KEYS[2]) or '-1')
local upto = tonumber(ARGV[2])
local i = 3
while i <= #ARGV do
  local seq = tonumber(ARGV[i])
  if head < 0 then head = seq - 1 end
  if seq == head + 1 or (seq > head and upto > 0) then
    redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i] .. '-0', 'event', ARGV[i + 1])
    head = seq
  elseif seq > head + 1 then
    break
  end
  i = i + 2
end
if upto > head then head = upto end
redis.call('SET', KEYS[2], string.format('%d', head))
return string.format('%d', head)
`;

/** Events per append call and per stream read. */
const BATCH = 1000;
/** Append calls sent at once. */
const PIPELINE = 32;
/** How often a replica cut off from Redis looks for other replicas' commits in the database. */
const OUTAGE_POLL_MS = 1000;
/** Longest a blocking stream read waits before it looks again. */
const READ_BLOCK_MS = 1000;

type AppendClient = Redis & {
  wardenAppend(stream: string, head: string, ...args: (string | number)[]): Promise<string>;
};

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

/** Reconnect delays: 100 ms doubling to 5 s, ±20% jitter. */
function retryDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(attempt, 10), 5000);
  return Math.round(base * (0.8 + Math.random() * 0.4));
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
  private readonly writer: AppendClient;
  private readonly reader: Redis;
  /** The connections in use: the writer, and the blocking reader when the stream is read. */
  private readonly clients: Redis[];
  private readonly streamKey: string;
  private readonly headKey: string;
  /** Own committed events not yet in the stream, ascending. */
  private backlog: BusMessage[] = [];
  private backlogStart = 0;
  private appending = false;
  private closed = false;
  private downSince: number | undefined;
  private lastError = '';
  private reading: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Stream appends and reads have stopped; woken by 'ready'. */
  private wake: (() => void) | undefined;

  private constructor(private readonly opts: RedisStreamBusOptions) {
    this.streamKey = `${opts.prefix}events`;
    this.headKey = `${opts.prefix}events:head`;
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
    const common = {
      lazyConnect: true,
      // Fail commands at once while disconnected: the backlog and the sequencer take over.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: retryDelay,
      connectionName: 'warden',
    };
    this.writer = new Redis(opts.url, common) as AppendClient;
    this.writer.defineCommand('wardenAppend', { numberOfKeys: 2, lua: APPEND_SCRIPT });
    this.reader = new Redis(opts.url, { ...common, connectionName: 'warden-reader' });
    this.clients = opts.readStream ? [this.writer, this.reader] : [this.writer];
    for (const client of this.clients) {
      client.on('error', (err: Error) => this.markDown(err));
      client.on('close', () => this.markDown(new Error('connection closed')));
      client.on('ready', () => this.markUp());
    }
  }

  /**
   * Connects and starts reading the stream. A Redis that is down at start is not fatal: Warden
   * serves, /readyz says why, and the bus connects when Redis comes.
   */
  static async start(opts: RedisStreamBusOptions): Promise<RedisStreamBus> {
    const bus = new RedisStreamBus(opts);
    try {
      await Promise.all(bus.clients.map((c) => c.connect()));
      // A new stream starts at the database's head, so it is never back-filled from seq 1.
      await bus.writer.set(bus.headKey, String(opts.head), 'NX');
    } catch (err) {
      bus.markDown(err as Error);
    }
    if (opts.readStream) bus.reading = bus.readLoop();
    return bus;
  }

  head(): number {
    return this.sequencer.head();
  }

  publish(messages: readonly BusMessage[]): void {
    if (messages.length === 0) return;
    this.sequencer.offer(messages);
    for (const m of messages) this.backlog.push(m);
    const over = this.backlog.length - this.backlogStart - this.opts.maxBacklog;
    // The oldest are dropped from memory, not lost: the next append finds the gap and reads
    // them from the database.
    if (over > 0) this.backlogStart += over;
    void this.append();
  }

  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  problem(): string | undefined {
    if (this.downSince === undefined) return undefined;
    const since = new Date(this.downSince).toISOString();
    return `redis unreachable since ${since}: ${this.lastError}`;
  }

  /** Own events not yet in the stream. */
  pendingAppends(): number {
    return this.backlog.length - this.backlogStart;
  }

  private markDown(err: Error): void {
    if (this.closed) return;
    this.lastError = err.message || String(err);
    if (this.downSince !== undefined) return;
    this.downSince = this.opts.clock.now();
    this.opts.log.warn(
      { err: this.lastError },
      'redis unreachable: ingest and local delivery go on; reconnecting with backoff',
    );
    if (this.opts.readStream) {
      this.pollTimer = setInterval(() => void this.pollDatabase(), OUTAGE_POLL_MS);
      this.pollTimer.unref();
    }
  }

  private markUp(): void {
    if (this.closed || this.downSince === undefined) return;
    if (this.clients.some((c) => c.status !== 'ready')) return;
    const downMs = this.opts.clock.now() - this.downSince;
    this.downSince = undefined;
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.opts.log.info(
      { downMs, backlog: this.pendingAppends() },
      'redis reachable again: the stream catches up',
    );
    this.wake?.();
    void this.append();
  }

  /** While Redis is down, other replicas' commits are read from the database instead. */
  private async pollDatabase(): Promise<void> {
    try {
      await this.sequencer.catchUpTo(await this.opts.readHead());
    } catch (err) {
      this.opts.log.debug({ err }, 'database head unavailable');
    }
  }

  /**
   * Appends the backlog in seq order, filling gaps from the database; one run at a time. All
   * that is pending goes out at once, as pipelined script calls on one connection: Redis runs
   * them in order, so each call sees the head the previous one left, and a busy event loop
   * costs one round trip per run, not one per batch.
   */
  private async append(): Promise<void> {
    if (this.appending || this.closed || this.writer.status !== 'ready') return;
    this.appending = true;
    let filled = 0;
    try {
      while (this.backlogStart < this.backlog.length && this.writer.status === 'ready') {
        const end = Math.min(this.backlog.length, this.backlogStart + BATCH * PIPELINE);
        const calls: Promise<number>[] = [];
        for (let i = this.backlogStart; i < end; i += BATCH) {
          calls.push(this.appendBatch(this.backlog.slice(i, Math.min(i + BATCH, end)), 0));
        }
        const heads = await Promise.all(calls);
        const head = heads[heads.length - 1]!;
        let i = this.backlogStart;
        while (i < this.backlog.length && this.backlog[i]!.seq <= head) i++;
        this.backlogStart = i;
        if (this.backlogStart > 4096 && this.backlogStart * 2 > this.backlog.length) {
          this.backlog = this.backlog.slice(this.backlogStart);
          this.backlogStart = 0;
        }
        const next = this.backlog[this.backlogStart];
        if (next && next.seq > head + 1) {
          // A gap below what is pending: another replica's commit not appended yet, or own
          // events dropped from the backlog. The database has every one (seq is in commit
          // order), so they are read and appended in complete mode.
          const to = Math.min(next.seq - 1, head + BATCH);
          const missing = await this.opts.readGap(head, to);
          await this.appendBatch(
            missing.map((e) => new BusMessage(e)),
            to,
          );
          filled += missing.length;
        }
      }
    } catch (err) {
      this.markDown(err as Error);
    } finally {
      this.appending = false;
    }
    // Routine when replicas commit at once (a later seq reached Redis first): debug only.
    if (filled > 0) this.opts.log.debug({ events: filled }, 'stream gap filled from the database');
  }

  /** Runs the append script (`completeTo` 0: strict; N: every event up to N is in `batch`). */
  private async appendBatch(batch: readonly BusMessage[], completeTo: number): Promise<number> {
    const args: (string | number)[] = [this.opts.maxLen, completeTo];
    for (const m of batch) args.push(m.seq, m.json());
    return Number(await this.writer.wardenAppend(this.streamKey, this.headKey, ...args));
  }

  /** Reads the stream after the delivered head and hands new entries to the sequencer. */
  private async readLoop(): Promise<void> {
    while (!this.closed) {
      if (this.reader.status !== 'ready') {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, READ_BLOCK_MS).unref();
        });
        this.wake = undefined;
        continue;
      }
      try {
        const from = `${this.sequencer.head()}-0`;
        const reply = (await this.reader.xreadBuffer(
          'COUNT',
          BATCH,
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
        if (!this.closed) this.markDown(err as Error);
      }
    }
  }

  async close(): Promise<void> {
    // Give the stream a moment to take the last commits.
    const deadline = this.opts.clock.now() + 2000;
    while (this.pendingAppends() > 0 && this.downSince === undefined) {
      if (this.opts.clock.now() > deadline) break;
      await this.append();
      await new Promise((r) => setTimeout(r, 5));
    }
    this.closed = true;
    clearInterval(this.pollTimer);
    this.sequencer.close();
    this.wake?.();
    this.listeners.clear();
    for (const c of this.clients) c.disconnect();
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
