import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the sink received. */
export interface SinkRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json: unknown;
}

/** How the sink answers one request: a status (and body, headers), or `hang` (never answers). */
export type SinkReply =
  { status: number; body?: string; headers?: Record<string, string> } | 'hang';

/**
 * A real HTTP server on loopback that records every request and answers as the test says:
 * replies queued with {@link HttpSink.reply} go out in order, then `fallback` (200 by default).
 */
export class HttpSink {
  readonly requests: SinkRequest[] = [];
  /** Answer once the queued replies are used up. */
  fallback: SinkReply = { status: 200, body: 'ok' };
  private readonly replies: SinkReply[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private readonly server: Server;
  private waiters: (() => void)[] = [];

  private constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  static async start(): Promise<HttpSink> {
    const sink = new HttpSink();
    await new Promise<void>((resolve) => sink.server.listen(0, '127.0.0.1', resolve));
    return sink;
  }

  /** `http://127.0.0.1:PORT` + path. */
  url(path = '/hook'): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${path}`;
  }

  /** Queues replies for the next requests, in order. */
  reply(...replies: SinkReply[]): this {
    this.replies.push(...replies);
    return this;
  }

  /** Resolves once `count` requests have arrived. */
  async received(count: number, timeoutMs = 5000): Promise<SinkRequest[]> {
    const end = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      if (Date.now() > end)
        throw new Error(`expected ${count} requests, got ${this.requests.length}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.requests;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      this.requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json,
      });
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
      const reply = this.replies.shift() ?? this.fallback;
      if (reply === 'hang') {
        this.hanging.add(res);
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
      res.end(reply.body ?? '');
    });
  }
}
