import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import {
  LISTING_EVERY,
  MAX_PROBED_PIDS,
  ProcessSampler,
  QUIET_STAT_REFRESH_EVERY,
  ProcessTreeScanner,
  parseProcStat,
  readProcStat,
  readProcTable,
  systemClockTicks,
  systemPageSize,
  treePids,
} from './process-tree.js';
import type { FleetCpuGate, ProcessSample, ProcStat, ProcTable } from './process-tree.js';
import { FleetCgroup } from './fleet-cgroup.js';
import { ManualClock } from './test-support/manual-clock.js';

const groups: number[] = [];
const scanners: ProcessTreeScanner[] = [];
const dirs: string[] = [];
const fleetCgroups: FleetCgroup[] = [];

afterEach(async () => {
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const s of scanners.splice(0)) s.close();
  for (const c of fleetCgroups.splice(0)) await c.close(0);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Starts `sh -c script` as the leader of its own process group (as agents are started). */
function startShell(script: string): number {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  groups.push(child.pid!);
  return child.pid!;
}

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-proc-'));
  dirs.push(d);
  return d;
}

function scanner(): ProcessTreeScanner {
  const s = new ProcessTreeScanner();
  scanners.push(s);
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const q = JSON.stringify;

function stat(p: Partial<ProcStat> & { pid: number }): ProcStat {
  return {
    ppid: 1,
    pgid: p.pid,
    state: 'S',
    cpuTicks: 0,
    childCpuTicks: 0,
    rssPages: 0,
    startTicks: 1000,
    ...p,
  };
}

function table(trees: Record<number, ProcStat[]>): ProcTable {
  return { trees: new Map(Object.entries(trees).map(([k, v]) => [Number(k), v])) };
}

describe('parseProcStat', () => {
  const line = (comm: string) =>
    Buffer.from(
      `4242 (${comm}) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 3 0 98765 123456789 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`,
    );

  it('reads the fields supervision needs, with CPU split into own and reaped children', () => {
    const b = line('node');
    expect(parseProcStat(b, b.length)).toEqual({
      pid: 4242,
      ppid: 17,
      pgid: 4242,
      state: 'S',
      cpuTicks: 300,
      childCpuTicks: 50,
      rssPages: 2560,
      startTicks: 98765,
    });
  });

  it('finds the fields after the LAST parenthesis, so a command name with spaces and parentheses parses', () => {
    const b = line('a) S 1 2 (b c');
    const s = parseProcStat(b, b.length)!;
    expect([s.pid, s.ppid, s.pgid, s.cpuTicks, s.rssPages]).toEqual([4242, 17, 4242, 300, 2560]);
  });

  it('refuses text that is not a whole stat line', () => {
    const b = line('node');
    expect(parseProcStat(b, 40)).toBeUndefined();
    expect(parseProcStat(Buffer.from('garbage'), 7)).toBeUndefined();
    expect(parseProcStat(Buffer.from('12 (x'), 5)).toBeUndefined();
  });

  it('fills a given object instead of allocating one', () => {
    const b = line('node');
    const into = stat({ pid: 1 });
    expect(parseProcStat(b, b.length, into)).toBe(into);
    expect(into.pid).toBe(4242);
  });
});

describe('reading /proc', () => {
  it('reads this process and knows its parent', () => {
    const me = readProcStat(process.pid)!;
    expect(me.pid).toBe(process.pid);
    expect(me.ppid).toBe(process.ppid);
    expect(me.rssPages).toBeGreaterThan(0);
    expect(readProcTable().get(process.pid)?.ppid).toBe(process.ppid);
  });

  it('a pid that does not exist reads as undefined, not an error', () => {
    expect(readProcStat(2 ** 22 + 12345)).toBeUndefined();
  });

  it('the system units are the usual Linux ones', () => {
    expect(systemClockTicks()).toBe(100);
    expect([4096, 16384, 65536]).toContain(systemPageSize());
  });
});

describe('ProcessTreeScanner', () => {
  it('a parent that spawns children shows every descendant, root first', async () => {
    const root = startShell('sleep 30 & sleep 30 & wait');
    const s = scanner();
    const tree = await until('two children', () => {
      const t = s.scan([root]).trees.get(root);
      return t && t.length === 3 ? t : undefined;
    });
    expect(tree[0]!.pid).toBe(root);
    expect(tree.slice(1).every((p) => p.ppid === root && p.pgid === root)).toBe(true);
    expect(treePids(root, readProcTable())).toEqual(tree.map((p) => p.pid));
  });

  it('finds grandchildren, and a child whose command name holds spaces and parentheses', async () => {
    // The middle shell renames itself (comm) before starting its child.
    const root = startShell(`sh -c 'printf "x) (y z" > /proc/$$/comm; sleep 30 & wait' & wait`);
    const s = scanner();
    const tree = await until('three processes', () => {
      const t = s.scan([root]).trees.get(root);
      return t && t.length === 3 ? t : undefined;
    });
    const middle = tree.find((p) => p.ppid === root)!;
    expect(fs.readFileSync(`/proc/${middle.pid}/comm`, 'utf8')).toBe('x) (y z\n');
    expect(tree.find((p) => p.ppid === middle.pid)).toBeDefined();
  });

  it('a child that left the tree by parent but stayed in the group is still counted', async () => {
    // The middle shell exits at once; its sleep is reparented to init but keeps the pgid.
    const root = startShell(`sh -c 'sleep 30 &'; sleep 30`);
    const s = scanner();
    const tree = await until('the orphan', () => {
      const t = s.scan([root]).trees.get(root);
      return t && t.length === 3 && t.some((p) => p.ppid !== root) ? t : undefined;
    });
    // The root shell, its own sleep and the orphan.
    expect(tree.map((p) => p.pgid)).toEqual([root, root, root]);
  });

  it('a root given after its processes were already seen as outsiders is found whole', async () => {
    const root = startShell('sleep 30 & wait');
    const s = scanner();
    await until(
      'the child to exist',
      () => readProcTable().get(root) && treePids(root, readProcTable()).length === 2,
    );
    expect(s.scan([]).trees.size).toBe(0);
    expect(s.scan([root]).trees.get(root)?.length).toBe(2);
  });

  it('children born after the first scan are found on the next, and the dead are dropped', async () => {
    const dir = tempDir();
    const go = path.join(dir, 'go');
    const root = startShell(`while [ ! -e ${q(go)} ]; do sleep 0.05; done; sleep 30 & wait`);
    const s = scanner();
    await until('root', () => s.scan([root]).trees.get(root));
    fs.writeFileSync(go, '');
    const tree = await until('the new child', () => {
      const t = s.scan([root]).trees.get(root);
      return t && t.some((p) => p.ppid === root && p.pid !== root) ? t : undefined;
    });
    const child = tree[1]!.pid;
    process.kill(child, 'SIGKILL');
    await until(
      'the child to go',
      () =>
        !s
          .scan([root])
          .trees.get(root)
          ?.some((p) => p.pid === child),
    );
    // Its `wait` returned when the child died, so the shell may have ended by itself already.
    try {
      process.kill(root, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    await until('the root to go', () => !s.scan([root]).trees.has(root));
  });

  it('a member whose run time did not move is served from its last read; once it runs its figures are read again', async () => {
    const fifo = path.join(tempDir(), 'go');
    execFileSync('mkfifo', [fifo]);
    // One single-threaded process: idle in open(2) until the test writes, then busy, then
    // asleep again as the same pid.
    const root = startShell(
      `read x < ${q(fifo)}; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exec sleep 30`,
    );
    const s = scanner();
    await until('its schedstat open', () => {
      s.scan([root]);
      return s.openFileCount === 2;
    });
    for (let i = 0; i < 3; i++) s.scan([root]);
    const idle = s.scan([root]).trees.get(root)![0]!.cpuTicks;
    fs.writeFileSync(fifo, 'go\n');
    // Until the exec'd sleep is asleep: while it starts, its RSS still grows between reads.
    await until(
      'the busy loop to end',
      () =>
        fs.readFileSync(`/proc/${root}/cmdline`, 'utf8').startsWith('sleep') &&
        readProcStat(root)?.state === 'S',
    );
    const fresh = readProcStat(root)!;
    const scanned = s.scan([root]).trees.get(root)![0]!;
    expect(fresh.cpuTicks).toBeGreaterThan(idle);
    expect(scanned).toEqual(fresh);
  });

  it('keeps a stat file open per member, and a schedstat beside it once it is known as one; closes them when a root is dropped', async () => {
    const root = startShell('sleep 30 & sleep 30 & wait');
    const s = scanner();
    await until('three', () => s.scan([root]).trees.get(root)?.length === 3);
    s.scan([root]);
    // sh and two sleeps, each single-threaded.
    expect(s.openFileCount).toBe(6);
    s.scan([]);
    expect(s.openFileCount).toBe(0);
  });
});

/**
 * A procfs stand-in in a temp dir: `loadavg` and `<pid>/stat` files. Enough to show which
 * pids a scan reads without a listing (a removed file would still read through an open fd,
 * so processes only ever appear here).
 */
function fakeProc() {
  const dir = tempDir();
  const proc = {
    dir,
    lastPid(pid: number) {
      fs.writeFileSync(path.join(dir, 'loadavg'), `0.00 0.01 0.05 1/123 ${pid}\n`);
    },
    process(
      pid: number,
      ppid: number,
      pgid: number,
      thread = false,
      { utime = 1, rss = 10, state = 'S' }: { utime?: number; rss?: number; state?: string } = {},
    ) {
      fs.mkdirSync(path.join(dir, String(pid)), { recursive: true });
      // Field 38, exit_signal, is -1 for a thread and SIGCHLD (17) for a process.
      fs.writeFileSync(
        path.join(dir, String(pid), 'stat'),
        `${pid} (x) ${state} ${ppid} ${pgid} ${pgid} 0 -1 0 0 0 0 0 ${utime} 1 0 0 20 0 1 0 5000 1000 ${rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 ${thread ? -1 : 17} 0 0 0 0 0 0\n`,
      );
    },
  };
  return proc;
}

describe('ProcessTreeScanner without listing /proc', () => {
  const pidsOf = (t: ProcTable, root: number) => t.trees.get(root)?.map((p) => p.pid);
  const sorted = (pids: number[] | undefined) => pids?.sort((a, b) => a - b);

  it('reads the pids handed out since the last scan, skipping thread ids; older unknown pids wait for a listing', () => {
    const proc = fakeProc();
    proc.process(1000, 1, 1000);
    proc.lastPid(1000);
    const s = new ProcessTreeScanner({ procDir: proc.dir });
    scanners.push(s);
    expect(pidsOf(s.scan([1000]), 1000)).toEqual([1000]);
    // Born since: a child (pid 1001) and its thread (1002). And 990, an old child no probe
    // reaches (a real /proc cannot have one: it was listed when the root was new).
    proc.process(1001, 1000, 1000);
    proc.process(1002, 1000, 1000, true);
    proc.process(990, 1000, 1000);
    proc.lastPid(1002);
    expect(pidsOf(s.scan([1000]), 1000)).toEqual([1000, 1001]);
    // Too many pids handed out to probe them one by one: the scan lists /proc (which, unlike
    // this stand-in, never lists a thread).
    fs.rmSync(path.join(proc.dir, '1002'), { recursive: true });
    proc.lastPid(1002 + MAX_PROBED_PIDS + 1);
    expect(sorted(pidsOf(s.scan([1000]), 1000))).toEqual([990, 1000, 1001]);
  });

  it('lists /proc when the pid counter wrapped, and every LISTING_EVERY scans whatever it says', () => {
    const proc = fakeProc();
    proc.process(1000, 1, 1000);
    proc.lastPid(5000);
    const s = new ProcessTreeScanner({ procDir: proc.dir });
    scanners.push(s);
    s.scan([1000]);
    proc.process(990, 1000, 1000);
    expect(pidsOf(s.scan([1000]), 1000)).toEqual([1000]);
    proc.lastPid(300); // wrapped past pid_max
    expect(sorted(pidsOf(s.scan([1000]), 1000))).toEqual([990, 1000]);
    proc.process(980, 1000, 1000);
    let scans = 0;
    while (pidsOf(s.scan([1000]), 1000)!.length < 3) scans++;
    expect(scans).toBe(LISTING_EVERY - 1);
  });

  it('lists /proc on every scan when loadavg cannot be read', () => {
    const proc = fakeProc();
    proc.process(1000, 1, 1000);
    const s = new ProcessTreeScanner({ procDir: proc.dir });
    scanners.push(s);
    s.scan([1000]);
    proc.process(990, 1000, 1000);
    expect(sorted(pidsOf(s.scan([1000]), 1000))).toEqual([990, 1000]);
  });

  it('counts a real multi-threaded child once, not once per thread', async () => {
    // Node runs several threads; its thread ids are handed out right after its pid.
    const root = startShell(`${q(process.execPath)} -e 'setInterval(()=>{},1000)' & wait`);
    const s = scanner();
    s.scan([root]);
    const tree = await until('node child with its threads', () => {
      const t = s.scan([root]).trees.get(root);
      const child = t?.find((p) => p.pid !== root);
      if (!child) return undefined;
      const threads = fs.readdirSync(`/proc/${child.pid}/task`).length;
      return threads > 1 ? t!.map((p) => p.pid) : undefined;
    });
    expect(tree).toHaveLength(2);
    expect(new Set(tree).size).toBe(2);
  });
});

/**
 * The fleet's cgroup stand-in: a temp dir with `cpuacct.usage` and `cgroup.procs` (which
 * FleetCgroup appends adopted pids to, as the kernel would list them).
 */
function fakeCgroup() {
  const parent = tempDir();
  const dir = path.join(parent, 'warden-test');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(parent, 'cpuacct.usage'), '0\n');
  fs.writeFileSync(path.join(dir, 'cpuacct.usage'), '1000\n');
  fs.writeFileSync(path.join(dir, 'cgroup.procs'), '');
  const r = FleetCgroup.open(parent, { name: 'warden-test' });
  if (!r.cgroup) throw new Error(r.reason);
  fleetCgroups.push(r.cgroup);
  let usage = 1000;
  return {
    cgroup: r.cgroup,
    /** Some process in the cgroup ran. */
    ran(ns = 1) {
      usage += ns;
      fs.writeFileSync(path.join(dir, 'cpuacct.usage'), `${usage}\n`);
    },
    procs: () =>
      fs
        .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(Number),
    setProcs: (pids: number[]) =>
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), pids.map((p) => `${p}\n`).join('')),
  };
}

