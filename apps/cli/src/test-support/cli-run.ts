import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI (`npm run build` first), run as a user runs it. */
export const WARDEN_BIN = fileURLToPath(new URL('../../bin/warden.js', import.meta.url));

/** What one CLI run printed and how it exited. */
export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** This process's env without WARDEN_*, plus `extra`: the runner's own settings stay out. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WARDEN_')) clean[k] = v;
  return { ...clean, ...extra };
}

/** Runs `warden ARGS` to completion (cwd: the temp folder, so no ./warden.yaml is found). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [WARDEN_BIN, ...args], {
    encoding: 'utf8',
    env: cliEnv(env),
    cwd: tmpdir(),
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** {@link runCli} without blocking, for runs that must overlap. */
export function runCliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WARDEN_BIN, ...args], {
      env: cliEnv(env),
      cwd: tmpdir(),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A fresh temp data dir. */
export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'warden-cli-'));
}

/** Running and not a zombie waiting to be reaped (reading /proc, as the CLI does). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Stops whatever Warden a test left in `dataDir`, found by its PID file and server.json:
 * SIGTERM (so supervised agents stop too), SIGKILL after 10 s. A pid that is no longer a
 * Warden process is left alone.
 */
export async function stopDaemonIn(dataDir: string): Promise<void> {
  const pids = new Set<number>();
  try {
    pids.add(Number(readFileSync(join(dataDir, 'warden.pid'), 'utf8')));
  } catch {
    // none
  }
  try {
    pids.add(
      (JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { pid: number }).pid,
    );
  } catch {
    // none
  }
  for (const pid of pids) {
    if (!pid || pid === process.pid || !processAlive(pid)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmd.includes('warden')) continue;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/** The daemon's pid from `<dataDir>/warden.pid`. */
export function daemonPid(dataDir: string): number {
  return Number(readFileSync(join(dataDir, 'warden.pid'), 'utf8'));
}

/** `<dataDir>/server.json`. */
export function serverJson(dataDir: string): { url: string; pid: number } {
  return JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as {
    url: string;
    pid: number;
  };
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}
