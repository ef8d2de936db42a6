/**
 * `npm run bench:ingest [-- --store sqlite|postgres] [--pg-url URL] [--redis [--redis-url URL]]`: Warden's durable
 * WebSocket ingest against the storage limit (raw batched inserts into the same table) and the
 * naive design (one autocommitted INSERT per HTTP request), on SQLite (default) or PostgreSQL.
 * Every server and every load generator runs in its own process; see bench/RESULTS.md.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import BetterSqlite3 from 'better-sqlite3';
import {
  DEFAULT_PG_URL,
  cpuUseLine,
  dropPgSchema,
  fmt,
  freshPgSchema,
  installCleanup,
  latencyLine,
  machineLine,
  makeTempDir,
  pgQuery,
  redactUrl,
  removeTempDir,
  runGenerator,
  startBaselineServer,
  startWarden,
  waitForQuiet,
  wardenLine,
  withSchema,
  type WardenProcess,
} from './bench-support.js';
import type { IngestResult, IngestTask } from './ingest-load.js';
import type { LimitRun, LimitTask } from './ingest-limit.js';
import type { RedisLimitRun, RedisLimitTask } from './redis-limit.js';

const CONNECTIONS = 100;
const WINDOW = 1000;
const OFFERED_RATE = 20_000;
const TARGET_RATIO_VS_NAIVE = 8;
const TARGET_P99_MS = 25;

type StoreKind = 'sqlite' | 'postgres';

/** Acked events/s each store is expected to carry on this class of machine. */
const TARGET_EVENTS_PER_S: Record<StoreKind, number> = { sqlite: 50_000, postgres: 20_000 };

const { values: args } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    'pg-url': { type: 'string' },
    redis: { type: 'boolean', default: false },
    'redis-url': { type: 'string' },
  },
});
if (args.store !== 'sqlite' && args.store !== 'postgres') {
  throw new Error(`--store ${args.store}: expected sqlite or postgres`);
}
const STORE: StoreKind = args.store;
const PG_URL = args['pg-url'] ?? process.env.BENCH_PG_URL ?? DEFAULT_PG_URL;
const REDIS = args.redis || args['redis-url'] !== undefined;
const REDIS_URL = args['redis-url'] ?? process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Most throughput the Redis stream may cost against the store alone (issue target). */
const TARGET_REDIS_COST = 0.15;

const GENERATOR_TIMEOUT = 120_000;

/** The closed-loop saturation load: every publisher keeps WINDOW events unacked. */
function saturationTask(w: WardenProcess, token: string): IngestTask {
  return {
    mode: 'warden-closed',
    port: w.port,
    token,
    serverPid: w.pid,
    connections: CONNECTIONS,
    window: WINDOW,
    warmupMs: 3000,
    measureMs: 15_000,
  };
}

/** Lets whatever else runs on the machine finish before a measurement, and says so if not. */
async function quiet(before: string): Promise<void> {
  const q = await waitForQuiet(20_000);
  if (!q.quiet) {
    console.log(
      `  note: machine still busy (${q.busyCores.toFixed(2)} cores used by other processes) before ${before}`,
    );
  }
}

function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}

function describe(label: string, r: IngestResult): void {
  console.log(
    `${label}: ${fmt(r.eventsPerSec)} events/s acked (${fmt(r.acked)} in ${r.cpu.wallSec.toFixed(1)} s); ack ${latencyLine(r.latency)}`,
  );
  console.log(
    `  ${cpuUseLine(r.cpu)}; ` +
      `sent ${fmt(r.sent)}, acked ${fmt(r.ackedTotal)}, errors ${r.errors}, duplicates ${r.duplicates}, disconnects ${r.disconnects}` +
      (r.maxLagMs !== undefined
        ? `, generator max lag ${r.maxLagMs.toFixed(1)} ms, unacked-cap hits ${r.capHits ?? 0}`
        : ''),
  );
  for (const e of r.firstErrors) console.log(`  error: ${e.slice(0, 300)}`);
}

/** Count and highest seq of the stored log, read from the store the server wrote. */
async function storedLog(w: WardenProcess, schema: string | undefined) {
  if (schema !== undefined) {
    const r = await pgQuery<{ n: string; hi: string | null }>(
      PG_URL,
      `SELECT count(*) AS n, max(seq) AS hi FROM "${schema}".events`,
    );
    return { n: Number(r.rows[0]!.n), hi: r.rows[0]!.hi === null ? null : Number(r.rows[0]!.hi) };
  }
  const db = new BetterSqlite3(`${w.dataDir}/warden.db`, { readonly: true });
  const row = db.prepare('SELECT count(*) AS n, max(seq) AS hi FROM events').get() as {
    n: number;
    hi: number | null;
  };
  db.close();
  return row;
}

