import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  daemonPid as pidOf,
  freePort,
  processAlive as alive,
  runCli as run,
  runCliAsync as runAsync,
  stopDaemonIn,
  tempDataDir,
} from './test-support/cli-run.js';

const dataDirs: string[] = [];
const sleepers: ChildProcess[] = [];

function dataDir(): string {
  const dir = tempDataDir();
  dataDirs.push(dir);
  return dir;
}

// Every daemon a test started is stopped, by its PID file, however the test ended.
afterEach(async () => {
  for (const c of sleepers.splice(0)) c.kill();
  for (const dir of dataDirs.splice(0)) await stopDaemonIn(dir);
});

describe('warden daemon', () => {
  it('starts in the background, reports status 0, refuses a second start, stops, then status is 3', () => {
    const dir = dataDir();
    const started = run(['daemon', 'start', '--data-dir', dir, '--port', '0']);
    expect(started.stderr).toBe('');
    expect(started.status).toBe(0);
    const pid = pidOf(dir);
    const server = JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as {
      url: string;
      pid: number;
    };
    expect(server.pid).toBe(pid);
    expect(started.stdout).toBe(
      `Warden started (pid ${pid}) at ${server.url}; log: ${join(dir, 'warden.log')}\n`,
    );
    expect(statSync(join(dir, 'warden.pid')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'warden.log')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'warden.lock'))).toBe(false);

    const status = run(['daemon', 'status', '--data-dir', dir]);
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^Warden is running \\(pid ${pid}\\)\n`));
    expect(status.stdout).toContain(`url:     ${server.url}`);
    expect(status.stdout).toMatch(/uptime: {2}\d+s/);
    expect(status.stdout).toContain('agents:  0');

    const again = run(['daemon', 'start', '--data-dir', dir, '--port', '0']);
    expect(again.status).toBe(1);
    expect(again.stderr).toBe(`warden: Warden is already running (pid ${pid}, ${server.url})\n`);

    const stopped = run(['daemon', 'stop', '--data-dir', dir]);
    expect(stopped.status).toBe(0);
    expect(stopped.stdout).toBe(`Warden stopped (pid ${pid})\n`);
    expect(alive(pid)).toBe(false);
    expect(existsSync(join(dir, 'warden.pid'))).toBe(false);
    expect(existsSync(join(dir, 'server.json'))).toBe(false);

    const after = run(['daemon', 'status', '--data-dir', dir]);
    expect(after.status).toBe(3);
    expect(after.stdout).toBe('Warden is not running\n');
    const stopAgain = run(['daemon', 'stop', '--data-dir', dir]);
    expect(stopAgain.status).toBe(0);
    expect(stopAgain.stdout).toBe('Warden is not running\n');
  });

  it('cleans up a stale PID file naming a dead pid on start, with a note', async () => {
    const dir = dataDir();
    const gone = spawn('true');
    await new Promise((r) => gone.once('exit', r));
    writeFileSync(join(dir, 'warden.pid'), `${gone.pid}\n`);
    expect(run(['daemon', 'status', '--data-dir', dir]).status).toBe(1);

    const started = run(['daemon', 'start', '--data-dir', dir, '--port', '0']);
    expect(started.status).toBe(0);
    expect(started.stderr).toBe(
      `warden: removed a stale PID file ${join(dir, 'warden.pid')} (pid ${gone.pid} is not running)\n`,
    );
    expect(pidOf(dir)).not.toBe(gone.pid);
    expect(run(['daemon', 'status', '--data-dir', dir]).status).toBe(0);
  });

  it('takes a PID file whose pid now runs another program as stale, and never signals it', async () => {
    const dir = dataDir();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    sleepers.push(other);
    await new Promise((r) => other.once('spawn', r));
    writeFileSync(join(dir, 'warden.pid'), `${other.pid}\n`);

    const stopped = run(['daemon', 'stop', '--data-dir', dir]);
    expect(stopped.status).toBe(0);
    expect(stopped.stdout).toBe(
      `Warden is not running (removed a stale PID file: pid ${other.pid} now belongs to another program)\n`,
    );
    expect(alive(other.pid!)).toBe(true);
    expect(existsSync(join(dir, 'warden.pid'))).toBe(false);
  });

  it('of two starts at the same moment, exactly one starts a server', async () => {
    const dir = dataDir();
    const results = await Promise.all([
      runAsync(['daemon', 'start', '--data-dir', dir, '--port', '0']),
      runAsync(['daemon', 'start', '--data-dir', dir, '--port', '0']),
    ]);
    const codes = results.map((r) => r.status).sort();
    expect(codes).toEqual([0, 1]);
    const loser = results.find((r) => r.status === 1)!;
    expect(loser.stderr).toMatch(
      /^warden: (Warden is already running \(pid \d+, .*\)|another warden daemon start \(pid \d+\) is starting Warden in .*)\n$/,
    );
    const pid = pidOf(dir);
    const procs = spawnSync('pgrep', ['-f', `serve --data-dir ${dir}`], { encoding: 'utf8' });
    expect(procs.stdout.trim().split('\n')).toEqual([String(pid)]);
  });

  it('when the server dies while starting, prints the end of its log and exits 1', async () => {
    const dir = dataDir();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = run(['daemon', 'start', '--data-dir', dir, '--port', String(port)]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `^warden: Warden exited during start \\(exit code 1\\); last lines of ${join(dir, 'warden.log')}:\n`,
        ),
      );
      expect(r.stderr).toContain('EADDRINUSE');
      expect(existsSync(join(dir, 'warden.pid'))).toBe(false);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('refuses an invalid config before starting anything, with exit 2', () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'bad.yaml'), 'server:\n  colour: blue\n');
    const r = run(['daemon', 'start', '--config', join(dir, 'bad.yaml'), '--data-dir', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^warden: invalid configuration: unknown key server\.colour/);
    expect(existsSync(join(dir, 'warden.pid'))).toBe(false);
  });

  it('restart brings back a new server with the flags of the start', async () => {
    const dir = dataDir();
    const port = await freePort();
    expect(run(['daemon', 'start', '--data-dir', dir, '--port', String(port)]).status).toBe(0);
    const first = pidOf(dir);
    const r = run(['daemon', 'restart', '--data-dir', dir]);
    expect(r.status).toBe(0);
    const second = pidOf(dir);
    expect(second).not.toBe(first);
    expect(alive(first)).toBe(false);
    expect(r.stdout).toBe(
      `Warden stopped (pid ${first})\nWarden started (pid ${second}) at http://127.0.0.1:${port}; log: ${join(dir, 'warden.log')}\n`,
    );
  });

  it('reload sends SIGHUP and the daemon stays up; with none running it exits 1', () => {
    const dir = dataDir();
    expect(run(['daemon', 'reload', '--data-dir', dir]).status).toBe(1);
    expect(run(['daemon', 'start', '--data-dir', dir, '--port', '0']).status).toBe(0);
    const pid = pidOf(dir);
    const r = run(['daemon', 'reload', '--data-dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^sent SIGHUP to Warden \\(pid ${pid}\\)`));
    expect(alive(pid)).toBe(true);
  });

  it('refuses a bad --timeout as a usage error', () => {
    const r = run(['daemon', 'start', '--data-dir', dataDir(), '--timeout', 'soon']);
    expect(r.status).toBe(64);
    expect(r.stderr).toBe('warden: --timeout "soon" is not a duration (e.g. 30s, 2m)\n');
  });
});
