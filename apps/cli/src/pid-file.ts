import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The slice of the operating system the PID file needs, so tests can point it at real pids. */
export interface ProcessProbe {
  /** Whether a process with this pid exists and is not a zombie (EPERM counts as alive). */
  alive(pid: number): boolean;
  /**
   * The process's command line, arguments joined by spaces; undefined when it cannot be
   * known (no /proc on this platform, or hidden by a `hidepid` mount).
   */
  commandLine(pid: number): string | undefined;
}

/** {@link ProcessProbe} on the real machine: `kill(pid, 0)` and `/proc/<pid>/…` on Linux. */
export const systemProcessProbe: ProcessProbe = {
  alive(pid) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
    }
    // A zombie still answers signal 0, yet it is as good as gone: it will never serve again.
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return true;
    }
  },
  commandLine(pid) {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      return undefined;
    }
  },
};

/**
 * Whether `pid` is a running Warden: alive and, where the command line can be read, one that
 * names `warden` — so a pid the kernel has since given to another program is not mistaken
 * for the daemon (and never sent its signals).
 */
export function isWardenProcess(pid: number, probe: ProcessProbe = systemProcessProbe): boolean {
  if (!probe.alive(pid)) return false;
  const cmd = probe.commandLine(pid);
  return cmd === undefined || cmd.includes('warden');
}

/** What the PID file says about the daemon. */
export type PidFileState =
  | { state: 'absent' }
  | { state: 'running'; pid: number; since: number }
  | { state: 'stale'; pid: number | undefined; reason: string };

/** Thrown by {@link PidFile.lock} while another live process holds the lock. */
export class DaemonLockedError extends Error {
  readonly code = 'locked';

  constructor(
    readonly lockPath: string,
    readonly holder: number,
  ) {
    super(`${lockPath} is held by pid ${holder}`);
    this.name = 'DaemonLockedError';
  }
}

/** An acquired start lock; release it once the PID file names the new daemon. */
export interface DaemonLock {
  readonly path: string;
  release(): void;
}

/** Age after which a lock held by a pid that is not a Warden process is taken as stale. */
const STALE_LOCK_AGE_MS = 60_000;

function parsePid(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d{1,10}$/.test(t)) return undefined;
  const pid = Number(t);
  return pid > 0 ? pid : undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The daemon's PID file `<data-dir>/warden.pid` and its start lock `<data-dir>/warden.lock`.
 * The lock is held only while a `warden daemon start` checks the PID file and spawns the
 * server, so two starts cannot both decide that nothing is running.
 */
export class PidFile {
  /** `<data-dir>/warden.pid`: the daemon's pid, mode 0644 (nothing secret in it). */
  readonly path: string;
  /** `<data-dir>/warden.lock`: the pid of the `daemon start` holding it. */
  readonly lockPath: string;

  constructor(
    dataDir: string,
    private readonly probe: ProcessProbe = systemProcessProbe,
  ) {
    this.path = join(dataDir, 'warden.pid');
    this.lockPath = join(dataDir, 'warden.lock');
  }

  /** Reads the PID file; `stale` when it names no pid, a dead one, or a non-Warden process. */
  read(): PidFileState {
    const text = readText(this.path);
    if (text === undefined) return { state: 'absent' };
    const pid = parsePid(text);
    if (pid === undefined) return { state: 'stale', pid, reason: 'it holds no pid' };
    if (!this.probe.alive(pid)) return { state: 'stale', pid, reason: `pid ${pid} is not running` };
    if (!isWardenProcess(pid, this.probe)) {
      return { state: 'stale', pid, reason: `pid ${pid} now belongs to another program` };
    }
    let since: number;
    try {
      since = statSync(this.path).mtimeMs;
    } catch {
      return { state: 'absent' };
    }
    return { state: 'running', pid, since };
  }

  /** Writes `pid` (write to a temporary file, then rename, so a reader never sees half). */
  write(pid: number): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
    renameSync(tmp, this.path);
  }

  /** Removes the PID file; with `pid`, only while it still names that pid. */
  remove(pid?: number): void {
    if (pid !== undefined) {
      const text = readText(this.path);
      if (text === undefined || parsePid(text) !== pid) return;
    }
    rmSync(this.path, { force: true });
  }

  /**
   * Takes the start lock for `owner` (exclusive create). A lock left by a dead process is
   * broken; one held by a live process throws {@link DaemonLockedError}.
   */
  lock(owner: number = process.pid): DaemonLock {
    // The lock is written whole under a private name and then linked into place: link is
    // atomic and fails when the lock exists, so no one ever reads a lock without its pid.
    const tmp = `${this.lockPath}.${owner}.${process.pid}.tmp`;
    writeFileSync(tmp, `${owner}\n`, { mode: 0o644 });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          linkSync(tmp, this.lockPath);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const holder = parsePid(readText(this.lockPath) ?? '');
          if (attempt >= 2 || (holder !== undefined && this.holds(holder))) {
            throw new DaemonLockedError(this.lockPath, holder ?? 0);
          }
          this.breakStale(holder);
        }
      }
    } finally {
      rmSync(tmp, { force: true });
    }
    const path = this.lockPath;
    let held = true;
    return {
      path,
      release: () => {
        if (!held) return;
        held = false;
        if (parsePid(readText(path) ?? '') === owner) rmSync(path, { force: true });
      },
    };
  }

  /**
   * Whether a live `holder` still counts: a start holds the lock for milliseconds, so an old
   * lock whose pid now runs something other than Warden was left by a start that died and
   * whose pid the kernel has given away.
   */
  private holds(holder: number): boolean {
    if (!this.probe.alive(holder)) return false;
    let age = 0;
    try {
      age = Date.now() - statSync(this.lockPath).mtimeMs;
    } catch {
      return false;
    }
    return age < STALE_LOCK_AGE_MS || isWardenProcess(holder, this.probe);
  }

  /**
   * Moves a dead holder's lock aside before deleting it. Two starts breaking the same stale
   * lock could otherwise each delete the lock the other has just taken: the rename is
   * atomic, so whoever moved a lock that is not the stale one puts it back (link fails if a
   * newer one exists, which then stands).
   */
  private breakStale(holder: number | undefined): void {
    const aside = `${this.lockPath}.${process.pid}.stale`;
    try {
      renameSync(this.lockPath, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const moved = parsePid(readText(aside) ?? '');
    if (moved !== holder) {
      try {
        linkSync(aside, this.lockPath);
      } catch {
        // A newer lock took the place: it wins.
      }
    }
    rmSync(aside, { force: true });
  }
}
