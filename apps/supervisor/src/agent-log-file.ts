import {
  closeSync,
  createReadStream,
  createWriteStream,
  fchmodSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { AgentLogFileOptions } from './agent-log-file-config.js';

/** Lines held before a write; more than this is written at once. */
const MAX_BUFFER_BYTES = 64 * 1024;
/** After a failed open or write, further attempts (and reports) wait this long. */
const RETRY_AFTER_MS = 30_000;

/** A rotated file of this agent: when its last line was written, and a tie-breaker. */
interface Rotated {
  name: string;
  key: string;
  compressed: boolean;
}

function stamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2025-01-02T03:04:05.678Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * One agent's output on disk, like pm2's `~/.pm2/logs/<name>.log`: one line per captured
 * line, `<ISO time> <stream> <text>`, in a file created 0600 (output may hold secrets).
 *
 * Rotation: before a line that would take the file past `maxSizeBytes`, or that falls in a
 * later `rotateIntervalMs` period than the file's last line, the file is renamed to
 * `<name>.<YYYYMMDD-HHMMSS>` (the UTC time of its last line, `-N` added on a clash), gzipped
 * to `….gz` in the background when `compress` is on, and the oldest rotated files beyond
 * `maxFiles` are deleted. A rotated file whose compression was cut short by a crash is
 * compressed on the next rotation.
 *
 * Writes are synchronous and batched: lines of one tick (one chunk of a child's output) go
 * out in one `write`. A file that cannot be written (permissions, full disk) costs the lines
 * meanwhile, reported once per {@link RETRY_AFTER_MS}; the hub still gets them as `log` events.
 */
export class AgentLogFile {
  private fd: number | undefined;
  private size = 0;
  /** Time of the newest line in the live file (its mtime when opened). */
  private lastLineAt: number | undefined;
  private buffer: Array<{ ts: number; text: string }> = [];
  private bufferedBytes = 0;
  private flushScheduled = false;
  private failedAt: number | undefined;
  private closed = false;
  /** Compression and pruning, one pass after another. */
  private background: Promise<void> = Promise.resolve();
  private readonly dir: string;
  private readonly base: string;
  private readonly rotatedPattern: RegExp;

  constructor(
    readonly options: AgentLogFileOptions,
    private readonly onError: (err: Error, action: string) => void = () => undefined,
  ) {
    this.dir = dirname(options.path);
    this.base = basename(options.path);
    this.rotatedPattern = new RegExp(
      `^${escapeRegExp(this.base)}\\.(\\d{8}-\\d{6})(?:-(\\d+))?(\\.gz)?$`,
    );
  }

  /** Queues one output line (without its newline), written by the end of this tick. */
  write(ts: number, stream: 'stdout' | 'stderr', line: string): void {
    if (this.closed) return;
    const text = `${new Date(ts).toISOString()} ${stream} ${line}\n`;
    this.buffer.push({ ts, text });
    this.bufferedBytes += text.length;
    if (this.bufferedBytes >= MAX_BUFFER_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /** Writes the queued lines now, rotating on the way as needed. */
  flush(): void {
    const lines = this.buffer;
    if (lines.length === 0) return;
    this.buffer = [];
    this.bufferedBytes = 0;
    const now = lines[lines.length - 1]!.ts;
    if (this.failedAt !== undefined && now - this.failedAt < RETRY_AFTER_MS) return;
    try {
      let chunk = '';
      let chunkBytes = 0;
      for (const { ts, text } of lines) {
        const bytes = Buffer.byteLength(text);
        this.open();
        if (this.needsRotation(ts, chunkBytes, bytes)) {
          this.writeOut(chunk, chunkBytes);
          chunk = '';
          chunkBytes = 0;
          this.rotate();
          this.open();
        }
        chunk += text;
        chunkBytes += bytes;
        this.lastLineAt = ts;
      }
      this.writeOut(chunk, chunkBytes);
      this.failedAt = undefined;
    } catch (err) {
      this.failedAt = now;
      this.closeFd();
      this.onError(err as Error, `writing ${this.options.path}`);
    }
  }

  /** Writes what is queued, closes the file and waits for compression in progress. */
  async close(): Promise<void> {
    if (this.closed) return this.background;
    this.flush();
    this.closed = true;
    this.closeFd();
    await this.background;
  }

  /** Resolves once queued lines are written and background compression has finished. */
  async idle(): Promise<void> {
    this.flush();
    await this.background;
  }

  private open(): void {
    if (this.fd !== undefined) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const fd = openSync(this.options.path, 'a', 0o600);
    try {
      // A file made by someone else (or before a umask change) is tightened too.
      fchmodSync(fd, 0o600);
      const st = fstatSync(fd);
      this.size = st.size;
      this.lastLineAt = st.size > 0 ? st.mtimeMs : undefined;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.fd = fd;
  }

  /** Whether `bytes` more, after `pendingBytes` not yet written, need a fresh file first. */
  private needsRotation(ts: number, pendingBytes: number, bytes: number): boolean {
    const filled = this.size + pendingBytes;
    if (filled === 0) return false;
    if (filled + bytes > this.options.maxSizeBytes) return true;
    const every = this.options.rotateIntervalMs;
    return (
      every > 0 &&
      this.lastLineAt !== undefined &&
      Math.floor(ts / every) > Math.floor(this.lastLineAt / every)
    );
  }

  private writeOut(chunk: string, bytes: number): void {
    if (bytes === 0 || this.fd === undefined) return;
    const buf = Buffer.from(chunk);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.size += bytes;
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already gone; nothing to give back.
    }
    this.fd = undefined;
  }

  private rotate(): void {
    const at = stamp(this.lastLineAt ?? Date.now());
    this.closeFd();
    const taken = new Set(readdirSync(this.dir));
    let name = `${this.base}.${at}`;
    for (let n = 1; taken.has(name) || taken.has(`${name}.gz`); n++) {
      name = `${this.base}.${at}-${n}`;
    }
    renameSync(this.options.path, join(this.dir, name));
    this.size = 0;
    this.lastLineAt = undefined;
    this.background = this.background.then(() => this.afterRotation());
  }

  /** Compresses rotated files not yet compressed, then deletes the oldest beyond the cap. */
  private async afterRotation(): Promise<void> {
    try {
      if (this.options.compress) {
        for (const r of this.listRotated()) {
          if (r.compressed) continue;
          const src = join(this.dir, r.name);
          const tmp = `${src}.gz.tmp`;
          await pipeline(
            createReadStream(src),
            createGzip(),
            createWriteStream(tmp, { mode: 0o600 }),
          );
          renameSync(tmp, `${src}.gz`);
          rmSync(src, { force: true });
        }
      }
      const rotated = this.listRotated();
      for (const r of rotated.slice(0, Math.max(0, rotated.length - this.options.maxFiles))) {
        rmSync(join(this.dir, r.name), { force: true });
      }
    } catch (err) {
      this.onError(err as Error, `rotating ${this.options.path}`);
    }
  }

  /** This agent's rotated files, oldest first; a file both plain and gzipped counts once. */
  private listRotated(): Rotated[] {
    const byKey = new Map<string, Rotated>();
    for (const name of readdirSync(this.dir)) {
      if (name.endsWith('.gz.tmp') && name.startsWith(`${this.base}.`)) {
        rmSync(join(this.dir, name), { force: true }); // a compression cut short
        continue;
      }
      const m = this.rotatedPattern.exec(name);
      if (!m) continue;
      const key = `${m[1]}-${(m[2] ?? '0').padStart(6, '0')}`;
      const r: Rotated = { name, key, compressed: m[3] !== undefined };
      const prev = byKey.get(key);
      if (prev?.compressed) {
        // The gzip was made and the plain copy outlived a crash: drop it.
        if (!r.compressed) rmSync(join(this.dir, name), { force: true });
        continue;
      }
      if (prev && r.compressed) rmSync(join(this.dir, prev.name), { force: true });
      byKey.set(key, r);
    }
    return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