/** Checks the stored log against what was acked: every acked event stored once, seqs dense. */
async function verifyWarden(
  w: WardenProcess,
  r: IngestResult,
  schema: string | undefined,
): Promise<string[]> {
  const problems: string[] = [];
  const row = await storedLog(w, schema);
  if (row.n !== r.ackedTotal) {
    problems.push(`stored ${row.n} events but ${r.ackedTotal} were acked`);
  }
  if (r.maxSeq !== r.ackedTotal)
    problems.push(`highest acked seq ${r.maxSeq} ≠ acks ${r.ackedTotal}`);
  if (!r.distinctSeqs) problems.push('two acks carried the same seq');
  if (r.sent !== r.ackedTotal + r.errors) {
    problems.push(`${r.sent - r.ackedTotal - r.errors} frames were never answered`);
  }
  if (r.errors > 0) problems.push(`${r.errors} error frames`);
  if (r.disconnects > 0) problems.push(`${r.disconnects} publishers disconnected`);
  const logged = w.problems();
  if (logged.length > 0) {
    problems.push(`${logged.length} warn/error log lines, first: ${logged[0]!.slice(0, 300)}`);
  }
  return problems;
}

/**
 * One Warden run: a fresh server (on PostgreSQL: in its own fresh schema, dropped after; with
 * `redis`: streaming to Redis under a fresh prefix, whose stream is checked, then deleted).
 */
async function wardenRun(
  task: (w: WardenProcess, token: string) => IngestTask,
  opts: { redis?: boolean } = {},
) {
  await quiet('a Warden run');
  const schema = STORE === 'postgres' ? freshPgSchema(PG_URL, 'warden') : undefined;
  const prefix = opts.redis ? `warden-bench-${process.pid}-${Date.now().toString(36)}:` : undefined;
  let configDir: string | undefined;
  try {
    let configFile: string | undefined;
    if (prefix !== undefined) {
      configDir = makeTempDir('config');
      configFile = join(configDir, 'warden.yaml');
      writeFileSync(configFile, `redis:\n  prefix: "${prefix}"\n`);
    }
    const w = await startWarden({
      ...(schema !== undefined ? { databaseUrl: withSchema(PG_URL, schema) } : {}),
      ...(prefix !== undefined ? { redisUrl: REDIS_URL, configFile } : {}),
    });
    try {
      const token = w.token('agent', '*');
      const r = await runGenerator<IngestResult>(
        'ingest-load.js',
        task(w, token),
        GENERATOR_TIMEOUT,
      );
      await w.stop();
      const problems = await verifyWarden(w, r, schema);
      if (prefix !== undefined) problems.push(...(await verifyStream(prefix, r)));
      return { r, problems };
    } finally {
      await w.stop();
      removeTempDir(w.dataDir);
    }
  } finally {
    if (schema !== undefined) await dropPgSchema(schema);
    if (configDir !== undefined) removeTempDir(configDir);
    if (prefix !== undefined) await deleteRedisKeys(prefix);
  }
}

/**
 * The stream after a run: its newest entry is the highest acked seq, and it holds every acked
 * event up to the `MAXLEN ~` trim (Warden's default 1,000,000; approximate trimming keeps a
 * little more).
 */
async function verifyStream(prefix: string, r: IngestResult): Promise<string[]> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    const key = `${prefix}events`;
    const len = await redis.xlen(key);
    const last = (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0];
    const problems: string[] = [];
    const expected = Math.min(r.ackedTotal, 1_000_000);
    if (len < expected || len > r.ackedTotal) {
      problems.push(`stream holds ${len} entries; ${r.ackedTotal} were acked (trim at 1,000,000)`);
    }
    if (last !== `${r.maxSeq}-0`) problems.push(`newest stream entry ${last} ≠ ${r.maxSeq}-0`);
    return problems;
  } finally {
    redis.disconnect();
  }
}

async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  try {
    await redis.connect();
    await redis.del(`${prefix}events`, `${prefix}events:head`);
  } catch {
    // Nothing to clean when Redis is gone.
  } finally {
    redis.disconnect();
  }
}

