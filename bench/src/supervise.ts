/**
 * `npm run bench:supervise [-- --agents N] [--window S] [--settle S] [--kills N] [--side both|warden|pm2]`:
 * Warden's supervisor (`warden supervise`, 1 s sampling) against pm2's daemon, each managing
 * the same idle agents (tiny `sleep` processes, so what is measured is the manager, not the
 * agents' start-up): the manager's CPU and RSS over an idle window, then crash-to-restarted
 * latency (SIGKILL an agent, time until its new process is running). See bench/RESULTS.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  WARDEN_ROOT,
  fmt,
  installCleanup,
  latencyLine,
  machineBusySec,
  machineLine,
  makeTempDir,
  removeTempDir,
  selfCpuSec,
  sleep,
  startWarden,
  waitForQuiet,
  wardenLine,
  type LatencySummary,
} from './bench-support.js';
import { PM2_VERSION, installPm2, startPm2 } from './pm2-baseline.js';
import {
  childPids,
  childrenByCmdline,
  cmdline,
  isRunning,
  killManagerTree,
  procUsage,
} from './proc-usage.js';

const WARDEN_BIN = join(WARDEN_ROOT, 'apps', 'cli', 'bin', 'warden.js');
/** Issue targets: idle CPU of the supervisor, and restart latency above the configured delay. */
const TARGET_CPU_PERCENT = 2;
const TARGET_RESTART_P99_MS = 100;
/** Restart delay configured on both sides. */
const RESTART_DELAY_MS = 0;
/** How long a killed agent may take to come back before the kill counts as not restarted. */
const RESTART_TIMEOUT_MS = 5000;
/**
 * Most kills of one agent in a run: Warden's default circuit opens after 5 restarts in
 * 10 minutes and pm2 gives up on an app after 16 restarts of under a second each, so a short
 * run on few agents must not look like a crash loop to either.
 */
const MAX_KILLS_PER_AGENT = 4;

const { values: args } = parseArgs({
  options: {
    agents: { type: 'string', default: '200' },
    window: { type: 'string', default: '180' },
    settle: { type: 'string', default: '120' },
    kills: { type: 'string', default: '50' },
    spacing: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    side: { type: 'string', default: 'both' },
  },
});

function positiveInt(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`--${name} ${text}: expected a positive integer`);
  return n;
}

const AGENTS = positiveInt('agents', args.agents);
const WINDOW_MS = positiveInt('window', args.window) * 1000;
const SETTLE_MS = positiveInt('settle', args.settle) * 1000;
const REQUESTED_KILLS = positiveInt('kills', args.kills);
const KILLS = Math.min(REQUESTED_KILLS, AGENTS * MAX_KILLS_PER_AGENT);
const SPACING_MS = positiveInt('spacing', args.spacing);
const SEED = positiveInt('seed', args.seed);
if (args.side !== 'both' && args.side !== 'warden' && args.side !== 'pm2') {
  throw new Error(`--side ${args.side}: expected both, warden or pm2`);
}
const SIDE = args.side;

// ---------------------------------------------------------------------------------------------
// The agents and the two managers

/** One idle agent: the same id and argv under both managers. */
interface Agent {
  id: string;
  argv: string[];
}

/** `sleep` by absolute path, so both managers run the very same binary without a PATH lookup. */
function sleepBinary(): string {
  return execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim();
}

/**
 * Every agent sleeps for a slightly different number of seconds (about 28 hours), so its
 * command line alone says which agent a process is.
 */
function makeAgents(n: number): Agent[] {
  const bin = sleepBinary();
  return Array.from({ length: n }, (_, i) => ({
    id: `s-${i + 1}`,
    argv: [bin, String(100_001 + i)],
  }));
}

const key = (a: Agent) => a.argv.join(' ');

