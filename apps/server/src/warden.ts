import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { ProtocolLimits } from '@warden/protocol';
import { buildApp, type WardenApp } from './app.js';
import { LocalBus, type Bus } from './bus.js';
import { systemClock, type Clock } from './clock.js';
import type { ResolvedConfig } from './config.js';
import { ConfigError } from './errors.js';
import { createFeatures, featureList, type HubFeatures } from './features.js';
import type { HubContext } from './hub-context.js';
import { HubMetrics } from './hub-metrics.js';
import { Ingestor } from './ingestor.js';
import { RateMeter } from './rate-meter.js';
import { RedisStreamBus } from './redis-stream-bus.js';
import { RetentionJob } from './retention.js';
import { ensureSecret } from './secret.js';
import type { EventStore } from './store/event-store.js';
import { PgEventStore } from './store/pg-event-store.js';
import { SqliteEventStore } from './store/sqlite-event-store.js';
import { TaskQueueRuntime } from './task-queue-runtime.js';
import { TokenService } from './token-service.js';
import { WsHub } from './ws-hub.js';

export interface WardenOptions {
  config: ResolvedConfig;
  clock?: Clock;
  logger?: Logger;
  /** Write `<data-dir>/server.json` once listening. @defaultValue true */
  writeServerFile?: boolean;
}

