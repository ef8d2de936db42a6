import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { BytesSchema, DurationSchema } from '@warden/protocol';
import {
  AgentsConfigSchema,
  MonitoringConfigSchema,
  PluginsConfigSchema,
} from '@warden/supervisor';
import { AlertsConfigSchema } from './alerts/alerts-config.js';
import { ErrorPatternsConfigSchema } from './error-groups/errors-config.js';
import { ConfigError } from './errors.js';
import { LogsConfigSchema } from './logs/logs-config.js';
import { MetricsConfigSchema } from './metrics/metrics-config.js';
import { QueueConfigSchema } from './queue-config.js';

// zod 4: `.prefault` parses the default like an input (`.default` would skip parsing).
const d = (v: string) => DurationSchema.prefault(v);
const b = (v: string) => BytesSchema.prefault(v);

/** `server:` — where and how the hub listens and stores. */
export const ServerConfigSchema = z.strictObject({
  /** Interface to listen on. @defaultValue "127.0.0.1" */
  host: z.string().min(1).default('127.0.0.1'),
  /** TCP port for API, WebSocket and dashboard. @defaultValue 7070 */
  port: z.number().int().min(0).max(65535).default(7070),
  /** Folder for the SQLite database, the generated secret and server.json. @defaultValue "./.warden" */
  data_dir: z.string().min(1).default('./.warden'),
  /** `sqlite:PATH` or `postgres://…`. @defaultValue "sqlite:<data_dir>/warden.db" */
  database_url: z.string().min(1).optional(),
  /** Redis for the cross-replica event stream (issue 3). @defaultValue none */
  redis_url: z.string().min(1).optional(),
  /** Folder of the built dashboard served at `/`. @defaultValue apps/dashboard/dist */
  dashboard_dir: z.string().min(1).optional(),
  /** Serve /metrics without a token. @defaultValue false */
  metrics_public: z.boolean().default(false),
  /** pino log level. @defaultValue "info" */
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** `auth:` */
export const AuthConfigSchema = z.strictObject({
  /** HS256 secret; generated into <data_dir>/secret (0600) when absent. @defaultValue none */
  jwt_secret: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Leeway for exp/nbf checks, at most 30 s. @defaultValue 30s */
  clock_tolerance: d('30s').refine((ms) => ms <= 30_000, 'must be at most 30s'),
  /** How long a dashboard sign-in lasts (until sign-out or this). @defaultValue 7d */
  session_ttl: d('7d').refine((ms) => ms >= 60_000, 'must be at least 1m'),
  /** How long a one-time login link (`warden open`) can be used. @defaultValue 1h */
  login_link_ttl: d('1h').refine(
    (ms) => ms >= 10_000 && ms <= 7 * 86_400_000,
    'must be between 10s and 7d',
  ),
});

/** `limits:` — sizes of SPEC §3 and §5. */
export const LimitsConfigSchema = z.strictObject({
  /** @defaultValue 64KiB */
  max_event_bytes: b('64KiB'),
  /** @defaultValue 1000 */
  max_batch_events: z.number().int().min(1).max(100_000).default(1000),
  /** @defaultValue 1MiB */
  max_batch_bytes: b('1MiB'),
  /** @defaultValue 2MiB */
  max_frame_bytes: b('2MiB'),
  /** Deepest nesting inside an event's data. @defaultValue 32 */
  max_depth: z.number().int().min(1).max(256).default(32),
});

/** `websocket:` */
export const WebSocketConfigSchema = z.strictObject({
  /** Server ping interval; a peer that misses one is dropped. @defaultValue 30s */
  ping_interval: d('30s'),
  /** Unsent bytes after which a live subscriber is closed with 4008. @defaultValue 4MiB */
  max_buffered_bytes: b('4MiB'),
});

/** `ingest:` */
export const IngestConfigSchema = z.strictObject({
  /** Most events committed in one transaction by the group committer. @defaultValue 5000 */
  max_group_events: z.number().int().min(1).max(100_000).default(5000),
  /**
   * SQLite only: write in a dedicated thread (higher peak ingest; the event loop never waits
   * on the disk) or on the main thread (less CPU per event, lower latency at moderate rates
   * on a machine with few cores). See bench/RESULTS.md. @defaultValue true
   */
  writer_thread: z.boolean().default(true),
});

/** `retention:` — SPEC §7, enforced by a scheduled job. */
export const RetentionConfigSchema = z.strictObject({
  /** Event log. @defaultValue 7d */
  events: d('7d'),
  /** Raw metric samples. @defaultValue 1d */
  metrics_raw: d('1d'),
  /** 1-minute rollups. @defaultValue 30d */
  metrics_1m: d('30d'),
  /** 1-hour rollups. @defaultValue 1y */
  metrics_1h: d('1y'),
  /** Logs by age. @defaultValue 7d */
  logs: d('7d'),
  /** Logs by size. @defaultValue 1GiB */
  logs_max_bytes: b('1GiB'),
  /** How often the job runs. @defaultValue 1h */
  interval: d('1h'),
});

/** `redis:` — the cross-replica event stream (SPEC §7), used when `server.redis_url` is set. */
export const RedisConfigSchema = z.strictObject({
  /** Prefix of every key Warden writes; the stream is `<prefix>events`. @defaultValue "warden:" */
  prefix: z.string().max(200).default('warden:'),
  /** Stream length kept, trimmed approximately (`MAXLEN ~`). @defaultValue 1000000 */
  stream_max_len: z.number().int().min(1000).max(1_000_000_000).default(1_000_000),
  /**
   * How long a replica waits for a missing lower seq to arrive through the stream before it
   * reads it from the database instead. @defaultValue 50ms
   */
  gap_timeout: d('50ms'),
  /** Own events kept in memory while Redis is down; older ones are re-read from the database. @defaultValue 100000 */
  max_backlog: z.number().int().min(1).max(10_000_000).default(100_000),
});

/** The whole YAML file. Later parts add their sections (agents, monitoring, alerts). */
export const WardenConfigSchema = z.strictObject({
  server: ServerConfigSchema.prefault({}),
  auth: AuthConfigSchema.prefault({}),
  limits: LimitsConfigSchema.prefault({}),
  websocket: WebSocketConfigSchema.prefault({}),
  ingest: IngestConfigSchema.prefault({}),
  retention: RetentionConfigSchema.prefault({}),
  redis: RedisConfigSchema.prefault({}),
  /** The task queue (SPEC §12 "Queue"): attempts, lease lengths, expiry sweep. */
  queue: QueueConfigSchema.prefault({}),
  /** Supervised agents (SPEC §9); `warden serve` supervises them in-process. @defaultValue [] */
  agents: AgentsConfigSchema.default([]),
  /** Defaults for every agent's checks and recovery (SPEC §9). */
  monitoring: MonitoringConfigSchema.prefault({}),
  /** Supervisor plugins: health checks, strategies, notifiers (ESM files in `dir`). */
  plugins: PluginsConfigSchema.prefault({}),
  /** Metrics history and the /metrics export. */
  metrics: MetricsConfigSchema.prefault({}),
  /** Alert rules, receivers, grouping and escalation (SPEC §10). */
  alerts: AlertsConfigSchema.prefault({}),
  /** Error grouping and retry strategies per error pattern. */
  errors: ErrorPatternsConfigSchema.prefault({}),
  /** Central log storage and per-agent log files. */
  logs: LogsConfigSchema.prefault({}),
});

export type WardenConfig = z.output<typeof WardenConfigSchema>;

/** Command-line flags shared by `serve` and `token`; each has an env twin. */
export interface ConfigFlags {
  config?: string;
  host?: string;
  port?: string | number;
  dataDir?: string;
  databaseUrl?: string;
  redisUrl?: string;
}

/** A loaded config with resolved paths and the file it came from. */
export interface ResolvedConfig extends WardenConfig {
  /** Absolute data folder. */
  dataDir: string;
  /** Database URL with the default filled in. */
  databaseUrl: string;
  /** Config file read, if any. */
  configFile: string | undefined;
}

function formatIssues(error: z.ZodError, file: string | undefined): string {
  const where = file ? ` in ${file}` : '';
  return error.issues
    .map((i) => {
      const key = i.path.map(String).join('.');
      if (i.code === 'unrecognized_keys') {
        const keys = i.keys.map((k) => (key ? `${key}.${k}` : k));
        return `unknown key ${keys.join(', ')}${where}`;
      }
      return `${key || '(root)'}: ${i.message}${where}`;
    })
    .join('\n');
}

/** Parses and validates a config object (already read from YAML). */
export function parseConfig(raw: unknown, file?: string): WardenConfig {
  const result = WardenConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const first = result.error.issues[0];
    throw new ConfigError(formatIssues(result.error, file), first?.path.map(String).join('.'));
  }
  return result.data;
}

function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`invalid YAML in ${file}: ${doc.errors[0]!.message}`);
  }
  return doc.toJS() as unknown;
}

