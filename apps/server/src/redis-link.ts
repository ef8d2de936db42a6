import { Redis } from 'ioredis';

/** The part of a logger the Redis code writes to (pino's Logger fits; so does a relay). */
export interface LinkLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Reconnect delays: 100 ms doubling to 5 s, ±20% jitter. */
function retryDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(attempt, 10), 5000);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * A Redis connection as Warden uses it: connected on demand, commands fail at once while
 * disconnected (the caller's backlog takes over instead of an unbounded offline queue), and
 * reconnects forever with backoff.
 */
export function createRedisClient(url: string, connectionName: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: retryDelay,
    connectionName,
  });
}

export interface RedisLinkOptions {
  now: () => number;
  log: LinkLog;
  /** Called once when the link goes down (any client), and once when every client is back. */
  onDown?: () => void;
  onUp?: () => void;
}

/**
 * The reachability of Redis over one or more clients, told once per outage: the first failure
 * logs a warning and starts the outage, the moment every client is ready again logs the
 * recovery; failures in between (one per command, per reconnect attempt) are counted silently.
 */
export class RedisLink {
  private downSince: number | undefined;
  private lastError = '';
  private closed = false;

  constructor(
    private readonly clients: readonly Redis[],
    private readonly opts: RedisLinkOptions,
  ) {
    for (const client of clients) {
      client.on('error', (err: Error) => this.markDown(err));
      client.on('close', () => this.markDown(new Error('connection closed')));
      client.on('ready', () => this.markUp());
    }
  }

  /** Connects every client; a Redis that is down is not an error here, only an outage. */
  async connect(): Promise<boolean> {
    try {
      await Promise.all(this.clients.map((c) => c.connect()));
      return true;
    } catch (err) {
      this.markDown(err as Error);
      return false;
    }
  }

  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** Why Redis cannot be used now (for /readyz), or undefined. */
  problem(): string | undefined {
    if (this.downSince === undefined) return undefined;
    const since = new Date(this.downSince).toISOString();
    return `redis unreachable since ${since}: ${this.lastError}`;
  }

  markDown(err: Error): void {
    if (this.closed) return;
    this.lastError = err.message || String(err);
    if (this.downSince !== undefined) return;
    this.downSince = this.opts.now();
    this.opts.log.warn(
      { err: this.lastError },
      'redis unreachable: ingest and local delivery go on; reconnecting with backoff',
    );
    this.opts.onDown?.();
  }

  private markUp(): void {
    if (this.closed || this.downSince === undefined) return;
    if (this.clients.some((c) => c.status !== 'ready')) return;
    const downMs = this.opts.now() - this.downSince;
    this.downSince = undefined;
    this.opts.log.info({ downMs }, 'redis reachable again: the stream catches up');
    this.opts.onUp?.();
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients) c.disconnect();
  }
}
