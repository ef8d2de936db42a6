import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { readProcStat, readProcTable, treePids } from './process-tree.js';
import type { ProcStat } from './process-tree.js';

/** The slice of the operating system that stopping a tree needs (injected in tests). */
export interface ProcessControl {
  /** Every process now (to find a tree). */
  readTable(): ReadonlyMap<number, ProcStat>;
  /** One process now, or undefined when it is gone. */
  readStat(pid: number): ProcStat | undefined;
  /**
   * kill(2): a negative pid signals that process group. Throws an error with `code` ESRCH
   * when there is no such process, EPERM when it may not be signalled.
   */
  kill(pid: number, signal: NodeJS.Signals | 0): void;
}

/** {@link ProcessControl} on this machine: /proc and `process.kill`. */
export const systemProcessControl: ProcessControl = {
  readTable: () => readProcTable(),
  readStat: (pid) => readProcStat(pid),
  kill: (pid, signal) => {
    process.kill(pid, signal);
  },
};

/** Options of {@link killTree}. */
export interface KillTreeOptions {
  /** @defaultValue {@link systemProcessControl} */
  control?: ProcessControl;
  /**
   * A snapshot already read this instant (e.g. to stop many trees with one read of /proc).
   * @defaultValue a fresh `control.readTable()`
   */
  table?: ReadonlyMap<number, ProcStat>;
}

/** Sends `signal`; false when the process is gone or may not be signalled. */
function trySignal(control: ProcessControl, pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    control.kill(pid, signal);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH' || code === 'EPERM') return false;
    throw err;
  }
}

const isDead = (p: ProcStat | undefined): boolean =>
  p === undefined || p.state === 'Z' || p.state === 'X';

/**
 * Signals the whole tree of `rootPid` (see {@link treePids}): its process group at once when
 * it leads one — as agents started detached do, which also reaches children that outlived
 * their parent and were reparented to init — then, one by one, descendants that left the
 * group (`setsid`, their own detached children). Processes that are already gone, or may not
 * be signalled, are passed over. Returns the live processes it found, root first.
 */
export function killTree(
  rootPid: number,
  signal: NodeJS.Signals,
  options: KillTreeOptions = {},
): ProcStat[] {
  const control = options.control ?? systemProcessControl;
  const table = options.table ?? control.readTable();
  const members: ProcStat[] = [];
  let group = false;
  for (const pid of treePids(rootPid, table)) {
    const p = table.get(pid)!;
    if (isDead(p)) continue;
    members.push(p);
    if (p.pgid === rootPid) group = true;
  }
  // The group is signalled only when the snapshot shows it, so a pid long gone and reused
  // by someone else's group leader is never hit.
  if (group) trySignal(control, -rootPid, signal);
  for (const p of members) {
    // One that was in the group in the snapshot may have left it since (setsid between the
    // read and the group signal): look again, so it is not missed.
    const pgid = p.pgid === rootPid ? control.readStat(p.pid)?.pgid : p.pgid;
    if (pgid !== undefined && pgid !== rootPid) trySignal(control, p.pid, signal);
  }
  return members;
}

/** Options of {@link stopTree}. */
export interface StopTreeOptions {
  /** `kill_timeout`: how long the tree has to exit after SIGTERM before SIGKILL. */
  killTimeoutMs: number;
  /** @defaultValue {@link systemClock} */
  clock?: Clock;
  /** @defaultValue {@link systemProcessControl} */
  control?: ProcessControl;
  /**
   * How long to wait for processes to vanish after SIGKILL (a process in uninterruptible
   * disk sleep dies only when its I/O returns) before reporting them as survivors.
   * @defaultValue 2000
   */
  reapTimeoutMs?: number;
  /** Longest pause between checks while waiting; checks start at 5 ms and double. @defaultValue 100 */
  maxPollMs?: number;
}

/** How {@link stopTree} ended. */
export interface StopTreeResult {
  /** Something outlived `kill_timeout` and got SIGKILL. */
  escalated: boolean;
  /** Processes found in the tree when SIGTERM was sent. */
  pids: number[];
  /** Processes still there after SIGKILL and `reapTimeoutMs` (normally none). */
  survivors: number[];
  /** From SIGTERM to the end, in ms on the clock. */
  durationMs: number;
}

/**
 * Stops the whole tree of `rootPid`: SIGTERM to every process in it, wait until they are all
 * gone, and SIGKILL whatever remains after `killTimeoutMs` (found afresh, so a child forked
 * while shutting down dies too). Zombies count as gone: they hold no resources but a pid,
 * and their parent or init reaps them. Never rejects.
 */
export async function stopTree(rootPid: number, options: StopTreeOptions): Promise<StopTreeResult> {
  const clock = options.clock ?? systemClock;
  const control = options.control ?? systemProcessControl;
  const maxPollMs = options.maxPollMs ?? 100;
  const start = clock.now();
  const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));

  const gone = (p: ProcStat): boolean => {
    const now = control.readStat(p.pid);
    return isDead(now) || now!.startTicks !== p.startTicks;
  };
  /** Waits until every process of `live` is gone or `deadline`; returns those still there. */
  const waitGone = async (live: ProcStat[], deadline: number): Promise<ProcStat[]> => {
    let poll = 5;
    for (;;) {
      live = live.filter((p) => !gone(p));
      if (live.length === 0) return live;
      const left = deadline - clock.now();
      if (left <= 0) return live;
      await sleep(Math.min(poll, left));
      poll = Math.min(poll * 2, maxPollMs);
    }
  };

  const first = killTree(rootPid, 'SIGTERM', { control });
  const pids = first.map((p) => p.pid);
  const deadline = start + options.killTimeoutMs;
  let left = await waitGone(first, deadline);
  if (left.length === 0 && trySignal(control, -rootPid, 0)) {
    // The group still has members the first snapshot did not hold (forked since SIGTERM).
    left = await waitGone(killTree(rootPid, 'SIGTERM', { control }), deadline);
  }
  if (left.length === 0)
    return { escalated: false, pids, survivors: [], durationMs: clock.now() - start };

  const second = killTree(rootPid, 'SIGKILL', { control });
  const found = new Set(second.map((p) => p.pid));
  // Stragglers that left the tree entirely (reparented to init outside the group).
  for (const p of left)
    if (!found.has(p.pid) && !gone(p)) {
      trySignal(control, p.pid, 'SIGKILL');
      second.push(p);
    }
  const survivors = await waitGone(second, clock.now() + (options.reapTimeoutMs ?? 2000));
  return {
    escalated: true,
    pids,
    survivors: survivors.map((p) => p.pid),
    durationMs: clock.now() - start,
  };
}
