import { Worker } from 'node:worker_threads';
import type { WardenEvent } from '@warden/protocol';
import type { SqliteWriter, WriteResult } from './sqlite-writer.js';

export type WriterRequest =
  | { id: number; op: 'append'; events: readonly WardenEvent[]; receivedAt: number }
  | { id: number; op: 'delete'; cutoff: number }
  | { id: number; op: 'flush' }
  | { id: number; op: 'close' };

export type WriterReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** The write side, wherever it runs. */
export interface WriterPort {
  readonly lastSeq: number;
  append(events: readonly WardenEvent[], receivedAt: number): Promise<WriteResult[]>;
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

  private constructor(file: string) {
    this.worker = new Worker(workerUrl(), { workerData: { file } });
    this.worker.on('message', (r: WriterReply) => {
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

  static async start(file: string): Promise<SqliteWriterThread> {
    const t = new SqliteWriterThread(file);
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

  async append(events: readonly WardenEvent[], receivedAt: number): Promise<WriteResult[]> {
    const id = this.nextId++;
    const { seqs, dup } = (await this.call(id, { id, op: 'append', events, receivedAt })) as {
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
  append(events: readonly WardenEvent[], receivedAt: number): Promise<WriteResult[]> {
    try {
      return Promise.resolve(this.writer.append(events, receivedAt));
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