/** What "durable" means for the store measured, as the engine reports it. */
async function durabilityLine(): Promise<string> {
  if (STORE === 'sqlite') return 'durable = WAL + synchronous=FULL everywhere';
  const r = await pgQuery<{ name: string; setting: string }>(
    PG_URL,
    `SELECT name, setting FROM pg_settings
     WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'server_version')
     ORDER BY name`,
  );
  const s = Object.fromEntries(r.rows.map((x) => [x.name, x.setting]));
  return (
    `store: PostgreSQL ${s.server_version} at ${redactUrl(PG_URL)}, each run in a fresh schema; ` +
    `durable = fsync=${s.fsync}, synchronous_commit=${s.synchronous_commit} (${s.wal_sync_method}) everywhere; ` +
    `"rest of machine" includes the PostgreSQL server's processes`
  );
}

/**
 * `--redis`: the same saturation load against Warden on the store alone and Warden streaming
 * every commit to Redis, alternated (A B A B) so drift on a shared machine hits both alike,
 * beside the Redis limit (pipelined XADD through ioredis) measured in the same run.
 */
async function redisMain(started: number): Promise<void> {
  await quiet('the Redis limit');
  const key = `warden-bench-limit-${process.pid}`;
  const limitRuns: RedisLimitRun[] = [];
  for (const batch of [1000, 5000]) {
    limitRuns.push(
      await runGenerator<RedisLimitRun>(
        'redis-limit.js',
        { url: REDIS_URL, key, maxLen: 1_000_000, batch, seconds: 5 } satisfies RedisLimitTask,
        GENERATOR_TIMEOUT,
      ),
    );
  }
  for (const l of limitRuns) {
    console.log(
      `redis limit (pipelined XADD MAXLEN ~ through ioredis, ${l.batch} per pipeline): ${fmt(l.eventsPerSec)} events/s; ` +
        `pipeline ${latencyLine(l.pipeline)}; client CPU ${l.cpuSec.toFixed(2)} s over ${l.wallSec.toFixed(1)} s`,
    );
  }
  const redisLimit = Math.max(...limitRuns.map((l) => l.eventsPerSec));

  const alone: number[] = [];
  const streamed: number[] = [];
  for (let round = 1; round <= 2; round++) {
    for (const withRedis of [false, true]) {
      const run = await wardenRun(saturationTask, { redis: withRedis });
      describe(
        `warden ${STORE}${withRedis ? ' + redis stream' : ' alone'}, round ${round} (${CONNECTIONS} publishers, ${WINDOW} unacked each)`,
        run.r,
      );
      for (const p of run.problems) console.log(`  PROBLEM: ${p}`);
      (withRedis ? streamed : alone).push(run.r.eventsPerSec);
    }
  }
  const best = (xs: number[]) => Math.max(...xs);
  const a = best(alone);
  const b = best(streamed);
  const cost = 1 - b / a;
  console.log(
    `targets: the Redis stream costs ≤${TARGET_REDIS_COST * 100}% of ${STORE}-only throughput: ` +
      `${fmt(b)} vs ${fmt(a)} events/s (best of 2 each) = ${(cost * 100).toFixed(1)}% ${verdict(cost <= TARGET_REDIS_COST)}; ` +
      `${((b / redisLimit) * 100).toFixed(0)}% of the Redis limit`,
  );
  console.log(`total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const round2 = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;
  console.log(
    JSON.stringify({
      bench: 'ingest',
      store: STORE,
      redis: true,
      warden_events_per_s: Math.round(b),
      store_only_events_per_s: Math.round(a),
      redis_limit_events_per_s: Math.round(redisLimit),
      ratio_vs_store_only: round2(b / a),
      ratio_vs_redis_limit: round2(b / redisLimit),
      redis_cost: round2(cost),
    }),
  );
}

async function main(): Promise<void> {
  installCleanup();
  const started = Date.now();
  console.log(machineLine());
  console.log(wardenLine());
  console.log(
    `ingest: ${CONNECTIONS} publishers, one event per frame, up to ${WINDOW} unacked each; ` +
      (await durabilityLine()),
  );
  if (REDIS) {
    console.log(`redis: ${redactUrl(REDIS_URL)}; "rest of machine" includes redis-server`);
    await redisMain(started);
    return;
  }

  // (a) The storage limit.
  await quiet('the storage limit');
  const limitDir = makeTempDir('limit');
  const limitSchema = STORE === 'postgres' ? freshPgSchema(PG_URL, 'limit') : undefined;
  let limitRuns: LimitRun[];
  try {
    limitRuns = await runGenerator<LimitRun[]>(
      'ingest-limit.js',
      {
        dataDir: limitDir,
        batchSizes: [1000, 5000],
        secondsEach: 5,
        ...(limitSchema !== undefined ? { postgres: { url: PG_URL, schema: limitSchema } } : {}),
      } satisfies LimitTask,
      GENERATOR_TIMEOUT,
    );
  } finally {
    removeTempDir(limitDir);
    if (limitSchema !== undefined) await dropPgSchema(limitSchema);
  }
  const engine =
    STORE === 'postgres'
      ? (batch: number) => `raw pg, ${batch} events per multi-row INSERT`
      : (batch: number) => `raw better-sqlite3, ${batch} events per transaction`;
  for (const l of limitRuns) {
    console.log(
      `limit (${engine(l.batch)}): ${fmt(l.eventsPerSec)} events/s; ` +
        `commit ${latencyLine(l.commit)}; CPU ${l.cpuSec.toFixed(2)} s over ${l.wallSec.toFixed(1)} s`,
    );
  }
  const limit = Math.max(...limitRuns.map((l) => l.eventsPerSec));

  // (b) The naive design.
  await quiet('the naive baseline');
  const naiveDir = makeTempDir('naive');
  const naiveSchema = STORE === 'postgres' ? freshPgSchema(PG_URL, 'naive') : undefined;
  let naive: IngestResult;
  let naiveServer: Awaited<ReturnType<typeof startBaselineServer>> | undefined;
  try {
    naiveServer = await startBaselineServer(
      'naive-ingest-server.js',
      naiveSchema !== undefined ? [naiveDir, PG_URL, naiveSchema] : [naiveDir],
    );
    naive = await runGenerator<IngestResult>(
      'ingest-load.js',
      {
        mode: 'naive-http',
        port: naiveServer.port,
        serverPid: naiveServer.pid,
        connections: CONNECTIONS,
        warmupMs: 2000,
        measureMs: 10_000,
      } satisfies IngestTask,
      GENERATOR_TIMEOUT,
    );
  } finally {
    await naiveServer?.stop();
    removeTempDir(naiveDir);
    if (naiveSchema !== undefined) await dropPgSchema(naiveSchema);
  }
  describe(`naive (Fastify, 1 INSERT per request, ${CONNECTIONS} keep-alive clients)`, naive);

  // Warden at saturation (closed loop).
  const sat = await wardenRun(saturationTask);
  describe(
    `warden saturation (${CONNECTIONS} WebSocket publishers, ${WINDOW} unacked each)`,
    sat.r,
  );
  for (const p of sat.problems) console.log(`  PROBLEM: ${p}`);

  // Warden at a fixed offered rate (open loop).
  const open = await wardenRun((w, token) => ({
    mode: 'warden-open',
    port: w.port,
    token,
    serverPid: w.pid,
    connections: CONNECTIONS,
    window: WINDOW,
    rate: OFFERED_RATE,
    warmupMs: 2000,
    measureMs: 15_000,
  }));
  describe(`warden at ${fmt(OFFERED_RATE)} events/s offered (open loop)`, open.r);
  for (const p of open.problems) console.log(`  PROBLEM: ${p}`);

  const warden = sat.r.eventsPerSec;
  const ratioVsLimit = warden / limit;
  const ratioVsNaive = warden / naive.eventsPerSec;
  const target = TARGET_EVENTS_PER_S[STORE];
  console.log(
    `targets (${STORE}): ≥${fmt(target)} events/s acked: ${fmt(warden)} ${verdict(warden >= target)}; ` +
      `≥${TARGET_RATIO_VS_NAIVE}× naive: ${ratioVsNaive.toFixed(1)}× ${verdict(ratioVsNaive >= TARGET_RATIO_VS_NAIVE)}; ` +
      `p99 ≤${TARGET_P99_MS} ms at ${fmt(OFFERED_RATE)}/s: ${open.r.latency.p99.toFixed(2)} ms ${verdict(open.r.latency.p99 <= TARGET_P99_MS)}; ` +
      `${(ratioVsLimit * 100).toFixed(0)}% of the storage limit`,
  );
  console.log(
    `saturation ack p50 ${sat.r.latency.p50.toFixed(1)} ms, p99 ${sat.r.latency.p99.toFixed(1)} ms ` +
      `(closed loop with ${fmt(CONNECTIONS * WINDOW)} events in flight: queueing, not service time)`,
  );
  console.log(`total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
  console.log(
    JSON.stringify({
      bench: 'ingest',
      store: STORE,
      warden_events_per_s: Math.round(warden),
      limit_events_per_s: Math.round(limit),
      naive_events_per_s: Math.round(naive.eventsPerSec),
      ratio_vs_limit: round(ratioVsLimit, 3),
      ratio_vs_naive: round(ratioVsNaive),
      ack_p50_ms: round(open.r.latency.p50),
      ack_p99_ms: round(open.r.latency.p99),
    }),
  );
}

await main();
