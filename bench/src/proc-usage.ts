/**
 * What /proc says about one process (Linux): CPU, RSS, children and command line. The
 * supervision bench measures a process manager with these readers, the same way for Warden's
 * supervisor and for pm2's daemon.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second for /proc/PID/stat (USER_HZ is 100 on every Linux build we meet). */
const CLK_TCK = 100;

/** CPU and memory of one process at one moment. */
export interface ProcUsage {
  /**
   * CPU seconds of the process itself, all its threads, as the scheduler counts them (the
   * run time in ns of /proc/PID/task/TID/schedstat, summed); utime + stime when schedstat is
   * missing. Precise to the ns, where utime and stime come in whole clock ticks (10 ms): an
   * idle manager's minute is a handful of ticks, so one tick more or less moves a ratio of
   * two such figures by 20–25%. A thread that ends between two readings takes its time with
   * it; an idle manager's threads stay.
   */
  ownCpuSec: number;
  /** The same in clock ticks (utime + stime), for comparison with `ps` and top. */
  ownTickCpuSec: number;
  /**
   * CPU seconds of children it has reaped (cutime + cstime). A manager that runs helper
   * commands (`ps`, a shell) pays for them here once it waits for them, so they count too.
   */
  reapedCpuSec: number;
  /** Resident set size in KiB (VmRSS of /proc/PID/status). */
  rssKiB: number;
}

/** Fields of /proc/PID/stat after the command name, which may hold spaces and parentheses. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (own and reaped children) and RSS of `pid`; throws when it is gone. */
export function procUsage(pid: number): ProcUsage {
  // After ')': state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
  const f = statFields(pid);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  const ticks = (Number(f[11]) + Number(f[12])) / CLK_TCK;
  return {
    ownCpuSec: schedRunSec(pid) ?? ticks,
    ownTickCpuSec: ticks,
    reapedCpuSec: (Number(f[13]) + Number(f[14])) / CLK_TCK,
    rssKiB: m ? Number(m[1]) : NaN,
  };
}

/** Run time of every thread of `pid` in seconds (schedstat), or undefined when unreadable. */
function schedRunSec(pid: number): number | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let ns = 0;
  for (const tid of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return Number.isFinite(ns) && tasks.length > 0 ? ns / 1e9 : undefined;
}

/** True while `pid` exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const state = statFields(pid)[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The argv of `pid` (empty for a zombie or kernel thread); undefined when it is gone. */
export function cmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.length === 0 ? [] : raw.replace(/\0$/, '').split('\0');
  } catch {
    return undefined;
  }
}

/**
 * Whether the kernel lists children per thread (/proc/PID/task/TID/children,
 * CONFIG_PROC_CHILDREN). Without it we scan the whole of /proc for the parent pid.
 */
const hasChildrenFile = (() => {
  try {
    readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8');
    return true;
  } catch {
    return false;
  }
})();

/**
 * Pids whose parent is `pid`. A child is listed under the thread that forked it, so every
 * thread is read; a manager's children are usually all under its main thread, and that costs
 * a few small reads, cheap enough to poll every millisecond.
 */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  if (hasChildrenFile) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      return out;
    }
    for (const tid of tasks) {
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
      } catch {
        continue; // the thread ended between the listing and the read
      }
      for (const p of text.split(' ')) if (p !== '' && p !== '\n') out.push(Number(p));
    }
    return out;
  }
  for (const name of readdirSync('/proc')) {
    const child = Number(name);
    if (!Number.isInteger(child)) continue;
    try {
      if (Number(statFields(child)[1]) === pid) out.push(child);
    } catch {
      // gone between the listing and the read
    }
  }
  return out;
}

/**
 * The running children of `pid` (zombies left out) keyed by their command line joined with
 * spaces: how the bench tells which agent a process is, since every agent gets its own argv.
 */
export function childrenByCmdline(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const child of childPids(pid)) {
    const argv = cmdline(child);
    if (argv === undefined || argv.length === 0) continue; // gone, or a zombie
    out.set(argv.join(' '), child);
  }
  return out;
}

/**
 * Kills a process manager and everything it started, without giving it the chance to start
 * more: it is stopped (SIGSTOP) first, then its children and it get SIGKILL. For leftovers
 * only; the normal path stops each manager its own way. Returns the pids killed.
 */
export function killManagerTree(pid: number): number[] {
  const killed: number[] = [];
  const kill = (p: number, sig: NodeJS.Signals) => {
    try {
      process.kill(p, sig);
      return true;
    } catch {
      return false; // already gone
    }
  };
  if (!kill(pid, 'SIGSTOP')) return killed;
  for (const child of childPids(pid)) if (kill(child, 'SIGKILL')) killed.push(child);
  if (kill(pid, 'SIGKILL')) killed.push(pid);
  return killed;
}
