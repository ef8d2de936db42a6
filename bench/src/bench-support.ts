import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** bench/dist, where the compiled scripts live. */
export const DIST_DIR = dirname(fileURLToPath(import.meta.url));
/** Repository root. */
export const REPO_ROOT = resolve(DIST_DIR, '..', '..');
/**
 * The Warden under test: this checkout's build, or another built checkout named by
 * `BENCH_WARDEN_ROOT` (to measure a fixed commit while the working tree moves on).
 */
export const WARDEN_ROOT = resolve(process.env.BENCH_WARDEN_ROOT ?? REPO_ROOT);
const WARDEN_BIN = join(WARDEN_ROOT, 'apps', 'cli', 'bin', 'warden.js');

/** Clock ticks per second for /proc/PID/stat (USER_HZ is 100 on every Linux build we meet). */
const CLK_TCK = 100;

// ---------------------------------------------------------------------------------------------
// Machine and process statistics

export function machineLine(): string {
  const c = cpus();
  return (
    `machine: ${c.length} cores (${c[0]?.model.trim() ?? 'unknown CPU'}), ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB RAM, Linux ${release()}, Node ${process.version}`
  );
}

/** Which Warden is measured: its folder and commit (with a note when the tree is dirty). */
export function wardenLine(): string {
  let commit = 'unknown commit';
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: WARDEN_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'apps', 'packages'], {
      cwd: WARDEN_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    commit = `commit ${sha}${dirty ? ' + uncommitted changes in apps/ or packages/' : ''}`;
  } catch {
    // Not a git checkout (an exported snapshot): it may say which commit it holds.
    const file = join(WARDEN_ROOT, 'BENCH_COMMIT');
    if (existsSync(file)) commit = `commit ${readFileSync(file, 'utf8').trim()} (snapshot)`;
  }
  return `warden under test: ${WARDEN_ROOT} at ${commit}`;
}

export interface ProcSample {
  /** user + system CPU seconds so far. */
  cpuSec: number;
  /** Resident set size in KiB (VmRSS). */
  rssKiB: number;
}

/** CPU seconds and RSS of a process, read from /proc (Linux). */
export function procSample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return { cpuSec: (utime + stime) / CLK_TCK, rssKiB: m ? Number(m[1]) : NaN };
}

/**
 * CPU seconds the whole machine has been busy (all cores, /proc/stat: user, nice, system, irq,
 * softirq, steal). Busy time minus that of the processes under test is what other processes
 * (or the hypervisor) took during a measurement: a high figure means a disturbed run.
 */
export function machineBusySec(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1);
  const n = f.map(Number);
  return (
    ((n[0] ?? 0) + (n[1] ?? 0) + (n[2] ?? 0) + (n[5] ?? 0) + (n[6] ?? 0) + (n[7] ?? 0)) / CLK_TCK
  );
}

/**
 * Waits (at most `maxMs`) until the machine is nearly idle — under 0.15 of a core busy over
 * half a second — so a measurement does not start while something else runs. Returns the busy
 * cores seen last; the caller reports a machine that never went quiet.
 */
export async function waitForQuiet(maxMs: number): Promise<{ quiet: boolean; busyCores: number }> {
  const until = Date.now() + maxMs;
  let busyCores = 0;
  do {
    const b0 = machineBusySec();
    await sleep(500);
    busyCores = (machineBusySec() - b0) / 0.5;
    if (busyCores < 0.15) return { quiet: true, busyCores };
  } while (Date.now() < until);
  return { quiet: false, busyCores };
}

/** Snapshot of the CPU used by a server, this process and the machine, for a window. */
export function cpuWindow(serverPid: number): () => CpuUse {
  const s0 = procSample(serverPid).cpuSec;
  const g0 = selfCpuSec();
  const m0 = machineBusySec();
  const w0 = performance.now();
  return () => {
    const server = procSample(serverPid).cpuSec - s0;
    const generator = selfCpuSec() - g0;
    const busy = machineBusySec() - m0;
    return {
      server,
      generator,
      other: Math.max(0, busy - server - generator),
      wallSec: (performance.now() - w0) / 1000,
    };
  };
}

