import { Worker } from 'node:worker_threads';
import type { WardenEvent } from '@warden/protocol';
import type { SqliteWriter, WriteResult } from './sqlite-writer.js';

export type WriterRequest =
  | { id: number; op: 'append'; rows: AppendRows; receivedAt: number }
  | { id: number; op: 'delete'; cutoff: number }
  | { id: number; op: 'flush' }
  | { id: number; op: 'close' };

export type WriterReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** Where the writer thread appends commits besides the database (the Redis stream). */
export interface WriterStreamConfig {
  url: string;
  prefix: string;
  maxLen: number;
  maxBacklog: number;
}

/** What the writer thread is started with. */
export interface WriterData {
  file: string;
  stream?: WriterStreamConfig;
}

/** Unasked messages from the writer thread: the stream's state, and its log lines. */
export type WriterNotice =
  | { notice: 'stream'; problem: string | undefined }
  | {
      notice: 'log';
      level: 'debug' | 'info' | 'warn' | 'error';
      obj: object;
      msg: string;
    };

/** Options of {@link SqliteWriterThread.start}. */
export interface WriterThreadOptions {
  /** Append every commit to this Redis stream, from the writer thread. */
  stream?: WriterStreamConfig;
  /** Receives the thread's notices. */
  onNotice?: (notice: WriterNotice) => void;
}

/**
 * Events as they cross to the writer thread: one flat array of primitives,
 * `[id, type, agentId, ts, correlationId | null, dataJson, …]`. Cloning strings is much cheaper
 * than cloning event objects, and the thread needs the data JSON for the row anyway.
 */
export type AppendRows = Array<string | number | null>;
const ROW = 6;

export function toRows(events: readonly WardenEvent[], dataJson: readonly string[]): AppendRows {
  const rows: AppendRows = new Array<string | number | null>(events.length * ROW);
  for (let i = 0, j = 0; i < events.length; i++, j += ROW) {
    const e = events[i]!;
    rows[j] = e.id;
    rows[j + 1] = e.type;
    rows[j + 2] = e.agentId;
    rows[j + 3] = e.ts;
    rows[j + 4] = e.correlationId ?? null;
    rows[j + 5] = dataJson[i]!;
  }
  return rows;
}

/** The events and their data JSON back from rows (in the writer thread). */
export function fromRows(rows: AppendRows): { events: WardenEvent[]; dataJson: string[] } {
  const n = rows.length / ROW;
  const events = new Array<WardenEvent>(n);
  const dataJson = new Array<string>(n);
  for (let i = 0, j = 0; i < n; i++, j += ROW) {
    const json = rows[j + 5] as string;
    const e: Record<string, unknown> = {
      id: rows[j],
      type: rows[j + 1],
      agentId: rows[j + 2],
      ts: rows[j + 3],
      data: JSON.parse(json) as unknown,
    };
    if (rows[j + 4] !== null) e.correlationId = rows[j + 4];
    events[i] = e as unknown as WardenEvent;
    dataJson[i] = json;
  }
  return { events, dataJson };
}

/** The write side, wherever it runs. */
export interface WriterPort {
  readonly lastSeq: number;
  /** `dataJson[i]` is `JSON.stringify(events[i].data)`. */
  append(
    events: readonly WardenEvent[],
    dataJson: readonly string[],
    receivedAt: number,
  ): Promise<WriteResult[]>;
  deleteBefore(cutoff: number): Promise<number>;
  /** Writes lazily kept projections now (before they are read). */
  flushProjections(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The compiled worker script. Under vitest the sources are TypeScript, so the worker is taken
 * from the build output (`npm test` builds first).
 */
function workerUrl(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return new URL(
      here.replace('/src/store/sqlite-writer-thread.ts', '/dist/store/sqlite-writer-worker.js'),
    );
  }
  return new URL('./sqlite-writer-worker.js', here);
}

/** Runs `SqliteWriter` in a worker thread; requests are answered in the order sent. */
export class SqliteWriterThread implements WriterPort {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private failure: Error | undefined;
  lastSeq = 0;

  private constructor(file: string, options: WriterThreadOptions) {
    const data: WriterData = { file, ...(options.stream ? { stream: options.stream } : {}) };
    this.worker = new Worker(workerUrl(), { workerData: data });
    this.worker.on('message', (r: WriterReply | WriterNotice) => {
      if ('notice' in r) {
        options.onNotice?.(r);
        return;
      }
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(new Error(r.error));
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', (err) =>
      fail(new Error(`SQLite writer thread failed: ${err.message}`)),
    );
    this.worker.on('exit', (code) => fail(new Error(`SQLite writer thread exited (code ${code})`)));
  }

  static async start(file: string, options: WriterThreadOptions = {}): Promise<SqliteWriterThread> {
    const t = new SqliteWriterThread(file, options);
    t.lastSeq = (await t.call(0)) as number;
    return t;
  }

  private call(id: number, req?: WriterRequest): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (req) this.worker.postMessage(req);
    });
  }

  async append(
    events: readonly WardenEvent[],
    dataJson: readonly string[],
    receivedAt: number,
  ): Promise<WriteResult[]> {
    const id = this.nextId++;
    const rows = toRows(events, dataJson);
    const { seqs, dup } = (await this.call(id, { id, op: 'append', rows, receivedAt })) as {
      seqs: Float64Array;
      dup: Uint8Array;
    };
    const out: WriteResult[] = new Array<WriteResult>(seqs.length);
    for (let i = 0; i < seqs.length; i++) {
      out[i] = { seq: seqs[i]!, duplicate: dup[i] === 1 };
      if (dup[i] === 0 && seqs[i]! > this.lastSeq) this.lastSeq = seqs[i]!;
    }
    return out;
  }

  async deleteBefore(cutoff: number): Promise<number> {
    const id = this.nextId++;
    return (await this.call(id, { id, op: 'delete', cutoff })) as number;
  }

  async flushProjections(): Promise<void> {
    const id = this.nextId++;
    await this.call(id, { id, op: 'flush' });
  }

  async close(): Promise<void> {
    if (this.failure) return;
    const id = this.nextId++;
    await this.call(id, { id, op: 'close' });
    await this.worker.terminate();
  }
}

/** The same port on the caller's thread (for tools and tests that want no thread). */
export class InlineWriter implements WriterPort {
  constructor(private readonly writer: SqliteWriter) {}
  get lastSeq(): number {
    return this.writer.lastSeq;
  }
  append(
    events: readonly WardenEvent[],
    dataJson: readonly string[],
    receivedAt: number,
  ): Promise<WriteResult[]> {
    try {
      return Promise.resolve(this.writer.append(events, receivedAt, dataJson));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
  deleteBefore(cutoff: number): Promise<number> {
    return this.writer.deleteBefore(cutoff);
  }
  flushProjections(): Promise<void> {
    this.writer.flushAgents();
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.writer.close();
    return Promise.resolve();
  }
}
