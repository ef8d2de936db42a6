import type { Logger } from 'pino';
import { LOG_LEVELS, type LogData, type StoredEvent } from '@warden/protocol';
import type { WardenApp } from '../app.js';
import type { BusMessage } from '../bus.js';
import { WardenError } from '../errors.js';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';
import type { LogRow, LogStore } from './log-store.js';
import type { LogsQuery } from './logs-query.js';
import { PgLogStore } from './pg-log-store.js';
import { registerLogRoutes } from './routes-logs.js';
import { SqliteLogStore } from './sqlite-log-store.js';

/** Events read from the event log per page while catching up. */
const REPLAY_PAGE = 1000;
/** A failing database is reported at most this often. */
const REPORT_EVERY_MS = 60_000;

/** What `GET /api/v1/logs` answers. */
export interface LogsPage {
  logs: LogRow[];
  /** The `cursor` for the next page, or null when this was the last. */
  next: number | null;
  /**
   * Every `log` event up to this seq was searched: subscribe with `since: head` to continue
   * live with no gap and no duplicate.
   */
  head: number;
}

function toRow(ev: StoredEvent): LogRow {
  const d = ev.data as LogData;
  return {
    seq: ev.seq,
    agentId: ev.agentId,
    ts: ev.ts,
    level: (LOG_LEVELS as readonly string[]).includes(d.level) ? d.level : 'info',
    ...(d.stream === 'stdout' || d.stream === 'stderr' ? { stream: d.stream } : {}),
    message: typeof d.message === 'string' ? d.message : String(d.message),
    ...(ev.correlationId !== undefined ? { correlationId: ev.correlationId } : {}),
  };
}

/**
 * Central logs (issue 5 point 5): every `log` event — agents' output captured by the
 * supervisor and the SDK's own — kept in a compact, searchable table beside the event log.
 * Live delivery needs nothing here: the `logs:<agentId>` and `type:log` topics stream straight
 * from the bus (SPEC §5).
 *
 * It is a projection of the bus (every replica sees every event; writes are idempotent by
 * seq): rows wait in memory and go to the table in one transaction per flush, every
 * `flush_interval` or `max_batch` rows. The table's position (`projection_state`) commits with
 * the rows, so after a crash the next start reads the missing `log` events from the event
 * log. Past `max_pending` rows waiting (a slow or absent database) it drops them from memory
 * and reads them again from the event log once the table takes writes.
 */
export class LogCenter implements HubFeature {
  readonly name = 'logs';
  private store: LogStore | undefined;
  private unsubscribe: (() => void) | undefined;
  private mode: 'stopped' | 'catchup' | 'live' = 'stopped';
  /** Every event up to this seq is in `pending` or in the table. */
  private cursor = 0;
  /** Seq up to which the table is complete (last flush, or `cursor` when nothing waits). */
  private flushed = 0;
  private pending: LogRow[] = [];
  /** Live messages past the catch-up's target, held until it ends. */
  private held: BusMessage[] = [];
  private heldOverflow = false;
  /** Rows were dropped from memory: read the log again from `flushed`. */
  private dropped = false;
  private flushing: Promise<void> | undefined;
  private catchingUp: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastReport = -Infinity;
  private closed = false;

  constructor(
    readonly ctx: HubContext,
    readonly log: Logger,
  ) {}

  registerRoutes(app: WardenApp): void {
    registerLogRoutes(app, this);
  }

  async start(): Promise<void> {
    const url = this.ctx.config.databaseUrl;
    this.store = url.startsWith('sqlite:') ? SqliteLogStore.open(url) : PgLogStore.open(url);
    const state = await this.store.readState();
    this.cursor = state.seq;
    this.flushed = state.seq;
    this.unsubscribe = this.ctx.bus.subscribe((messages) => this.onMessages(messages));
    this.beginCatchup();
  }

  /** Seq up to which every `log` event is in the table. */
  watermark(): number {
    return this.pending.length === 0 && this.flushing === undefined && this.mode === 'live'
      ? this.cursor
      : this.flushed;
  }