/** A running (or ready to run) Warden hub. */
export interface Warden {
  app: WardenApp;
  ctx: HubContext;
  store: EventStore;
  retention: RetentionJob;
  /** The hub's logger (pino), for parts that run beside it (the in-process supervisor). */
  log: Logger;
  /** Listens on the configured host/port; resolves with the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export function limitsFromConfig(config: ResolvedConfig): ProtocolLimits {
  return {
    maxEventBytes: config.limits.max_event_bytes,
    maxBatchEvents: config.limits.max_batch_events,
    maxBatchBytes: config.limits.max_batch_bytes,
    maxFrameBytes: config.limits.max_frame_bytes,
    maxDepth: config.limits.max_depth,
  };
}

/**
 * Opens the store named by the config. On SQLite with Redis, the writer thread appends to the
 * stream (it holds every commit already, and idles between them).
 */
export function openStore(config: ResolvedConfig, log?: Logger): EventStore {
  const url = config.databaseUrl;
  if (url.startsWith('sqlite:')) {
    const redis = config.server.redis_url;
    return SqliteEventStore.fromUrl(url, {
      writerThread: config.ingest.writer_thread,
      ...(redis
        ? {
            stream: {
              url: redis,
              prefix: config.redis.prefix,
              maxLen: config.redis.stream_max_len,
              maxBacklog: config.redis.max_backlog,
            },
          }
        : {}),
      ...(log ? { log: log.child({ component: 'redis' }) } : {}),
    });
  }
  if (/^postgres(ql)?:\/\//.test(url)) return PgEventStore.fromUrl(url);
  throw new ConfigError(
    `server.database_url: ${JSON.stringify(url)} must start with sqlite: or postgres://`,
    'server.database_url',
  );
}

/** The in-process bus, or the Redis stream bus when `server.redis_url` is set. */
async function openBus(
  config: ResolvedConfig,
  store: EventStore,
  clock: Clock,
  log: Logger,
): Promise<Bus> {
  // The whole log's head: on a shared database other replicas may be ahead of this one.
  const head = await store.readHead();
  if (!config.server.redis_url) return new LocalBus(head);
  // SQLite has no other replica to read from, and its writer thread appends the stream.
  if (store instanceof SqliteEventStore && store.streamsToRedis) {
    return new LocalBus(head, () => store.streamProblem());
  }
  return RedisStreamBus.start({
    url: config.server.redis_url,
    prefix: config.redis.prefix,
    maxLen: config.redis.stream_max_len,
    gapTimeoutMs: config.redis.gap_timeout,
    maxBacklog: config.redis.max_backlog,
    readStream: !config.databaseUrl.startsWith('sqlite:'),
    head,
    readGap: (since, until) => store.readEvents({ since, until, limit: until - since }),
    readHead: () => store.readHead(),
    clock,
    log: log.child({ component: 'redis' }),
  });
}

export async function createWarden(opts: WardenOptions): Promise<Warden> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  const log =
    opts.logger ??
    pino({
      level: config.server.log_level,
      redact: ['req.headers.authorization', '*.token', '*.jwt_secret'],
    });
  // server.json lives here even when the secret and the database do not.
  mkdirSync(config.dataDir, { recursive: true });
  const secret = ensureSecret(config.dataDir, config.auth.jwt_secret);
  const tokens = new TokenService(secret, config.auth.clock_tolerance, () => clock.now());
  const limits = limitsFromConfig(config);

  const store = openStore(config, log);
  await store.migrate();
  const bus = await openBus(config, store, clock, log);
  const metrics = new HubMetrics();
  for (const a of await store.listAgents()) metrics.seedAgent(a.agentId, a.status);
  const rate = new RateMeter(clock);
  const ingestor = new Ingestor(store, bus, metrics, {
    maxGroupEvents: config.ingest.max_group_events,
    clock,
    onStored: (n) => rate.add(n),
    onCommitError: (err) =>
      log.error({ err }, 'commit failed; publishers were told nothing was stored'),
    onObserverError: (err) => log.error({ err }, 'a commit observer failed; the commit stands'),
  });
  const heartbeats = new Map<string, number>();
  const queue = new TaskQueueRuntime({
    databaseUrl: config.databaseUrl,
    config: config.queue,
    limits,
    clock,
    events: ingestor,
    bus,
    registry: metrics.registry,
    log,
  });
  const hub = new WsHub(
    {
      bus,
      store,
      ingestor,
      limits,
      clock,
      log,
      maxBufferedBytes: config.websocket.max_buffered_bytes,
      markSeen: (agentId, at) => heartbeats.set(agentId, at),
    },
    metrics,
    config.websocket.ping_interval,
  );
  const ctx: HubContext = {
    config,
    limits,
    clock,
    store,
    bus,
    ingestor,
    metrics,
    tokens,
    hub,
    rate,
    heartbeats,
    startedAt: clock.now(),
    queue: queue.queue,
    agentStates: queue.agentStates,
    // Set just below: the features are built on this very context.
    features: undefined as unknown as HubFeatures,
  };
  ctx.features = createFeatures(ctx, log);
  const features = featureList(ctx.features);
  const app = await buildApp(ctx, log);
  const retention = new RetentionJob(store, config.retention, clock, log, features);
  const serverFile = join(config.dataDir, 'server.json');
  let wroteServerFile = false;

  return {
    app,
    ctx,
    store,
    retention,
    log,
    async listen() {
      await app.listen({ host: config.server.host, port: config.server.port });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
      const host = config.server.host.includes(':')
        ? `[${config.server.host}]`
        : config.server.host;
      const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
      for (const f of features) await f.start?.();
      retention.start();
      queue.start();
      if (opts.writeServerFile !== false) {
        writeFileSync(serverFile, JSON.stringify({ url, pid: process.pid }) + '\n', {
          mode: 0o644,
        });
        wroteServerFile = true;
      }
      log.info(
        { url, database: config.databaseUrl.replace(/\/\/[^@/]*@/, '//***@') },
        'warden listening',
      );
      return url;
    },
    async close() {
      retention.stop();
      hub.close();
      await app.close();
      await queue.close();
      // Publishes accepted before the close still commit and reach the bus and the stream
      // (bounded: a store that hangs must not hold the shutdown forever).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ingestor.settle(), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
      // After the last commits, so each feature has seen every event it will see.
      for (const f of [...features].reverse()) {
        try {
          await f.close?.();
        } catch (err) {
          log.error({ err, feature: f.name }, 'closing a feature failed');
        }
      }
      await bus.close();
      await store.close();
      if (wroteServerFile) rmSync(serverFile, { force: true });
    },
  };
}
