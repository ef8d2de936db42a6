import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MonitoringConfigSchema, AgentsConfigSchema, resolveAgents } from './supervisor-config.js';
import { loadPlugins } from './plugin-loader.js';
import { PluginHost, type PluginProblem } from './plugin-host.js';
import { FleetCgroup } from './fleet-cgroup.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';
import { ConcurrentStrategy } from './concurrent-strategy.js';
import type { StrategyFactory } from './monitoring-strategy.js';
import { nativeImport } from './test-support/plugins/native-import.js';
import { systemClock } from './clock.js';
import { MemoryReporter, silentLog, type SupervisorLog } from './supervisor-reporter.js';

/**
 * The supervisor on real processes with real time, short durations: every check is shown on
 * a real misbehaving process (a crasher, a leaker, a CPU spinner, a hung task, a failing
 * probe), and every decision is asserted from the events it reported.
 */

const supervisors: Supervisor[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'warden-sup-'));
  dirs.push(d);
  return d;
}

/**
 * A cgroup v1 stand-in: the files the kernel makes (see fleet-cgroup.test.ts), under a temp
 * parent, for `cgroup: parent` with `cgroupOptions: { name }`. Its CPU counter never moves, so
 * every scan after the first is quiet. Returns the parent and the fleet cgroup's directory.
 */
function standInCgroup(name: string): { parent: string; dir: string } {
  const parent = tempDir();
  const dir = join(parent, name);
  mkdirSync(dir);
  writeFileSync(join(parent, 'cpuacct.usage'), '0\n');
  writeFileSync(join(dir, 'cpuacct.usage'), '0\n');
  writeFileSync(join(dir, 'cgroup.procs'), '');
  return { parent, dir };
}

class MemoryLog implements SupervisorLog {
  readonly lines: Array<{ level: string; msg: string }> = [];
  debug = (_o: object, msg: string) => void this.lines.push({ level: 'debug', msg });
  info = (_o: object, msg: string) => void this.lines.push({ level: 'info', msg });
  warn = (_o: object, msg: string) => void this.lines.push({ level: 'warn', msg });
  error = (_o: object, msg: string) => void this.lines.push({ level: 'error', msg });
}

function make(
  agents: unknown[],
  monitoring: Record<string, unknown> = { check_interval: '100ms' },
  extra: {
    stateFile?: string;
    log?: SupervisorLog;
    plugins?: PluginHost;
    cgroupOptions?: SupervisorOptions['cgroupOptions'];
    /** Records the ids of every pass's targets (a strategy wrapping `concurrent`). */
    passes?: string[][];
  } = {},
) {
  const parsed = MonitoringConfigSchema.parse(monitoring);
  const reporter = new MemoryReporter();
  const configs = resolveAgents(AgentsConfigSchema.parse(agents), parsed);
  const sup = new Supervisor({
    cgroup: parsed.cgroup,
    ...(extra.cgroupOptions ? { cgroupOptions: extra.cgroupOptions } : {}),
    agents: configs,
    reporter,
    log: extra.log ?? silentLog,
    checkIntervalMs: configs[0]?.sampleIntervalMs ?? 100,
    agentEnv: (id) =>
      Promise.resolve({ WARDEN_URL: 'http://127.0.0.1:1', WARDEN_TOKEN: 't', WARDEN_AGENT_ID: id }),
    random: () => 0.5,
    ...(extra.stateFile ? { stateFile: extra.stateFile } : {}),
    ...(extra.plugins ? { plugins: extra.plugins } : {}),
    ...(extra.passes
      ? recording(extra.passes)
      : {
          strategy: {
            strategy: parsed.strategy,
            concurrency: parsed.concurrency,
            healthy_every: parsed.healthy_every,
          },
        }),
  });
  supervisors.push(sup);
  return { sup, reporter };
}

function recording(passes: string[][]): Pick<SupervisorOptions, 'strategy' | 'extraStrategies'> {
  const factory: StrategyFactory = (options) => {
    const inner = new ConcurrentStrategy(options);
    return {
      name: 'recording',
      start: (targets) =>
        inner.start(() => {
          const t = targets();
          passes.push(t.map((x) => x.id));
          return t;
        }),
      stop: () => inner.stop(),
    };
  };
  return {
    strategy: { strategy: 'recording', concurrency: 8, healthy_every: 2 },
    extraStrategies: new Map([['recording', factory]]),
  };
}

