import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '@warden/server';
import { runCli, serverJson, stopDaemonIn, tempDataDir } from './test-support/cli-run.js';

// One daemon supervising one real agent (a `sleep`) for the file; stopped in afterAll
// (SIGTERM, so the agent is stopped by its supervisor too).
let dir: string;
let url: string;
let tokens: TokenService;

beforeAll(() => {
  dir = tempDataDir();
  const config = join(dir, 'warden.yaml');
  writeFileSync(config, 'agents:\n  - id: worker-1\n    command: ["sleep", "300"]\n');
  const started = runCli(['daemon', 'start', '--config', config, '--data-dir', dir, '--port', '0']);
  if (started.status !== 0) throw new Error(`daemon start failed: ${started.stderr}`);
  url = serverJson(dir).url;
  tokens = new TokenService(readFileSync(join(dir, 'secret'), 'utf8').trim());
});

afterAll(async () => {
  if (dir) await stopDaemonIn(dir);
});

const requested = (action: string) =>
  new RegExp(`^${action} of worker-1 requested \\(command \\S+\\)\n`);

describe('warden start|stop|restart', () => {
  it('restart waits until the agent has started again, printing each step', () => {
    const r = runCli(['restart', 'worker-1', '--data-dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(requested('restart'));
    expect(r.stdout).toMatch(/\nworker-1: started \(pid \d+\)[^\n]*\n$/);
  });

  it('stop waits for stopped; start then brings it back', () => {
    const stop = runCli(['stop', 'worker-1', '--data-dir', dir]);
    expect(stop.status).toBe(0);
    expect(stop.stdout).toMatch(requested('stop'));
    expect(stop.stdout).toMatch(/\nworker-1: stopped[^\n]*\n$/);
    const start = runCli(['start', 'worker-1', '--data-dir', dir]);
    expect(start.status).toBe(0);
    expect(start.stdout).toMatch(/\nworker-1: started \(pid \d+\)[^\n]*\n$/);
  });

  it('a start of a running agent has nothing to wait for', () => {
    const r = runCli(['start', 'worker-1', '--data-dir', dir, '--timeout', '5s']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\nworker-1 was already running: nothing to wait for\n$/);
  });

  it('--no-wait returns once the command is accepted', () => {
    const r = runCli(['restart', 'worker-1', '--no-wait', '--data-dir', dir]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(requested('restart').source + '$'));
  });

  it('an agent no supervisor manages is refused: the 409 problem on one line, exit 1', () => {
    const r = runCli(['start', 'nope', '--data-dir', dir]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^warden: conflict: .*nope.* \(HTTP 409\)\n$/);
  });

  it('a viewer is refused with 403, on one line', async () => {
    const viewer = await tokens.mint({ role: 'viewer', ttlMs: 60_000 });
    const r = runCli(['restart', 'worker-1', '--url', url, '--token', viewer, '--no-wait']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^warden: forbidden: .* \(HTTP 403\)\n$/);
  });

  it('a bad agent id or timeout is a usage error, exit 64, before anything is sent', () => {
    expect(runCli(['start', '-bad id', '--data-dir', dir]).status).toBe(64);
    const r = runCli(['start', 'worker-1', '--timeout', 'later', '--data-dir', dir]);
    expect(r.status).toBe(64);
    expect(r.stderr).toBe('warden: --timeout "later" is not a duration (e.g. 30s, 2m)\n');
  });
});
