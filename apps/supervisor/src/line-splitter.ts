/** Default cap on one captured line, in bytes (as Docker's log drivers split at 16 KiB). */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

/** Receives each line a {@link LineSplitter} cuts. */
export type LineListener = (line: string, partial: boolean) => void;

/**
 * Cuts a byte stream (an agent's stdout or stderr) into text lines.
 *
 * - Lines end at `\n`; a `\r` before it (CRLF) is dropped.
 * - A line longer than `maxLineBytes` is delivered in pieces of at most that many bytes,
 *   every piece but the last with `partial: true` (Docker's convention), so memory stays
 *   bounded by the cap however long a line runs and nothing is lost. A piece never ends
 *   inside a UTF-8 character.
 * - Bytes that are not valid UTF-8 become U+FFFD, and so does U+0000: PostgreSQL text and
 *   jsonb cannot hold it, and a log line must not be the reason an event is refused.
 * - {@link LineSplitter.flush} delivers a final line that never got its `\n` (the process
 *   exited mid-line).
 *
 * The common case — a chunk of whole lines — is decoded straight from the chunk without a
 * copy; only a line cut across chunks is buffered.
 */
export class LineSplitter {
  private pending: Buffer | undefined;
  private pendingLen = 0;

  /**
   * @param onLine called for each line, in order.
   * @param maxLineBytes cap on one delivered line, in bytes (at least 4, so a piece can hold
   *   any UTF-8 character). @defaultValue {@link DEFAULT_MAX_LINE_BYTES}
   */
  constructor(
    private readonly onLine: LineListener,
    readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES,
  ) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 4)
      throw new RangeError(`maxLineBytes must be an integer >= 4, got ${maxLineBytes}`);
  }

  /** Feeds one chunk of the stream. */
  push(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let start = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl === -1 ? buf.length : nl;
      if (nl !== -1 && this.pendingLen === 0 && end - start <= this.maxLineBytes) {
        this.emit(buf, start, end, false, true);
      } else {
        this.append(buf, start, end);
        if (nl !== -1) this.emitPending(true);
      }
      if (nl === -1) break;
      start = nl + 1;
    }
  }

  /** Delivers the unterminated last line, if any (call once the stream has ended). */
  flush(): void {
    if (this.pendingLen > 0) this.emitPending(true);
  }

  private append(buf: Buffer, start: number, end: number): void {
    const cap = this.maxLineBytes;
    while (start < end) {
      if (this.pendingLen === cap) this.cutFullPending();
      // The pending buffer is only allocated for a line cut across chunks.
      this.pending ??= Buffer.allocUnsafe(cap);
      const n = Math.min(end - start, cap - this.pendingLen);
      buf.copy(this.pending, this.pendingLen, start, start + n);
      this.pendingLen += n;
      start += n;
    }
  }

  /** The pending line reached the cap and more of it follows: deliver a partial piece. */
  private cutFullPending(): void {
    const pending = this.pending!;
    const cut = utf8Boundary(pending, this.pendingLen);
    this.emit(pending, 0, cut, true, false);
    pending.copy(pending, 0, cut, this.pendingLen);
    this.pendingLen -= cut;
  }

  private emitPending(complete: boolean): void {
    const len = this.pendingLen;
    this.pendingLen = 0;
    this.emit(this.pending ?? Buffer.alloc(0), 0, len, false, complete);
  }

  private emit(buf: Buffer, start: number, end: number, partial: boolean, complete: boolean): void {
    if (complete && end > start && buf[end - 1] === 0x0d) end--;
    let line = buf.toString('utf8', start, end);
    if (line.includes('\u0000')) line = line.replaceAll('\u0000', '\uFFFD');
    this.onLine(line, partial);
  }
}

/**
 * The largest cut point ≤ `len` that does not split a UTF-8 character: backs off over an
 * incomplete trailing sequence (at most 3 bytes). Invalid bytes are cut anywhere.
 */
function utf8Boundary(buf: Buffer, len: number): number {
  let i = len - 1;
  while (i > 0 && i > len - 4 && (buf[i]! & 0xc0) === 0x80) i--;
  const lead = buf[i]!;
  const size =
    lead < 0x80 ? 1 : lead >= 0xf0 && lead < 0xf8 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  const cut = i + size > len ? i : len;
  return cut > 0 ? cut : len;
}