async function until<T>(what: string, fn: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const lifecycle = (r: MemoryReporter, id: string) =>
  r.of(id, 'agent_lifecycle') as Array<{ action: string; reason: string; [k: string]: unknown }>;

describe('Supervisor on real processes', () => {
  it('restarts a crasher with geometric backoff, then opens the circuit past max_restarts and escalates', async () => {
    const log = new MemoryLog();
    const { sup, reporter } = make(
      [
        {
          id: 'crasher',
          command: ['sh', '-c', 'echo boom >&2; exit 3'],
          restart: {
            initial_delay: '50ms',
            multiplier: 2,
            jitter: 0,
            max_restarts: 2,
            window: '1m',
            circuit_cooldown: '10m',
          },
        },
      ],
      { check_interval: '100ms' },
      { log },
    );
    sup.start();
    await until('circuit open', () =>
      lifecycle(reporter, 'crasher').find((e) => e.action === 'circuit_open'),
    );
    const events = lifecycle(reporter, 'crasher');
    const scheduled = events.filter((e) => e.action === 'restart_scheduled');
    expect(scheduled.map((e) => e.delayMs)).toEqual([50, 100]);
    expect(scheduled.map((e) => e.attempt)).toEqual([1, 2]);
    expect(events.filter((e) => e.action === 'started')).toHaveLength(3);
    expect(events.filter((e) => e.action === 'exited').every((e) => e.exitCode === 3)).toBe(true);
    expect(events.find((e) => e.action === 'circuit_open')!.reason).toMatch(/circuit/);
    expect(reporter.of('crasher', 'escalation')[0]).toMatchObject({ severity: 'warning' });
    const statuses = reporter.of('crasher', 'agent_status_update').map((d) => d.status);
    expect(statuses.at(-1)).toBe('failed');
    expect(sup.list()[0]).toMatchObject({ id: 'crasher', status: 'failed', health: 'critical' });
    // stderr lines are captured with their stream.
    expect(reporter.of('crasher', 'log')[0]).toMatchObject({
      level: 'warn',
      message: 'boom',
      stream: 'stderr',
    });
    // The escalation is a WARN line naming the agent, the reason and what to do.
    expect(
      log.lines.some(
        (l) =>
          l.level === 'warn' && /crasher needs attention: .*warden restart crasher/.test(l.msg),
      ),
    ).toBe(true);
  });

  it('stop, start and restart on command: SIGTERM to the tree, a new pid after restart', async () => {
    const { sup, reporter } = make([{ id: 'sleeper', command: ['sleep', '1000'] }]);
    sup.start();
    const first = await until('started', () => sup.list()[0]!.pid);
    await sup.command({ id: 'c1', agentId: 'sleeper', action: 'restart' });
    const second = await until('restarted', () => {
      const pid = sup.list()[0]!.pid;
      return pid !== undefined && pid !== first ? pid : undefined;
    });
    expect(second).not.toBe(first);
    await sup.command({ id: 'c2', agentId: 'sleeper', action: 'stop' });
    expect(sup.list()[0]).toMatchObject({ status: 'stopped', pid: undefined });
    expect(existsSync(`/proc/${second}`)).toBe(false);
    const actions = lifecycle(reporter, 'sleeper').map((e) => e.action);
    expect(actions).toEqual(['started', 'exited', 'started', 'exited', 'stopped']);
    await sup.command({ id: 'c3', agentId: 'sleeper', action: 'start' });
    await until('started again', () => sup.list()[0]!.pid);
    expect(await sup.command({ id: 'c4', agentId: 'nobody', action: 'start' })).toBe(false);
  });

  it('flags a slow memory leak (least-squares slope of tree RSS) before the memory limit', async () => {
    // Grows ~4 MB every 100 ms in a child of a shell: the tree's memory, not the main pid's.
    const leaker =
      'const a=[];setInterval(()=>{a.push(Buffer.alloc(4*1024*1024,1))},100);setTimeout(()=>{},1e9)';
    const { sup, reporter } = make([
      {
        id: 'leaker',
        command: `node -e "${leaker}"; true`,
        health: {
          max_memory_mb: 4096,
          memory_leak: { window: '3s', min_growth_mb: 20, min_samples: 8 },
        },
      },
    ]);
    sup.start();
    const change = await until('memory_leak flagged', () =>
      reporter.of('leaker', 'health_changed').find((c) => c.check === 'memory_leak'),
    );
    expect(change).toMatchObject({ check: 'memory_leak', health: 'warning' });
    expect(change.reason).toMatch(/MB\/min/);
    expect(change.reason).toMatch(/until 4096 MB limit/);
    expect(reporter.of('leaker', 'health_changed').some((c) => c.check === 'memory')).toBe(false);
  });

  it('flags a CPU spinner over max_cpu_percent sustained for `for`', async () => {
    const { sup, reporter } = make([
      {
        id: 'spinner',
        command: ['node', '-e', 'for(;;){}'],
        health: { max_cpu_percent: 40, for: '500ms' },
      },
    ]);
    sup.start();
    const change = await until('cpu flagged', () =>
      reporter.of('spinner', 'health_changed').find((c) => c.check === 'cpu'),
    );
    expect(change).toMatchObject({ health: 'warning' });
    const metrics = reporter.of('spinner', 'metric_update') as Array<{
      metrics: { cpu_percent: number; memory_mb: number };
    }>;
    expect(metrics.some((m) => m.metrics.cpu_percent > 40)).toBe(true);
    expect(sup.list()[0]!.health).toBe('warning');
  });

  it('a task with no progress past stale_task_threshold is hung: on_hung restart kills it as a failure', async () => {
    const { sup, reporter } = make([
      {
        id: 'hanger',
        command: ['sleep', '1000'],
        health: { stale_task_threshold: '400ms' },
        restart: { initial_delay: '20ms', jitter: 0 },
        on_hung: 'restart',
      },
    ]);
    sup.start();
    const pid = await until('started', () => sup.list()[0]!.pid);
    sup.observe({
      agentId: 'hanger',
      type: 'task_assigned',
      ts: Date.now(),
      data: { taskId: 't-1' },
    });
    const hung = await until('task_stale', () =>
      reporter.of('hanger', 'health_changed').find((c) => c.check === 'task_stale'),
    );
    expect(hung).toMatchObject({ health: 'critical' });
    const exited = await until('killed', () =>
      lifecycle(reporter, 'hanger').find((e) => e.action === 'exited'),
    );
    expect(exited).toMatchObject({ pid, signal: 'SIGTERM' });
    expect(exited.reason).toMatch(/hung/);
    // A kill for health is a failure: the policy restarts it.
    const scheduled = await until('restart scheduled', () =>
      lifecycle(reporter, 'hanger').find((e) => e.action === 'restart_scheduled'),
    );
    expect(scheduled.reason).toMatch(/hung/);
    await until('running again', () => {
      const p = sup.list()[0]!.pid;
      return p !== undefined && p !== pid;
    });
  });

  it('an agent that spoke and then fell silent is unresponsive after heartbeat_timeout', async () => {
    const { sup, reporter } = make([
      { id: 'quiet', command: ['sleep', '1000'], health: { heartbeat_timeout: '300ms' } },
    ]);
    sup.start();
    await until('started', () => sup.list()[0]!.pid);
    // Not judged before the first sign of life, however long.
    await new Promise((r) => setTimeout(r, 500));
    expect(sup.list()[0]!.status).toBe('running');
    sup.seen('quiet', Date.now());
    await until('unresponsive', () => sup.list()[0]!.status === 'unresponsive');
    expect(reporter.of('quiet', 'health_changed')[0]).toMatchObject({
      check: 'heartbeat',
      health: 'warning',
    });
    sup.seen('quiet', Date.now());
    await until('running again', () => sup.list()[0]!.status === 'running');
  });

  it('an HTTP probe failing failure_threshold times in a row makes the agent critical', async () => {
    const { sup, reporter } = make([
      {
        id: 'probed',
        command: ['sleep', '1000'],
        health: {
          http: {
            url: 'http://127.0.0.1:1/health',
            interval: '100ms',
            timeout: '200ms',
            failure_threshold: 2,
          },
        },
      },
    ]);
    sup.start();
    const change = await until('probe critical', () =>
      reporter.of('probed', 'health_changed').find((c) => c.check === 'probe'),
    );
    expect(change).toMatchObject({ health: 'critical' });
    expect(change.reason).toMatch(/2 consecutive failures/);
    expect(sup.list()[0]!.health).toBe('critical');
  });

  it('keeps what was wanted across its own restart: a stopped agent stays stopped (state file 0600)', async () => {
    const dir = tempDir();
    const stateFile = join(dir, 'supervisor-state.json');
    const agents = [
      { id: 'keep', command: ['sleep', '1000'] },
      { id: 'halt', command: ['sleep', '1000'] },
    ];
    const a = make(agents, undefined, { stateFile });
    a.sup.start();
    await until('both started', () => a.sup.list().every((x) => x.pid !== undefined));
    await a.sup.command({ id: 'c', agentId: 'halt', action: 'stop' });
    await a.sup.close();
    supervisors.splice(supervisors.indexOf(a.sup), 1);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      agents: Record<string, { wanted: string }>;
    };
    expect(saved.agents.keep!.wanted).toBe('running');
    expect(saved.agents.halt!.wanted).toBe('stopped');

    const b = make(agents, undefined, { stateFile });
    b.sup.start();
    await until('keep started', () => b.sup.list().find((x) => x.id === 'keep')!.pid);
    await new Promise((r) => setTimeout(r, 200));
    expect(b.sup.list().find((x) => x.id === 'halt')!.pid).toBeUndefined();
  });

  it('an unreadable state file is ignored with a warning, and the config decides', async () => {
    const dir = tempDir();
    const stateFile = join(dir, 'state.json');
    writeFileSync(stateFile, '{not json');
    const log = new MemoryLog();
    const { sup } = make([{ id: 'x', command: ['sleep', '1000'] }], undefined, { stateFile, log });
    sup.start();
    await until('started', () => sup.list()[0]!.pid);
    expect(log.lines.some((l) => l.level === 'warn' && /unreadable/.test(l.msg))).toBe(true);
  });

  it('reload adds, removes and changes agents and leaves the others running', async () => {
    const { sup } = make([
      { id: 'same', command: ['sleep', '1000'] },
      { id: 'gone', command: ['sleep', '1000'] },
      { id: 'edit', command: ['sleep', '1000'] },
    ]);
    sup.start();
    await until('started', () => sup.list().every((x) => x.pid !== undefined));
    const samePid = sup.list().find((x) => x.id === 'same')!.pid;
    const editPid = sup.list().find((x) => x.id === 'edit')!.pid;
    const next = resolveAgents(
      AgentsConfigSchema.parse([
        { id: 'same', command: ['sleep', '1000'] },
        { id: 'edit', command: ['sleep', '2000'] },
        { id: 'new', command: ['sleep', '1000'] },
      ]),
      MonitoringConfigSchema.parse({ check_interval: '100ms' }),
    );
    const result = await sup.reload(next);
    expect(result).toEqual({
      added: ['new'],
      removed: ['gone'],
      changed: ['edit'],
      unchanged: ['same'],
    });
    await until('new and edit running', () =>
      ['new', 'edit'].every((id) => sup.list().find((x) => x.id === id)?.pid !== undefined),
    );
    expect(sup.list().find((x) => x.id === 'same')!.pid).toBe(samePid);
    expect(sup.list().find((x) => x.id === 'edit')!.pid).not.toBe(editPid);
    expect(
      sup
        .list()
        .map((x) => x.id)
        .sort(),
    ).toEqual(['edit', 'new', 'same']);
  });

  it('runs plugin checks per agent (plugin:<name>), sends escalations to plugin notifiers, and isolates a throwing plugin', async () => {
    const dir = tempDir();
    const sent = join(dir, 'sent.jsonl');
    writeFileSync(
      join(dir, 'disk.mjs'),
      `import { appendFileSync } from 'node:fs';
export default {
  name: 'disk',
  healthChecks: [{ name: 'disk-space', create: (agent) => ({
    evaluate: (now, facts) => ({ health: agent.config.min_free_gb > 1000 ? 'critical' : 'healthy',
      reason: 'free space under ' + agent.config.min_free_gb + ' GB (pid ' + facts.pid + ')' }),
  }) }],
  notifiers: [{ name: 'file', send: (n) => appendFileSync(${JSON.stringify(sent)}, JSON.stringify(n) + '\\n') }],
};`,
    );
    writeFileSync(
      join(dir, 'broken.mjs'),
      `export default { name: 'broken', healthChecks: [{ name: 'explodes', create: () => ({
  evaluate: () => { throw new Error('kaboom'); } }) }] };`,
    );
    const loaded = await loadPlugins(dir, {
      log: { info: () => undefined, warn: () => undefined },
      importModule: nativeImport,
    });
    expect(loaded.failures).toEqual([]);
    const problems: PluginProblem[] = [];
    const host = new PluginHost({
      plugins: loaded.plugins,
      clock: systemClock,
      maxFailures: 2,
      onProblem: (p) => problems.push(p),
    });
    await host.init();
    const { sup, reporter } = make(
      [
        {
          id: 'full',
          command: ['sh', '-c', 'sleep 0.3; exit 1'],
          checks: { 'disk-space': { min_free_gb: 5000 }, explodes: {} },
          restart: { max_restarts: 0 },
        },
      ],
      { check_interval: '50ms' },
      { plugins: host },
    );
    sup.start();
    const change = await until('plugin check critical', () =>
      reporter.of('full', 'health_changed').find((c) => c.check === 'plugin:disk-space'),
    );
    expect(change).toMatchObject({ health: 'critical' });
    expect(change.reason).toMatch(/free space under 5000 GB \(pid \d+\)/);
    // The throwing plugin is reported, then disabled, and the agent is supervised regardless.
    await until('broken plugin disabled', () => problems.find((p) => p.disabled));
    expect(problems[0]).toMatchObject({ plugin: 'broken', code: 'threw', agentId: 'full' });
    // The exit opens the circuit (max_restarts 0): the escalation reaches the plugin notifier.
    const line = await until('notifier got the escalation', () =>
      existsSync(sent) ? readFileSync(sent, 'utf8').trim() : undefined,
    );
    expect(JSON.parse(line.split('\n')[0]!)).toMatchObject({
      agentId: 'full',
      severity: 'warning',
    });
  });
});

