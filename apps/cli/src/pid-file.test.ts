import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonLockedError, PidFile, isWardenProcess, systemProcessProbe } from './pid-file.js';

const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill();
});

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'warden-pid-'));
}

/** A live process whose command line is `sleep 30` (or names warden when asked). */
async function live(opts: { warden?: boolean } = {}): Promise<number> {
  const child = opts.warden
    ? spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', '--', 'fake-warden'], {
        stdio: 'ignore',
      })
    : spawn('sleep', ['30'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((r) => child.once('spawn', r));
  return child.pid!;
}

/** The pid of a process that has exited and been reaped. */
async function dead(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('systemProcessProbe', () => {
  it('sees this process alive and its exited child gone', async () => {
    expect(systemProcessProbe.alive(process.pid)).toBe(true);
    expect(systemProcessProbe.alive(await dead())).toBe(false);
  });

  it('reads the command line of a live process', async () => {
    const pid = await live();
    expect(systemProcessProbe.commandLine(pid)).toBe('sleep 30');
    expect(isWardenProcess(pid)).toBe(false);
    expect(isWardenProcess(await live({ warden: true }))).toBe(true);
  });
});

describe('PidFile', () => {
  it('is absent before anything is written', () => {
    expect(new PidFile(dir()).read()).toEqual({ state: 'absent' });
  });

  it('names a live Warden process as running, written 0644', async () => {
    const pid = await live({ warden: true });
    const f = new PidFile(dir());
    f.write(pid);
    expect(readFileSync(f.path, 'utf8')).toBe(`${pid}\n`);
    expect(statSync(f.path).mode & 0o777).toBe(0o644);
    expect(f.read()).toMatchObject({ state: 'running', pid });
  });

  it('is stale when its pid is no longer running', async () => {
    const pid = await dead();
    const f = new PidFile(dir());
    f.write(pid);
    expect(f.read()).toEqual({ state: 'stale', pid, reason: `pid ${pid} is not running` });
  });

  it('is stale when its pid now runs a program that is not Warden', async () => {
    const pid = await live();
    const f = new PidFile(dir());
    f.write(pid);
    expect(f.read()).toEqual({
      state: 'stale',
      pid,
      reason: `pid ${pid} now belongs to another program`,
    });
  });

  it('is stale when it holds no pid', () => {
    const f = new PidFile(dir());
    writeFileSync(f.path, 'hello\n');
    expect(f.read()).toMatchObject({ state: 'stale', reason: 'it holds no pid' });
  });

  it('removes itself only while it still names the pid asked for', () => {
    const f = new PidFile(dir());
    f.write(111);
    f.remove(222);
    expect(existsSync(f.path)).toBe(true);
    f.remove(111);
    expect(existsSync(f.path)).toBe(false);
  });
});

describe('PidFile.lock', () => {
  it('refuses a second holder while the first holds it, naming the holder', async () => {
    const f = new PidFile(dir());
    const holder = await live();
    const first = f.lock(holder);
    expect(() => f.lock(process.pid)).toThrow(DaemonLockedError);
    try {
      f.lock(process.pid);
    } catch (err) {
      expect((err as DaemonLockedError).holder).toBe(holder);
    }
    first.release();
    const second = f.lock(process.pid);
    expect(readFileSync(f.lockPath, 'utf8')).toBe(`${process.pid}\n`);
    second.release();
    expect(existsSync(f.lockPath)).toBe(false);
  });

  it('of two acquisitions at once, exactly one wins', async () => {
    const f = new PidFile(dir());
    const [a, b] = [await live(), await live()];
    const results = await Promise.allSettled([
      Promise.resolve().then(() => f.lock(a)),
      Promise.resolve().then(() => f.lock(b)),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(DaemonLockedError);
  });

  it('breaks a lock left by a process that died', async () => {
    const f = new PidFile(dir());
    writeFileSync(f.lockPath, `${await dead()}\n`);
    const lock = f.lock(process.pid);
    expect(readFileSync(f.lockPath, 'utf8')).toBe(`${process.pid}\n`);
    lock.release();
  });

  it('breaks an old lock whose pid now runs another program, but not a young one', async () => {
    const f = new PidFile(dir());
    const other = await live();
    writeFileSync(f.lockPath, `${other}\n`);
    expect(() => f.lock(process.pid)).toThrow(DaemonLockedError);
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    utimesSync(f.lockPath, twoMinutesAgo, twoMinutesAgo);
    f.lock(process.pid).release();
  });

  it('keeps an old lock held by a live Warden process', async () => {
    const f = new PidFile(dir());
    writeFileSync(f.lockPath, `${await live({ warden: true })}\n`);
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    utimesSync(f.lockPath, twoMinutesAgo, twoMinutesAgo);
    expect(() => f.lock(process.pid)).toThrow(DaemonLockedError);
  });

  it('release leaves a lock that another has taken since', () => {
    const f = new PidFile(dir());
    const lock = f.lock(process.pid);
    writeFileSync(f.lockPath, '1\n');
    lock.release();
    expect(readFileSync(f.lockPath, 'utf8')).toBe('1\n');
  });
});
