import fs from 'node:fs';
import path from 'node:path';
import type { SupervisorLog } from './supervisor-reporter.js';

/**
 * `monitoring.cgroup`: `auto` finds a cgroup Warden may write (cgroup v1 `cpuacct`, else a
 * delegated cgroup v2 subtree), `off` uses none, an absolute path names the cgroup directory
 * under which Warden makes its own.
 */
export type FleetCgroupSetting = 'auto' | 'off' | (string & {});

/** 1: a cgroup v1 `cpuacct` hierarchy (`cpuacct.usage`, ns); 2: cgroup v2 (`cpu.stat`, µs). */
export type CgroupVersion = 1 | 2;

/** A cgroup directory under which a fleet cgroup may be made. */
export interface CgroupParent {
  dir: string;
  version: CgroupVersion;
}

/** One line of `/proc/self/cgroup`: `hierarchy-id:controllers:path`. */
export interface SelfCgroupLine {
  id: number;
  /** Empty for cgroup v2 (`0::/path`). */
  controllers: string[];
  path: string;
}

/** What {@link findCgroupParents} and {@link FleetCgroup.open} read of a mount. */
export interface CgroupMount {
  /** The path of the hierarchy that is mounted (field 4; `/` unless a subtree is bind-mounted). */
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** Where {@link FleetCgroup.open} looks, injected so tests use files of their own. */
export interface FleetCgroupOptions {
  /** @defaultValue `'/proc/self/cgroup'` */
  selfCgroupFile?: string;
  /** @defaultValue `'/proc/self/mountinfo'` */
  mountInfoFile?: string;
  /**
   * Name of the cgroup made under the parent. Its pid part tells later supervisors whether
   * the one that made it is still alive (see {@link removeStaleCgroups}).
   * @defaultValue `warden-<pid>-<n>`, n counting the supervisors of this process
   */
  name?: string;
  /** Whether a process is alive (stale cgroups of dead ones are removed). @defaultValue kill(pid, 0) */
  isAlive?: (pid: number) => boolean;
  /** Told of stale cgroups removed and of processes that could not be moved in. */
  log?: SupervisorLog;
}

/** {@link FleetCgroup.open}'s answer: a cgroup, or why there is none. */
export type FleetCgroupResult =
  { cgroup: FleetCgroup; reason?: undefined } | { cgroup: undefined; reason: string };

/** Names Warden gives its cgroups: `warden-<pid>` or `warden-<pid>-<n>`. */
const OWN_NAME = /^warden-(\d+)(?:-\d+)?$/;

let instances = 0;

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) === 'EPERM';
  }
}

/** Undoes mountinfo's octal escapes (`\040` for a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses `/proc/self/mountinfo` (proc(5)); lines it cannot read are skipped. */
export function parseMountInfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 4) continue;
    out.push({
      root: unescapeMount(f[3]!),
      mountPoint: unescapeMount(f[4]!),
      fsType: f[sep + 1]!,
      superOptions: f[sep + 3]!.split(','),
    });
  }
  return out;
}

/** Parses `/proc/self/cgroup`; lines it cannot read are skipped. */
export function parseSelfCgroup(text: string): SelfCgroupLine[] {
  const out: SelfCgroupLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    out.push({ id: Number(m[1]), controllers: m[2] ? m[2].split(',') : [], path: m[3]! });
  }
  return out;
}

/** The directory of cgroup `cgPath` under `mount`, or undefined when it is not mounted there. */
function dirUnder(mount: CgroupMount, cgPath: string): string | undefined {
  const root = mount.root;
  if (root === '/') return path.join(mount.mountPoint, cgPath);
  if (cgPath === root) return mount.mountPoint;
  if (cgPath.startsWith(root + '/')) return path.join(mount.mountPoint, cgPath.slice(root.length));
  return undefined;
}

/**
 * The cgroups of this process in which a fleet cgroup could be made, best first: its cgroup
 * in a v1 `cpuacct` hierarchy (CPU in ns), then its cgroup v2 (CPU in µs). `notes` says why
 * a kind is missing. Whether Warden may write there is not checked here.
 */