// Whether this machine lets Warden make a fleet cgroup (root, or a delegated v2 subtree).
const realCgroup = FleetCgroup.open('auto');
if (realCgroup.cgroup) await realCgroup.cgroup.close();

describe('an idle agent is judged only when something can move', () => {
  const sleeper = { id: 'sleeper', command: ['sleep', '1000'] };

  it('an agent that does not run is left out of the passes; one that runs is in every one', async () => {
    const passes: string[][] = [];
    const { sup } = make(
      [sleeper, { id: 'busy', command: ['sh', '-c', 'while :; do sleep 0.05; done'] }],
      { check_interval: '100ms', cgroup: 'off' },
      { passes },
    );
    sup.start();
    await until('15 passes', () => passes.length >= 15);
    const late = passes.slice(5);
    expect(late.filter((p) => p.includes('sleeper'))).toEqual([]);
    // The shell forks a new sleep every 50 ms: its tree changes between any two samples.
    expect(late.filter((p) => p.includes('busy')).length).toBeGreaterThanOrEqual(late.length - 1);
    // An event is something to judge: the next pass looks at the agent.
    const from = passes.length;
    sup.observe({ agentId: 'sleeper', type: 'log', ts: Date.now(), data: {} });
    await until('a pass with the sleeper', () =>
      passes.slice(from).some((p) => p.includes('sleeper')),
    );
  });

  it('with a fleet cgroup whose CPU counter did not move, a pass touches no agent, yet deadlines hold', async () => {
    const { parent } = standInCgroup('warden-q');
    const passes: string[][] = [];
    const { sup, reporter } = make(
      [
        { ...sleeper, health: { heartbeat_timeout: '300ms' } },
        { ...sleeper, id: 'sleeper-2' },
      ],
      { check_interval: '100ms', cgroup: parent },
      { passes, cgroupOptions: { name: 'warden-q' } },
    );
    sup.start();
    await until('15 passes', () => passes.length >= 15);
    expect(passes.slice(5).every((p) => p.length === 0)).toBe(true);
    expect(reporter.of('sleeper', 'metric_update').length).toBeGreaterThan(0);
    // The reporter's tick (the hub connection's keepalive) rides every pass, quiet ones too.
    expect(reporter.ticks).toBe(passes.length);
    // The agent speaks once and falls silent: only the heartbeat deadline can move it now,
    // and it does, 300 ms later, in passes that are otherwise quiet.
    sup.seen('sleeper', Date.now());
    await until(
      'unresponsive',
      () => sup.list().find((a) => a.id === 'sleeper')?.status === 'unresponsive',
    );
    expect(sup.list().find((a) => a.id === 'sleeper-2')?.status).toBe('running');
  });
});

