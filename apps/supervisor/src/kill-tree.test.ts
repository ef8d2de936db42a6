import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { killTree, stopTree } from './kill-tree.js';
import type { ProcessControl } from './kill-tree.js';
import { readProcStat, readProcTable, treePids } from './process-tree.js';
import type { ProcStat } from './process-tree.js';
import { ManualClock } from './test-support/manual-clock.js';

const groups: number[] = [];
afterEach(() => {
  // The group and any stray that left it (the setsid cases).
  for (const root of groups.splice(0)) killTree(root, 'SIGKILL');
});

/** Starts `sh -c script` as the leader of its own process group, as agents are started. */
function startShell(script: string): number {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  groups.push(child.pid!);
  return child.pid!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the tree of `root` has `n` processes (and passes `ok`); returns their pids. */
async function treeOf(
  root: number,
  n: number,
  ok: (table: Map<number, ProcStat>, pids: number[]) => boolean = () => true,
): Promise<number[]> {
  const end = Date.now() + 5000;
  for (;;) {
    const table = readProcTable();
    const pids = treePids(root, table);
    if (pids.length === n && ok(table, pids)) return pids;
    if (Date.now() > end) throw new Error(`tree of ${root} has ${pids.length} processes, not ${n}`);
    await sleep(20);
  }
}

const alive = (pid: number) => {
  const s = readProcStat(pid);
  return s !== undefined && s.state !== 'Z';
};

describe('stopTree on real processes', () => {
  it('a polite tree exits on SIGTERM without SIGKILL', async () => {
    const root = startShell('sleep 60 & sleep 60 & wait');
    const pids = await treeOf(root, 3);
    const r = await stopTree(root, { killTimeoutMs: 5000 });
    expect(r.escalated).toBe(false);
    expect(r.survivors).toEqual([]);
    expect(r.pids.sort()).toEqual([...pids].sort());
    expect(r.durationMs).toBeLessThan(2000);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('a process that ignores SIGTERM is SIGKILLed after kill_timeout, and its grandchildren die too', async () => {
    // An ignored signal stays ignored across fork and exec, so the whole tree shrugs off TERM.
    const root = startShell(`trap "" TERM; sh -c 'sleep 60 & wait' & wait`);
    const pids = await treeOf(root, 3);
    const r = await stopTree(root, { killTimeoutMs: 300 });
    expect(r.escalated).toBe(true);
    expect(r.survivors).toEqual([]);
    expect(r.durationMs).toBeGreaterThanOrEqual(300);
    expect(r.durationMs).toBeLessThan(3000);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('reaches a descendant that left the group (setsid) and an orphan that stayed in it', async () => {
    const root = startShell(`setsid sleep 60 & sh -c 'sleep 60 &'; wait`);
    // Wait for the shape: the setsid one out of the group, and the orphan reparented away.
    const pids = await treeOf(root, 3, (t, ps) => {
      const procs = ps.map((p) => t.get(p)!);
      return (
        procs.some((p) => p.pgid !== root) && procs.some((p) => p.ppid !== root && p.pid !== root)
      );
    });
    const r = await stopTree(root, { killTimeoutMs: 2000 });
    expect(r.escalated).toBe(false);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('a tree that is already gone stops at once', async () => {
    const root = startShell('exit 0');
    await sleep(100);
    expect(await stopTree(root, { killTimeoutMs: 1000 })).toMatchObject({
      escalated: false,
      pids: [],
    });
  });

  it('killTree signals the group and the strays, and returns what it found', async () => {
    const root = startShell('setsid sleep 60 & sleep 60 & wait');
    const pids = await treeOf(root, 3);
    const found = killTree(root, 'SIGKILL');
    expect(found.map((p) => p.pid).sort()).toEqual([...pids].sort());
    await sleep(200);
    expect(pids.filter(alive)).toEqual([]);
  });
});

/** A pretend tree: each process dies on the signals in `diesOn`. */
function fakeTree(
  procs: Array<{ pid: number; pgid: number; ppid: number; diesOn: NodeJS.Signals[] }>,
) {
  const live = new Map<number, ProcStat & { diesOn: NodeJS.Signals[] }>();
  for (const p of procs)
    live.set(p.pid, {
      ...p,
      state: 'S',
      cpuTicks: 0,
      childCpuTicks: 0,
      rssPages: 0,
      startTicks: 1,
    });
  const sent: string[] = [];
  const control: ProcessControl = {
    readTable: () => new Map(live),
    readStat: (pid) => live.get(pid),
    kill: (pid, signal) => {
      const targets = pid < 0 ? [...live.values()].filter((p) => p.pgid === -pid) : [live.get(pid)];
      if (targets.length === 0 || targets[0] === undefined)
        throw Object.assign(new Error('no such process'), { code: 'ESRCH' });
      if (signal === 0) return;
      sent.push(`${signal} ${pid}`);
      for (const p of targets) if (p!.diesOn.includes(signal)) live.delete(p!.pid);
    },
  };
  return { control, sent, live };
}

describe('stopTree timing', () => {
  it('escalates exactly at kill_timeout, not before, when the tree ignores SIGTERM', async () => {
    const clock = new ManualClock();
    const { control, sent, live } = fakeTree([
      { pid: 10, pgid: 10, ppid: 1, diesOn: ['SIGKILL'] },
      { pid: 11, pgid: 11, ppid: 10, diesOn: ['SIGKILL'] },
    ]);
    let result: Awaited<ReturnType<typeof stopTree>> | undefined;
    void stopTree(10, { killTimeoutMs: 1000, clock, control }).then((r) => (result = r));
    await clock.advanceAsync(999, 1);
    expect(result).toBeUndefined();
    expect(sent).toEqual(['SIGTERM -10', 'SIGTERM 11']);
    await clock.advanceAsync(10, 1);
    expect(result).toMatchObject({ escalated: true, survivors: [], durationMs: 1000 });
    expect(sent).toEqual(['SIGTERM -10', 'SIGTERM 11', 'SIGKILL -10', 'SIGKILL 11']);
    expect(live.size).toBe(0);
  });

  it('resolves as soon as the tree is gone after SIGTERM, without SIGKILL', async () => {
    const clock = new ManualClock();
    const { control, sent } = fakeTree([
      { pid: 10, pgid: 10, ppid: 1, diesOn: ['SIGTERM', 'SIGKILL'] },
    ]);
    const r = await stopTree(10, { killTimeoutMs: 1000, clock, control });
    expect(r).toEqual({ escalated: false, pids: [10], survivors: [], durationMs: 0 });
    expect(sent).toEqual(['SIGTERM -10']);
  });

  it('reports a process that survives even SIGKILL once reapTimeout has passed', async () => {
    const clock = new ManualClock();
    const { control } = fakeTree([{ pid: 10, pgid: 10, ppid: 1, diesOn: [] }]);
    let result: Awaited<ReturnType<typeof stopTree>> | undefined;
    void stopTree(10, { killTimeoutMs: 100, reapTimeoutMs: 500, clock, control }).then(
      (r) => (result = r),
    );
    await clock.advanceAsync(700, 5);
    expect(result).toMatchObject({ escalated: true, survivors: [10], durationMs: 600 });
  });
});
