import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FleetCgroup,
  cgroupVersionOf,
  findCgroupParents,
  parseMountInfo,
  parseSelfCgroup,
  removeStaleCgroups,
} from './fleet-cgroup.js';
import type { SupervisorLog } from './supervisor-reporter.js';

const dirs: string[] = [];
const cgroups: FleetCgroup[] = [];

afterEach(async () => {
  for (const c of cgroups.splice(0)) await c.close(0);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cg-'));
  dirs.push(d);
  return d;
}

/**
 * A cgroup directory stand-in: the files the kernel would put in it. mkdir in a real
 * cgroupfs makes them; here the child is made beforehand (open takes an existing one as its
 * own, as it does after a restart with the same pid).
 */
function fakeCgroup(dir: string, version: 1 | 2, usage = '0'): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'cgroup.procs'), '');
  if (version === 1) fs.writeFileSync(path.join(dir, 'cpuacct.usage'), `${usage}\n`);
  else {
    fs.writeFileSync(path.join(dir, 'cgroup.controllers'), '');
    writeCpuStat(dir, usage);
  }
}

function writeCpuStat(dir: string, usageUsec: string, nrPeriods = 0): void {
  fs.writeFileSync(
    path.join(dir, 'cpu.stat'),
    `usage_usec ${usageUsec}\nuser_usec 0\nsystem_usec 0\nnr_periods ${nrPeriods}\n`,
  );
}

function open(parent: string, name = 'warden-test'): FleetCgroup {
  const r = FleetCgroup.open(parent, { name });
  if (!r.cgroup) throw new Error(r.reason);
  cgroups.push(r.cgroup);
  return r.cgroup;
}

function memoryLog(): SupervisorLog & { lines: string[] } {
  const lines: string[] = [];
  const put = (_: object, m: string) => void lines.push(m);
  return { lines, debug: put, info: put, warn: put, error: put };
}

// What this kind of machine shows: cgroup v1 controllers each mounted apart, and the
// unified (v2) hierarchy beside them.
const HYBRID_MOUNTS = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

describe('finding where a fleet cgroup can go', () => {
  it('prefers this process’s cgroup v1 cpuacct (ns) to its cgroup v2 (µs)', () => {
    const self = parseSelfCgroup('4:memory:/x\n2:cpuacct:/svc\n1:cpu:/\n0::/svc\n');
    expect(findCgroupParents(self, parseMountInfo(HYBRID_MOUNTS)).parents).toEqual([
      { dir: '/sys/fs/cgroup/cpuacct/svc', version: 1 },
      { dir: '/sys/fs/cgroup/unified/svc', version: 2 },
    ]);
  });

  it('finds cpuacct mounted together with cpu, and v2 alone on a unified system', () => {
    const mounts = parseMountInfo(
      '25 20 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n',
    );
    expect(findCgroupParents(parseSelfCgroup('3:cpu,cpuacct:/a\n'), mounts).parents).toEqual([
      { dir: '/sys/fs/cgroup/cpu,cpuacct/a', version: 1 },
    ]);
    const v2 = findCgroupParents(
      parseSelfCgroup('0::/user.slice/user-1000.slice/user@1000.service/app.slice/w.service\n'),
      parseMountInfo('30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n'),
    );
    expect(v2.parents).toEqual([
      {
        dir: '/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/w.service',
        version: 2,
      },
    ]);
    expect(v2.notes).toEqual(['no cgroup v1 cpuacct hierarchy']);
  });

  it('maps a cgroup through a mount of a subtree (a container without a cgroup namespace), and says when it is not under it', () => {
    const mounts = parseMountInfo(
      '40 31 0:38 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n' +
        '41 31 0:30 /docker/abc /sys/fs/cgroup/cpu\\040acct rw - cgroup cgroup rw,cpuacct\n',
    );
    expect(mounts[1]!.mountPoint).toBe('/sys/fs/cgroup/cpu acct');
    const inside = findCgroupParents(
      parseSelfCgroup('2:cpuacct:/docker/abc\n0::/docker/abc/w\n'),
      mounts,
    );
    expect(inside.parents).toEqual([
      { dir: '/sys/fs/cgroup/cpu acct', version: 1 },
      { dir: '/sys/fs/cgroup/w', version: 2 },
    ]);
    const outside = findCgroupParents(parseSelfCgroup('2:cpuacct:/other\n0::/other\n'), mounts);
    expect(outside.parents).toEqual([]);
    expect(outside.notes[0]).toContain('cpuacct cgroup /other is outside the mounted part');
  });

  it('tells the kinds apart by the files in a directory', () => {
    const d = tempDir();
    fakeCgroup(path.join(d, 'v1'), 1);
    fakeCgroup(path.join(d, 'v2'), 2);
    expect(cgroupVersionOf(path.join(d, 'v1'))).toBe(1);
    expect(cgroupVersionOf(path.join(d, 'v2'))).toBe(2);
    expect(cgroupVersionOf(d)).toBeUndefined();
  });
});

