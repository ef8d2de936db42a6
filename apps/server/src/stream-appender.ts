import type { Redis } from 'ioredis';
import { createRedisClient, RedisLink, type LinkLog } from './redis-link.js';

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

/** Events per append call. */
export const APPEND_BATCH = 1000;
/** Append calls sent at once. */
const PIPELINE = 32;

type AppendClient = Redis & {
  wardenAppend(stream: string, head: string, ...args: (string | number)[]): Promise<string>;
};

/** One committed event as the stream takes it: its seq and the stored event JSON. */
export interface StreamEntry {
  readonly seq: number;
  json(): string;
}

/** An entry whose JSON is already made (in the writer thread, and from gap reads). */
export class JsonEntry implements StreamEntry {
  constructor(
    readonly seq: number,
    private readonly text: string,
  ) {}
  json(): string {
    return this.text;
  }
}

export interface StreamAppenderOptions {
  url: string;
  /** Key prefix; the stream is `<prefix>events`, its head `<prefix>events:head`. */
  prefix: string;
  /** `MAXLEN ~` of the stream. */
  maxLen: number;
  /** Own events kept in memory while Redis is down; older ones are re-read from the database. */
  maxBacklog: number;
  /** Highest seq committed when the appender starts (the database's head). */
  head: number;
  /** Committed events with `since < seq <= until` from the database, ascending. */
  readGap: (since: number, until: number) => Promise<readonly StreamEntry[]>;
  now: () => number;
  log: LinkLog;
  /**
   * The link to report reachability through; by default the appender makes its own over its
   * one connection. (The bus shares one link with its stream reader, so an outage is told once.)
   */
  link?: (client: Redis) => RedisLink;
}

/**
 * Puts every committed event into the Redis stream `<prefix>events` (SPEC §7), exactly once
 * and in seq order. Appends are pipelined script calls on one connection; while Redis is down
 * the appender keeps a bounded backlog of own events, and after the reconnect the stream
 * catches up, the database filling whatever the backlog dropped or another replica committed.
 * It runs wherever the events are: on the event loop for PostgreSQL, in the SQLite writer
 * thread for SQLite (so the event loop does no stream work at all).
 */
export class StreamAppender {
  readonly client: AppendClient;
  readonly link: RedisLink;
  private readonly streamKey: string;
  private readonly headKey: string;
  /** Own committed events not yet in the stream, ascending. */
  private backlog: StreamEntry[] = [];
  private backlogStart = 0;
  private appending = false;
  private closed = false;
  /** Highest seq known to be in the stream (what the last append call returned). */
  private confirmed: number;

  constructor(private readonly opts: StreamAppenderOptions) {
    this.streamKey = `${opts.prefix}events`;
    this.headKey = `${opts.prefix}events:head`;
    this.confirmed = opts.head;
    this.client = createRedisClient(opts.url, 'warden') as AppendClient;
    this.client.defineCommand('wardenAppend', { numberOfKeys: 2, lua: APPEND_SCRIPT });
    this.link =
      opts.link?.(this.client) ??
      new RedisLink([this.client], {
        now: opts.now,
        log: opts.log,
        onUp: () => void this.reconnected(),
      });
  }

  /** Connects (a Redis that is down is only an outage) and anchors a new stream's head. */
  async start(): Promise<void> {
    if (!(await this.link.connect())) return;
    await this.anchor();
  }

  /**
   * A new stream starts where this appender knows the stream was: the database's head at
   * start, or the last seq appended. So a first stream is never back-filled from seq 1, and a
   * Redis that came back empty (no persistence) gets every event from the last one appended
   * on, the ones dropped from the backlog read back from the database.
   */
  async anchor(): Promise<void> {
    try {
      await this.client.set(this.headKey, String(this.confirmed), 'NX');
    } catch (err) {
      this.link.markDown(err as Error);
    }
  }

  /** After a reconnect: anchor the stream (it may be new), then catch up. */
  async reconnected(): Promise<void> {
    await this.anchor();
    await this.append();
  }

  /** Own committed events, in commit order. */
  push(entries: readonly StreamEntry[]): void {
    if (entries.length === 0) return;
    for (const e of entries) this.backlog.push(e);
    const over = this.backlog.length - this.backlogStart - this.opts.maxBacklog;
    // The oldest are dropped from memory, not lost: the next append finds the gap and reads
    // them from the database.
    if (over > 0) this.backlogStart += over;
    void this.append();
  }

  /** Own events not yet in the stream. */
  pending(): number {
    return this.backlog.length - this.backlogStart;
  }

  /**
   * Appends the backlog in seq order, filling gaps from the database; one run at a time. All
   * that is pending goes out at once, as pipelined script calls on one connection: Redis runs
   * them in order, so each call sees the head the previous one left, and a busy event loop
   * costs one round trip per run, not one per batch.
   */
  async append(): Promise<void> {
    if (this.appending || this.closed || this.client.status !== 'ready') return;
    this.appending = true;
    let filled = 0;
    try {
      while (this.backlogStart < this.backlog.length && this.client.status === 'ready') {
        const end = Math.min(this.backlog.length, this.backlogStart + APPEND_BATCH * PIPELINE);
        const calls: Promise<number>[] = [];
        for (let i = this.backlogStart; i < end; i += APPEND_BATCH) {
          calls.push(this.appendBatch(this.backlog, i, Math.min(i + APPEND_BATCH, end), 0));
        }
        const heads = await Promise.all(calls);
        const head = heads[heads.length - 1]!;
        if (head > this.confirmed) this.confirmed = head;
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
          const to = Math.min(next.seq - 1, head + APPEND_BATCH);
          const missing = await this.opts.readGap(head, to);
          const after = await this.appendBatch(missing, 0, missing.length, to);
          if (after > this.confirmed) this.confirmed = after;
          filled += missing.length;
        }
      }
    } catch (err) {
      this.link.markDown(err as Error);
    } finally {
      this.appending = false;
    }
    // Routine when replicas commit at once (a later seq reached Redis first): debug only.
    if (filled > 0) this.opts.log.debug({ events: filled }, 'stream gap filled from the database');
  }

  /** Runs the append script (`completeTo` 0: strict; N: every event up to N is in the slice). */
  private async appendBatch(
    entries: readonly StreamEntry[],
    from: number,
    to: number,
    completeTo: number,
  ): Promise<number> {
    const args: (string | number)[] = new Array<string | number>(2 + (to - from) * 2);
    args[0] = this.opts.maxLen;
    args[1] = completeTo;
    for (let i = from, j = 2; i < to; i++, j += 2) {
      const e = entries[i]!;
      args[j] = e.seq;
      args[j + 1] = e.json();
    }
    return Number(await this.client.wardenAppend(this.streamKey, this.headKey, ...args));
  }

  /** Gives the stream a moment (at most `timeoutMs`) to take the last commits, then stops. */
  async close(timeoutMs = 2000): Promise<void> {
    const deadline = this.opts.now() + timeoutMs;
    while (this.pending() > 0 && !this.link.down && this.opts.now() <= deadline) {
      await this.append();
      await new Promise((r) => setTimeout(r, 5));
    }
    this.closed = true;
    this.link.close();
  }
}