describe('ProcessTreeScanner with the fleet cgroup', () => {
  const cpuOf = (t: ProcTable, root: number, pid: number) =>
    t.trees.get(root)?.find((p) => p.pid === pid)?.cpuTicks;

  /** A root 1000 with a child 1001, scanned until the scanner answers from its last table. */
  function quietFleet(gate?: (cg: FleetCgroup) => FleetCpuGate) {
    const proc = fakeProc();
    const cg = fakeCgroup();
    proc.process(1000, 1, 1000);
    proc.process(1001, 1000, 1000);
    proc.lastPid(1001);
    const s = new ProcessTreeScanner({
      procDir: proc.dir,
      gate: gate ? gate(cg.cgroup) : cg.cgroup,
    });
    scanners.push(s);
    return { proc, cg, s };
  }

  it('moves every member it finds into the cgroup, and answers from its last table while the fleet’s CPU does not move', () => {
    const { proc, cg, s } = quietFleet();
    expect(
      s
        .scan([1000])
        .trees.get(1000)!
        .map((p) => p.pid),
    ).toEqual([1000, 1001]);
    expect(cg.procs()).toEqual([1000, 1001]);
    // They ran outside until moved, so the next scan still reads them.
    s.scan([1000]);
    expect(s.quietScans).toBe(0);
    // Nothing in the cgroup ran: a member's files are not even read (this one changed on
    // disk, which a real process could not do without running).
    proc.process(1001, 1000, 1000, false, { utime: 50 });
    const t = s.scan([1000]);
    expect(s.quietScans).toBe(1);
    expect(cpuOf(t, 1000, 1001)).toBe(2);
  });

  it('a member that ran is read again, exactly, as soon as the counter moves', () => {
    const { proc, cg, s } = quietFleet();
    s.scan([1000]);
    s.scan([1000]);
    proc.process(1001, 1000, 1000, false, { utime: 50 });
    cg.ran();
    const t = s.scan([1000]);
    expect(s.quietScans).toBe(0);
    expect(cpuOf(t, 1000, 1001)).toBe(51);
    expect(s.scan([1000]) && s.quietScans).toBe(1);
  });

  it('a child born outside the cgroup is found, moved in, and read once more before the fleet is quiet again', () => {
    const { proc, cg, s } = quietFleet();
    s.scan([1000]);
    s.scan([1000]);
    proc.process(1002, 1001, 1000);
    proc.lastPid(1002);
    cg.ran();
    expect(
      s
        .scan([1000])
        .trees.get(1000)!
        .map((p) => p.pid),
    ).toEqual([1000, 1001, 1002]);
    expect(cg.procs()).toEqual([1000, 1001, 1002]);
    s.scan([1000]);
    expect(s.quietScans).toBe(0);
    s.scan([1000]);
    expect(s.quietScans).toBe(1);
  });

  it('a member the kernel will not move in keeps every scan reading', () => {
    const { s } = quietFleet((cg) => ({
      unchanged: () => cg.unchanged(),
      adopt: (pid) => pid !== 1001 && cg.adopt(pid),
    }));
    for (let i = 0; i < 5; i++) s.scan([1000]);
    expect(s.quietScans).toBe(0);
  });

  it('a zombie member keeps every scan reading (init, outside the cgroup, reaps it)', () => {
    const { proc, cg, s } = quietFleet();
    s.scan([1000]);
    proc.process(1001, 1, 1000, false, { state: 'Z' });
    cg.ran();
    for (let i = 0; i < 5; i++) s.scan([1000]);
    expect(s.quietScans).toBe(0);
  });

  it('new roots are read at once', () => {
    const { proc, s } = quietFleet();
    s.scan([1000]);
    s.scan([1000]);
    proc.process(2000, 1, 2000);
    proc.lastPid(2000);
    expect([...s.scan([1000, 2000]).trees.keys()]).toEqual([1000, 2000]);
  });

  it(`a quiet scan still reads every member's stat once it is ${QUIET_STAT_REFRESH_EVERY} scans old (RSS the kernel reclaims from a sleeping process), all in one go; /proc is listed every ${LISTING_EVERY}`, () => {
    const { proc, cg, s } = quietFleet();
    for (let pid = 1002; pid < 1012; pid++) proc.process(pid, 1000, 1000);
    proc.lastPid(1011);
    s.scan([1000]);
    const version = s.scan([1000]).version!;
    const rss = () =>
      s
        .scan([1000])
        .trees.get(1000)!
        .map((p) => p.rssPages);
    for (let pid = 1000; pid < 1012; pid++)
      proc.process(pid, pid === 1000 ? 1 : 1000, 1000, false, { rss: 3 });
    const seen: number[] = [];
    for (let i = 0; i < QUIET_STAT_REFRESH_EVERY; i++)
      seen.push(rss().filter((r) => r === 3).length);
    expect(s.quietScans).toBe(QUIET_STAT_REFRESH_EVERY);
    expect(seen.slice(0, -1).every((n) => n === 0)).toBe(true);
    expect(seen.at(-1)).toBe(12);
    // The table's version moved with the RSS, and only then.
    expect(s.scan([1000]).version).toBe(version + 1);
    // A quiet fleet is never listed: nothing in it ran, so nothing in it forked.
    const before = s.quietScans;
    for (let i = 0; i < 2 * LISTING_EVERY; i++) s.scan([1000]);
    expect(s.quietScans - before).toBe(2 * LISTING_EVERY);
    // An old pid no probe reaches (its parent ran to fork it): found by the listing that is
    // due by then, at the first scan that reads.
    proc.process(990, 1000, 1000);
    cg.ran();
    expect(s.scan([1000]).trees.get(1000)!.length).toBe(13);
  });

  it(`a member moved out of the cgroup by something else is put back within ${LISTING_EVERY} scans, and the next scan reads`, () => {
    const { cg, s } = quietFleet();
    s.scan([1000]);
    s.scan([1000]);
    cg.setProcs([1000]);
    let scans = 0;
    while (cg.procs().length < 2) {
      s.scan([1000]);
      scans++;
    }
    expect(scans).toBeLessThanOrEqual(LISTING_EVERY);
    expect(cg.procs()).toEqual([1000, 1001]);
    const quiet = s.quietScans;
    s.scan([1000]);
    expect(s.quietScans).toBe(quiet);
  });

  it('pids handed out while the fleet is quiet are passed over (the counter is read every 10th quiet scan): the scan after it probes, not lists', () => {
    const { proc, cg, s } = quietFleet();
    s.scan([1000]);
    s.scan([1000]);
    // An old child a listing would find (a real /proc cannot have one: see above).
    proc.process(990, 1000, 1000);
    // Other processes on the machine take pids meanwhile: more in all than a probe reads.
    for (let i = 1; i <= 11; i++) {
      proc.lastPid(1001 + i * (MAX_PROBED_PIDS / 2));
      s.scan([1000]);
    }
    expect(s.quietScans).toBe(11);
    cg.ran();
    expect(
      s
        .scan([1000])
        .trees.get(1000)!
        .map((p) => p.pid),
    ).toEqual([1000, 1001]);
  });
});

