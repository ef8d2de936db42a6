import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '@warden/server';
import {
  WARDEN_BIN,
  cliEnv,
  freePort,
  runCli,
  stopDaemonIn,
  tempDataDir,
} from '../test-support/cli-run.js';

// `warden monitor` as a person uses it: the built CLI in a real tmux pane, against a real
// `warden serve` supervising a real fleet, read back with `tmux capture-pane`. One server
// (stopped and started again in the middle) and one monitor for the file; the tests run in
// order and each picks up where the last left the screen.

const SESSION = 'monitor';
let dir: string;
/** A private tmux server for the file: its socket in the temp dir, removed with it. */
let socket: string;
let config: string;
let port: number;
let url: string;
let server: ChildProcess | undefined;

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8', env: cliEnv() });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The pane's visible screen. */
function screen(target = SESSION): string {
  return tmux('capture-pane', '-p', '-t', target);
}

/**
 * A shell line running `warden monitor ARGS`, then saying how it exited and staying, so the
 * pane (and what the monitor left on it) can still be read.
 */
function monitorCommand(...args: string[]): string {
  const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const argv = [process.execPath, WARDEN_BIN, 'monitor', ...args].map(q).join(' ');
  return `${argv}; echo "monitor exited $?"; exec sleep 600`;
}

function keys(...k: string[]): void {
  tmux('send-keys', '-t', SESSION, ...k);
}