export function findCgroupParents(
  selfCgroup: readonly SelfCgroupLine[],
  mounts: readonly CgroupMount[],
): { parents: CgroupParent[]; notes: string[] } {
  const parents: CgroupParent[] = [];
  const notes: string[] = [];
  const v1 = selfCgroup.find((l) => l.controllers.includes('cpuacct'));
  const v1Mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('cpuacct'));
  if (!v1 || !v1Mount) notes.push('no cgroup v1 cpuacct hierarchy');
  else {
    const dir = dirUnder(v1Mount, v1.path);
    if (dir) parents.push({ dir, version: 1 });
    else
      notes.push(
        `cpuacct cgroup ${v1.path} is outside the mounted part (${v1Mount.root} at ${v1Mount.mountPoint})`,
      );
  }
  const v2 = selfCgroup.find((l) => l.id === 0 && l.controllers.length === 0);
  const v2Mount = mounts.find((m) => m.fsType === 'cgroup2');
  if (!v2 || !v2Mount) notes.push('no cgroup v2 hierarchy');
  else {
    const dir = dirUnder(v2Mount, v2.path);
    if (dir) parents.push({ dir, version: 2 });
    else
      notes.push(
        `cgroup v2 ${v2.path} is outside the mounted part (${v2Mount.root} at ${v2Mount.mountPoint})`,
      );
  }
  return { parents, notes };
}

/** The kind of cgroup directory `dir` is, by the files the kernel puts in it. */
export function cgroupVersionOf(dir: string): CgroupVersion | undefined {
  if (fs.existsSync(path.join(dir, 'cpuacct.usage'))) return 1;
  if (fs.existsSync(path.join(dir, 'cgroup.controllers'))) return 2;
  return undefined;
}

/** The pids in a `cgroup.procs` text (one decimal a line), read from its bytes. */
function parsePids(text: Uint8Array, into: Set<number>): void {
  let pid = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text[i]! : 0x0a;
    if (c >= 0x30 && c <= 0x39) {
      pid = pid * 10 + (c - 0x30);
      digits++;
    } else {
      if (digits > 0 && pid > 0) into.add(pid);
      pid = 0;
      digits = 0;
    }
  }
}

/**
 * Removes the cgroups named `warden-<pid>…` under `parentDir` whose supervisor (`pid`) is no
 * longer alive and that hold no process (the kernel refuses to remove one that does; it is
 * left as it is, with a log line). Returns the directories removed.
 */