describe('ProcessSampler on real processes', () => {
  it('a node grandchild that allocates 100 MB shows as RSS growth of the tree, not of the main pid', async () => {
    const dir = tempDir();
    const go = path.join(dir, 'go');
    const done = path.join(dir, 'done');
    const js = `const fs=require('fs');const t=setInterval(()=>{if(!fs.existsSync(${q(go)}))return;clearInterval(t);globalThis.b=Buffer.alloc(100*1024*1024,1);fs.writeFileSync(${q(done)},'');setInterval(()=>{},1000)},20)`;
    const root = startShell(`${q(process.execPath)} -e ${q(js)} & wait`);
    const s = scanner();
    const sampler = new ProcessSampler({ clock: systemClock });
    await until('node grandchild', () => (s.scan([root]).trees.get(root)?.length ?? 0) >= 2);
    await sleep(300); // node start-up
    const before = sampler.sample(s.scan([root])).get(root)!;
    fs.writeFileSync(go, '');
    await until('allocation', () => fs.existsSync(done), 10_000);
    const table = s.scan([root]);
    const after = sampler.sample(table).get(root)!;
    const mainPidBytes = table.trees.get(root)![0]!.rssPages * systemPageSize();
    expect(after.rssBytes - before.rssBytes).toBeGreaterThan(95 * 1024 * 1024);
    expect(mainPidBytes).toBeLessThan(20 * 1024 * 1024);
    expect(after.pids).toEqual(before.pids);
  });

  it('a CPU spinner as a grandchild reads about 100% over a 1 s interval', async () => {
    const root = startShell(`${q(process.execPath)} -e 'for(;;){}' & wait`);
    const s = scanner();
    const sampler = new ProcessSampler({ clock: systemClock });
    await until('spinner', () => (s.scan([root]).trees.get(root)?.length ?? 0) >= 2);
    await sleep(200);
    const first = sampler.sample(s.scan([root])).get(root)!;
    expect(first.intervalMs).toBe(0);
    await sleep(1000);
    const busy = sampler.sample(s.scan([root])).get(root)!;
    process.kill(-root, 'SIGKILL');
    expect(busy.intervalMs).toBeGreaterThanOrEqual(1000);
    expect(busy.cpuPercent).toBeGreaterThan(50);
    expect(busy.cpuPercent).toBeLessThan(150);
  });

  it('an idle tree reads near 0%', async () => {
    const root = startShell('sleep 30 & wait');
    const s = scanner();
    const sampler = new ProcessSampler({ clock: systemClock });
    await until('child', () => s.scan([root]).trees.get(root)?.length === 2);
    sampler.sample(s.scan([root]));
    await sleep(300);
    expect(sampler.sample(s.scan([root])).get(root)!.cpuPercent).toBeLessThan(10);
  });
});

