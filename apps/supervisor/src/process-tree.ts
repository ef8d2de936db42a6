import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { Clock } from './clock.js';

/**
 * One process as `/proc/[pid]/stat` describes it (proc(5)), reduced to what supervision needs.
 */
export interface ProcStat {
  /** Process id (field 1). */
  pid: number;
  /** Parent process id (field 4); 1 (or a subreaper) once the parent has died. */
  ppid: number;
  /** Process group id (field 5): an agent started detached leads its own group. */
  pgid: number;
  /** One-letter state (field 3): R running, S sleeping, D disk wait, Z zombie, T stopped, … */
  state: string;
  /** CPU the process itself used, user + system (`utime + stime`), in clock ticks. */
  cpuTicks: number;
  /**
   * CPU of its children that it waited for (`cutime + cstime`), in clock ticks: a child's
   * whole total moves here when its parent reaps it, which is how work done by short-lived
   * children between two samples is still counted.
   */
  childCpuTicks: number;
  /** Resident set size in pages (field 24). */
  rssPages: number;
  /** Start time after boot in clock ticks (field 22): with `pid`, it names one process. */
  startTicks: number;
}

const memo: { clockTicks?: number; pageSize?: number } = {};

function getconf(name: string, fallback: number): number {
  try {
    const v = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 2000 }).trim());
    return Number.isInteger(v) && v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

/** `CLK_TCK`, the unit of the CPU times in /proc (read once with `getconf`; 100 if that fails). */
export function systemClockTicks(): number {
  return (memo.clockTicks ??= getconf('CLK_TCK', 100));
}

/** The page size RSS is counted in (read once with `getconf`; 4096 if that fails). */
export function systemPageSize(): number {
  return (memo.pageSize ??= getconf('PAGESIZE', 4096));
}

// Parsing state shared by the synchronous readers below: nothing here ever awaits, so one
// buffer and one cursor serve every read without allocating.
const statBuf = Buffer.allocUnsafe(4096);
let cursor = 0;

function nextInt(buf: Uint8Array, len: number): number {
  let p = cursor;
  let neg = false;
  if (buf[p] === 0x2d) {
    neg = true;
    p++;
  }
  const start = p;
  let v = 0;
  while (p < len) {
    const c = buf[p]!;
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
    p++;
  }
  if (p === start) {
    cursor = -1;
    return 0;
  }
  cursor = p + 1;
  return neg ? -v : v;
}

function skipFields(buf: Uint8Array, len: number, n: number): void {
  let p = cursor;
  for (let i = 0; i < n && p < len; p++) if (buf[p] === 0x20) i++;
  cursor = p < len ? p : -1;
}

/**
 * Parses the text of `/proc/[pid]/stat` (the first `len` bytes of `buf`) into `into`, or into
 * a new object. The command name (field 2) may hold spaces and parentheses, so the fields
 * after it are found from the LAST `)`. Returns undefined for text that is not a stat line.
 */
export function parseProcStat(buf: Uint8Array, len: number, into?: ProcStat): ProcStat | undefined {
  let pid = 0;
  let i = 0;
  while (i < len && buf[i]! >= 0x30 && buf[i]! <= 0x39) pid = pid * 10 + (buf[i++]! - 0x30);
  if (i === 0) return undefined;
  let close = len - 1;
  while (close > i && buf[close] !== 0x29) close--;
  if (close <= i || close + 4 >= len) return undefined;
  const state = String.fromCharCode(buf[close + 2]!);
  cursor = close + 4; // field 4
  const ppid = nextInt(buf, len);
  if (cursor < 0) return undefined;
  const pgid = nextInt(buf, len);
  if (cursor < 0) return undefined;
  skipFields(buf, len, 8); // 6 session … 13 cmajflt
  if (cursor < 0) return undefined;
  const utime = nextInt(buf, len);
  if (cursor < 0) return undefined;
  const stime = nextInt(buf, len);
  if (cursor < 0) return undefined;
  const cutime = nextInt(buf, len);
  if (cursor < 0) return undefined;
  const cstime = nextInt(buf, len);
  if (cursor < 0) return undefined;
  skipFields(buf, len, 4); // 18 priority … 21 itrealvalue
  if (cursor < 0) return undefined;
  const startTicks = nextInt(buf, len);
  if (cursor < 0) return undefined;
  skipFields(buf, len, 1); // 23 vsize
  if (cursor < 0) return undefined;
  const rssPages = nextInt(buf, len);
  if (cursor < 0) return undefined;
  const out = into ?? ({} as ProcStat);
  out.pid = pid;
  out.ppid = ppid;
  out.pgid = pgid;
  out.state = state;
  out.cpuTicks = utime + stime;
  out.childCpuTicks = cutime + cstime;
  out.rssPages = Math.max(0, rssPages);
  out.startTicks = startTicks;
  return out;
}

/**
 * Whether a stat text (as {@link parseProcStat} takes it) is a thread's rather than a
 * process's: field 38, `exit_signal`, is -1 only for threads. `/proc/<tid>/stat` opens for
 * any thread id though /proc lists only processes, so a pid probed by number may be one.
 */
function isThreadStat(buf: Uint8Array, len: number): boolean {
  let close = len - 1;
  while (close > 0 && buf[close] !== 0x29) close--;
  cursor = close + 2; // field 3
  skipFields(buf, len, 35); // 3 state … 37 cnswap
  return cursor >= 0 && nextInt(buf, len) === -1;
}

