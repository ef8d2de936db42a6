/**
 * The pm2 side of `npm run bench:supervise`: pm2 installed into a temp dir (never a project
 * dependency), run with its own PM2_HOME and its default settings, managing the same idle
 * agents as Warden's supervisor.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir, removeTempDir, sleep } from './bench-support.js';
import { isRunning, killManagerTree } from './proc-usage.js';

const run = promisify(execFile);

/**
 * The pm2 measured. Pinned so runs compare; 6.x is the current line whose engines accept
 * Node 20 (`>=16`), and it restarts exactly as the bench needs by default: autorestart on,
 * `restart_delay` 0, exponential backoff off.
 */
export const PM2_VERSION = '6.0.14';

/** One agent as both managers run it: a name and the argv of its process. */
export interface Pm2Agent {
  id: string;
  argv: string[];
}

/** pm2's daemon with the agents started under it. */
export interface Pm2Fleet {
  /** The God daemon (PM2_HOME/pm2.pid): the process that forks and restarts the agents. */
  daemonPid: number;
  /** PM2_HOME of this run, a temp dir. */
  home: string;
  /** How many agents pm2 itself says are `online` (`pm2 jlist`). */
  countOnline(): Promise<number>;
  /** `pm2 kill`, then anything left over killed by hand; resolves with what was left over. */
  stop(): Promise<string[]>;
}

/** Where pm2 is installed: kept between runs under the temp dir so only the first run pays. */
function installDir(): string {
  return join(tmpdir(), `warden-bench-pm2-${PM2_VERSION}`);
}

/**
 * Installs pm2@PM2_VERSION with npm into a temp dir (reused when a previous run completed the
 * same install) and returns the path of its CLI script.
 */
export async function installPm2(log: (line: string) => void): Promise<string> {
  const dir = installDir();
  const cli = join(dir, 'node_modules', 'pm2', 'bin', 'pm2');
  const done = join(dir, '.installed');
  if (existsSync(done) && existsSync(cli)) {
    log(`pm2 ${PM2_VERSION}: using the copy installed by an earlier run in ${dir}`);
    return cli;
  }
  log(`pm2 ${PM2_VERSION}: installing with npm into ${dir} (first run only)`);
  const t0 = Date.now();
  await run(
    'npm',
    [
      'install',
      '--prefix',
      dir,
      `pm2@${PM2_VERSION}`,
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
    ],
    { timeout: 300_000 },
  );
  const version = (
    JSON.parse(readFileSync(join(dir, 'node_modules', 'pm2', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  if (version !== PM2_VERSION) throw new Error(`npm installed pm2 ${version}, not ${PM2_VERSION}`);
  writeFileSync(done, `${version}\n`);
  log(`  installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return cli;
}

/** Our environment without Warden's variables, plus PM2_HOME: what the pm2 CLI runs with. */
function pm2Env(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PM2_HOME: home };
  for (const k of Object.keys(env)) if (k.startsWith('WARDEN_')) delete env[k];
  return env;
}

/** Daemons that may still be running, killed on any exit so no agent outlives the bench. */
const liveDaemons = new Set<number>();
process.on('exit', () => {
  for (const pid of liveDaemons) killManagerTree(pid);
});

/**
 * Starts pm2's daemon with every agent from one ecosystem file, as a competent user would:
 * fork mode, `interpreter: 'none'` (the agent's binary is run directly, no Node wrapper),
 * everything else pm2's default (autorestart, `restart_delay` 0, per-app log files). Resolves
 * once `pm2 start` has returned; the caller waits for the agents' processes itself.
 */
export async function startPm2(cli: string, agents: Pm2Agent[]): Promise<Pm2Fleet> {
  const home = makeTempDir('pm2-home');
  const env = pm2Env(home);
  const eco = join(home, 'bench-apps.json');
  writeFileSync(
    eco,
    JSON.stringify({
      apps: agents.map((a) => ({
        name: a.id,
        script: a.argv[0],
        args: a.argv.slice(1),
        interpreter: 'none',
      })),
    }),
  );
  const pm2 = (args: string[], timeout = 120_000) =>
    run(process.execPath, [cli, ...args], { env, cwd: home, timeout, maxBuffer: 64 * 2 ** 20 });

  let daemonPid = 0;
  const stop = async (): Promise<string[]> => {
    const left: string[] = [];
    try {
      await pm2(['kill'], 30_000);
    } catch (err) {
      left.push(`pm2 kill failed: ${(err as Error).message.split('\n')[0]}`);
    }
    for (let i = 0; i < 50 && daemonPid > 0 && isRunning(daemonPid); i++) await sleep(100);
    if (daemonPid > 0 && isRunning(daemonPid)) {
      left.push(`pm2 daemon ${daemonPid} still running after pm2 kill; killed`);
      killManagerTree(daemonPid);
    }
    liveDaemons.delete(daemonPid);
    removeTempDir(home);
    return left;
  };

  try {
    await pm2(['start', eco]);
    daemonPid = Number(readFileSync(join(home, 'pm2.pid'), 'utf8').trim());
    if (!Number.isInteger(daemonPid) || daemonPid <= 0) {
      throw new Error(`no daemon pid in ${join(home, 'pm2.pid')}`);
    }
    liveDaemons.add(daemonPid);
    const countOnline = async () => {
      const { stdout } = await pm2(['jlist']);
      const list = JSON.parse(stdout.slice(stdout.indexOf('['))) as {
        pm2_env?: { status?: string };
      }[];
      return list.filter((p) => p.pm2_env?.status === 'online').length;
    };
    return { daemonPid, home, countOnline, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
