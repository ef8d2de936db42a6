import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import type { StoredEvent, WardenEvent } from '@warden/protocol';
import type { AppendResult, EventStore } from './event-store.js';
import { createMigrationProvider } from './migrations.js';
import { ReadModel } from './read-model.js';
import { ReadModelStore } from './read-model-store.js';
import type { Database } from './schema.js';
import { SqliteWriter, openSqlite } from './sqlite-writer.js';
import type { LinkLog } from '../redis-link.js';
import {
  InlineWriter,
  SqliteWriterThread,
  type WriterPort,
  type WriterStreamConfig,
} from './sqlite-writer-thread.js';

/** Options of {@link SqliteEventStore}. */
export interface SqliteStoreOptions {
  /** Run inserts and fsyncs in a worker thread, off the event loop. @defaultValue true */
  writerThread?: boolean;
  /**
   * Append every commit to this Redis stream from the writer thread (only with the writer
   * thread; see {@link SqliteEventStore.streamsToRedis}).
   */
  stream?: WriterStreamConfig;
  /** Where the writer thread's stream log lines go. */
  log?: LinkLog;
}

type Db = BetterSqlite3.Database;

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
 * disk before the ack. Writes go through prepared statements on one connection in a writer
 * thread (group commit: the caller hands in many events, they land in one transaction and one
 * fsync); reads go through Kysely on a second connection on the caller's thread.
 */
export class SqliteEventStore extends ReadModelStore implements EventStore {
  private writer!: WriterPort;
  private readerDb!: Db;
  private kysely!: Kysely<Database>;
  protected reads!: ReadModel;

  private streamState: { problem: string | undefined } | undefined;

  constructor(
    readonly file: string,
    private readonly options: SqliteStoreOptions = {},
  ) {
    super();
  }

  /** Opens `sqlite:PATH` URLs. */
  static fromUrl(url: string, options: SqliteStoreOptions = {}): SqliteEventStore {
    return new SqliteEventStore(url.replace(/^sqlite:(\/\/)?/, ''), options);
  }

  async migrate(): Promise<void> {
    if (this.file !== ':memory:') mkdirSync(dirname(this.file), { recursive: true });
    // auto_vacuum only takes effect when set before the first table exists.
    const migrationDb = new BetterSqlite3(this.file);
    migrationDb.pragma('auto_vacuum = INCREMENTAL');
    migrationDb.pragma('journal_mode = WAL');
    const migrationKysely = new Kysely<Database>({
      dialect: new SqliteDialect({ database: migrationDb }),
    });
    const { error, results } = await new Migrator({
      db: migrationKysely,
      provider: createMigrationProvider('sqlite'),
    }).migrateToLatest();
    await migrationKysely.destroy();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`migration ${failed} failed: ${(error as Error).message}`, { cause: error });
    }

    const inline = this.options.writerThread === false || this.file === ':memory:';
    const stream = inline ? undefined : this.options.stream;
    // Not ready until the thread has tried Redis once (bounded: a Redis that does not answer
    // must not hold the start; it is reported as connecting).
    if (stream) this.streamState = { problem: 'redis: connecting' };
    let firstState: (() => void) | undefined;
    const tried = new Promise<void>((resolve) => (firstState = resolve));
    const log = this.options.log;
    this.writer = inline
      ? new InlineWriter(new SqliteWriter(this.file))
      : await SqliteWriterThread.start(this.file, {
          ...(stream ? { stream } : {}),
          onNotice: (n) => {
            if (n.notice === 'stream') {
              this.streamState!.problem = n.problem;
              firstState?.();
            } else log?.[n.level](n.obj, n.msg);
          },
        });
    if (stream) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([tried, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
    }
    this.readerDb = openSqlite(this.file);
    this.kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: this.readerDb }) });
    this.reads = new ReadModel(this.kysely);
  }

  async append(events: readonly WardenEvent[], receivedAt: number): Promise<AppendResult[]> {
    // `data` is serialised once, here: the row stores it, and frames and the Redis stream reuse it.
    const dataJson = events.map((e) => JSON.stringify(e.data));
    const written = await this.writer.append(events, dataJson, receivedAt);
    const results: AppendResult[] = new Array<AppendResult>(written.length);
    for (let i = 0; i < written.length; i++) {
      const w = written[i]!;
      if (w.duplicate) {
        results[i] = w;
        continue;
      }
      const stored = { seq: w.seq, receivedAt, ...events[i]! } as StoredEvent;
      results[i] = { seq: w.seq, duplicate: false, stored, dataJson: dataJson[i]! };
    }
    return results;
  }

  head(): number {
    return this.writer.lastSeq;
  }

  /**
   * True when the writer thread appends every commit to the Redis stream (asked for with
   * `stream`, and there is a writer thread): the bus then has no stream work to do.
   */
  get streamsToRedis(): boolean {
    return this.streamState !== undefined;
  }

  /** Why the writer thread cannot reach the Redis stream now, or undefined. */
  streamProblem(): string | undefined {
    return this.streamState?.problem;
  }

  /** One writer per file: what it last committed is the head. */
  readHead(): Promise<number> {
    return Promise.resolve(this.writer.lastSeq);
  }

  protected override flushProjections(): Promise<void> {
    return this.writer.flushProjections();
  }

  deleteEventsBefore(cutoff: number): Promise<number> {
    return this.writer.deleteBefore(cutoff);
  }

  /** A pragma's value as the store's connections see it (for checks and tests). */
  pragma(name: string): unknown {
    return this.readerDb.pragma(name, { simple: true });
  }

  /** Pages in the file and pages on the free list (to show that space is given back). */
  fileStats(): { pageCount: number; freePages: number; pageSize: number } {
    return {
      pageCount: this.readerDb.pragma('page_count', { simple: true }) as number,
      freePages: this.readerDb.pragma('freelist_count', { simple: true }) as number,
      pageSize: this.readerDb.pragma('page_size', { simple: true }) as number,
    };
  }

  ping(): Promise<void> {
    return this.reads.ping();
  }

  async close(): Promise<void> {
    await this.writer?.close();
    await this.kysely?.destroy();
  }
}