export function removeStaleCgroups(
  parentDir: string,
  options: { isAlive?: (pid: number) => boolean; log?: SupervisorLog; keep?: string } = {},
): string[] {
  const isAlive = options.isAlive ?? defaultIsAlive;
  let names: string[];
  try {
    names = fs.readdirSync(parentDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = OWN_NAME.exec(name);
    if (!m || name === options.keep) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    const dir = path.join(parentDir, name);
    try {
      fs.rmdirSync(dir);
      removed.push(dir);
      options.log?.info(
        { cgroup: dir },
        `removed stale fleet cgroup ${dir} (supervisor ${pid} is gone)`,
      );
    } catch (err) {
      let held = 0;
      try {
        const pids = new Set<number>();
        parsePids(fs.readFileSync(path.join(dir, 'cgroup.procs')), pids);
        held = pids.size;
      } catch {
        // not readable: said as 0 below
      }
      options.log?.info(
        { cgroup: dir },
        `stale fleet cgroup ${dir} (supervisor ${pid} is gone) not removed: ${errCode(err)}, ${held} processes still in it`,
      );
    }
  }
  return removed;
}

/** Bytes of the counter file read per sample: `cpu.stat` is a few lines. */
const COUNTER_BUF = 1024;

/**
 * The fleet's own cgroup: every agent process is moved into it right after its spawn (and
 * any tree member found outside it, when found), and its children are born in it. The
 * kernel sums the CPU of everything in a cgroup, so one read of one counter per sample says
 * whether any agent process ran at all since the last one — see {@link unchanged}.
 *
 * The counter is `cpuacct.usage` (ns) in a cgroup v1 `cpuacct` hierarchy, or `usage_usec` of
 * `cpu.stat` (µs) in cgroup v2, where it exists whether the `cpu` controller is enabled or
 * not. It is compared as text, exactly (no float rounding of a large ns count).
 *
 * Made with {@link FleetCgroup.open}; {@link close} removes it. Synchronous throughout: the
 * scanner calls it inside its scan.
 */
export class FleetCgroup {
  private readonly counterFd: number;
  private procsFd: number;
  private readonly buf = Buffer.allocUnsafe(COUNTER_BUF);
  private readonly prev = Buffer.allocUnsafe(COUNTER_BUF);
  /** Bytes of the previous counter value in `prev`; -1 when none is known. */
  private prevLen = -1;
  private readonly failures = new Set<string>();
  private closed = false;

  private constructor(
    /** The fleet cgroup's directory. */
    readonly dir: string,
    readonly version: CgroupVersion,
    /** The directory it was made under. */
    readonly parent: string,
    private readonly log: SupervisorLog | undefined,
  ) {
    this.counterFd = fs.openSync(path.join(dir, version === 1 ? 'cpuacct.usage' : 'cpu.stat'), 'r');
    try {
      this.procsFd = fs.openSync(path.join(dir, 'cgroup.procs'), 'a');
    } catch (err) {
      fs.closeSync(this.counterFd);
      throw err;
    }
  }

  /**
   * Makes the fleet cgroup `setting` asks for: under the given directory, or (`auto`) under
   * this process's own cgroup of the first kind Warden may write ({@link findCgroupParents});
   * stale cgroups of dead supervisors there are removed first. Never throws: when none can be
   * made, says why.
   */
  static open(setting: FleetCgroupSetting, options: FleetCgroupOptions = {}): FleetCgroupResult {
    if (setting === 'off') return { cgroup: undefined, reason: 'monitoring.cgroup is off' };
    let parents: CgroupParent[];
    const notes: string[] = [];
    if (setting === 'auto') {
      let self: SelfCgroupLine[];
      let mounts: CgroupMount[];
      try {
        self = parseSelfCgroup(
          fs.readFileSync(options.selfCgroupFile ?? '/proc/self/cgroup', 'utf8'),
        );
        mounts = parseMountInfo(
          fs.readFileSync(options.mountInfoFile ?? '/proc/self/mountinfo', 'utf8'),
        );
      } catch (err) {
        return { cgroup: undefined, reason: `cannot read this process's cgroups: ${errCode(err)}` };
      }
      const found = findCgroupParents(self, mounts);
      parents = found.parents;
      notes.push(...found.notes);
    } else {
      const version = cgroupVersionOf(setting);
      if (version === undefined)
        return {
          cgroup: undefined,
          reason: `monitoring.cgroup ${setting} is not a cgroup directory (no cpuacct.usage of cgroup v1, no cgroup.controllers of v2)`,
        };
      parents = [{ dir: setting, version }];
    }
    const name = options.name ?? `warden-${process.pid}-${++instances}`;
    for (const parent of parents) {
      const made = FleetCgroup.make(parent, name, options);
      if (made instanceof FleetCgroup) return { cgroup: made };
      notes.push(made);
    }
    return {
      cgroup: undefined,
      reason: notes.length > 0 ? notes.join('; ') : 'no cgroup hierarchy found',
    };
  }

  /** Makes `name` under `parent`; the cgroup, or why not. */
  private static make(
    parent: CgroupParent,
    name: string,
    options: FleetCgroupOptions,
  ): FleetCgroup | string {
    const kind = parent.version === 1 ? 'cgroup v1 cpuacct' : 'cgroup v2';
    try {
      fs.accessSync(parent.dir, fs.constants.W_OK);
      // v2 moves a process only with write access to the cgroup.procs of the common ancestor
      // of where it is and where it goes: here the parent, where the agents are born.
      if (parent.version === 2)
        fs.accessSync(path.join(parent.dir, 'cgroup.procs'), fs.constants.W_OK);
    } catch (err) {
      return `${kind} ${parent.dir} is not writable (${errCode(err)}; a v2 subtree must be delegated)`;
    }
    removeStaleCgroups(parent.dir, {
      ...(options.isAlive ? { isAlive: options.isAlive } : {}),
      ...(options.log ? { log: options.log } : {}),
      keep: name,
    });
    const dir = path.join(parent.dir, name);
    let created = false;
    try {
      fs.mkdirSync(dir);
      created = true;
    } catch (err) {
      // EEXIST: a cgroup of this very name can only be left by a process that had this pid.
      if (errCode(err) !== 'EEXIST') return `cannot make ${dir}: ${errCode(err)}`;
    }
    let cgroup: FleetCgroup;
    try {
      cgroup = new FleetCgroup(dir, parent.version, parent.dir, options.log);
    } catch (err) {
      if (created) tryRmdir(dir);
      return `${dir} has no CPU counter or cgroup.procs (${errCode(err)})`;
    }
    if (cgroup.cpuNs() < 0) {
      cgroup.closeFiles();
      if (created) tryRmdir(dir);
      return `cannot read the CPU counter of ${dir}`;
    }
    return cgroup;
  }

  /** "cgroup v1 cpuacct /sys/fs/cgroup/cpuacct/warden-12-1", for the log. */
  describe(): string {
    return `${this.version === 1 ? 'cgroup v1 cpuacct' : 'cgroup v2'} ${this.dir}`;
  }

  /**
   * Reads the counter. True when it is exactly the value the previous call read: no process
   * in the cgroup was charged any CPU in between, so none ran — none forked, exited, changed
   * its state or faulted memory in. False when it moved, on the first call, and when it cannot
   * be read (nothing can be concluded then).
   *
   * The kernel charges a running task at each scheduler tick and when it stops running, so a
   * task that began running less than a tick before this read is seen by the next one; its
   * CPU is not lost (the counters are cumulative). In cgroup v2 the unit is 1 µs.
   */
  unchanged(): boolean {
    const buf = this.buf;
    const end = this.readCounter();
    if (end < 0) {
      this.prevLen = -1;
      return false;
    }
    const start = this.valueStart;
    const len = end - start;
    const prev = this.prev;
    let same = len === this.prevLen;
    for (let i = 0; i < len; i++) {
      const b = buf[start + i]!;
      if (same && prev[i] !== b) same = false;
      prev[i] = b;
    }
    this.prevLen = len;
    return same;
  }

  /** The counter now in ns (to the µs in v2; rounded above 2^53 ns); -1 when unreadable. */
  cpuNs(): number {
    const end = this.readCounter();
    if (end < 0) return -1;
    let v = 0;
    for (let i = this.valueStart; i < end; i++) v = v * 10 + (this.buf[i]! - 0x30);
    return this.version === 1 ? v : v * 1000;
  }

  /** Where the value starts in `buf` after {@link readCounter}. */
  private valueStart = 0;

  /** Reads the counter file; the end of its value's digits in `buf` (from `valueStart`), or -1. */
  private readCounter(): number {
    if (this.closed) return -1;
    let n: number;
    try {
      n = fs.readSync(this.counterFd, this.buf, 0, COUNTER_BUF, 0);
    } catch {
      return -1; // ENODEV: the cgroup was removed under us
    }
    const buf = this.buf;
    let p = 0;
    if (this.version === 2) {
      // "usage_usec 123\n…": the first line, but found by name all the same.
      const key = 'usage_usec ';
      for (;;) {
        let match = true;
        for (let k = 0; k < key.length; k++)
          if (buf[p + k] !== key.charCodeAt(k)) {
            match = false;
            break;
          }
        if (match) {
          p += key.length;
          break;
        }
        while (p < n && buf[p] !== 0x0a) p++;
        if (++p >= n) return -1;
      }
    }
    const start = p;
    while (p < n && buf[p]! >= 0x30 && buf[p]! <= 0x39) p++;
    if (p === start) return -1;
    this.valueStart = start;
    return p;
  }

  /**
   * Moves process `pid` (all its threads) into the cgroup; true when it is there now. A
   * process already in it stays. Fails for a process that is gone, and where the kernel
   * refuses (a v2 process of another user, a removed cgroup): the first refusal of each kind
   * is logged, and that process is then sampled through /proc as every process once was.
   */
  adopt(pid: number): boolean {
    if (this.closed) return false;
    try {
      fs.writeSync(this.procsFd, `${pid}\n`);
      return true;
    } catch (err) {
      const code = errCode(err);
      if (code !== 'ESRCH' && !this.failures.has(code)) {
        this.failures.add(code);
        this.log?.warn(
          { cgroup: this.dir, pid, code },
          `could not move process ${pid} into the fleet cgroup ${this.dir} (${code}); while it runs outside, every sample reads /proc for each agent`,
        );
      }
      return false;
    }
  }

  /** Adds the pids in the cgroup now to `into`; false when they cannot be read. */
  members(into: Set<number>): boolean {
    if (this.closed) return false;
    try {
      parsePids(fs.readFileSync(path.join(this.dir, 'cgroup.procs')), into);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Removes the cgroup. Processes still in it (what outlived the agents' stop) are moved to
   * the parent first, as the kernel removes only an empty cgroup; a process that exited a
   * moment ago may keep it busy briefly, so removal is retried for up to `waitMs`. Idempotent.
   *
   * @returns why it could not be removed, or undefined
   */
  async close(waitMs = 1000): Promise<string | undefined> {
    if (this.closed) return undefined;
    this.closeFiles();
    const deadline = Date.now() + waitMs;
    for (;;) {
      let err: unknown;
      try {
        fs.rmdirSync(this.dir);
        return undefined;
      } catch (e) {
        err = e;
      }
      const code = errCode(err);
      if (code === 'ENOENT') return undefined;
      if (code !== 'EBUSY' || Date.now() >= deadline) {
        const reason = `could not remove the fleet cgroup ${this.dir}: ${code}`;
        this.log?.warn({ cgroup: this.dir, code }, reason);
        return reason;
      }
      const left = new Set<number>();
      try {
        parsePids(fs.readFileSync(path.join(this.dir, 'cgroup.procs')), left);
      } catch {
        // removed meanwhile: the next rmdir says so
      }
      for (const pid of left) {
        try {
          fs.writeFileSync(path.join(this.parent, 'cgroup.procs'), `${pid}\n`, { flag: 'a' });
        } catch {
          // gone, or not movable: the retries end with the reason
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private closeFiles(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of [this.counterFd, this.procsFd]) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.procsFd = -1;
  }
}

function tryRmdir(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // a fake or busy directory: left
  }
}
