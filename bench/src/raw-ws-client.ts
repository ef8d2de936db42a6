import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** Called for every complete text or binary message: the payload is `buf[start, end)`. */
export type FrameHandler = (buf: Buffer, start: number, end: number) => void;

export interface RawWsOptions {
  port: number;
  path: string;
  headers?: Record<string, string>;
  onMessage: FrameHandler;
  /** Called after every chunk read from the socket, once its messages were handled. */
  onChunkEnd?: () => void;
  /** Called once when the server closes (close frame or TCP end). */
  onClose?: (code: number) => void;
}

/** Every socket reads into this one buffer; a read is fully handled before the next one. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/**
 * A deliberately small WebSocket client for load generation (RFC 6455, loopback only). The same
 * client drives every server under test, so a delivery costs the generator the same whichever
 * server sent it, and that cost is a fraction of a full client's: frames are scanned in place
 * (no copy, no event per frame), and outgoing frames use the all-zero masking key, which
 * servers accept and which makes masking a no-op. Pings are answered; fragmented messages are
 * not expected from the servers under test and are counted as protocol errors.
 */
export class RawWsClient {
  closed = false;
  closeCode = 0;
  protocolErrors = 0;
  private rest: Buffer | undefined;

  private constructor(
    readonly socket: Socket,
    private readonly opts: RawWsOptions,
  ) {}

  static open(opts: RawWsOptions, timeoutMs = 10_000): Promise<RawWsClient> {
    return new Promise((resolve, reject) => {
      let client: RawWsClient | undefined;
      let head = Buffer.alloc(0);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const onHandshakeData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const endOfHead = head.indexOf('\r\n\r\n');
        if (endOfHead < 0) return;
        clearTimeout(timer);
        const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(status)) {
          fail(new Error(`upgrade refused: ${status}`));
          return;
        }
        const c = new RawWsClient(socket, opts);
        client = c;
        socket.off('error', fail);
        socket.on('error', () => c.markClosed(1006));
        socket.on('close', () => c.markClosed(1006));
        resolve(c);
        const leftover = head.subarray(endOfHead + 4);
        if (leftover.length > 0) c.onData(leftover, true);
      };
      // Reads land in one shared buffer and go straight to the frame scanner: no stream
      // machinery and no allocation per read, which is most of a receiver's cost.
      const socket = connect({
        host: '127.0.0.1',
        port: opts.port,
        onread: {
          buffer: READ_BUFFER,
          callback: (nread: number, buf: Uint8Array) => {
            const chunk = (buf as Buffer).subarray(0, nread);
            if (client) client.onData(chunk, false);
            else onHandshakeData(chunk);
            return true;
          },
        },
      });
      socket.setNoDelay(true);
      const timer = setTimeout(
        () => fail(new Error(`WebSocket handshake to ${opts.path} timed out`)),
        timeoutMs,
      );
      socket.once('error', fail);
      socket.once('connect', () => {
        let req =
          `GET ${opts.path} HTTP/1.1\r\nHost: 127.0.0.1:${opts.port}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n`;
        for (const [k, v] of Object.entries(opts.headers ?? {})) req += `${k}: ${v}\r\n`;
        socket.write(req + '\r\n');
      });
    });
  }

  private markClosed(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCode = code;
    this.opts.onClose?.(code);
  }

  /** `owned`: the chunk is ours to keep; otherwise it is the shared read buffer. */
  private onData(chunk: Buffer, owned: boolean): void {
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    let i = 0;
    const n = buf.length;
    while (n - i >= 2) {
      const b0 = buf[i]!;
      const b1 = buf[i + 1]!;
      let len = b1 & 0x7f;
      let p = i + 2;
      if (len === 126) {
        if (n - i < 4) break;
        len = buf.readUInt16BE(i + 2);
        p = i + 4;
      } else if (len === 127) {
        if (n - i < 10) break;
        len = buf.readUInt32BE(i + 2) * 2 ** 32 + buf.readUInt32BE(i + 6);
        p = i + 10;
      }
      if (b1 & 0x80) p += 4; // servers do not mask, but skip a key if one is there
      if (n < p + len) break;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x80) === 0 || opcode === 0) {
        this.protocolErrors++;
      } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
        this.opts.onMessage(buf, p, p + len);
      } else if (opcode === OP_PING) {
        this.writeFrame(OP_PONG, buf.subarray(p, p + len));
      } else if (opcode === OP_CLOSE) {
        const code = len >= 2 ? buf.readUInt16BE(p) : 1005;
        this.markClosed(code);
        this.socket.end();
        return;
      }
      i = p + len;
    }
    if (i < n) {
      // A partial frame waits for the next read; the shared read buffer is about to be reused.
      this.rest = owned || buf !== chunk ? buf.subarray(i) : Buffer.from(buf.subarray(i));
    }
    this.opts.onChunkEnd?.();
  }

  private writeFrame(opcode: number, payload: Buffer): void {
    const len = payload.length;
    const header = len < 126 ? 6 : len < 65536 ? 8 : 14;
    const frame = Buffer.allocUnsafe(header + len);
    frame[0] = 0x80 | opcode;
    if (len < 126) {
      frame[1] = 0x80 | len;
    } else if (len < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(len, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
      frame.writeUInt32BE(len >>> 0, 6);
    }
    // All-zero masking key: the masked payload equals the payload.
    frame.writeUInt32BE(0, header - 4);
    payload.copy(frame, header);
    if (!this.closed) this.socket.write(frame);
  }

  sendText(text: string): void {
    this.writeFrame(OP_TEXT, Buffer.from(text, 'utf8'));
  }

  /** Buffers writes until `uncork`, so a burst of frames leaves in one system call. */
  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  close(): void {
    if (!this.closed) {
      const code = Buffer.allocUnsafe(2);
      code.writeUInt16BE(1000, 0);
      this.writeFrame(OP_CLOSE, code);
    }
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Reads a non-negative decimal number (digits and one '.') at `buf[i]`. */
export function readNumber(buf: Buffer, i: number): number {
  let v = 0;
  let c = buf[i]!;
  while (c >= 48 && c <= 57) {
    v = v * 10 + (c - 48);
    c = buf[++i]!;
  }
  if (c === 46) {
    let scale = 0.1;
    c = buf[++i]!;
    while (c >= 48 && c <= 57) {
      v += (c - 48) * scale;
      scale /= 10;
      c = buf[++i]!;
    }
  }
  return v;
}

/** Finds `needle` in `buf[start, end)` and returns the index just past it, or -1. */
export function after(buf: Buffer, needle: Buffer, start: number, end: number): number {
  // Bounded: an unbounded indexOf would scan every later frame of the chunk on a miss.
  const at = buf.subarray(start, end).indexOf(needle);
  return at < 0 ? -1 : start + at + needle.length;
}