/**
 * Loads the config: flag > env > config file > default (SPEC §2). The file is `--config`,
 * else `WARDEN_CONFIG`, else `./warden.yaml` when present. Throws ConfigError naming the key.
 */
export function loadConfig(
  flags: ConfigFlags = {},
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): ResolvedConfig {
  const named = flags.config ?? env.WARDEN_CONFIG;
  let file: string | undefined;
  if (named) {
    file = resolve(cwd, named);
    if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  } else if (existsSync(resolve(cwd, 'warden.yaml'))) {
    file = resolve(cwd, 'warden.yaml');
  }
  const raw = file ? readYaml(file) : {};
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError(`config file ${file} must hold a YAML mapping at the top level`);
  }
  const config = parseConfig(raw, file);

  const pick = (flag: string | number | undefined, envName: string): string | undefined => {
    if (flag !== undefined && flag !== '') return String(flag);
    const v = env[envName];
    return v !== undefined && v !== '' ? v : undefined;
  };
  const host = pick(flags.host, 'WARDEN_HOST');
  if (host) config.server.host = host;
  const port = pick(flags.port, 'WARDEN_PORT');
  if (port !== undefined) {
    const n = Number(port);
    if (!/^\d+$/.test(port) || n > 65535) {
      throw new ConfigError(
        `server.port: ${JSON.stringify(port)} is not a port (0–65535)`,
        'server.port',
      );
    }
    config.server.port = n;
  }
  const dataDir = pick(flags.dataDir, 'WARDEN_DATA_DIR');
  if (dataDir) config.server.data_dir = dataDir;
  const dbUrl = pick(flags.databaseUrl, 'WARDEN_DATABASE_URL');
  if (dbUrl) config.server.database_url = dbUrl;
  const redisUrl = pick(flags.redisUrl, 'WARDEN_REDIS_URL');
  if (redisUrl) config.server.redis_url = redisUrl;
  const secret = env.WARDEN_JWT_SECRET;
  if (secret) {
    if (secret.length < 16) {
      throw new ConfigError('WARDEN_JWT_SECRET: must be at least 16 characters', 'auth.jwt_secret');
    }
    config.auth.jwt_secret = secret;
  }

  const absData = resolve(cwd, config.server.data_dir);
  const databaseUrl = config.server.database_url ?? `sqlite:${resolve(absData, 'warden.db')}`;
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    throw new ConfigError(
      `server.database_url: ${JSON.stringify(databaseUrl)} must start with sqlite: or postgres://`,
      'server.database_url',
    );
  }
  return { ...config, dataDir: absData, databaseUrl, configFile: file };
}