/** Field 20 of a stat text, `num_threads`; 0 if it cannot be read. */
function threadCount(buf: Uint8Array, len: number): number {
  let close = len - 1;
  while (close > 0 && buf[close] !== 0x29) close--;
  cursor = close + 2; // field 3
  skipFields(buf, len, 17); // 3 state … 19 nice
  const n = cursor >= 0 ? nextInt(buf, len) : 0;
  return cursor >= 0 ? n : 0;
}

/** The first field of `/proc/[pid]/schedstat`: ns the task has run; -1 if unreadable. */
function parseRuntime(buf: Uint8Array, len: number): number {
  cursor = 0;
  const v = nextInt(buf, len);
  return cursor < 0 ? -1 : v;
}

/** The last field of `/proc/loadavg` ("0.10 0.83 1.47 1/1393 6143"): the pid handed out last. */
function parseLastPid(buf: Uint8Array, len: number): number {
  let end = len;
  while (end > 0 && (buf[end - 1]! < 0x30 || buf[end - 1]! > 0x39)) end--;
  let start = end;
  while (start > 0 && buf[start - 1]! >= 0x30 && buf[start - 1]! <= 0x39) start--;
  if (start === end || start === 0 || buf[start - 1] !== 0x20) return -1;
  let v = 0;
  for (let i = start; i < end; i++) v = v * 10 + (buf[i]! - 0x30);
  return v;
}

/** Reads an open stat file from offset 0; -1 when the process is gone (ESRCH) or unreadable. */
function preadStat(fd: number): number {
  try {
    return fs.readSync(fd, statBuf, 0, statBuf.length, 0);
  } catch {
    return -1;
  }
}

function openStat(procDir: string, pid: number): number {
  try {
    return fs.openSync(`${procDir}/${pid}/stat`, 'r');
  } catch {
    return -1;
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already closed or never valid: nothing to release.
  }
}

/** A directory name of /proc as a pid, or 0 for the non-process entries (`self`, `sys`, …). */
function toPid(name: string): number {
  let pid = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return 0;
    pid = pid * 10 + (c - 0x30);
  }
  return pid;
}

/**
 * Reads one process's stat, or undefined when it does not exist (any more) or cannot be read.
 *
 * @param procDir where procfs is mounted. @defaultValue `'/proc'`
 */
export function readProcStat(pid: number, procDir = '/proc'): ProcStat | undefined {
  const fd = openStat(procDir, pid);
  if (fd < 0) return undefined;
  try {
    const n = preadStat(fd);
    return n > 0 ? parseProcStat(statBuf, n) : undefined;
  } finally {
    closeQuietly(fd);
  }
}

/**
 * Every process on the machine, read once from /proc: a snapshot for one-off work (stopping a
 * tree). Processes that vanish while it reads are left out. For sampling every second, use
 * {@link ProcessTreeScanner}, which reads far less.
 *
 * @param procDir where procfs is mounted. @defaultValue `'/proc'`
 */
export function readProcTable(procDir = '/proc'): Map<number, ProcStat> {
  const table = new Map<number, ProcStat>();
  let names: string[];
  try {
    names = fs.readdirSync(procDir);
  } catch {
    return table;
  }
  for (const name of names) {
    const pid = toPid(name);
    if (pid === 0) continue;
    const stat = readProcStat(pid, procDir);
    if (stat) table.set(pid, stat);
  }
  return table;
}

/**
 * The pids of `rootPid`'s tree in a snapshot: the root (when present), every process of the
 * root's process group (an agent started detached leads its own, and children that outlive
 * their parent stay in it after being reparented to init), and every descendant of either,
 * found by parent pid. Root first.
 */