describe('FleetCgroup.open', () => {
  it('off, and a path that is no cgroup, give no cgroup and say why', () => {
    expect(FleetCgroup.open('off')).toEqual({
      cgroup: undefined,
      reason: 'monitoring.cgroup is off',
    });
    const d = tempDir();
    expect(FleetCgroup.open(d).reason).toBe(
      `monitoring.cgroup ${d} is not a cgroup directory (no cpuacct.usage of cgroup v1, no cgroup.controllers of v2)`,
    );
  });

  it('auto: finds this process’s cpuacct cgroup from /proc/self/cgroup and mountinfo, and makes its own under it', () => {
    const d = tempDir();
    const mount = path.join(d, 'cpuacct');
    fakeCgroup(mount, 1);
    fakeCgroup(path.join(mount, 'svc', 'warden-auto'), 1);
    fs.writeFileSync(path.join(d, 'cgroup'), '2:cpuacct:/svc\n');
    fs.writeFileSync(
      path.join(d, 'mountinfo'),
      `33 31 0:30 / ${mount} rw,relatime - cgroup cgroup rw,cpuacct\n`,
    );
    const r = FleetCgroup.open('auto', {
      selfCgroupFile: path.join(d, 'cgroup'),
      mountInfoFile: path.join(d, 'mountinfo'),
      name: 'warden-auto',
    });
    cgroups.push(r.cgroup!);
    expect(r.cgroup?.describe()).toBe(
      `cgroup v1 cpuacct ${path.join(mount, 'svc', 'warden-auto')}`,
    );
    expect(r.cgroup?.parent).toBe(path.join(mount, 'svc'));
  });

  it('auto with no cgroup hierarchy says what it looked for', () => {
    const d = tempDir();
    fs.writeFileSync(path.join(d, 'cgroup'), '');
    fs.writeFileSync(path.join(d, 'mountinfo'), '');
    expect(
      FleetCgroup.open('auto', {
        selfCgroupFile: path.join(d, 'cgroup'),
        mountInfoFile: path.join(d, 'mountinfo'),
      }).reason,
    ).toBe('no cgroup v1 cpuacct hierarchy; no cgroup v2 hierarchy');
  });

  it('a directory without a readable CPU counter is refused', () => {
    const d = tempDir();
    fakeCgroup(d, 1);
    fakeCgroup(path.join(d, 'warden-bad'), 1, 'garbage');
    expect(FleetCgroup.open(d, { name: 'warden-bad' }).reason).toBe(
      `cannot read the CPU counter of ${path.join(d, 'warden-bad')}`,
    );
  });
});

