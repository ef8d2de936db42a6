import { spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { ConfigError, loadConfig, parseDuration, type ConfigFlags } from '@warden/server/config';
import { EXIT } from './exit-codes.js';
import { HubClient, readServerFile, type ServerFile } from './hub-client.js';
import { DaemonLockedError, PidFile, isWardenProcess, systemProcessProbe } from './pid-file.js';

/** The subcommands of `warden daemon`. */
export const DAEMON_ACTIONS = ['start', 'stop', 'status', 'restart', 'reload'] as const;

/** One of {@link DAEMON_ACTIONS}. */
export type DaemonAction = (typeof DAEMON_ACTIONS)[number];

/** Exit codes of `warden daemon status`, as an LSB init script's `status` has them. */
export const STATUS_EXIT = {
  running: 0,
  /** Not running, but the PID file is still there: it crashed or was killed. */
  deadWithPidFile: 1,
  notRunning: 3,
} as const;

/** Flags of `warden daemon …`: those of `warden serve`, and how long to wait. */
export interface DaemonFlags extends ConfigFlags {
  /** How long `start` waits for the server to answer and `stop` for it to exit. @defaultValue "30s" */
  timeout?: string;
}

/** The CLI entry the daemon runs (`node bin/warden.js serve …`), beside this file's folder. */
const BIN = fileURLToPath(new URL('../bin/warden.js', import.meta.url));
const POLL_MS = 100;
const LOG_TAIL_LINES = 20;
/** After SIGHUP, how long the daemon must stay up to count as having reloaded. */
const RELOAD_GRACE_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where one daemon keeps its files: all in the data dir. */
interface DaemonPaths {
  dataDir: string;
  configFile: string | undefined;
  pidFile: PidFile;
  log: string;
}

function paths(flags: DaemonFlags): DaemonPaths {
  const config = loadConfig(flags);
  return {
    dataDir: config.dataDir,
    configFile: config.configFile,
    pidFile: new PidFile(config.dataDir),
    log: join(config.dataDir, 'warden.log'),
  };
}

function say(line: string): void {
  process.stdout.write(line + '\n');
}

function fail(line: string): number {
  process.stderr.write(`warden: ${line}\n`);
  return EXIT.failure;
}

/** The server.json of `pid`, if that is who wrote it. */
function serverOf(dataDir: string, pid: number): ServerFile | undefined {
  const s = readServerFile(dataDir);
  return s && s.pid === pid ? s : undefined;
}

/** A `warden serve` running in the foreground on this data dir (not the daemon). */
function foregroundServer(dataDir: string, daemonPid?: number): ServerFile | undefined {
  const s = readServerFile(dataDir);
  if (!s || s.pid === daemonPid || s.pid === process.pid) return undefined;
  return isWardenProcess(s.pid, systemProcessProbe) ? s : undefined;
}

/** The last lines of the log, indented, for a start that failed. */
function logTail(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return `  (no log at ${file})`;
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    return lines
      .slice(-LOG_TAIL_LINES)
      .map((l) => `  ${l}`)
      .join('\n');
  } finally {
    closeSync(fd);
  }
}

/** `2d 3h`, `1h 5m`, `4m 10s`, `42s`. */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** The serve flags a start was given, kept so `restart` brings back the same server. */
type SavedFlags = Pick<ConfigFlags, 'config' | 'host' | 'port' | 'databaseUrl' | 'redisUrl'>;

function savedFlagsFile(dataDir: string): string {
  return join(dataDir, 'daemon.json');
}

function saveFlags(dataDir: string, flags: DaemonFlags, configFile: string | undefined): void {
  const saved: SavedFlags = {};
  if (configFile) saved.config = configFile;
  if (flags.host) saved.host = flags.host;
  if (flags.port !== undefined && flags.port !== '') saved.port = String(flags.port);
  if (flags.databaseUrl) saved.databaseUrl = flags.databaseUrl;
  if (flags.redisUrl) saved.redisUrl = flags.redisUrl;
  // 0600: a database URL may carry a password.
  writeFileSync(savedFlagsFile(dataDir), JSON.stringify(saved) + '\n', { mode: 0o600 });
}