/** A process manager running the agents, as both measurements see it. */
interface Fleet {
  /** "Warden" or "pm2". */
  name: string;
  /** What the measured process is, for the output ("warden supervise", "pm2 daemon"). */
  managerLabel: string;
  /** The process that forks and restarts the agents: the only one whose cost is the figure. */
  managerPid: number;
  /** Processes shown beside the manager but not counted in its figure (Warden's hub). */
  companions: { name: string; pid: number }[];
  /** False once the manager has exited. */
  alive(): boolean;
  /** Stops the manager its own way; resolves with anything that went wrong or was left over. */
  stop(): Promise<string[]>;
  /** Warn/error lines the manager (and its companions) logged. */
  problems(): string[];
  /** How many agents the manager itself says are running, when it can say (`pm2 jlist`). */
  reportedRunning?(): Promise<number>;
}

/** Managers that may still be running, killed with their agents on any exit. */
const liveManagers = new Set<number>();
process.on('exit', () => {
  for (const pid of liveManagers) killManagerTree(pid);
});

/** Whether this build of the CLI has `warden supervise` (it is being written). */
function wardenCanSupervise(): boolean {
  try {
    const help = execFileSync(process.execPath, [WARDEN_BIN, '--help'], { encoding: 'utf8' });
    return /^\s+supervise\b/m.test(help);
  } catch {
    return false;
  }
}

