import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import { FleetCgroup } from './fleet-cgroup.js';
import { ProcessSampler, ProcessTreeScanner, readProcStat } from './process-tree.js';

// The real thing: this machine's own cgroup (v1 cpuacct, else v2), real sleeps, a real
// spinner. Skipped only where no cgroup is writable (not root, not delegated).
const probe = FleetCgroup.open('auto');
if (probe.cgroup) await probe.cgroup.close();
const why = probe.reason ?? '';

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(() => {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** `sh -c script` leading its own group, as agents are started; moved in at once unless told. */
function start(script: string, cg: FleetCgroup | undefined): ChildProcess {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  children.push(child);
  if (cg) cg.adopt(child.pid!);
  return child;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => c.once('exit', () => r()));

async function until<T>(what: string, fn: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function cgroupOf(pid: number, cg: FleetCgroup): boolean {
  const line = fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => (cg.version === 1 ? /^\d+:[^:]*\bcpuacct\b/.test(l) : l.startsWith('0::')));
  return line !== undefined && line.endsWith(`/${path.basename(cg.dir)}`);
}

describe.skipIf(!probe.cgroup)(
  `the fleet cgroup on this machine${why ? ` (skipped: ${why})` : ''}`,
  () => {
    it('idle sleeps are sampled with one read a scan; a spinner among them is seen to the tick', async () => {
      const { cgroup: cg } = FleetCgroup.open('auto');
      if (!cg) throw new Error('no cgroup');
      const fifo = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cg-')), 'go');
      dirs.push(path.dirname(fifo));
      execFileSync('mkfifo', [fifo]);
      const sleeps = Array.from({ length: 20 }, () => start('exec sleep 1000', cg));
      // Single-threaded and blocked in open(2) until the test writes; then busy; then asleep.
      const spinner = start(
        `read x < ${JSON.stringify(fifo)}; i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; exec sleep 1000`,
        cg,
      );
      const all = [...sleeps, spinner];
      const roots = all.map((c) => c.pid!);
      const scanner = new ProcessTreeScanner({ gate: cg });
      const sampler = new ProcessSampler({ clock: systemClock });
      try {
        await until('every sleep exec’d', () =>
          sleeps.every(
            (c) =>
              readProcStat(c.pid!)?.state === 'S' &&
              fs.readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').startsWith('sleep'),
          ),
        );
        for (const pid of roots) expect(cgroupOf(pid, cg)).toBe(true);
        sampler.sample(scanner.scan(roots));
        const cpu0 = cg.cpuNs();
        for (let i = 0; i < 5; i++) {
          await sleep(50);
          sampler.sample(scanner.scan(roots));
        }
        expect(scanner.quietScans).toBeGreaterThanOrEqual(3);
        expect(cg.cpuNs()).toBe(cpu0);

        const before = readProcStat(spinner.pid!)!;
        const quiet = scanner.quietScans;
        fs.writeFileSync(fifo, 'go\n');
        // Until the exec'd sleep is asleep: while it starts, its RSS still grows between reads.
        await until(
          'the busy loop to end',
          () =>
            fs.readFileSync(`/proc/${spinner.pid}/cmdline`, 'utf8').startsWith('sleep') &&
            readProcStat(spinner.pid!)?.state === 'S',
        );
        const table = scanner.scan(roots);
        const samples = sampler.sample(table);
        const after = readProcStat(spinner.pid!)!;
        expect(scanner.quietScans).toBe(quiet); // the counter moved: read
        expect(table.trees.get(spinner.pid!)![0]).toEqual(after);
        expect(after.cpuTicks).toBeGreaterThan(before.cpuTicks);
        // Every tick the spinner used, and nothing more, is in its tree's sample.
        const sample = samples.get(spinner.pid!)!;
        const ticks = (sample.cpuPercent * sample.intervalMs) / 1000;
        expect(ticks).toBeCloseTo(after.cpuTicks - before.cpuTicks, 6);
        expect(cg.cpuNs()).toBeGreaterThan(cpu0);
        for (const c of sleeps) expect(samples.get(c.pid!)!.cpuPercent).toBe(0);

        // Quiet again once the spinner sleeps.
        for (let i = 0; i < 3; i++) {
          await sleep(50);
          scanner.scan(roots);
        }
        expect(scanner.quietScans).toBeGreaterThan(quiet);
      } finally {
        scanner.close();
        for (const c of all) c.kill('SIGKILL');
        await Promise.all(all.map(exited));
        expect(await cg.close()).toBeUndefined();
        expect(fs.existsSync(cg.dir)).toBe(false);
      }
    });

    it('a child forked before its agent was moved in is found outside and moved in', async () => {
      const { cgroup: cg } = FleetCgroup.open('auto');
      if (!cg) throw new Error('no cgroup');
      // Not adopted at spawn: as if the agent forked before the supervisor wrote its pid.
      const agent = start('sleep 1000 & wait', undefined);
      const scanner = new ProcessTreeScanner({ gate: cg });
      try {
        const tree = await until('the child', () => {
          const t = scanner.scan([agent.pid!]).trees.get(agent.pid!);
          return t && t.length === 2 ? t : undefined;
        });
        for (const p of tree) expect(cgroupOf(p.pid, cg)).toBe(true);
        const pids = new Set<number>();
        cg.members(pids);
        expect([...pids].sort()).toEqual(tree.map((p) => p.pid).sort());
      } finally {
        scanner.close();
        process.kill(-agent.pid!, 'SIGKILL');
        await exited(agent);
        // The orphaned sleep may outlive its shell for a moment: close moves it out if need be.
        expect(await cg.close()).toBeUndefined();
      }
    });
  },
);