function loadSavedFlags(dataDir: string): SavedFlags {
  try {
    const raw = JSON.parse(readFileSync(savedFlagsFile(dataDir), 'utf8')) as Record<
      string,
      unknown
    >;
    const saved: SavedFlags = {};
    for (const k of ['config', 'host', 'port', 'databaseUrl', 'redisUrl'] as const) {
      if (typeof raw[k] === 'string') saved[k] = raw[k];
    }
    return saved;
  } catch {
    return {};
  }
}

function serveArgs(flags: DaemonFlags, p: DaemonPaths): string[] {
  // Absolute data dir and config file, so the daemon serves exactly what this command
  // checked, whatever env the user changes afterwards.
  const args = ['serve', '--data-dir', p.dataDir];
  if (p.configFile) args.push('--config', p.configFile);
  if (flags.host) args.push('--host', flags.host);
  if (flags.port !== undefined && flags.port !== '') args.push('--port', String(flags.port));
  if (flags.databaseUrl) args.push('--database-url', flags.databaseUrl);
  if (flags.redisUrl) args.push('--redis-url', flags.redisUrl);
  return args;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

async function start(flags: DaemonFlags, timeoutMs: number): Promise<number> {
  const p = paths(flags);
  mkdirSync(p.dataDir, { recursive: true, mode: 0o700 });
  let lock;
  try {
    lock = p.pidFile.lock();
  } catch (err) {
    if (err instanceof DaemonLockedError) {
      return fail(
        `another warden daemon start (pid ${err.holder}) is starting Warden in ${p.dataDir}`,
      );
    }
    throw err;
  }
  let pid: number;
  let exited: { code: number | null; signal: string | null } | undefined;
  try {
    const state = p.pidFile.read();
    if (state.state === 'running') {
      const url = serverOf(p.dataDir, state.pid)?.url ?? 'not listening yet';
      return fail(`Warden is already running (pid ${state.pid}, ${url})`);
    }
    if (state.state === 'stale') {
      p.pidFile.remove();
      process.stderr.write(
        `warden: removed a stale PID file ${p.pidFile.path} (${state.reason})\n`,
      );
    }
    const fg = foregroundServer(p.dataDir);
    if (fg) {
      return fail(
        `Warden is already running (pid ${fg.pid}, ${fg.url}) as warden serve, not as a daemon: stop it first`,
      );
    }
    // The log holds agent output, which may carry anything: owner-only, like the secret.
    const logFd = openSync(p.log, 'a', 0o600);
    chmodSync(p.log, 0o600);
    try {
      const child = spawn(process.execPath, [BIN, ...serveArgs(flags, p)], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
        cwd: process.cwd(),
        env: process.env,
      });
      if (child.pid === undefined) {
        return fail(`could not start ${process.execPath} ${BIN}`);
      }
      pid = child.pid;
      child.once('exit', (code, signal) => (exited = { code, signal }));
      child.unref();
    } finally {
      closeSync(logFd);
    }
    p.pidFile.write(pid);
    saveFlags(p.dataDir, flags, p.configFile);
  } finally {
    lock.release();
  }

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      p.pidFile.remove(pid);
      const how = exited.signal ? `signal ${exited.signal}` : `exit code ${exited.code}`;
      process.stderr.write(
        `warden: Warden exited during start (${how}); last lines of ${p.log}:\n${logTail(p.log)}\n`,
      );
      return EXIT.failure;
    }
    const server = serverOf(p.dataDir, pid);
    if (server && (await healthy(server.url))) {
      say(`Warden started (pid ${pid}) at ${server.url}; log: ${p.log}`);
      return EXIT.ok;
    }
    if (Date.now() >= deadline) {
      // Left running: a first start may be migrating a large database. `stop` ends it.
      return fail(
        `Warden (pid ${pid}) did not answer within ${Math.round(timeoutMs / 1000)}s; it is still running — see ${p.log}, or stop it with warden daemon stop`,
      );
    }
    await sleep(POLL_MS);
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (systemProcessProbe.alive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

async function stop(flags: DaemonFlags, timeoutMs: number): Promise<number> {
  const p = paths(flags);
  const state = p.pidFile.read();
  if (state.state !== 'running') {
    const fg = foregroundServer(p.dataDir);
    if (fg) {
      return fail(
        `Warden is not running as a daemon; warden serve (pid ${fg.pid}) serves ${fg.url}: stop it where it runs`,
      );
    }
    if (state.state === 'stale') {
      p.pidFile.remove();
      say(`Warden is not running (removed a stale PID file: ${state.reason})`);
    } else {
      say('Warden is not running');
    }
    return EXIT.ok;
  }
  const { pid } = state;
  // SIGTERM to the server alone: it stops its agents gracefully itself (kill_timeout each).
  process.kill(pid, 'SIGTERM');
  const stopped = await waitForExit(pid, timeoutMs);
  if (!stopped) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5000);
  }
  p.pidFile.remove(pid);
  // A graceful close removes server.json itself; a killed server leaves it behind.
  if (serverOf(p.dataDir, pid)) rmSync(join(p.dataDir, 'server.json'), { force: true });
  if (!stopped) {
    return fail(
      `Warden (pid ${pid}) did not stop within ${Math.round(timeoutMs / 1000)}s of SIGTERM and was killed (SIGKILL); its agents may still run — see ${p.log}`,
    );
  }
  say(`Warden stopped (pid ${pid})`);
  return EXIT.ok;
}