/** Warn/error lines (pino level ≥ 40) of a JSON log file. */
function warnLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => {
        const m = /"level":(\d+)/.exec(l);
        return m !== null && Number(m[1]) >= 40;
      });
  } catch {
    return [];
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * The config `warden supervise` runs: every agent with restart delay 0 and no jitter (policy
 * `always`, as pm2's autorestart), resources sampled every second.
 */
function supervisorConfig(agents: Agent[]): string {
  const lines = ['monitoring:', '  check_interval: 1', 'agents:'];
  for (const a of agents) {
    lines.push(
      `  - id: ${a.id}`,
      `    command: ${JSON.stringify(a.argv)}`,
      `    restart: { policy: always, initial_delay: 0, jitter: 0 }`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Starts a hub (`warden serve`) and `warden supervise` against it with the agents. */
async function startWardenFleet(agents: Agent[]): Promise<Fleet> {
  const hub = await startWarden();
  const dir = makeTempDir('supervise');
  let child: ChildProcess | undefined;
  try {
    const token = hub.token('agent', '*');
    const configFile = join(dir, 'warden.yaml');
    writeFileSync(configFile, supervisorConfig(agents));
    const logFile = join(dir, 'supervise.log');
    const fd = openSync(logFile, 'a');
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('WARDEN_')) delete env[k];
    child = spawn(
      process.execPath,
      [
        // BENCH_SUPERVISOR_NODE_ARGS adds flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
        ...(process.env.BENCH_SUPERVISOR_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        WARDEN_BIN,
        'supervise',
        '--config',
        configFile,
        '--url',
        hub.url,
        '--token',
        token,
      ],
      { cwd: dir, env, stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    const sup = child;
    const pid = sup.pid!;
    liveManagers.add(pid);
    const exited = new Promise<void>((r) => sup.once('exit', () => r()));
    const alive = () => sup.exitCode === null && sup.signalCode === null;
    return {
      name: 'Warden',
      managerLabel: 'warden supervise',
      managerPid: pid,
      companions: [{ name: 'hub (warden serve)', pid: hub.pid }],
      alive,
      problems: () => [...warnLines(logFile), ...hub.problems()],
      stop: async () => {
        const left: string[] = [];
        if (alive()) {
          // SIGTERM stops the agents gracefully (SPEC §9: the whole tree, SIGKILL after
          // kill_timeout, 10 s by default); a sleep ends on SIGTERM at once.
          sup.kill('SIGTERM');
          const timer = setTimeout(() => {
            left.push('warden supervise still running 15 s after SIGTERM; killed');
            killManagerTree(pid);
          }, 15_000);
          await exited;
          clearTimeout(timer);
        }
        liveManagers.delete(pid);
        if (sup.exitCode !== null && sup.exitCode !== 0) {
          left.push(`warden supervise exited with ${sup.exitCode}: ${tail(logFile, 5)}`);
        }
        await hub.stop();
        removeTempDir(hub.dataDir);
        removeTempDir(dir);
        return left;
      },
    };
  } catch (err) {
    if (child?.pid !== undefined) {
      killManagerTree(child.pid);
      liveManagers.delete(child.pid);
    }
    await hub.stop();
    removeTempDir(hub.dataDir);
    removeTempDir(dir);
    throw err;
  }
}

/** Starts pm2's daemon (its CLI at `cli`, from installPm2) with the agents. */
async function startPm2Fleet(cli: string, agents: Agent[]): Promise<Fleet> {
  const pm2 = await startPm2(cli, agents);
  liveManagers.add(pm2.daemonPid);
  const logFile = join(pm2.home, 'pm2.log');
  return {
    name: 'pm2',
    managerLabel: 'pm2 daemon',
    managerPid: pm2.daemonPid,
    companions: [],
    alive: () => isRunning(pm2.daemonPid),
    problems: () => {
      try {
        return readFileSync(logFile, 'utf8')
          .split('\n')
          .filter((l) => /\b(error|PM2 error)\b/i.test(l));
      } catch {
        return [];
      }
    },
    reportedRunning: () => pm2.countOnline(),
    stop: async () => {
      const left = await pm2.stop();
      liveManagers.delete(pm2.daemonPid);
      return left;
    },
  };
}

/**
 * Waits until the manager runs every agent: a child of the manager with the agent's argv (an
 * exec'd process, not a fork still showing Node's). Resolves with agent id → pid.
 */
async function waitForAgents(
  fleet: Fleet,
  agents: Agent[],
  timeoutMs: number,
): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const running = childrenByCmdline(fleet.managerPid);
    const pids = new Map<string, number>();
    for (const a of agents) {
      const pid = running.get(key(a));
      if (pid !== undefined) pids.set(a.id, pid);
    }
    if (pids.size === agents.length) return pids;
    if (!fleet.alive()) throw new Error(`${fleet.managerLabel} exited while starting the agents`);
    if (Date.now() > deadline) {
      throw new Error(
        `${fleet.managerLabel} runs ${pids.size} of ${agents.length} agents after ${timeoutMs / 1000} s`,
      );
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The two measurements, the same code for both managers

/** Manager CPU over a window, split as /proc splits it. */
interface ManagerCpu {
  /** Its own threads, as the scheduler counts their run time (see `ProcUsage.ownCpuSec`). */
  ownSec: number;
  /** The same in clock ticks (utime + stime), as `ps` shows it. */
  ownTickSec: number;
  /** Children it reaped in the window (cutime + cstime): helper commands, ended agents. */
  reapedSec: number;
}

/** CPU of everything on the machine over one window, the manager's first. */
interface WindowCpu {
  wallSec: number;
  manager: ManagerCpu;
  companions: { name: string; cpuSec: number; rssKiB: number }[];
  /** This process: the /proc poller and killer (idle while the managers idle). */
  benchSec: number;
  /** Everything else on the machine (other sessions, the agents, kernel threads, steal). */
  otherSec: number;
}

/** Starts a CPU window over the manager, its companions, this process and the machine. */
function cpuWindow(fleet: Fleet): () => WindowCpu {
  const m0 = procUsage(fleet.managerPid);
  const c0 = fleet.companions.map((c) => procUsage(c.pid));
  const b0 = selfCpuSec();
  const busy0 = machineBusySec();
  const t0 = performance.now();
  return () => {
    const m1 = procUsage(fleet.managerPid);
    const manager = {
      ownSec: m1.ownCpuSec - m0.ownCpuSec,
      ownTickSec: m1.ownTickCpuSec - m0.ownTickCpuSec,
      reapedSec: m1.reapedCpuSec - m0.reapedCpuSec,
    };
    const companions = fleet.companions.map((c, i) => {
      const u = procUsage(c.pid);
      return { name: c.name, cpuSec: u.ownCpuSec - c0[i]!.ownCpuSec, rssKiB: u.rssKiB };
    });
    const benchSec = selfCpuSec() - b0;
    const busy = machineBusySec() - busy0;
    const counted =
      manager.ownSec + manager.reapedSec + benchSec + companions.reduce((s, c) => s + c.cpuSec, 0);
    return {
      wallSec: (performance.now() - t0) / 1000,
      manager,
      companions,
      benchSec,
      otherSec: Math.max(0, busy - counted),
    };
  };
}

const pct = (sec: number, wallSec: number) => (sec / wallSec) * 100;

function windowCpuLine(fleet: Fleet, c: WindowCpu): string {
  const part = (name: string, sec: number) =>
    `${name} ${sec.toFixed(2)} s (${pct(sec, c.wallSec).toFixed(1)}%)`;
  return (
    `CPU over ${c.wallSec.toFixed(1)} s: ` +
    [
      part(fleet.managerLabel, c.manager.ownSec + c.manager.reapedSec),
      ...c.companions.map((x) => part(x.name, x.cpuSec)),
      part('bench', c.benchSec),
      part('rest of machine', c.otherSec),
    ].join(', ')
  );
}

/** What one idle window showed of a manager. */
interface IdleResult {
  cpu: WindowCpu;
  /** Manager CPU (own + reaped) as a percentage of one core. */
  cpuPercent: number;
  /** The same from clock ticks (utime + stime + reaped), for comparison. */
  tickCpuPercent: number;
  /** Manager RSS at the end of the window, and the most seen in its once-a-second samples. */
  rssKiB: number;
  rssPeakKiB: number;
  /** Agents still running their first process at the end (all of them, for a quiet manager). */
  untouched: number;
}

/**
 * CPU and RSS of the manager over `windowMs` while its agents idle. RSS is read once a second
 * (this process does nothing else in the window, so its own cost stays near zero).
 */
async function measureIdle(
  fleet: Fleet,
  agents: Agent[],
  pids: Map<string, number>,
  windowMs: number,
): Promise<IdleResult> {
  const end = cpuWindow(fleet);
  const until = performance.now() + windowMs;
  let rssPeakKiB = procUsage(fleet.managerPid).rssKiB;
  while (performance.now() < until) {
    await sleep(Math.min(1000, until - performance.now()));
    rssPeakKiB = Math.max(rssPeakKiB, procUsage(fleet.managerPid).rssKiB);
  }
  const cpu = end();
  const rssKiB = procUsage(fleet.managerPid).rssKiB;
  const running = childrenByCmdline(fleet.managerPid);
  const untouched = agents.filter((a) => running.get(key(a)) === pids.get(a.id)).length;
  return {
    cpu,
    cpuPercent: pct(cpu.manager.ownSec + cpu.manager.reapedSec, cpu.wallSec),
    tickCpuPercent: pct(cpu.manager.ownTickSec + cpu.manager.reapedSec, cpu.wallSec),
    rssKiB,
    rssPeakKiB: Math.max(rssPeakKiB, rssKiB),
    untouched,
  };
}

/** Nearest-rank percentiles of a few samples (with 50, p99 is the slowest). */
function summarize(samples: number[]): LatencySummary {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) =>
    s.length === 0 ? NaN : s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
  return { samples: s.length, p50: at(50), p90: at(90), p99: at(99), max: s.at(-1) ?? NaN };
}

/** What the crash phase showed of a manager. */
interface CrashResult {
  latency: LatencySummary;
  /** Kills after which no new process appeared within RESTART_TIMEOUT_MS. */
  notRestarted: number;
  /** New processes of other agents seen meanwhile (restarts nobody asked for). */
  unexpected: number;
  cpu: WindowCpu;
}

/** Small seeded PRNG (mulberry32), so every run kills the agents in the same order. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Crash-to-restarted latency: SIGKILL one agent's process, then poll the manager's children
 * every millisecond until a new process with that agent's argv is running; `spacingMs` later
 * the next agent (in a seeded random order, each at most MAX_KILLS_PER_AGENT times). Only new
 * pids are read, so a poll costs a few small /proc reads.
 */
async function measureCrashes(
  fleet: Fleet,
  agents: Agent[],
  pids: Map<string, number>,
  kills: number,
  spacingMs: number,
): Promise<CrashResult> {
  const random = seededRandom(SEED);
  const byKey = new Map(agents.map((a) => [key(a), a]));
  const known = new Set(childPids(fleet.managerPid));
  let order: Agent[] = [];
  const samples: number[] = [];
  let notRestarted = 0;
  let unexpected = 0;
  const end = cpuWindow(fleet);
  for (let k = 0; k < kills; k++) {
    if (order.length === 0) order = shuffled(agents, random);
    const agent = order.pop()!;
    let victim = pids.get(agent.id);
    if (victim === undefined || cmdline(victim)?.join(' ') !== key(agent)) {
      // Not where we left it (a restart we did not time): find it again.
      victim = childrenByCmdline(fleet.managerPid).get(key(agent));
      if (victim === undefined) {
        notRestarted++;
        continue;
      }
    }
    const t0 = performance.now();
    try {
      process.kill(victim, 'SIGKILL');
    } catch {
      k--; // it ended between the check and the kill: choose again
      continue;
    }
    let found: number | undefined;
    while (found === undefined) {
      for (const pid of childPids(fleet.managerPid)) {
        if (known.has(pid)) continue;
        const argv = cmdline(pid);
        // undefined: gone already; [] a zombie; Node's own argv: forked, not yet exec'd.
        const other = argv && byKey.get(argv.join(' '));
        if (other === undefined) continue;
        known.add(pid);
        if (other === agent) {
          found = pid;
          samples.push(performance.now() - t0);
        } else {
          unexpected++;
        }
        pids.set(other.id, pid);
      }
      if (found !== undefined) break;
      if (performance.now() - t0 > RESTART_TIMEOUT_MS) {
        notRestarted++;
        break;
      }
      await sleep(1);
    }
    await sleep(spacingMs);
  }
  return { latency: summarize(samples), notRestarted, unexpected, cpu: end() };
}

// ---------------------------------------------------------------------------------------------
// One side, start to finish

interface SideResult {
  idle: IdleResult;
  crash: CrashResult;
}

async function quiet(before: string): Promise<void> {
  const q = await waitForQuiet(20_000);
  if (!q.quiet) {
    console.log(
      `  note: machine still busy (${q.busyCores.toFixed(2)} cores used by other processes) before ${before}`,
    );
  }
}

async function runSide(fleet: Fleet, agents: Agent[], startedAt: number): Promise<SideResult> {
  try {
    const pids = await waitForAgents(fleet, agents, 120_000);
    console.log(
      `${fleet.name}: ${agents.length} agents running in ${((Date.now() - startedAt) / 1000).toFixed(1)} s ` +
        `(${fleet.managerLabel} pid ${fleet.managerPid})`,
    );
    if (fleet.reportedRunning) {
      const n = await fleet.reportedRunning();
      if (n !== agents.length) console.log(`  note: ${fleet.name} itself reports ${n} running`);
    }
    // Idle means steady state: start-up work (first samples, agent tokens, the garbage of
    // start-up collected) is over before the window opens. Both sides settle alike. V8 keeps
    // optimising code that runs once a second or once a minute for many minutes (a TurboFan
    // job of 1–60 ms on a helper thread now and then), so the window is long enough (3 min)
    // to average those out instead of catching one or missing it.
    await sleep(SETTLE_MS);
    await quiet(`${fleet.name} idle`);
    const idle = await measureIdle(fleet, agents, pids, WINDOW_MS);
    const m = idle.cpu.manager;
    console.log(
      `${fleet.name} idle, ${agents.length} agents: ${fleet.managerLabel} ${(m.ownSec + m.reapedSec).toFixed(2)} s CPU ` +
        `= ${idle.cpuPercent.toFixed(2)}% of a core (own ${m.ownSec.toFixed(3)} s as the scheduler counts it, ${m.ownTickSec.toFixed(2)} s in clock ticks = ${idle.tickCpuPercent.toFixed(2)}%; reaped children ${m.reapedSec.toFixed(2)} s); ` +
        `RSS ${fmt(idle.rssKiB)} KiB (peak ${fmt(idle.rssPeakKiB)} KiB)`,
    );
    console.log(`  ${windowCpuLine(fleet, idle.cpu)}`);
    for (const c of idle.cpu.companions) console.log(`  ${c.name} RSS ${fmt(c.rssKiB)} KiB`);
    if (idle.untouched !== agents.length) {
      console.log(
        `  note: ${agents.length - idle.untouched} agents got a new process during the idle window`,
      );
    }

    await quiet(`${fleet.name} crashes`);
    const current =
      idle.untouched === agents.length ? pids : await waitForAgents(fleet, agents, 10_000);
    const crash = await measureCrashes(fleet, agents, current, KILLS, SPACING_MS);
    const restarts = crash.latency.samples;
    console.log(
      `${fleet.name} crash→restarted over ${KILLS} SIGKILLs: ${latencyLine(crash.latency)}` +
        (crash.notRestarted > 0
          ? `; ${crash.notRestarted} NOT restarted within ${RESTART_TIMEOUT_MS / 1000} s`
          : '') +
        (crash.unexpected > 0 ? `; ${crash.unexpected} other agents restarted meanwhile` : ''),
    );
    console.log(
      `  ${windowCpuLine(fleet, crash.cpu)}; ${fleet.managerLabel} per restart: ` +
        `${restarts > 0 ? ((crash.cpu.manager.ownSec / restarts) * 1000).toFixed(1) : '–'} ms own CPU ` +
        `(+ ${restarts > 0 ? ((crash.cpu.manager.reapedSec / restarts) * 1000).toFixed(1) : '–'} ms reaped: the killed sleeps)`,
    );
    const problems = fleet.problems();
    if (problems.length > 0) {
      console.log(
        `  ${fleet.name} logged ${problems.length} warn/error lines, first: ${problems[0]!.slice(0, 300)}`,
      );
    }
    await waitForAgents(fleet, agents, 10_000).catch((err: Error) =>
      console.log(`  note after the crashes: ${err.message}`),
    );
    return { idle, crash };
  } finally {
    const left = await fleet.stop();
    for (const l of left) console.log(`  ${fleet.name} stop: ${l}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  installCleanup();
  const started = Date.now();
  console.log(machineLine());
  console.log(wardenLine());
  const agents = makeAgents(AGENTS);
  console.log(
    `supervise: ${AGENTS} idle agents (${agents[0]!.argv.join(' ')} … ${agents.at(-1)!.argv[1]}), ` +
      `manager CPU and RSS over a ${WINDOW_MS / 1000} s idle window, then ${KILLS} SIGKILLs ${SPACING_MS} ms apart; ` +
      `restart delay ${RESTART_DELAY_MS} on both; Warden samples every 1 s, pm2 ${PM2_VERSION} with its defaults`,
  );
  if (KILLS < REQUESTED_KILLS) {
    console.log(
      `  note: ${KILLS} kills, not ${REQUESTED_KILLS}: at most ${MAX_KILLS_PER_AGENT} per agent`,
    );
  }

  let warden: SideResult | undefined;
  let wardenSkipped: string | undefined;
  if (SIDE !== 'pm2') {
    if (wardenCanSupervise()) {
      const t0 = Date.now();
      warden = await runSide(await startWardenFleet(agents), agents, t0);
    } else {
      wardenSkipped = `\`warden supervise\` is not a command of ${WARDEN_BIN} (not built yet?)`;
      console.log(`Warden: skipped: ${wardenSkipped}`);
    }
  }
  let pm2: SideResult | undefined;
  if (SIDE !== 'warden') {
    const cli = await installPm2((line) => console.log(line));
    const t0 = Date.now();
    pm2 = await runSide(await startPm2Fleet(cli, agents), agents, t0);
  }

  const v = (ok: boolean) => (ok ? 'met' : 'MISSED');
  if (warden) {
    const w = warden;
    const parts = [
      `Warden idle CPU ≤ ${TARGET_CPU_PERCENT}% of a core: ${w.idle.cpuPercent.toFixed(2)}% ${v(w.idle.cpuPercent <= TARGET_CPU_PERCENT)}`,
      `restart p99 < ${TARGET_RESTART_P99_MS + RESTART_DELAY_MS} ms: ${w.crash.latency.p99.toFixed(1)} ms ${v(w.crash.latency.p99 < TARGET_RESTART_P99_MS + RESTART_DELAY_MS && w.crash.notRestarted === 0)}`,
    ];
    if (pm2) {
      parts.splice(
        1,
        0,
        `≤ pm2's CPU (${pm2.idle.cpuPercent.toFixed(2)}%): ratio ${(w.idle.cpuPercent / pm2.idle.cpuPercent).toFixed(2)} ${v(w.idle.cpuPercent <= pm2.idle.cpuPercent)}`,
      );
    }
    console.log(`targets: ${parts.join('; ')}`);
  }
  const sideLine = (name: string, r: SideResult) =>
    `${name}: idle CPU ${r.idle.cpuPercent.toFixed(2)}%, RSS ${fmt(r.idle.rssKiB / 1024, 1)} MiB, ` +
    `restart p50 ${r.crash.latency.p50.toFixed(1)} ms p99 ${r.crash.latency.p99.toFixed(1)} ms`;
  if (warden) console.log(sideLine('Warden', warden));
  if (pm2) console.log(sideLine(`pm2 ${PM2_VERSION}`, pm2));
  if (warden && pm2) {
    console.log(
      `Warden / pm2: CPU ${(warden.idle.cpuPercent / pm2.idle.cpuPercent).toFixed(2)}×, ` +
        `RSS ${(warden.idle.rssKiB / pm2.idle.rssKiB).toFixed(2)}×, ` +
        `restart p50 ${(warden.crash.latency.p50 / pm2.crash.latency.p50).toFixed(2)}×, ` +
        `p99 ${(warden.crash.latency.p99 / pm2.crash.latency.p99).toFixed(2)}×`,
    );
  }
  console.log(`total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const round = (n: number | undefined, d = 2) =>
    n === undefined || !Number.isFinite(n) ? null : Math.round(n * 10 ** d) / 10 ** d;
  console.log(
    JSON.stringify({
      bench: 'supervise',
      agents: AGENTS,
      window_s: WINDOW_MS / 1000,
      kills: KILLS,
      pm2_version: PM2_VERSION,
      ...(wardenSkipped !== undefined ? { warden_skipped: wardenSkipped } : {}),
      warden_cpu_percent: round(warden?.idle.cpuPercent),
      pm2_cpu_percent: round(pm2?.idle.cpuPercent),
      warden_cpu_percent_ticks: round(warden?.idle.tickCpuPercent),
      pm2_cpu_percent_ticks: round(pm2?.idle.tickCpuPercent),
      cpu_ratio_vs_pm2: round(
        warden && pm2 ? warden.idle.cpuPercent / pm2.idle.cpuPercent : undefined,
      ),
      warden_rss_mib: round(warden ? warden.idle.rssKiB / 1024 : undefined, 1),
      pm2_rss_mib: round(pm2 ? pm2.idle.rssKiB / 1024 : undefined, 1),
      warden_restart_p50_ms: round(warden?.crash.latency.p50),
      warden_restart_p99_ms: round(warden?.crash.latency.p99),
      pm2_restart_p50_ms: round(pm2?.crash.latency.p50),
      pm2_restart_p99_ms: round(pm2?.crash.latency.p99),
      warden_not_restarted: warden?.crash.notRestarted ?? null,
      pm2_not_restarted: pm2?.crash.notRestarted ?? null,
    }),
  );
}

await main();