export function treePids(rootPid: number, table: ReadonlyMap<number, ProcStat>): number[] {
  const children = new Map<number, number[]>();
  const seeds: number[] = [];
  if (table.has(rootPid)) seeds.push(rootPid);
  for (const p of table.values()) {
    if (p.pid !== rootPid && p.pgid === rootPid) seeds.push(p.pid);
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const seen = new Set<number>();
  const out: number[] = [];
  const stack = seeds.reverse();
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(pid);
    const kids = children.get(pid);
    if (kids) for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return out;
}

/** The supervised trees at one instant, as {@link ProcessTreeScanner.scan} found them. */
export interface ProcTable {
  /**
   * Members of each root asked for, root first. A root with no process (exited and reaped)
   * is absent. The map, its arrays and the {@link ProcStat} objects are reused: valid until
   * the next scan (a scan every second must not make garbage per agent).
   */
  readonly trees: ReadonlyMap<number, readonly ProcStat[]>;
  /**
   * Moves whenever a scan may have changed anything in the table: the same table with the
   * same version holds the same figures (a scan answered from the last table leaves it), so
   * {@link ProcessSampler} need not compare them. Undefined: unknown, compare everything.
   */
  readonly version?: number;
}

/**
 * What {@link ProcessTreeScanner} needs of the fleet's cgroup (fleet-cgroup.ts): one CPU
 * counter for every process in it, and a way to put a process in it.
 */
export interface FleetCpuGate {
  /**
   * Reads the fleet's CPU counter: true only when it is exactly what the previous call read,
   * so that no process in the cgroup has run in between; false when it moved, on the first
   * call, and when it cannot be read.
   */
  unchanged(): boolean;
  /** Moves process `pid` into the cgroup; true when it is in it now. */
  adopt(pid: number): boolean;
  /** Adds the pids in the cgroup now to `into`; false when they cannot be read. */
  members?(into: Set<number>): boolean;
}

/** Options of {@link ProcessTreeScanner}. */
export interface ProcessTreeScannerOptions {
  /** Where procfs is mounted. @defaultValue `'/proc'` */
  procDir?: string;
  /**
   * The fleet's cgroup: when given, every tree member is moved into it when found, and a scan
   * in which its CPU counter did not move reads nothing else (see {@link ProcessTreeScanner}).
   * @defaultValue none (every scan reads every member)
   */
  gate?: FleetCpuGate;
  /**
   * Most files kept open between scans (a stat file per tree member, and a schedstat file
   * beside it for a single-threaded one); members beyond it are opened and closed on every
   * scan instead. @defaultValue 2048
   */
  maxOpenFiles?: number;
}

/**
 * Most pids a scan reads by number (those handed out since the previous scan) before it lists
 * /proc instead: past this, a listing (about 8 µs per process on the machine) costs less.
 */
export const MAX_PROBED_PIDS = 256;

/** A scan lists /proc at least this often, whatever the pid counter says. */
export const LISTING_EVERY = 60;

/**
 * A member whose run time did not move has its stat re-read at least every this many scans
 * all the same: the few fields that change while a process sleeps (RSS the kernel reclaims,
 * the parent after reparenting) are then at most this many samples old.
 */
export const STAT_REFRESH_EVERY = 10;

/**
 * With the fleet cgroup, the same for a fleet in which nothing ran: every member's stat is
 * re-read at least every this many quiet scans (once a minute at 1 s sampling), for RSS the
 * kernel reclaims from sleeping processes. Only reclaim moves it then, and reclaim only
 * lowers it: until the re-read, the memory checks see the figure from before it.
 */
export const QUIET_STAT_REFRESH_EVERY = 60;

/** One root's members in the reused `trees` map, with how many this scan has put there. */
interface TreeSlot {
  readonly members: ProcStat[];
  filled: number;
}

interface Entry {
  pid: number;
  readonly stat: ProcStat;
  /** Stat file kept open for a member, or -1. */
  fd: number;
  /** Scan that last listed the pid in /proc, or found it alive without a listing. */
  seenGen: number;
  /** Scan that last read (or tried to read) its stat. */
  readGen: number;
  /** Scan that resolved `root`. */
  rootGen: number;
  /** Root whose tree it belongs to, 0 for none. */
  root: number;
  /** `schedstat` file kept open beside `fd` for a single-threaded member, or -1. */
  schedFd: number;
  /** Its run time (ns) read just before the last stat read; -1 unknown. */
  runtime: number;
  /** `num_threads` at the last stat read. */
  threads: number;
  /** {@link ProcessTreeScanner}'s scan count at the last stat read. */
  statScan: number;
  /** `startTicks` of the process once it is known to be in the fleet cgroup, else -1. */
  insideStart: number;
}

function newEntry(pid: number): Entry {
  return {
    pid,
    stat: {} as ProcStat,
    fd: -1,
    seenGen: 0,
    readGen: 0,
    rootGen: 0,
    root: 0,
    schedFd: -1,
    runtime: -1,
    threads: 0,
    statScan: 0,
    insideStart: -1,
  };
}

/**
 * Finds every supervised tree with one pass over /proc per sampling tick, for all agents
 * together, and reads as little as it can.
 *
 * Membership is resolved once per scan for all roots by walking parent pids (memoised, so
 * each process is visited once): a process belongs to a root if it is the root, is in the
 * root's process group, or its parent belongs.
 *
 * Cheap because a process outside every tree can never join one later (its parent only ever
 * changes to init), so after the first scan only new pids and tree members are read; and a
 * member's stat file stays open and is re-read with one `pread` (an open stat file is bound
 * to that process: when it dies the read fails with ESRCH even if the pid is reused). A new
 * root may already have been seen as an outsider, so a scan whose roots include a new one
 * reads everything once. Processes that vanish mid-scan (ENOENT, ESRCH) are skipped.
 *
 * Listing /proc is the dearest part (the kernel builds an entry for every process on the
 * machine: about 2.5 ms a second for 300 processes, more than reading 200 members), so a
 * scan lists it only when it must. Pids are handed out in increasing order, and
 * `/proc/loadavg` names the last one: when fewer than {@link MAX_PROBED_PIDS} were handed
 * out since the previous scan (and the counter did not wrap), the new processes are exactly
 * those pids, read by number (thread ids among them are skipped), and the members are read
 * through their open files; most scans of an idle fleet then read no pid but the members.
 * Every {@link LISTING_EVERY}th scan lists /proc anyway, so a /proc of another pid
 * namespace than the supervisor's (where the counter speaks of other pids) is wrong for at
 * most that long.
 *
 * A member's stat is the next dearest read (the kernel formats 52 fields and sums the
 * threads' times: about twice a `schedstat`). A single-threaded process whose run time
 * (`/proc/[pid]/schedstat`, read before its stat) has not moved has not run, so its CPU
 * times, children's times, state and group are as last read, and the stat is not read again
 * (but at least every {@link STAT_REFRESH_EVERY} scans, for what changes without it running).
 * An idle fleet then costs one small read per agent per scan.
 *
 * With a {@link FleetCpuGate} (the fleet's cgroup) an idle fleet costs about two reads per
 * scan in all. Every member is moved into the cgroup when a scan first finds it (the
 * supervisor also moves each agent right after its spawn; children are born in it). A scan
 * first reads the cgroup's CPU counter: when it has not moved since the previous scan's, no
 * process in the cgroup has run, so none has used CPU, forked, exited, changed state or
 * faulted memory in, and the previous table is exact still. Such a quiet scan returns it;
 * every {@link QUIET_STAT_REFRESH_EVERY} scans it also reads each member's stat (RSS the kernel
 * reclaims while a process sleeps), and every {@link LISTING_EVERY} the cgroup's member
 * list (something else may move a process out; it is moved back, and the next scan reads).
 * A scan reads as above when the counter moved, when the roots changed, while a member is outside the cgroup (a move the kernel refused, or one
 * just found) or a zombie (init, outside the cgroup, reaps an orphan), and on every
 * {@link LISTING_EVERY}th scan.
 *
 * Not safe to share between concurrent callers (it is synchronous; there are none).
 */
export class ProcessTreeScanner {
  private readonly procDir: string;
  private readonly maxOpenFiles: number;
  private readonly entries = new Map<number, Entry>();
  private readonly read: Entry[] = [];
  /** Root pid → the scan that last asked for it (so "is a root now" is `=== gen`). */
  private readonly rootGens = new Map<number, number>();
  private readonly slots = new Map<number, TreeSlot>();
  private readonly trees = new Map<number, ProcStat[]>();
  private readonly table: { trees: Map<number, ProcStat[]>; version: number } = {
    trees: this.trees,
    version: 0,
  };
  private gen = 0;
  private openFiles = 0;
  /** `/proc/loadavg`, kept open; -1 before the first scan, -2 if it cannot be read. */
  private loadavgFd = -1;
  /** The pid handed out last, at the previous scan; -1 unknown (then /proc is listed). */
  private lastPid = -1;
  /** Scans since /proc was last listed. */
  private sinceListing = 0;
  /** Bytes of the stat text the last {@link readEntry} left in `statBuf`. */
  private lastLength = 0;
  private readonly gate: FleetCpuGate | undefined;
  /** Scans of either kind; the clock of `Entry.statScan`. */
  private scans = 0;
  /** Scans answered from the previous table (the fleet's counter did not move). */
  private quiet = 0;
  /** The roots of the last reading scan, in the order given. */
  private readonly lastRoots: number[] = [];
  /** What the last reading scan found that rules out the next quiet scan. */
  private outside = 0;
  private zombies = 0;
  /** Set by a quiet scan that found something it cannot vouch for: the next one reads. */
  private mustRead = false;
  /** Oldest `statScan` among the members, for the quiet scans' refresh. */
  private oldestStat = 0;
  /** The members of the last reading scan (the first `memberCount`; storage reused). */
  private readonly members: Entry[] = [];
  private memberCount = 0;
  /** Scan that last checked the members against the cgroup's list. */
  private verifiedAt = 0;
  private readonly inCgroup = new Set<number>();

  constructor(options: ProcessTreeScannerOptions = {}) {
    this.procDir = options.procDir ?? '/proc';
    this.maxOpenFiles = options.maxOpenFiles ?? 2048;
    this.gate = options.gate;
  }

  /** Scans that read nothing but the fleet's CPU counter (see {@link FleetCpuGate}). */
  get quietScans(): number {
    return this.quiet;
  }

  /**
   * Files held open now: one stat file per member, and a schedstat file beside it for a
   * single-threaded one (up to `maxOpenFiles` in all).
   */
  get openFileCount(): number {
    return this.openFiles;
  }

  /**
   * Scans /proc once and returns the current tree of each of `roots`. The table is reused by
   * the next scan (see {@link ProcTable.trees}).
   */
  scan(roots: readonly number[]): ProcTable {
    // Runs once a second over the whole fleet, so it stays cold for V8 a long time: loops are
    // indexed or forEach, because for-of on an unoptimised function allocates an iterator
    // result per step (about 50 bytes per agent per loop).
    const scans = ++this.scans;
    const gate = this.gate;
    if (gate !== undefined) {
      if (this.mayBeQuiet(roots)) {
        // The pid counter is read BEFORE the CPU counter: every pid up to it was then handed
        // out before a moment at which nothing in the cgroup had run since the previous
        // scan's read, so none of those processes is a member (a member must run to fork).
        // Only every 10th quiet scan: a read is dear on a processor that slept (the first one
        // after a wake-up costs ~100× a warm one), and the next scan that reads then probes
        // the pids of at most 10 s.
        const lastPid = this.quiet % 10 === 0 ? this.readLastPid() : -1;
        if (gate.unchanged()) {
          this.quiet++;
          this.sinceListing++;
          if (lastPid >= this.lastPid && this.lastPid >= 0) this.lastPid = lastPid;
          this.refreshQuietly(scans, gate);
          return this.table;
        }
      } else gate.unchanged();
      // Read before any member is: the next scan's counter is compared with this one, so
      // whatever ran after it is seen then. (readLastPid below is read after it, as it must.)
    }
    const gen = ++this.gen;
    this.table.version++;
    let full = gen === 1;
    const rootGens = this.rootGens;
    for (let i = 0; i < roots.length; i++) {
      const r = roots[i]!;
      const last = rootGens.get(r);
      // Not asked for by the previous scan (gen - 1; gen: listed twice now): a new root.
      if (last !== gen - 1 && last !== gen) full = true;
      rootGens.set(r, gen);
    }
    rootGens.forEach((last, r) => {
      if (last !== gen) rootGens.delete(r);
    });

    // Read before the pids are: a process born meanwhile is in the next scan's range.
    const lastPid = this.readLastPid();
    const prevPid = this.lastPid;
    this.lastPid = lastPid;
    const probe =
      !full &&
      prevPid >= 0 &&
      lastPid >= prevPid &&
      lastPid - prevPid <= MAX_PROBED_PIDS &&
      ++this.sinceListing < LISTING_EVERY;
    const nRead = probe ? this.readNew(gen, prevPid, lastPid) : this.readListed(gen, full);
    const read = this.read;
    if (read.length !== nRead) read.length = nRead;

    // Members are written over last scan's arrays (`filled` counts this scan's), so a tree
    // that did not change costs no allocation.
    const slots = this.slots;
    let verify: Set<number> | undefined;
    if (gate?.members !== undefined && scans - this.verifiedAt >= LISTING_EVERY) {
      this.verifiedAt = scans;
      verify = this.inCgroup;
      verify.clear();
      if (!gate.members(verify)) verify = undefined;
    }
    let outside = 0;
    let zombies = 0;
    let nMembers = 0;
    let oldest = scans;
    const members = this.members;
    for (let i = 0; i < nRead; i++) {
      const e = read[i]!;
      const root = this.rootOf(e, gen);
      if (root === 0) {
        if (e.fd >= 0) this.release(e);
        continue;
      }
      if (gate !== undefined) {
        const start = e.stat.startTicks;
        // Moved out by something else: put back (and until then, not vouched for).
        if (verify !== undefined && e.insideStart === start && !verify.has(e.pid))
          e.insideStart = -1;
        if (e.insideStart !== start) {
          // Outside at this scan's counter read: what it did since then is not in the
          // counter, so the next scan reads it whatever the counter says.
          outside++;
          if (gate.adopt(e.pid)) e.insideStart = start;
        }
        if (e.stat.state === 'Z' || e.stat.state === 'X') zombies++;
        if (e.statScan < oldest) oldest = e.statScan;
        if (nMembers < members.length) members[nMembers] = e;
        else members.push(e);
        nMembers++;
      }
      let slot = slots.get(root);
      if (slot === undefined) {
        slot = { members: [], filled: 0 };
        slots.set(root, slot);
        this.trees.set(root, slot.members);
      }
      const list = slot.members;
      const at = slot.filled++;
      if (at < list.length) list[at] = e.stat;
      else list.push(e.stat);
      if (e.pid === root && at > 0) {
        list[at] = list[0]!;
        list[0] = e.stat;
      }
    }
    slots.forEach((slot, root) => {
      const list = slot.members;
      // Nothing this scan; or a tree whose root is gone (reaped) keeps only strays in its
      // group: report it absent.
      if (slot.filled === 0 || list[0]!.pid !== root) {
        slots.delete(root);
        this.trees.delete(root);
        return;
      }
      if (list.length !== slot.filled) list.length = slot.filled;
      slot.filled = 0;
    });

    this.entries.forEach((e, pid) => {
      if (e.seenGen === gen) return;
      if (e.fd >= 0) this.release(e);
      this.entries.delete(pid);
    });
    if (gate !== undefined) {
      this.outside = outside;
      this.zombies = zombies;
      this.mustRead = false;
      this.oldestStat = oldest;
      this.memberCount = nMembers;
      if (members.length > nMembers) members.length = nMembers;
      const last = this.lastRoots;
      for (let i = 0; i < roots.length; i++) last[i] = roots[i]!;
      if (last.length !== roots.length) last.length = roots.length;
    }
    return this.table;
  }

  /**
   * Whether this scan may be answered from the last table if the fleet's counter did not
   * move: the same roots as the last reading scan, every member in the cgroup and none a
   * zombie, and no listing due.
   */
  private mayBeQuiet(roots: readonly number[]): boolean {
    // No periodic listing here: while nothing in the cgroup runs, nothing in it forks, so
    // there is no new member to list; the next scan that reads lists /proc if one is due.
    if (this.gen === 0 || this.outside > 0 || this.zombies > 0 || this.mustRead) return false;
    const last = this.lastRoots;
    if (last.length !== roots.length) return false;
    for (let i = 0; i < roots.length; i++) if (last[i] !== roots[i]) return false;
    return true;
  }

  /**
   * What a quiet scan still reads. Once a member's stat is {@link QUIET_STAT_REFRESH_EVERY} scans
   * old, the stat of every member, written over its table entry in place: RSS is the one
   * figure that moves while a process sleeps (the kernel reclaims). All at once, because a
   * burst of reads costs about half as much per read as the same reads spread over the
   * scans (the kernel's and the CPU's caches are warm for the second and later ones). And
   * every {@link LISTING_EVERY} scans the cgroup's member list: a member something
   * moved out is moved back in. Whatever it cannot vouch for (a member gone, changed other
   * than in RSS, or moved out: it ran outside the counter) makes the next scan read.
   */
  private refreshQuietly(scans: number, gate: FleetCpuGate): void {
    const members = this.members;
    const n = this.memberCount;
    if (scans - this.oldestStat >= QUIET_STAT_REFRESH_EVERY) {
      this.oldestStat = scans;
      let changed = false;
      for (let i = 0; i < n; i++) {
        const e = members[i]!;
        const st = e.stat;
        const { startTicks, rssPages, cpuTicks, childCpuTicks, ppid, pgid, state } = st;
        const fd = e.fd >= 0 ? e.fd : openStat(this.procDir, e.pid);
        const len = fd >= 0 ? preadStat(fd) : -1;
        if (fd >= 0 && fd !== e.fd) closeQuietly(fd);
        // Fills the entry only when the whole line parsed.
        if (len <= 0 || !parseProcStat(statBuf, len, st)) {
          this.mustRead = true;
          continue;
        }
        e.statScan = scans;
        if (st.rssPages !== rssPages) changed = true;
        if (
          st.startTicks !== startTicks ||
          st.cpuTicks !== cpuTicks ||
          st.childCpuTicks !== childCpuTicks ||
          st.ppid !== ppid ||
          st.pgid !== pgid ||
          st.state !== state
        ) {
          changed = true;
          this.mustRead = true;
        }
      }
      if (changed) this.table.version++;
    }
    if (gate.members === undefined || scans - this.verifiedAt < LISTING_EVERY) return;
    this.verifiedAt = scans;
    const inside = this.inCgroup;
    inside.clear();
    if (!gate.members(inside)) return;
    for (let i = 0; i < n; i++) {
      const e = members[i]!;
      if (inside.has(e.pid)) continue;
      if (!gate.adopt(e.pid)) e.insideStart = -1;
      this.mustRead = true;
    }
  }

  /**
   * Lists /proc and reads every pid not known to be an outsider (all of them when `full`)
   * into `read`; returns how many.
   */
  private readListed(gen: number, full: boolean): number {
    this.sinceListing = 0;
    let names: string[];
    try {
      names = fs.readdirSync(this.procDir);
    } catch {
      names = [];
    }
    // Filled over last scan's storage and cut to length after: `length = 0` would free it.
    const read = this.read;
    let n = 0;
    for (let i = 0; i < names.length; i++) {
      const pid = toPid(names[i]!);
      if (pid === 0) continue;
      let e = this.entries.get(pid);
      if (e === undefined) {
        e = newEntry(pid);
        this.entries.set(pid, e);
      } else if (!full && e.root === 0 && e.readGen > 0) {
        e.seenGen = gen;
        continue; // a known outsider stays one
      }
      e.seenGen = gen;
      e.readGen = gen;
      if (this.readEntry(e)) read[n++] = e;
      else {
        e.rootGen = gen;
        e.root = 0;
      }
    }
    return n;
  }

  /**
   * Without listing /proc: reads last scan's members, and the pids handed out after
   * `fromPid` up to `toPid` (the processes born since), into `read`; returns how many.
   * Outsiders known from earlier scans are not seen, so they are forgotten (only a listing
   * needs them, to skip them).
   */
  private readNew(gen: number, fromPid: number, toPid: number): number {
    const read = this.read;
    let n = 0;
    this.entries.forEach((e) => {
      if (e.root === 0) return;
      e.readGen = gen;
      if (this.readEntry(e)) {
        e.seenGen = gen;
        read[n++] = e;
      } else {
        // Gone: no tree's member now (as for its children), and dropped with the outsiders.
        e.rootGen = gen;
        e.root = 0;
      }
    });
    for (let pid = fromPid + 1; pid <= toPid; pid++) {
      let e = this.entries.get(pid);
      if (e?.readGen === gen) continue; // a member, read above
      e ??= newEntry(pid);
      e.readGen = gen;
      if (!this.readEntry(e) || isThreadStat(statBuf, this.lastLength)) {
        if (e.fd >= 0) this.release(e);
        this.entries.delete(pid);
        continue;
      }
      this.entries.set(pid, e);
      e.seenGen = gen;
      read[n++] = e;
    }
    return n;
  }

  /** The pid handed out last, from `/proc/loadavg`; -1 when it cannot be read. */
  private readLastPid(): number {
    if (this.loadavgFd === -1) {
      try {
        this.loadavgFd = fs.openSync(`${this.procDir}/loadavg`, 'r');
      } catch {
        this.loadavgFd = -2;
      }
    }
    if (this.loadavgFd < 0) return -1;
    const n = preadStat(this.loadavgFd);
    return n > 0 ? parseLastPid(statBuf, n) : -1;
  }

  /** Closes every stat file held open. The scanner stays usable (the next scan reopens). */
  close(): void {
    for (const e of this.entries.values()) if (e.fd >= 0) this.release(e);
    this.entries.clear();
    this.rootGens.clear();
    this.slots.clear();
    this.trees.clear();
    this.gen = 0;
    this.lastRoots.length = 0;
    this.outside = 0;
    this.zombies = 0;
    if (this.loadavgFd >= 0) closeQuietly(this.loadavgFd);
    this.loadavgFd = -1;
    this.lastPid = -1;
  }

  private release(e: Entry): void {
    closeQuietly(e.fd);
    e.fd = -1;
    this.openFiles--;
    if (e.schedFd >= 0) {
      closeQuietly(e.schedFd);
      e.schedFd = -1;
      this.openFiles--;
    }
    e.runtime = -1;
  }

  /**
   * For a member read through its open files: true when its schedstat says it has not run
   * since its stat was read (so `e.stat` is still right); else notes the run time, read
   * before the stat is, and false.
   */
  private unchanged(e: Entry): boolean {
    const n = preadStat(e.schedFd);
    const runtime = n > 0 ? parseRuntime(statBuf, n) : -1;
    // 0: a kernel that does not count run time (a process that exists has run).
    if (runtime > 0 && runtime === e.runtime && e.threads === 1) {
      if (this.scans - e.statScan < STAT_REFRESH_EVERY) return true;
    }
    e.runtime = runtime;
    return false;
  }

  /**
   * After a stat read kept open: notes its threads and, once it is read as a member (through
   * its open file, so not an outsider met in a listing), opens its schedstat.
   */
  private afterStatRead(e: Entry, len: number, member: boolean): void {
    e.statScan = this.scans;
    e.threads = threadCount(statBuf, len);
    if (!member || e.threads !== 1 || e.schedFd >= 0 || this.openFiles >= this.maxOpenFiles) return;
    try {
      e.schedFd = fs.openSync(`${this.procDir}/${e.pid}/schedstat`, 'r');
      this.openFiles++;
    } catch {
      return; // no schedstat (an old kernel): its stat is read every scan
    }
    e.runtime = -1; // read after the stat, so it cannot vouch for it: the next scan reads both
  }

  /**
   * Reads `e`'s stat into `e.stat` (its text stays in `statBuf`, `lastLength` bytes, until the
   * next read); false when the process is gone or unreadable.
   */
  private readEntry(e: Entry): boolean {
    if (e.fd >= 0) {
      // Only members have files open, and candidate pids (which need the text) have none.
      if (e.schedFd >= 0 && this.unchanged(e)) return true;
      const n = (this.lastLength = preadStat(e.fd));
      if (n > 0 && parseProcStat(statBuf, n, e.stat)) {
        this.afterStatRead(e, n, true);
        return true;
      }
      // ESRCH: that process died. The pid may already name a new one: read it by path.
      this.release(e);
    }
    const fd = openStat(this.procDir, e.pid);
    if (fd < 0) return false;
    const n = (this.lastLength = preadStat(fd));
    const ok = n > 0 && parseProcStat(statBuf, n, e.stat) !== undefined;
    if (ok) e.statScan = this.scans;
    // Kept open for now; the scan closes it again if the process belongs to no tree.
    if (ok && this.openFiles < this.maxOpenFiles) {
      e.fd = fd;
      this.openFiles++;
      this.afterStatRead(e, n, false);
    } else closeQuietly(fd);
    return ok;
  }

  private rootOf(e: Entry, gen: number): number {
    if (e.rootGen === gen) return e.root;
    e.rootGen = gen;
    e.root = 0; // guards against a parent cycle while this resolves
    const s = e.stat;
    let root = 0;
    const roots = this.rootGens;
    if (roots.get(e.pid) === gen) root = e.pid;
    else if (s.pgid !== e.pid && roots.get(s.pgid) === gen) root = s.pgid;
    else {
      const parent = this.entries.get(s.ppid);
      // A parent not read in this scan is a known outsider, so its children are too.
      if (parent !== undefined && parent.readGen === gen) root = this.rootOf(parent, gen);
    }
    e.root = root;
    return root;
  }
}

/** Resources of one supervised tree over the last sampling interval. */
export interface ProcessSample {
  /** Epoch ms the sample was taken (the clock's `now`). */
  ts: number;
  /**
   * CPU of the whole tree over the interval since the previous sample, in percent of one core
   * (as top shows it: a tree busy on two cores reads 200). 0 on a root's first sample.
   */
  cpuPercent: number;
  /** Resident set size summed over the tree's processes, in bytes. */
  rssBytes: number;
  /**
   * The tree's pids, root first. Shared with earlier samples while the tree keeps the same
   * members (most samples of an idle agent): read it, do not change it.
   */
  readonly pids: readonly number[];
  /** Length of the interval `cpuPercent` covers, in ms; 0 on a root's first sample. */
  intervalMs: number;
  /**
   * Nothing moved since the tree's previous sample: no CPU, the same RSS, the same pids.
   * Never on a root's first sample.
   */
  idle: boolean;
}

/** Options of {@link ProcessSampler}. */
export interface ProcessSamplerOptions {
  /** Time of each sample. */
  clock: Clock;
  /** Unit of the CPU times. @defaultValue {@link systemClockTicks}() */
  clockTicks?: number;
  /** Unit of RSS. @defaultValue {@link systemPageSize}() */
  pageSize?: number;
}

interface PidRecord {
  start: number;
  cpu: number;
  child: number;
  ppid: number;
  root: number;
  gen: number;
  /** Growth of `child` in the current sample, left to match against children that vanished. */
  childDelta: number;
}

interface RootState {
  lastTs: number;
  /** RSS of its previous sample, in pages. */
  prevRssPages: number;
  /** The current sample has the pids of the previous one. */
  samePids: boolean;
  gen: number;
  first: boolean;
  ticks: number;
  rssPages: number;
  pids: readonly number[];
}

/**
 * Turns successive {@link ProcTable}s into per-tree samples: CPU percent over each interval,
 * tree RSS and pids.
 *
 * CPU is counted per process, so processes joining and leaving a tree do not make the figure
 * jump: each member contributes the growth of its own CPU and of its reaped children's
 * (`cutime + cstime`); a member born during the interval contributes all of it. A child that
 * its parent reaped during the interval shows up in the parent's `cutime` with its whole
 * total, of which the part up to the previous sample was already counted, so that part is
 * taken off again — but only if the parent's `cutime` grew by at least that much (an orphan
 * reaped by init takes its time with it, and nothing is taken off).
 */
export class ProcessSampler {
  private readonly clock: Clock;
  /** The table and version of the last call, to see one that did not change. */
  private lastTable: ProcTable | undefined;
  private lastVersion: number | undefined;
  private readonly clockTicks: number;
  private readonly pageSize: number;
  private readonly procs = new Map<number, PidRecord>();
  private readonly rootStates = new Map<number, RootState>();
  private readonly out = new Map<number, ProcessSample>();
  private gen = 0;
  /** The last call found the table unchanged, and when. */
  private quietValue = false;
  private quietAt = -Infinity;
  /** The call before the latest one. */
  private prevCallAt = -Infinity;
  private lastCallAt = -Infinity;

  constructor(options: ProcessSamplerOptions) {
    this.clock = options.clock;
    this.clockTicks = options.clockTicks ?? systemClockTicks();
    this.pageSize = options.pageSize ?? systemPageSize();
  }

  /**
   * One sample per tree in `table`. Roots absent from `table` are forgotten. The map is
   * reused by the next call; the samples in it are new every call, so they may be kept.
   *
   * A table that has not changed since the last call (the same table at the same version: a
   * quiet scan) makes no samples at all: then {@link quiet} is true, the map holds the samples
   * of the last call that did make them, every one of which would now be idle, and
   * {@link repeat} makes the idle sample of a tree that needs one.
   */
  sample(table: ProcTable): ReadonlyMap<number, ProcessSample> {
    // Loops are forEach or indexed, as in ProcessTreeScanner.scan: no garbage per agent.
    const now = this.clock.now();
    this.prevCallAt = this.lastCallAt;
    this.lastCallAt = now;
    const version = table.version;
    if (table === this.lastTable && version !== undefined && version === this.lastVersion) {
      this.quietValue = true;
      this.quietAt = now;
      return this.out;
    }
    this.quietValue = false;
    const quietAt = this.quietAt;
    this.lastTable = table;
    this.lastVersion = version;
    const gen = ++this.gen;
    table.trees.forEach((members, root) => {
      let rs = this.rootStates.get(root);
      const first = rs === undefined;
      if (rs === undefined) {
        rs = {
          lastTs: now,
          prevRssPages: 0,
          samePids: false,
          gen,
          first,
          ticks: 0,
          rssPages: 0,
          pids: [],
        };
        this.rootStates.set(root, rs);
      }
      rs.gen = gen;
      rs.first = first;
      rs.ticks = 0;
      rs.prevRssPages = rs.rssPages;
      rs.rssPages = 0;
      // Earlier samples hold the old array: a changed tree gets a new one, never an edit.
      let samePids = rs.pids.length === members.length;
      for (let i = 0; i < members.length; i++) {
        const p = members[i]!;
        if (samePids && rs.pids[i] !== p.pid) samePids = false;
        rs.rssPages += p.rssPages;
        let rec = this.procs.get(p.pid);
        if (rec !== undefined && rec.start === p.startTicks && rec.root === root) {
          const child = p.childCpuTicks - rec.child;
          rs.ticks += p.cpuTicks - rec.cpu + child;
          rec.childDelta = child;
        } else {
          if (!first) rs.ticks += p.cpuTicks + p.childCpuTicks;
          if (rec === undefined) {
            rec = { start: 0, cpu: 0, child: 0, ppid: 0, root, gen, childDelta: 0 };
            this.procs.set(p.pid, rec);
          }
          rec.start = p.startTicks;
          rec.root = root;
          rec.childDelta = 0;
        }
        rec.cpu = p.cpuTicks;
        rec.child = p.childCpuTicks;
        rec.ppid = p.ppid;
        rec.gen = gen;
      }
      rs.samePids = samePids;
      if (!samePids) rs.pids = members.map((p) => p.pid);
    });

    this.procs.forEach((rec, pid) => {
      if (rec.gen === gen) return;
      this.procs.delete(pid);
      const rs = this.rootStates.get(rec.root);
      if (rs === undefined || rs.gen !== gen) return;
      const parent = this.procs.get(rec.ppid);
      const total = rec.cpu + rec.child;
      if (parent && parent.gen === gen && parent.root === rec.root && parent.childDelta >= total) {
        parent.childDelta -= total;
        rs.ticks -= total;
      }
    });

    const out = this.out;
    this.rootStates.forEach((rs, root) => {
      if (rs.gen !== gen) {
        this.rootStates.delete(root);
        out.delete(root);
        return;
      }
      // A quiet call saw every member's times as they were at the previous full one, so
      // whatever CPU there is now was used after it.
      const from = quietAt > rs.lastTs ? quietAt : rs.lastTs;
      const intervalMs = rs.first ? 0 : now - from;
      const cpuPercent =
        intervalMs > 0 ? (Math.max(0, rs.ticks) * 100_000) / (this.clockTicks * intervalMs) : 0;
      out.set(root, {
        ts: now,
        cpuPercent,
        rssBytes: rs.rssPages * this.pageSize,
        pids: rs.pids,
        intervalMs,
        idle: !rs.first && rs.ticks <= 0 && rs.rssPages === rs.prevRssPages && rs.samePids,
      });
      rs.lastTs = now;
    });
    return out;
  }

  /** Whether the last {@link sample} call found the table unchanged and made no samples. */
  get quiet(): boolean {
    return this.quietValue;
  }

  /**
   * The idle sample of tree `root` as of the last {@link sample} call when that one was
   * {@link quiet}: no CPU, the RSS and pids last read. Undefined for a root not sampled, or
   * when the last call was not quiet (its samples are in the map it returned).
   */
  repeat(root: number): ProcessSample | undefined {
    if (!this.quietValue) return undefined;
    const rs = this.rootStates.get(root);
    if (rs === undefined) return undefined;
    return {
      ts: this.quietAt,
      cpuPercent: 0,
      rssBytes: rs.rssPages * this.pageSize,
      pids: rs.pids,
      // Since the previous call, as the full pass would say.
      intervalMs: this.quietAt - (this.prevCallAt > rs.lastTs ? this.prevCallAt : rs.lastTs),
      idle: true,
    };
  }
}