  /** Resolves once every `log` event delivered so far is in the table (tests, shutdown). */
  async settle(): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      await this.catchingUp;
      await this.flush();
      if (this.mode !== 'catchup' && this.pending.length === 0 && !this.dropped) return;
    }
  }

  /** `GET /api/v1/logs`. */
  async search(q: LogsQuery): Promise<LogsPage> {
    const store = this.store;
    if (!store || this.closed) throw new WardenError('unavailable', 'logs are not open yet');
    const head = this.watermark();
    let rows: LogRow[];
    try {
      rows = await store.query({
        ...(q.agentId !== undefined ? { agentId: q.agentId } : {}),
        ...(q.level !== undefined ? { minLevel: LOG_LEVELS.indexOf(q.level) } : {}),
        ...(q.q !== undefined ? { q: q.q } : {}),
        ...(q.correlationId !== undefined ? { correlationId: q.correlationId } : {}),
        ...(q.since !== undefined ? { since: q.since } : {}),
        ...(q.until !== undefined ? { until: q.until } : {}),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        maxSeq: head,
        order: q.order,
        limit: q.limit + 1,
      });
    } catch (err) {
      throw new WardenError('unavailable', 'the logs table could not be read; try again', {
        cause: err,
      });
    }
    const more = rows.length > q.limit;
    const logs = more ? rows.slice(0, q.limit) : rows;
    return { logs, next: more ? logs[logs.length - 1]!.seq : null, head };
  }

  async retain(now: number): Promise<Record<string, number>> {
    const store = this.store;
    if (!store) return {};
    const r = this.ctx.config.retention;
    const expired = await store.deleteOlderThan(now - r.logs);
    const overSize = await store.shrinkTo(r.logs_max_bytes);
    if (expired + overSize > 0) await store.reclaim();
    return { logs_expired: expired, logs_over_size: overSize };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.unsubscribe?.();
    // What the hub committed before the close still goes in (bounded by the catch-up).
    if (this.store) await this.settle().catch(() => undefined);
    this.closed = true;
    this.mode = 'stopped';
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.store?.close();
  }

  private onMessages(messages: readonly BusMessage[]): void {
    if (this.mode === 'catchup') {
      if (this.heldOverflow) return;
      for (const m of messages) if (m.event.type === 'log') this.held.push(m);
      if (this.held.length > this.ctx.config.logs.max_pending) {
        this.held = [];
        this.heldOverflow = true;
      }
      return;
    }
    if (this.mode !== 'live' || this.dropped) return;
    for (const m of messages) {
      if (m.seq <= this.cursor) continue;
      if (m.event.type === 'log') this.pending.push(toRow(m.event));
      this.cursor = m.seq;
    }
    this.checkPending();
    this.arm();
  }

  private checkPending(): void {
    const cfg = this.ctx.config.logs;
    if (this.pending.length > cfg.max_pending) {
      // The database is not keeping up: memory stays bounded, and the event log has them.
      this.log.warn(
        { pending: this.pending.length, from: this.flushed },
        'logs: too many lines waiting for the database; they will be read again from the event log',
      );
      this.pending = [];
      this.cursor = this.flushed;
      this.dropped = true;
      return;
    }
    if (this.pending.length >= cfg.max_batch) void this.flush();
  }

  /**
   * Arms the next tick while rows wait or must be read again: an idle hub (no `log` events)
   * sets no timer at all.
   */
  private arm(): void {
    if (this.timer || this.closed || (this.pending.length === 0 && !this.dropped)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tick();
      this.arm();
    }, this.ctx.config.logs.flush_interval);
    this.timer.unref();
  }

  private tick(): void {
    if (this.pending.length > 0) void this.flush();
    else if (this.dropped && this.flushing === undefined && this.mode === 'live') {
      this.dropped = false;
      this.beginCatchup();
    }
  }

  /** Writes what waits, one transaction per `max_batch` rows; flushes run one at a time. */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    if (this.pending.length === 0 || !this.store) return Promise.resolve();
    const store = this.store;
    this.flushing = (async () => {
      try {
        while (this.pending.length > 0) {
          const max = this.ctx.config.logs.max_batch;
          const rows = this.pending.slice(0, max);
          // The position written: every event up to it is handled once these rows are in.
          const upTo =
            rows.length === this.pending.length ? this.cursor : rows[rows.length - 1]!.seq;
          await store.insert(rows, upTo);
          this.pending = this.pending.slice(rows.length);
          this.flushed = upTo;
        }
      } catch (err) {
        const now = Date.now();
        if (now - this.lastReport >= REPORT_EVERY_MS) {
          this.lastReport = now;
          this.log.error(
            { err, pending: this.pending.length },
            'logs: writing to the logs table failed; retrying (the lines stay in the event log)',
          );
        }
      } finally {
        this.flushing = undefined;
        // A failed write is retried on the next tick.
        this.arm();
      }
    })();
    return this.flushing;
  }

  private beginCatchup(): void {
    this.mode = 'catchup';
    this.held = [];
    this.heldOverflow = false;
    this.catchingUp = this.catchup()
      .catch((err: unknown) => {
        this.log.error({ err }, 'logs: reading the event log failed; retrying');
        this.dropped = true;
        this.mode = 'live';
      })
      .finally(() => {
        this.catchingUp = undefined;
        this.arm();
      });
  }

  /** Reads `log` events after `cursor` from the event log up to the bus head, then goes live. */
  private async catchup(): Promise<void> {
    let target = this.ctx.bus.head();
    for (;;) {
      while (this.cursor < target && !this.closed) {
        const events = await this.ctx.store.readEvents({
          since: this.cursor,
          until: target,
          type: 'log',
          limit: REPLAY_PAGE,
        });
        if (events.length === 0) break;
        for (const ev of events) this.pending.push(toRow(ev));
        this.cursor = events[events.length - 1]!.seq;
        const max = this.ctx.config.logs.max_batch;
        if (this.pending.length >= max) {
          await this.flush();
          if (this.pending.length >= max) {
            // The table takes no writes: stop reading into memory, try again on a later tick.
            this.pending = [];
            this.cursor = this.flushed;
            this.dropped = true;
            this.mode = 'live';
            return;
          }
        }
      }
      if (this.cursor < target) this.cursor = target;
      if (this.heldOverflow) {
        this.held = [];
        this.heldOverflow = false;
        target = this.ctx.bus.head();
        continue;
      }
      break;
    }
    const held = this.held;
    this.held = [];
    this.mode = 'live';
    this.onMessages(held);
    await this.flush();
  }
}