export interface CpuUse {
  server: number;
  generator: number;
  /** Everything else on the machine (other processes, kernel threads, steal). */
  other: number;
  wallSec: number;
}

export function cpuUseLine(c: CpuUse): string {
  return cpuLine(
    { server: c.server, generator: c.generator, 'rest of machine': c.other },
    c.wallSec,
  );
}

/** CPU seconds this process has used (user + system). */
export function selfCpuSec(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** "server 9.8 s CPU (98% of a core), generator 6.1 s (61%)" over a wall-clock window. */
export function cpuLine(parts: Record<string, number>, wallSec: number): string {
  return (
    'CPU over ' +
    wallSec.toFixed(1) +
    ' s: ' +
    Object.entries(parts)
      .map(([name, sec]) => `${name} ${sec.toFixed(2)} s (${Math.round((sec / wallSec) * 100)}%)`)
      .join(', ')
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

// ---------------------------------------------------------------------------------------------
// Latency histogram: every sample counted, 10 µs resolution up to 60 s.

const BUCKET_MS = 0.01;
const BUCKETS = 6_000_000;

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  max = 0;
  private sum = 0;

  record(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    let b = Math.floor(v / BUCKET_MS);
    if (b >= BUCKETS) b = BUCKETS - 1;
    this.counts[b]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Nearest-rank percentile (p in 0–100), in ms; NaN with no samples. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.min((b + 1) * BUCKET_MS, this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }

  summary(): LatencySummary {
    return {
      samples: this.count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      max: this.max,
    };
  }
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function latencyLine(s: LatencySummary): string {
  return `p50 ${s.p50.toFixed(2)} ms, p90 ${s.p90.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms (${fmt(s.samples)} samples)`;
}

// ---------------------------------------------------------------------------------------------
// Child processes and temp dirs, cleaned up on every exit path.

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let cleanupInstalled = false;

function killChildren(): Promise<void>[] {
  const exits: Promise<void>[] = [];
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      exits.push(new Promise((r) => c.once('exit', () => r())));
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  return exits;
}

function removeTempDirs(): void {
  for (const d of tempDirs) {
    try {
      // A killed server may still be closing its files: retry rather than leave the dir.
      rmSync(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch (err) {
      process.stderr.write(`bench: could not remove ${d}: ${(err as Error).message}\n`);
    }
  }
  tempDirs.clear();
}

/**
 * Kills every child, waits (briefly) for them to be gone, then removes the temp dirs and the
 * PostgreSQL schemas the bench created.
 */
async function cleanup(): Promise<void> {
  await Promise.race([Promise.all(killChildren()), sleep(3000)]);
  children.clear();
  removeTempDirs();
  await Promise.race([dropPgSchemas(), sleep(5000)]);
}

/** Kills every child and removes every temp dir on exit, Ctrl-C, SIGTERM and uncaught errors. */
export function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  // Last resort on a plain exit: nothing can be awaited here, so schemas left (only after a
  // bug: every path drops its own) are named on stderr.
  process.on('exit', () => {
    killChildren();
    removeTempDirs();
    for (const [schema, url] of pgSchemas) {
      process.stderr.write(`bench: schema ${schema} left in ${redactUrl(url)}\n`);
    }
  });
  const fatal = (message: string, code: number) => {
    process.stderr.write(`bench: ${message}\n`);
    void cleanup().finally(() => process.exit(code));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => fatal(`${sig}, cleaning up`, 130));
  }
  process.on('uncaughtException', (err) => fatal(err.stack ?? String(err), 1));
  process.on('unhandledRejection', (err) =>
    fatal(err instanceof Error ? (err.stack ?? err.message) : String(err), 1),
  );
}

export function makeTempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `warden-bench-${prefix}-`));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(c: ChildProcess, graceMs = 5000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** Log file of the child's stdout and stderr. */
  logFile: string;
  stop(): Promise<void>;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts a baseline server (`bench/dist/<script>`) in its own process. It prints
 * `{"port":N}` on its first stdout line once listening, and exits when its stdin closes, so
 * it never outlives the bench.
 */
export async function startBaselineServer(
  script: string,
  args: string[] = [],
  execArgv: string[] = [],
): Promise<ServerProcess> {
  const logDir = makeTempDir('log');
  const logFile = join(logDir, 'server.log');
  const errFd = openSync(logFile, 'a');
  const child = track(
    spawn(process.execPath, [...execArgv, join(DIST_DIR, script), ...args], {
      stdio: ['pipe', 'pipe', errFd],
    }),
  );
  closeSync(errFd);
  const port = await new Promise<number>((resolvePort, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 15 s`)), 15_000);
    rl.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolvePort((JSON.parse(line) as { port: number }).port);
      } catch (err) {
        reject(err as Error);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}: ${tail(logFile)}`));
    });
  });
  // Keep draining stdout so a chatty server never blocks on a full pipe.
  child.stdout!.resume();
  return {
    child,
    pid: child.pid!,
    port,
    logFile,
    stop: async () => {
      child.stdin?.end();
      await stopChild(child);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: one fresh schema per server or limit run, dropped afterwards.

/** PostgreSQL for `--store postgres`: `--pg-url`, else BENCH_PG_URL, else the local test db. */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

const pgSchemas = new Map<string, string>();

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** The URL with Warden's `?schema=` parameter (PgEventStore strips it before connecting). */
export function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.toString();
}

/** Runs one statement on a short-lived connection. */
export async function pgQuery<R extends pg.QueryResultRow>(
  url: string,
  text: string,
  values?: unknown[],
): Promise<pg.QueryResult<R>> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await c.query<R>(text, values);
  } finally {
    await c.end();
  }
}