describe('an agent found due is judged even when the strategy puts it off', () => {
  it('priority checks a healthy agent every healthy_every passes: a heartbeat deadline still holds on a quiet fleet', async () => {
    const { parent } = standInCgroup('warden-p');
    const { sup } = make(
      [{ id: 'sleeper', command: ['sleep', '1000'], health: { heartbeat_timeout: '300ms' } }],
      { check_interval: '100ms', cgroup: parent, strategy: 'priority', healthy_every: 3 },
      { cgroupOptions: { name: 'warden-p' } },
    );
    sup.start();
    await until('running', () => sup.list()[0]!.pid);
    await new Promise((r) => setTimeout(r, 1000));
    // Seen in a pass the strategy may skip it: the agent is owed a check until it gets one.
    for (let i = 0; i < 3; i++) {
      sup.seen('sleeper', Date.now());
      await new Promise((r) => setTimeout(r, 100 + i * 37));
    }
    await until('unresponsive', () => sup.list()[0]!.status === 'unresponsive', 5000);
  });
});

describe('the fleet cgroup', () => {
  const sleeper = { id: 'sleeper', command: ['sleep', '1000'] };

  it('with monitoring.cgroup off, one line says every process is read from /proc', async () => {
    const log = new MemoryLog();
    const { sup } = make([sleeper], { check_interval: '100ms', cgroup: 'off' }, { log });
    sup.start();
    expect(sup.cgroup).toBeUndefined();
    expect(log.lines.filter((l) => l.msg.startsWith('resource sampling'))).toEqual([
      {
        level: 'info',
        msg: 'resource sampling: each agent process is read from /proc every sample (no fleet cgroup: monitoring.cgroup is off)',
      },
    ]);
  });

  it('moves each agent into the cgroup of monitoring.cgroup right after its spawn, and says so', async () => {
    const { parent, dir } = standInCgroup('warden-sup');
    const log = new MemoryLog();
    const { sup } = make(
      [sleeper, { ...sleeper, id: 'sleeper-2' }],
      { check_interval: '100ms', cgroup: parent },
      { log, cgroupOptions: { name: 'warden-sup' } },
    );
    sup.start();
    const pids = await until('both running', () => {
      const p = sup.list().map((a) => a.pid);
      return p.every((x) => x !== undefined) ? (p as number[]) : undefined;
    });
    const moved = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').map(Number);
    for (const pid of pids) expect(moved).toContain(pid);
    expect(log.lines.filter((l) => l.msg.startsWith('resource sampling'))).toEqual([
      {
        level: 'info',
        msg: `resource sampling: agents run in the fleet cgroup cgroup v1 cpuacct ${dir}; a sample in which no agent process ran reads only its CPU counter`,
      },
    ]);
  });

  it.skipIf(!realCgroup.cgroup)(
    `auto on this machine: agents run in warden-<pid>-<n>, which is removed on close${realCgroup.reason ? ` (skipped: ${realCgroup.reason})` : ''}`,
    async () => {
      const { sup } = make([sleeper]);
      sup.start();
      const cg = sup.cgroup!;
      expect(cg.dir).toMatch(new RegExp(`/warden-${process.pid}-\\d+$`));
      const pid = await until('running', () => sup.list()[0]!.pid);
      expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`/warden-${process.pid}-`);
      await sup.close();
      expect(existsSync(cg.dir)).toBe(false);
    },
  );
});