async function status(flags: DaemonFlags): Promise<number> {
  const p = paths(flags);
  const state = p.pidFile.read();
  if (state.state === 'absent') {
    const fg = foregroundServer(p.dataDir);
    say(
      fg
        ? `Warden is not running as a daemon (warden serve, pid ${fg.pid}, serves ${fg.url})`
        : 'Warden is not running',
    );
    return STATUS_EXIT.notRunning;
  }
  if (state.state === 'stale') {
    say(`Warden is not running, but its PID file is left: ${state.reason} (see ${p.log})`);
    return STATUS_EXIT.deadWithPidFile;
  }
  const server = serverOf(p.dataDir, state.pid);
  const lines = [`Warden is running (pid ${state.pid})`];
  let uptime = (Date.now() - state.since) / 1000;
  if (!server) {
    lines.push('  url:     not listening yet');
  } else {
    lines.push(`  url:     ${server.url}`);
    try {
      const client = await HubClient.connect({ ...flags, url: server.url });
      const dash = await client.get<{
        fleet: { agents: number; byStatus: Record<string, number> };
        system: { uptimeSeconds: number };
      }>('/api/v1/dashboard');
      uptime = dash.system.uptimeSeconds;
      const parts = Object.entries(dash.fleet.byStatus)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .map(([s, n]) => `${n} ${s}`);
      lines.push(
        `  agents:  ${dash.fleet.agents}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`,
      );
    } catch (err) {
      lines.push(`  agents:  unknown (${(err as Error).message})`);
    }
  }
  lines.splice(2, 0, `  uptime:  ${formatUptime(uptime)}`);
  lines.push(`  log:     ${p.log}`);
  say(lines.join('\n'));
  return STATUS_EXIT.running;
}

async function reload(flags: DaemonFlags): Promise<number> {
  const p = paths(flags);
  const state = p.pidFile.read();
  if (state.state !== 'running') return fail('Warden is not running (nothing to reload)');
  process.kill(state.pid, 'SIGHUP');
  // A server without a SIGHUP handler dies of it at once; say so rather than "reloaded".
  if (await waitForExit(state.pid, RELOAD_GRACE_MS)) {
    return fail(`Warden (pid ${state.pid}) exited on SIGHUP instead of reloading; see ${p.log}`);
  }
  say(
    `sent SIGHUP to Warden (pid ${state.pid}): it reloads ${p.configFile ?? 'its config'} (added, removed and changed agents; see ${p.log})`,
  );
  return EXIT.ok;
}