/** Resolves with the screen once `test` holds for it; the last screen is in the error. */
async function waitScreen(
  test: (s: string) => boolean,
  what: string,
  ms = 20_000,
  target = SESSION,
): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  for (;;) {
    last = screen(target);
    if (test(last)) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; the screen:\n${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `warden serve` on the fixed port; resolves once it listens. */
async function startServer(): Promise<void> {
  const child = spawn(
    process.execPath,
    [WARDEN_BIN, 'serve', '--config', config, '--data-dir', dir, '--port', String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() },
  );
  server = child;
  let text = '';
  const keep = (d: Buffer) => (text = (text + d.toString()).slice(-32_768));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const end = Date.now() + 20_000;
  while (!/listening on http/.test(text)) {
    if (child.exitCode !== null) throw new Error(`warden serve exited:\n${text}`);
    if (Date.now() > end) throw new Error(`warden serve did not start:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM (the supervisor stops the agents), SIGKILL after 10 s. */
async function stopServer(): Promise<void> {
  const child = server;
  server = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function agentPid(agentId: string): Promise<number | null> {
  const tokens = new TokenService(readFileSync(join(dir, 'secret'), 'utf8').trim());
  const token = await tokens.mint({ role: 'viewer', ttlMs: 60_000 });
  const res = await fetch(`${url}/api/v1/agents`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await res.json()) as {
    agents: Array<{ agentId: string; lifecycle?: { pid: number | null } | null }>;
  };
  return body.agents.find((a) => a.agentId === agentId)?.lifecycle?.pid ?? null;
}

beforeAll(async () => {
  dir = tempDataDir();
  socket = join(dir, 'tmux.sock');
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  config = join(dir, 'warden.yaml');
  // ticker prints a numbered line twice a second; crashy exits after a second and waits
  // 20 s for each restart (long enough to read the countdown), at most 9 within the window.
  writeFileSync(
    config,
    `monitoring:
  check_interval: 1
logs:
  flush_interval: 50ms
agents:
  - id: crashy
    command: ["sh", "-c", "sleep 1; exit 1"]
    restart: { initial_delay: 20s, multiplier: 1, jitter: 0, max_restarts: 9 }
  - id: sleeper
    command: ["sleep", "3000"]
  - id: ticker
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done"]
`,
  );
  await startServer();
  tmux(
    '-f',
    '/dev/null',
    'new-session',
    '-d',
    '-s',
    SESSION,
    '-x',
    '100',
    '-y',
    '30',
    monitorCommand('--data-dir', dir, '--config', config),
  );
}, 60_000);

afterAll(async () => {
  if (socket) spawnSync('tmux', ['-S', socket, 'kill-server']);
  await stopServer();
  if (dir) {
    await stopDaemonIn(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

describe('warden monitor in a real terminal', () => {
  it('shows the header and a row per agent, live', async () => {
    const s = await waitScreen(
      (s) =>
        s.includes('● live') &&
        /ticker +✅ running +CPU +\d+%/.test(s) &&
        /sleeper +✅ running/.test(s) &&
        /crashy .*restarting in \d+ s \(attempt \d\/9\)/.test(s),
      'the fleet with crashy waiting for its restart',
      40_000,
    );
    // One line short of the terminal (the last row stays empty), so nothing scrolls.
    const lines = s.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(29);
    expect(lines[0]).toMatch(/^┌─ Warden — fleet monitor ─+ ● live ─┐$/);
    expect(lines[1]).toMatch(
      /^│ System: ⚠ Warning {3}Agents: 3\/3 active {3}Queue: 0 {3}Rate: 0\/min +│$/,
    );
    // Sorted by id, the first one selected.
    const rows = lines.filter((l) => /^│ [› ] (crashy|sleeper|ticker) /.test(l));
    expect(rows.map((r) => r.slice(4, 12).trim())).toEqual(['crashy', 'sleeper', 'ticker']);
    expect(rows[0]).toMatch(/^│ › crashy/);
    expect(lines.at(-2)).toMatch(/↑\/↓ select {3}r restart {3}l logs {3}q quit/);
    // Every line is the width of the terminal, the frame closed.
    for (const l of lines) expect(l).toMatch(/^[│├┌└].*[│┤┐┘]$/);
    expect(lines.at(-1)).toMatch(/^└─+┘$/);
  }, 60_000);

  it('counts the restart down in place', async () => {
    const first = /crashy .*restarting in (\d+) s/.exec(screen())?.[1];
    await new Promise((r) => setTimeout(r, 2500));
    const s = await waitScreen(
      (s) => {
        const m = /crashy .*restarting in (\d+) s/.exec(s);
        return m !== null && first !== undefined && Number(m[1]) < Number(first);
      },
      'the countdown to move',
      10_000,
    );
    expect(s.match(/crashy/g)).toHaveLength(1);
  }, 30_000);

  it('↓ selects the next agent and r restarts it, the status line tells', async () => {
    const before = await agentPid('sleeper');
    expect(before).not.toBeNull();
    keys('Down');
    await waitScreen((s) => /│ › sleeper/.test(s), 'sleeper selected');
    keys('r');
    const s = await waitScreen(
      (s) => /✓ sleeper restarted \(pid \d+\)/.test(s),
      'the restart to be reported',
    );
    const pid = Number(/sleeper restarted \(pid (\d+)\)/.exec(s)![1]);
    expect(pid).not.toBe(before);
    expect(await agentPid('sleeper')).toBe(pid);
    expect(s).toMatch(/sleeper +✅ running/);
  }, 30_000);

  it('l tails the selected agent’s logs, live; Esc goes back', async () => {
    keys('Down');
    await waitScreen((s) => /│ › ticker/.test(s), 'ticker selected');
    keys('l');
    const s = await waitScreen(
      (s) => s.includes('Warden — logs of ticker') && /INFO {2}tick \d+/.test(s),
      'ticker’s log lines',
    );
    const newest = (t: string) =>
      Math.max(...[...t.matchAll(/tick (\d+)/g)].map((m) => Number(m[1])));
    const seen = newest(s);
    await waitScreen((t) => newest(t) >= seen + 2, 'new lines to arrive live', 10_000);
    expect(screen()).toContain('l/Esc back to the fleet');
    keys('Escape');
    await waitScreen((t) => t.includes('Warden — fleet monitor'), 'the fleet again', 5_000);
  }, 30_000);

  it('fits an 80-column terminal and follows a resize', async () => {
    tmux('resize-window', '-t', SESSION, '-x', '80', '-y', '24');
    const s = await waitScreen(
      (s) => s.split('\n')[0]!.endsWith('● live ─┐') && [...s.split('\n')[0]!].length === 80,
      'the frame at 80 columns',
      10_000,
    );
    const lines = s.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(23);
    for (const l of lines) expect(l).toMatch(/^[│├┌└].*[│┤┐┘]$/);
    expect(s).toMatch(/│ {3}crashy/);
  }, 20_000);

  it('survives a server restart: reconnecting in the header, then live again', async () => {
    await stopServer();
    await waitScreen(
      (s) => /↻ reconnecting… \d+s/.test(s) && s.includes('(stale)'),
      'the header to say reconnecting',
    );
    await startServer();
    const s = await waitScreen(
      (s) => s.includes('● live') && !s.includes('(stale)') && /ticker +✅ running/.test(s),
      'the view to recover',
      30_000,
    );
    expect(s).toMatch(/sleeper +✅ running/);
  }, 60_000);

  it('q quits with status 0 and gives the terminal back', async () => {
    keys('q');
    const s = await waitScreen((s) => /monitor exited \d+/.test(s), 'the monitor to exit', 10_000);
    expect(s).toContain('monitor exited 0');
    // The alternate screen is gone: the frame is not left on the terminal.
    expect(s).not.toContain('Warden — fleet monitor');
  }, 20_000);

  it('Ctrl-C quits too, with status 0', async () => {
    tmux('new-window', '-d', '-t', SESSION, '-n', 'again', monitorCommand('--data-dir', dir));
    const target = `${SESSION}:again`;
    await waitScreen(
      (s) => /ticker +✅ running/.test(s) && s.includes('● live'),
      'a live view',
      20_000,
      target,
    );
    tmux('send-keys', '-t', target, 'C-c');
    const s = await waitScreen(
      (s) => /monitor exited \d+/.test(s),
      'the monitor to exit',
      10_000,
      target,
    );
    expect(s).toContain('monitor exited 0');
  }, 40_000);

  it('a server that is not there at start: one line saying why, exit 1', async () => {
    const dead = await freePort();
    tmux(
      'new-window',
      '-d',
      '-t',
      SESSION,
      '-n',
      'nowhere',
      monitorCommand('--url', `http://127.0.0.1:${dead}`, '--token', 'x'),
    );
    const s = await waitScreen(
      (s) => /monitor exited \d+/.test(s),
      'the monitor to exit',
      20_000,
      `${SESSION}:nowhere`,
    );
    expect(s).toContain(`warden: cannot reach Warden at http://127.0.0.1:${dead}`);
    expect(s).toContain('monitor exited 1');
  }, 30_000);

  it('without a terminal it says what to use instead, exit 1', () => {
    const r = runCli(['monitor', '--url', url, '--token', 'x']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^warden: monitor needs a terminal .*warden agents --json/);
  });
});
