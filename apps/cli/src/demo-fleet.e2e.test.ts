import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenService, loadConfig } from '@warden/server';
import { WARDEN_BIN, cliEnv, processAlive, tempDataDir } from './test-support/cli-run.js';

// The demo fleet `npm start` runs (examples/warden.yaml), under the built CLI as a newcomer
// runs it, on a temp data dir and a free port.
const CONFIG = fileURLToPath(new URL('../../../examples/warden.yaml', import.meta.url));
const ALIVE = new Set(['running', 'busy', 'idle']);

interface Run {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  output: () => string;
}

let run: Run | undefined;

/** Spawns `warden serve` and resolves once it says where it listens. */
async function serve(dataDir: string): Promise<Run> {
  const child = spawn(
    process.execPath,
    [WARDEN_BIN, 'serve', '--config', CONFIG, '--data-dir', dataDir, '--port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() },
  );
  let text = '';
  const keep = (d: Buffer) => {
    text = (text + d.toString()).slice(-32_768);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const m = /listening on (http:\/\/\S+)/.exec(text);
    if (m) return { child, url: m[1]!, exited, output: () => text };
    if (child.exitCode !== null) throw new Error(`warden serve exited:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`warden serve did not start:\n${text}`);
}

/**
 * Every live process started for this run's hub: the supervisor gives each agent WARDEN_URL,
 * so a process whose environment names this hub's URL is one of ours (even one started after
 * the last look at the hub's events), and nobody else's demo is touched.
 */
function processesOf(url: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      if (env.includes(`WARDEN_URL=${url}`) && processAlive(Number(name))) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = pids.filter((p) => existsSync(`/proc/${p}`));
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = left.filter((p) => existsSync(`/proc/${p}`));
  }
  return left;
}

afterEach(async () => {
  // A failed run must not leave a hub or demo agents behind.
  const r = run;
  run = undefined;
  if (!r) return;
  if (r.child.exitCode === null && r.child.signalCode === null) {
    r.child.kill('SIGTERM');
    const timer = setTimeout(() => r.child.kill('SIGKILL'), 10_000);
    await r.exited;
    clearTimeout(timer);
  }
  for (const pid of processesOf(r.url)) process.kill(pid, 'SIGKILL');
}, 20_000);

describe('the demo fleet (examples/warden.yaml)', () => {
  it('comes alive under warden serve — every agent reports in and builds complete — and stops with it', async () => {
    const dir = tempDataDir();
    const fleet = loadConfig({ config: CONFIG, dataDir: dir }).agents.map((a) => a.id);
    expect(fleet).toEqual(
      expect.arrayContaining(['dispatcher', 'builder-1', 'reviewer', 'leaky', 'crashy']),
    );
    run = await serve(dir);
    const { url } = run;
    const tokens = new TokenService(readFileSync(join(dir, 'secret'), 'utf8').trim());
    const token = await tokens.mint({ role: 'admin', ttlMs: 120_000 });
    const get = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };

    // Each agent must have said running, busy or idle at least once (crashy may be between
    // a crash and its restart at any one look), and the builds queue must have finished one.
    const reported = new Set<string>();
    let completed = 0;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (reported.size < fleet.length || completed < 1)) {
      const { agents } = await get<{ agents: Array<{ agentId: string; status: string }> }>(
        '/api/v1/agents',
      );
      for (const a of agents)
        if (fleet.includes(a.agentId) && ALIVE.has(a.status)) reported.add(a.agentId);
      const { queues } = await get<{ queues: Array<{ queue: string; completed: number }> }>(
        '/api/v1/queues',
      );
      completed = queues.find((q) => q.queue === 'builds')?.completed ?? 0;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect([...reported].sort(), run.output()).toEqual([...fleet].sort());
    expect(completed, 'builds completed').toBeGreaterThanOrEqual(1);

    // The pid of every start, restarts included, from the agents' lifecycle events.
    const { events } = await get<{
      events: Array<{ agentId: string; data: { action: string; pid?: number } }>;
    }>('/api/v1/events?type=agent_lifecycle&limit=1000');
    const started = events.filter((e) => e.data.action === 'started' && e.data.pid !== undefined);
    expect(new Set(started.map((e) => e.agentId))).toEqual(new Set(fleet));
    const live = processesOf(url);
    expect(live.length, 'agent processes found by their WARDEN_URL').toBeGreaterThan(0);
    const pids = [...new Set([...started.map((e) => e.data.pid!), ...live])];

    run.child.kill('SIGTERM');
    const code = await Promise.race([
      run.exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000)),
    ]);
    expect(code, run.output()).toBe(0);
    // The supervisor waits for its agents before the hub closes: nothing is left running.
    expect(await waitGone(pids, 2000)).toEqual([]);
    expect(processesOf(url)).toEqual([]);
  }, 60_000);
});