/**
 * A schema name no other run uses; remembered so that it is dropped even when the bench
 * fails. Created by whoever migrates into it (Warden's own code).
 */
export function freshPgSchema(url: string, prefix: string): string {
  const schema = `bench_${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
  pgSchemas.set(schema, url);
  return schema;
}

export async function dropPgSchema(schema: string): Promise<void> {
  const url = pgSchemas.get(schema);
  if (url === undefined) return;
  await pgQuery(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  pgSchemas.delete(schema);
}

async function dropPgSchemas(): Promise<void> {
  for (const schema of [...pgSchemas.keys()]) {
    try {
      await dropPgSchema(schema);
    } catch (err) {
      process.stderr.write(`bench: could not drop schema ${schema}: ${(err as Error).message}\n`);
    }
  }
}

export interface WardenProcess extends ServerProcess {
  dataDir: string;
  url: string;
  /** Signed token from `warden token`. */
  token(role: string, agentId?: string): string;
  /** Log lines at warn level or above (pino level ≥ 40). */
  problems(): string[];
  /** Inspector WebSocket URL when started with `inspect`. */
  inspectorUrl?: string;
}

/**
 * Starts `warden serve` on a fresh data dir and a free port, in its own process, with the
 * default configuration (its SQLite file in the data dir unless `databaseUrl` names another
 * store). Ready once `<data-dir>/server.json` appears (written after listen).
 */
export async function startWarden(
  opts: {
    nodeArgs?: string[];
    inspect?: boolean;
    databaseUrl?: string;
    redisUrl?: string;
    /** A Warden config file (else BENCH_WARDEN_CONFIG, when set). */
    configFile?: string;
  } = {},
): Promise<WardenProcess> {
  const dataDir = makeTempDir('warden');
  const logFile = join(dataDir, 'server.log');
  const fd = openSync(logFile, 'a');
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('WARDEN_')) delete env[k];
  // BENCH_SERVER_NODE_ARGS adds flags to the server under test, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = [
    ...(opts.nodeArgs ?? []),
    ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
  ];
  if (opts.inspect) nodeArgs.push('--inspect=127.0.0.1:0');
  const child = track(
    spawn(
      process.execPath,
      [
        ...nodeArgs,
        WARDEN_BIN,
        'serve',
        '--data-dir',
        dataDir,
        '--port',
        '0',
        ...(opts.databaseUrl ? ['--database-url', opts.databaseUrl] : []),
        ...(opts.redisUrl ? ['--redis-url', opts.redisUrl] : []),
        // BENCH_WARDEN_CONFIG: a Warden config file for the server under test.
        ...((opts.configFile ?? process.env.BENCH_WARDEN_CONFIG)
          ? ['--config', (opts.configFile ?? process.env.BENCH_WARDEN_CONFIG)!]
          : []),
      ],
      { cwd: dataDir, env, stdio: ['ignore', fd, fd] },
    ),
  );
  closeSync(fd);
  const serverFile = join(dataDir, 'server.json');
  const deadline = Date.now() + 30_000;
  while (!existsSync(serverFile)) {
    if (child.exitCode !== null) {
      throw new Error(`warden exited with ${child.exitCode}: ${tail(logFile)}`);
    }
    if (Date.now() > deadline) throw new Error(`warden did not start in 30 s: ${tail(logFile)}`);
    await sleep(50);
  }
  await sleep(20); // the file is written in one call; give it a moment to be complete
  const info = JSON.parse(readFileSync(serverFile, 'utf8')) as { url: string; pid: number };
  const port = Number(new URL(info.url).port);
  let inspectorUrl: string | undefined;
  if (opts.inspect) {
    const m = /Debugger listening on (ws:\/\/\S+)/.exec(readFileSync(logFile, 'utf8'));
    inspectorUrl = m?.[1];
  }
  return {
    child,
    pid: child.pid!,
    port,
    url: info.url,
    dataDir,
    logFile,
    ...(inspectorUrl ? { inspectorUrl } : {}),
    token: (role, agentId) =>
      execFileSync(
        process.execPath,
        [
          WARDEN_BIN,
          'token',
          '--role',
          role,
          ...(agentId ? ['--agent-id', agentId] : []),
          '--data-dir',
          dataDir,
        ],
        { cwd: dataDir, env, encoding: 'utf8' },
      ).trim(),
    problems: () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => {
          const m = /"level":(\d+)/.exec(l);
          return m !== null && Number(m[1]) >= 40;
        }),
    stop: () => stopChild(child, 10_000),
  };
}

/**
 * Runs a load generator (`bench/dist/<script>`) in its own process: sends it `task`, resolves
 * with the single result message it sends back. Progress lines go to our stdout as they come.
 */
export function runGenerator<T>(script: string, task: unknown, timeoutMs: number): Promise<T> {
  const child = track(
    fork(join(DIST_DIR, script), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // BENCH_GENERATOR_NODE_ARGS adds flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
      execArgv: [
        '--expose-gc',
        '--max-old-space-size=2048',
        ...(process.env.BENCH_GENERATOR_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ],
    }),
  );
  return new Promise<T>((resolveResult, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`${script} timed out after ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('message', (msg: { result?: T; error?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (msg.error !== undefined) reject(new Error(`${script}: ${msg.error}`));
      else resolveResult(msg.result as T);
      child.disconnect();
    });
    child.once('exit', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before reporting`));
    });
    child.send(task as object);
  });
}

/**
 * Generator side of `runGenerator`: waits for the task, runs it, sends the result back and
 * exits; any error is reported instead.
 */
export function serveGenerator<T, R>(run: (task: T) => Promise<R>): void {
  process.once('message', (task: T) => {
    run(task).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (err: unknown) =>
        process.send!(
          { error: err instanceof Error ? (err.stack ?? err.message) : String(err) },
          () => process.exit(1),
        ),
    );
  });
  // The parent went away: stop rather than load a server nobody measures.
  process.once('disconnect', () => process.exit(0));
}
