import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killTree } from './kill-tree.js';
import { ManagedProcess } from './managed-process.js';
import type {
  ManagedProcessOptions,
  OutputLine,
  ProcessExit,
  SpawnedChild,
  Spawner,
  SpawnerOptions,
} from './managed-process.js';
import { readProcStat, readProcTable, treePids } from './process-tree.js';

const started: ManagedProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const p of started.splice(0)) if (p.pid !== undefined) killTree(p.pid, 'SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-mp-'));
  dirs.push(d);
  return d;
}

/** Starts a process and records its lines and exit callbacks. */
function run(options: ManagedProcessOptions) {
  const lines: OutputLine[] = [];
  const exits: ProcessExit[] = [];
  const proc = ManagedProcess.start({
    ...options,
    onLine: (l) => lines.push(l),
    onExit: (e) => exits.push(e),
  });
  started.push(proc);
  return { proc, lines, exits, text: () => lines.map((l) => `${l.stream}:${l.line}`) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('ManagedProcess output', () => {
  it('captures both streams line by line, in order, each with its time, and the final line without a newline', async () => {
    const { proc, lines, exits, text } = run({
      command: [
        '/bin/sh',
        '-c',
        `echo o1; sleep 0.05; echo e1 >&2; sleep 0.05; echo o2; sleep 0.05; printf 'e2 no newline' >&2; exit 3`,
      ],
    });
    const exit = await proc.exited;
    expect(text()).toEqual(['stdout:o1', 'stderr:e1', 'stdout:o2', 'stderr:e2 no newline']);
    for (let i = 1; i < lines.length; i++)
      expect(lines[i]!.ts).toBeGreaterThanOrEqual(lines[i - 1]!.ts);
    expect(lines[0]!.ts).toBeGreaterThanOrEqual(exit.startedAt);
    expect(lines[2]!.ts - lines[0]!.ts).toBeGreaterThanOrEqual(80);
    expect(exit).toMatchObject({
      code: 3,
      signal: null,
      requested: false,
      escalated: false,
      reason: 'exited with code 3',
    });
    expect(exit.pid).toBeGreaterThan(0);
    expect(exit.exitedAt).toBeGreaterThanOrEqual(exit.startedAt);
    expect(exits).toEqual([exit]);
  });

  it('a line over the cap arrives in marked pieces, and invalid UTF-8 is replaced, not fatal', async () => {
    const { proc, lines } = run({
      command: `head -c 40000 /dev/zero | tr '\\0' x; echo; printf '\\377ok\\n'`,
    });
    await proc.exited;
    expect(lines.map((l) => [l.line.length, l.partial])).toEqual([
      [16384, true],
      [16384, true],
      [40000 - 2 * 16384, false],
      [3, false],
    ]);
    expect(lines[3]!.line).toBe('\uFFFDok');
  });

  it('runs a shell string with /bin/sh -c', async () => {
    const { proc, text } = run({ command: 'echo $((1 + 2)) "$0"' });
    expect((await proc.exited).code).toBe(0);
    expect(text()).toEqual(['stdout:3 /bin/sh']);
  });

  it('the extra env reaches the child over the inherited one, and undefined removes a variable', async () => {
    const { proc, text } = run({
      command: [
        '/bin/sh',
        '-c',
        'echo "$WARDEN_AGENT_ID|$WARDEN_URL|$WARDEN_TOKEN|$KEEP|${GONE-unset}"',
      ],
      baseEnv: { PATH: process.env.PATH, KEEP: 'kept', GONE: 'here' },
      env: {
        WARDEN_AGENT_ID: 'worker-1',
        WARDEN_URL: 'http://127.0.0.1:1',
        WARDEN_TOKEN: 't0k',
        GONE: undefined,
      },
    });
    await proc.exited;
    expect(text()).toEqual(['stdout:worker-1|http://127.0.0.1:1|t0k|kept|unset']);
  });

  it('inherits process.env by default', async () => {
    process.env.WARDEN_TEST_INHERITED = 'yes';
    try {
      const { proc, text } = run({ command: 'echo $WARDEN_TEST_INHERITED' });
      await proc.exited;
      expect(text()).toEqual(['stdout:yes']);
    } finally {
      delete process.env.WARDEN_TEST_INHERITED;
    }
  });

  it('honours cwd', async () => {
    const dir = tempDir();
    const { proc, text } = run({ command: ['pwd'], cwd: dir });
    await proc.exited;
    expect(text()).toEqual([`stdout:${fs.realpathSync(dir)}`]);
  });
});

describe('ManagedProcess exit and stop', () => {
  it('reports the signal that killed it', async () => {
    const { proc } = run({ command: ['/bin/sh', '-c', 'kill -9 $$'] });
    expect(await proc.exited).toMatchObject({
      code: null,
      signal: 'SIGKILL',
      requested: false,
      reason: 'killed by SIGKILL',
    });
  });

  it('leads its own process group, and is running until it exits', async () => {
    const { proc } = run({ command: ['sleep', '30'] });
    expect(proc.running).toBe(true);
    const stat = readProcStat(proc.pid!)!;
    expect(stat.pgid).toBe(proc.pid);
    expect(stat.ppid).toBe(process.pid);
    await proc.stop();
    expect(proc.running).toBe(false);
  });

  it('hands the new pid to adopt before start returns (the fleet cgroup move), and never a failed spawn', async () => {
    const adopted: number[] = [];
    const { proc } = run({ command: ['sleep', '30'], adopt: (pid) => adopted.push(pid) });
    expect(adopted).toEqual([proc.pid]);
    await proc.stop();
    const failed = run({ command: ['/nonexistent/agent'], adopt: (pid) => adopted.push(pid) });
    await failed.proc.exited;
    expect(adopted).toHaveLength(1);
  });

  it('a requested stop is flagged requested, and a polite process needs no SIGKILL', async () => {
    const { proc, exits } = run({ command: ['sleep', '30'] });
    const exit = await proc.stop({ killTimeoutMs: 5000 });
    expect(exit).toMatchObject({ signal: 'SIGTERM', requested: true, escalated: false });
    expect(exit.reason).toBe('stopped on request (killed by SIGTERM)');
    expect(await proc.stop()).toBe(exit);
    expect(exits).toHaveLength(1);
  });

  it('stop escalates to SIGKILL for a child that ignores SIGTERM, within kill_timeout, grandchildren included', async () => {
    // An ignored signal stays ignored in children, so the whole tree shrugs off SIGTERM.
    const { proc } = run({
      command: `trap "" TERM; sh -c 'sleep 60 & wait' & wait`,
      killTimeoutMs: 300,
    });
    let pids: number[] = [];
    await until('the grandchild', () => (pids = treePids(proc.pid!, readProcTable())).length === 3);
    const t0 = Date.now();
    const exit = await proc.stop();
    const took = Date.now() - t0;
    expect(exit).toMatchObject({ signal: 'SIGKILL', requested: true, escalated: true });
    expect(exit.reason).toBe(
      'stopped on request: still running 300 ms after SIGTERM, so killed with SIGKILL (killed by SIGKILL)',
    );
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3000);
    const alive = pids.filter((p) => {
      const st = readProcStat(p);
      return st !== undefined && st.state !== 'Z';
    });
    expect(alive).toEqual([]);
  });

  it('stops what the main process left running in its group before reporting the exit', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'pid');
    const { proc } = run({ command: `sleep 60 & echo $! > ${pidFile}; exit 0` });
    const exit = await proc.exited;
    const orphan = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(exit).toMatchObject({ code: 0, requested: false, leftovers: true, escalated: false });
    expect(exit.reason).toBe('exited with code 0; processes it left running were stopped');
    const s = readProcStat(orphan);
    expect(s === undefined || s.state === 'Z').toBe(true);
  });

  it('reports the exit after the stdio grace when an escaped descendant still holds the output pipe', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'pid');
    // setsid takes the sleep out of the group, so it is no leftover, but it keeps stdout open.
    const { proc, text } = run({
      // The pid file is written after setsid, so the shell exits only once the sleep has left.
      command: `echo before; setsid sh -c 'echo $$ > ${pidFile}; exec sleep 60' & while [ ! -s ${pidFile} ]; do sleep 0.01; done; exit 0`,
      stdioGraceMs: 150,
    });
    const t0 = Date.now();
    const exit = await proc.exited;
    process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
    expect(exit).toMatchObject({ code: 0, leftovers: false });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(exit.exitedAt).toBeLessThanOrEqual(Date.now() - 100);
    expect(text()).toEqual(['stdout:before']);
  });

  it('hints at the shell when a shell string exits 127', async () => {
    const { proc } = run({ command: 'warden-no-such-command-xyz' });
    const exit = await proc.exited;
    expect(exit.code).toBe(127);
    expect(exit.reason).toMatch(/^exited with code 127: the shell could not find a command/);
  });
});

