import { closeSync, fdatasyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { WardenEvent } from '@warden/protocol';
import { WardenSdkError } from './errors.js';
import type { Spool } from './spool.js';

/** Options of {@link FileSpool.open}. */
export interface FileSpoolOptions {
  /**
   * fdatasync after every write: events survive a power cut too, at a cost per publish.
   * Without it they survive a crash or kill of the agent (the OS has them). @defaultValue false
   */
  sync?: boolean;
  /** Rewrite the file once this many acked lines have piled up. @defaultValue 10000 */
  compactAfter?: number;
}

/**
 * An append-only JSON-lines file of the outbox (mode 0600): `{"e":event}` when queued,
 * `{"a":[ids]}` when acked. Opening it reads what an earlier run left unacked; it is rewritten
 * without acked events now and then. A torn last line (a crash mid-write) is ignored.
 */
export class FileSpool implements Spool {
  private fd: number;
  private readonly live = new Map<string, WardenEvent>();
  private ackedLines = 0;

  private constructor(
    readonly path: string,
    private readonly opts: FileSpoolOptions,
  ) {
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new WardenSdkError(
          'spool_failed',
          `cannot read spool ${path}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let rec: { e?: WardenEvent; a?: string[] };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        continue; // torn write
      }
      if (rec.e && typeof rec.e.id === 'string') this.live.set(rec.e.id, rec.e);
      if (Array.isArray(rec.a)) for (const id of rec.a) this.live.delete(id);
    }
    this.fd = openSync(path, 'a', 0o600);
    this.compact();
  }

  /** Opens (or creates) the spool file. */
  static open(path: string, opts: FileSpoolOptions = {}): FileSpool {
    return new FileSpool(path, opts);
  }

  load(): WardenEvent[] {
    return [...this.live.values()];
  }

  append(event: WardenEvent): void {
    this.live.set(event.id, event);
    this.write(`{"e":${JSON.stringify(event)}}\n`);
  }

  ack(ids: readonly string[]): void {
    if (ids.length === 0) return;
    let any = false;
    for (const id of ids) any = this.live.delete(id) || any;
    if (!any) return;
    this.write(`{"a":${JSON.stringify(ids)}}\n`);
    this.ackedLines += ids.length;
    if (this.ackedLines >= (this.opts.compactAfter ?? 10_000)) this.compact();
  }

  /** Unacked events in the file. */
  size(): number {
    return this.live.size;
  }

  private write(line: string): void {
    try {
      writeSync(this.fd, line);
      if (this.opts.sync) fdatasyncSync(this.fd);
    } catch (err) {
      throw new WardenSdkError(
        'spool_failed',
        `cannot write spool ${this.path}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  /** Rewrites the file with the live events only (write aside, then rename). */
  private compact(): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      let chunk = '';
      for (const e of this.live.values()) {
        chunk += `{"e":${JSON.stringify(e)}}\n`;
        if (chunk.length > 1 << 20) {
          writeSync(fd, chunk);
          chunk = '';
        }
      }
      if (chunk) writeSync(fd, chunk);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a', 0o600);
    this.ackedLines = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}