/**
 * `warden daemon start|stop|status|restart|reload`: `warden serve` detached in the
 * background, with `<data-dir>/warden.pid` (0644), the start lock `<data-dir>/warden.lock`
 * and the log `<data-dir>/warden.log` (0600, appended). Exit codes: 0 ok; 1 failure
 * (already running, did not come up, not running for `reload`); 2 invalid config; 64 bad
 * usage; `status` 0 running, 1 dead with a PID file left, 3 not running. `stop` of a Warden
 * that is not running is a success (exit 0), as `systemctl stop` and LSB `stop` have it.
 */
export async function daemon(action: DaemonAction, flags: DaemonFlags): Promise<number> {
  const timeoutMs = parseDuration(flags.timeout ?? '30s');
  if (timeoutMs === undefined || timeoutMs <= 0) {
    process.stderr.write(
      `warden: --timeout ${JSON.stringify(flags.timeout)} is not a duration (e.g. 30s, 2m)\n`,
    );
    return EXIT.usage;
  }
  try {
    switch (action) {
      case 'start':
        return await start(flags, timeoutMs);
      case 'stop':
        return await stop(flags, timeoutMs);
      case 'status':
        return await status(flags);
      case 'reload':
        return await reload(flags);
      case 'restart': {
        // What the running daemon was started with, unless given again now.
        const again = { ...loadSavedFlags(paths(flags).dataDir), ...flags };
        const code = await stop(again, timeoutMs);
        return code === EXIT.ok ? await start(again, timeoutMs) : code;
      }
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`warden: invalid configuration: ${err.message}\n`);
      return EXIT.config;
    }
    throw err;
  }
}

const DESCRIPTIONS: Record<DaemonAction, string> = {
  start: 'start warden serve in the background (PID file, lock and log in the data dir)',
  stop: 'stop the daemon (SIGTERM; it stops its agents gracefully)',
  status: 'is the daemon running? exit 0 running, 1 dead with a PID file left, 3 not running',
  restart: 'stop the daemon, then start it',
  reload: 'send SIGHUP: the daemon reloads its config (added, removed and changed agents)',
};

/** Registers `warden daemon …` on `program`; `done` receives the exit code. */
export function registerDaemonCommand(program: Command, done: (code: number) => void): void {
  const group = program
    .command('daemon')
    .description(
      'run the control center in the background: start | stop | status | restart | reload',
    );
  for (const action of DAEMON_ACTIONS) {
    const cmd = group
      .command(action)
      .description(DESCRIPTIONS[action])
      .addOption(new Option('--config <file>', 'YAML config file').env('WARDEN_CONFIG'))
      .addOption(
        new Option('--data-dir <dir>', 'data folder (default ./.warden)').env('WARDEN_DATA_DIR'),
      );
    if (action === 'start' || action === 'restart') {
      cmd
        .addOption(
          new Option('--host <host>', 'interface to listen on (default 127.0.0.1)').env(
            'WARDEN_HOST',
          ),
        )
        .addOption(
          new Option('--port <port>', 'port to listen on (default 7070; 0 = any free)').env(
            'WARDEN_PORT',
          ),
        )
        .addOption(
          new Option('--database-url <url>', 'sqlite:PATH or postgres://…').env(
            'WARDEN_DATABASE_URL',
          ),
        )
        .addOption(new Option('--redis-url <url>', 'Redis for replicas').env('WARDEN_REDIS_URL'));
    }
    if (action === 'start' || action === 'stop' || action === 'restart') {
      cmd.option('--timeout <duration>', 'how long to wait for the server to start or stop', '30s');
    }
    cmd.action(async (opts: Record<string, string | undefined>) => {
      const flags: DaemonFlags = {};
      if (opts.config) flags.config = opts.config;
      if (opts.dataDir) flags.dataDir = opts.dataDir;
      if (opts.host) flags.host = opts.host;
      if (opts.port) flags.port = opts.port;
      if (opts.databaseUrl) flags.databaseUrl = opts.databaseUrl;
      if (opts.redisUrl) flags.redisUrl = opts.redisUrl;
      if (opts.timeout) flags.timeout = opts.timeout;
      done(await daemon(action, flags));
    });
  }
}