describe('the CPU gate', () => {
  it('v1: unchanged only when cpuacct.usage reads exactly as the previous read, the first read never', () => {
    const d = tempDir();
    fakeCgroup(d, 1);
    fakeCgroup(path.join(d, 'warden-test'), 1, '123456789012345678');
    const cg = open(d);
    const usage = path.join(cg.dir, 'cpuacct.usage');
    expect(cg.unchanged()).toBe(false);
    expect(cg.unchanged()).toBe(true);
    // 1 ns more on a count past 2^53, where a float could not tell the two apart.
    fs.writeFileSync(usage, '123456789012345679\n');
    expect(cg.unchanged()).toBe(false);
    expect(cg.unchanged()).toBe(true);
    fs.writeFileSync(usage, '12345678901234567\n'); // a different length
    expect(cg.unchanged()).toBe(false);
    fs.writeFileSync(usage, 'x\n');
    expect(cg.unchanged()).toBe(false);
    // After an unreadable value nothing is known: the next read is a new baseline.
    fs.writeFileSync(usage, '1234567890123\n');
    expect(cg.unchanged()).toBe(false);
    expect(cg.unchanged()).toBe(true);
    expect(cg.cpuNs()).toBe(1234567890123);
  });

  it('v2: only usage_usec of cpu.stat counts, in µs', () => {
    const d = tempDir();
    fakeCgroup(d, 2);
    fakeCgroup(path.join(d, 'warden-test'), 2, '500');
    const cg = open(d);
    expect(cg.version).toBe(2);
    expect(cg.unchanged()).toBe(false);
    writeCpuStat(cg.dir, '500', 7); // the cpu controller's periods move without the fleet running
    expect(cg.unchanged()).toBe(true);
    writeCpuStat(cg.dir, '501', 7);
    expect(cg.unchanged()).toBe(false);
    expect(cg.cpuNs()).toBe(501_000);
  });

  it('adopt writes the pid to cgroup.procs; members reads them back', () => {
    const d = tempDir();
    fakeCgroup(d, 1);
    fakeCgroup(path.join(d, 'warden-test'), 1);
    const cg = open(d);
    expect(cg.adopt(4242)).toBe(true);
    expect(cg.adopt(4243)).toBe(true);
    expect(fs.readFileSync(path.join(cg.dir, 'cgroup.procs'), 'utf8')).toBe('4242\n4243\n');
    const pids = new Set<number>();
    expect(cg.members(pids)).toBe(true);
    expect([...pids]).toEqual([4242, 4243]);
  });

  it('after close it vouches for nothing and moves nothing', async () => {
    const d = tempDir();
    fakeCgroup(d, 1);
    fakeCgroup(path.join(d, 'warden-test'), 1);
    const cg = open(d);
    cg.unchanged();
    await cg.close(0); // a fake directory with files cannot be removed: said, not thrown
    expect(cg.unchanged()).toBe(false);
    expect(cg.adopt(1)).toBe(false);
  });
});

describe('removeStaleCgroups', () => {
  it('removes the empty cgroups of supervisors that are gone; keeps live ones, busy ones and others', () => {
    const d = tempDir();
    for (const n of [
      'warden-111',
      'warden-222-3',
      `warden-${process.pid}-9`,
      'warden-333',
      'warden-444',
      'other-555',
    ])
      fs.mkdirSync(path.join(d, n));
    // Busy: the kernel refuses to remove a cgroup with processes (here: a directory with files).
    fs.writeFileSync(path.join(d, 'warden-444', 'cgroup.procs'), '77\n78\n');
    const log = memoryLog();
    const removed = removeStaleCgroups(d, { isAlive: (pid) => pid === 333, log });
    expect(removed.sort()).toEqual([path.join(d, 'warden-111'), path.join(d, 'warden-222-3')]);
    expect(fs.readdirSync(d).sort()).toEqual(
      ['other-555', `warden-${process.pid}-9`, 'warden-333', 'warden-444'].sort(),
    );
    expect(log.lines).toContain(
      `stale fleet cgroup ${path.join(d, 'warden-444')} (supervisor 444 is gone) not removed: ENOTEMPTY, 2 processes still in it`,
    );
  });

  it('open cleans stale cgroups of its parent before making its own', () => {
    const d = tempDir();
    fakeCgroup(d, 1);
    fs.mkdirSync(path.join(d, 'warden-999999'));
    fakeCgroup(path.join(d, 'warden-test'), 1);
    const r = FleetCgroup.open(d, { name: 'warden-test', isAlive: () => false });
    cgroups.push(r.cgroup!);
    expect(fs.existsSync(path.join(d, 'warden-999999'))).toBe(false);
    expect(fs.existsSync(path.join(d, 'warden-test'))).toBe(true);
  });
});