describe('ManagedProcess start failures', () => {
  it('a missing binary gives a clear reason naming the command, not a throw', async () => {
    const { proc, exits } = run({ command: ['warden-no-such-binary-xyz', '--flag'] });
    expect(proc.running).toBe(false);
    const exit = await proc.exited;
    expect(exit).toMatchObject({ pid: undefined, code: null, signal: null, requested: false });
    expect(exit.spawnError).toMatchObject({ code: 'command_not_found', errno: 'ENOENT' });
    expect(exit.reason).toBe(
      `command not found: "warden-no-such-binary-xyz" is not on the agent's PATH (command ["warden-no-such-binary-xyz","--flag"])`,
    );
    expect(exits).toEqual([exit]);
    expect(await proc.stop()).toBe(exit);
  });

  it('a file without execute permission is permission_denied', async () => {
    const file = path.join(tempDir(), 'agent.sh');
    fs.writeFileSync(file, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const exit = await run({ command: [file] }).proc.exited;
    expect(exit.spawnError?.code).toBe('permission_denied');
    expect(exit.reason).toContain(JSON.stringify(file));
  });

  it('a script whose #! interpreter is missing says so', async () => {
    const file = path.join(tempDir(), 'agent.sh');
    fs.writeFileSync(file, '#!/nonexistent/interpreter\n', { mode: 0o755 });
    const exit = await run({ command: [file] }).proc.exited;
    expect(exit.spawnError?.code).toBe('command_not_found');
    expect(exit.reason).toMatch(/interpreter on its #! line was not found/);
  });

  it('a missing cwd is reported as such, not as a missing binary', async () => {
    const exit = await run({ command: ['sleep', '1'], cwd: '/nonexistent/warden-cwd' }).proc.exited;
    expect(exit.spawnError?.code).toBe('cwd_not_found');
    expect(exit.reason).toBe(
      'cwd "/nonexistent/warden-cwd" is not a directory (for ["sleep","1"])',
    );
  });

  it('an empty command or an argument with a NUL byte is invalid_command', async () => {
    expect((await run({ command: [] }).proc.exited).spawnError?.code).toBe('invalid_command');
    expect((await run({ command: '  ' }).proc.exited).spawnError?.code).toBe('invalid_command');
    expect((await run({ command: ['echo', 'a\u0000b'] }).proc.exited).spawnError?.code).toBe(
      'invalid_command',
    );
  });
});

describe('ManagedProcess spawning', () => {
  /** A spawner that records what it was asked and returns a child that exits at once. */
  function recordingSpawner() {
    const calls: Array<{ file: string; args: readonly string[]; options: SpawnerOptions }> = [];
    const spawner: Spawner = (file, args, options) => {
      calls.push({ file, args, options });
      const child = Object.assign(new EventEmitter(), { pid: 999_999, stdout: null, stderr: null });
      setImmediate(() => child.emit('exit', 0, null));
      return child as unknown as SpawnedChild;
    };
    return { spawner, calls };
  }

  it('starts an argv directly, detached with stdin closed and both outputs piped', async () => {
    const { spawner, calls } = recordingSpawner();
    await ManagedProcess.start({ command: ['node', 'worker.js'], spawner, killLeftovers: false })
      .exited;
    expect(calls[0]).toMatchObject({
      file: 'node',
      args: ['worker.js'],
      options: { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    });
  });

  it('starts a shell string as /bin/sh -c', async () => {
    const { spawner, calls } = recordingSpawner();
    await ManagedProcess.start({
      command: 'node worker.js | tee log',
      spawner,
      killLeftovers: false,
    }).exited;
    expect(calls[0]).toMatchObject({ file: '/bin/sh', args: ['-c', 'node worker.js | tee log'] });
  });
});