describe('ProcessSampler accounting', () => {
  const clk = () => new ManualClock(1_000_000);

  it('CPU percent is the tree’s tick growth over the interval, in percent of one core', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100, pageSize: 4096 });
    sampler.sample(
      table({ 10: [stat({ pid: 10, cpuTicks: 5 }), stat({ pid: 11, ppid: 10, cpuTicks: 7 })] }),
    );
    clock.advance(2000);
    const s = sampler
      .sample(
        table({
          10: [
            stat({ pid: 10, cpuTicks: 55, rssPages: 10 }),
            stat({ pid: 11, ppid: 10, cpuTicks: 157, rssPages: 5 }),
          ],
        }),
      )
      .get(10)!;
    // (50 + 150) ticks = 2 s of CPU over 2 s = one core.
    expect(s).toEqual({
      ts: 1_002_000,
      cpuPercent: 100,
      rssBytes: 15 * 4096,
      pids: [10, 11],
      intervalMs: 2000,
      idle: false,
    });
  });

  it('the first sample of a root has no interval and reads 0%', () => {
    const sampler = new ProcessSampler({ clock: clk(), clockTicks: 100, pageSize: 4096 });
    const s = sampler.sample(table({ 10: [stat({ pid: 10, cpuTicks: 999 })] })).get(10)!;
    expect([s.cpuPercent, s.intervalMs]).toEqual([0, 0]);
  });

  it('a child reaped by its parent during the interval is not counted twice', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100 });
    sampler.sample(
      table({ 10: [stat({ pid: 10, cpuTicks: 10 }), stat({ pid: 11, ppid: 10, cpuTicks: 40 })] }),
    );
    clock.advance(1000);
    // The child used 20 more ticks, exited at 60, and the parent (idle) reaped it.
    const s = sampler
      .sample(table({ 10: [stat({ pid: 10, cpuTicks: 10, childCpuTicks: 60 })] }))
      .get(10)!;
    expect(s.cpuPercent).toBe(20);
  });

  it('a child born and reaped between two samples is counted through its parent', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100 });
    sampler.sample(table({ 10: [stat({ pid: 10 })] }));
    clock.advance(1000);
    expect(
      sampler.sample(table({ 10: [stat({ pid: 10, childCpuTicks: 30 })] })).get(10)!.cpuPercent,
    ).toBe(30);
  });

  it('a child born during the interval counts all of its CPU', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100 });
    sampler.sample(table({ 10: [stat({ pid: 10 })] }));
    clock.advance(1000);
    const s = sampler.sample(
      table({ 10: [stat({ pid: 10 }), stat({ pid: 12, ppid: 10, cpuTicks: 45 })] }),
    );
    expect(s.get(10)!.cpuPercent).toBe(45);
  });

  it('a member that vanishes without being reaped inside the tree does not make CPU negative', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100 });
    sampler.sample(
      table({
        10: [stat({ pid: 10, cpuTicks: 10 }), stat({ pid: 11, ppid: 1, pgid: 10, cpuTicks: 500 })],
      }),
    );
    clock.advance(1000);
    expect(
      sampler.sample(table({ 10: [stat({ pid: 10, cpuTicks: 15 })] })).get(10)!.cpuPercent,
    ).toBe(5);
  });

  it('a reused pid (new start time) is a new process, not a CPU jump backwards', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100 });
    sampler.sample(table({ 10: [stat({ pid: 10 }), stat({ pid: 11, ppid: 10, cpuTicks: 900 })] }));
    clock.advance(1000);
    const s = sampler.sample(
      table({
        10: [stat({ pid: 10 }), stat({ pid: 11, ppid: 10, cpuTicks: 3, startTicks: 5000 })],
      }),
    );
    expect(s.get(10)!.cpuPercent).toBe(3);
  });

  it('a root missing from the table gets no sample and starts afresh when it returns', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100 });
    sampler.sample(table({ 10: [stat({ pid: 10 })], 20: [stat({ pid: 20 })] }));
    clock.advance(1000);
    expect([...sampler.sample(table({ 20: [stat({ pid: 20 })] })).keys()]).toEqual([20]);
    clock.advance(1000);
    expect(
      sampler.sample(table({ 10: [stat({ pid: 10, cpuTicks: 50 })] })).get(10)!.intervalMs,
    ).toBe(0);
  });

  it('a table whose version did not move makes no samples; repeat() gives what the full pass gives', () => {
    const run = (versioned: boolean) => {
      const clock = clk();
      const sampler = new ProcessSampler({ clock, clockTicks: 100, pageSize: 4096 });
      const t = {
        trees: new Map([
          [10, [stat({ pid: 10, cpuTicks: 5, rssPages: 7 }), stat({ pid: 11, ppid: 10 })]],
          [20, [stat({ pid: 20, cpuTicks: 9, childCpuTicks: 3, rssPages: 2 })]],
        ]),
        version: versioned ? 1 : undefined,
      };
      const out: ProcessSample[][] = [];
      for (const ms of [0, 1000, 1500, 0]) {
        clock.advance(ms);
        const got = sampler.sample(t);
        expect(sampler.quiet).toBe(versioned && out.length > 0);
        if (sampler.quiet) out.push([10, 20].map((root) => sampler.repeat(root)!));
        else {
          expect(sampler.repeat(10)).toBeUndefined();
          out.push([...got.values()].map((x) => ({ ...x })));
        }
      }
      return out;
    };
    expect(run(true)).toEqual(run(false));
    expect(run(true)[2]).toEqual([
      {
        ts: 1_002_500,
        cpuPercent: 0,
        rssBytes: 7 * 4096,
        pids: [10, 11],
        intervalMs: 1500,
        idle: true,
      },
      {
        ts: 1_002_500,
        cpuPercent: 0,
        rssBytes: 2 * 4096,
        pids: [20],
        intervalMs: 1500,
        idle: true,
      },
    ]);
  });

  it('idle: no CPU, the same RSS and the same pids as the previous sample, never on the first', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100 });
    const at = (pages: number, ticks: number, pids = [10]) =>
      sampler
        .sample(table({ 10: pids.map((pid) => stat({ pid, rssPages: pages, cpuTicks: ticks })) }))
        .get(10)!.idle;
    expect(at(5, 1)).toBe(false); // first
    clock.advance(1000);
    expect(at(5, 1)).toBe(true);
    clock.advance(1000);
    expect(at(5, 2)).toBe(false); // ran
    clock.advance(1000);
    expect(at(6, 2)).toBe(false); // RSS moved
    clock.advance(1000);
    expect(at(6, 2)).toBe(true);
    clock.advance(1000);
    expect(at(3, 2, [10, 11])).toBe(false); // a new member
  });

  it('CPU after quiet calls is spread over the time since the last one: it was used after it', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100 });
    const t = { trees: new Map([[10, [stat({ pid: 10, cpuTicks: 5 })]]]), version: 1 };
    sampler.sample(t);
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      sampler.sample(t);
      expect(sampler.quiet).toBe(true);
    }
    clock.advance(1000);
    const busy = sampler.sample(table({ 10: [stat({ pid: 10, cpuTicks: 55 })] })).get(10)!;
    expect(busy).toMatchObject({ intervalMs: 1000, cpuPercent: 50, idle: false });
  });

  it('samples are new every call; their pids are shared while the tree keeps its members', () => {
    const clock = clk();
    const sampler = new ProcessSampler({ clock, clockTicks: 100 });
    const two = () => table({ 10: [stat({ pid: 10 }), stat({ pid: 11, ppid: 10 })] });
    const a = sampler.sample(two()).get(10)!;
    clock.advance(1000);
    const b = sampler.sample(two()).get(10)!;
    expect(b).not.toBe(a);
    expect(b.pids).toBe(a.pids);
    clock.advance(1000);
    const c = sampler.sample(table({ 10: [stat({ pid: 10 }), stat({ pid: 12, ppid: 10 })] }));
    expect(c.get(10)!.pids).toEqual([10, 12]);
    expect(a.pids).toEqual([10, 11]); // an earlier sample is never changed
  });
});
