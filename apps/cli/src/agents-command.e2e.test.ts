import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '@warden/server';
import { freePort, runCli, serverJson, stopDaemonIn, tempDataDir } from './test-support/cli-run.js';

// One daemon for the file (each start costs a node start-up); stopped in afterAll whatever
// happened.
let dir: string;
let url: string;
let tokens: TokenService;

beforeAll(async () => {
  dir = tempDataDir();
  const started = runCli(['daemon', 'start', '--data-dir', dir, '--port', '0']);
  if (started.status !== 0) throw new Error(`daemon start failed: ${started.stderr}`);
  url = serverJson(dir).url;
  tokens = new TokenService(readFileSync(join(dir, 'secret'), 'utf8').trim());
  const agent = await tokens.mint({ role: 'agent', agentId: '*', ttlMs: 60_000 });
  const events = [
    { id: 'e1', type: 'agent_status_update', agentId: 'worker-1', data: { status: 'busy' } },
    {
      id: 'e2',
      type: 'metric_update',
      agentId: 'worker-1',
      data: { metrics: { cpu_percent: 12, memory_mb: 178 } },
    },
    { id: 'e3', type: 'task_assigned', agentId: 'worker-1', data: { taskId: 't-1' } },
    {
      id: 'e4',
      type: 'agent_status_update',
      agentId: 'deva_ts',
      data: { status: 'failed', message: 'circuit open after 5 restarts' },
    },
    {
      id: 'e5',
      type: 'error_occurred',
      agentId: 'deva_ts',
      data: { errorType: 'Crash', message: 'boom' },
    },
  ];
  const res = await fetch(`${url}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  if (res.status !== 200) throw new Error(`publish failed: ${res.status} ${await res.text()}`);
});

afterAll(async () => {
  if (dir) await stopDaemonIn(dir);
});

describe('warden agents', () => {
  it('with no flags at all, finds the daemon through server.json and the secret of the data dir', () => {
    const r = runCli(['agents'], { WARDEN_DATA_DIR: dir });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^AGENT +STATUS +HEALTH +CPU +RAM +TASKS +ERRORS +LAST SEEN +MESSAGE$/,
    );
    expect(lines[1]).toMatch(
      /^deva_ts +failed +❌ critical +- +- +0 +1 +(just now|\d+s ago) +circuit open after 5 restarts$/,
    );
    expect(lines[2]).toMatch(
      /^worker-1 +busy +✅ healthy +12% +178 MB +1 +0 +(just now|\d+s ago)$/,
    );
    expect(r.stdout).toContain('2 agents: 1 healthy, 1 critical\n');
  });

  it('--json prints the agents array as the API has it', () => {
    const r = runCli(['agents', '--json', '--data-dir', dir]);
    expect(r.status).toBe(0);
    const list = JSON.parse(r.stdout) as Array<{ agentId: string; openTasks: number }>;
    expect(list.map((a) => a.agentId).sort()).toEqual(['deva_ts', 'worker-1']);
    expect(list.find((a) => a.agentId === 'worker-1')).toMatchObject({ openTasks: 1 });
  });

  it('from anywhere with --url and --token, reading no data dir', async () => {
    const viewer = await tokens.mint({ role: 'viewer', ttlMs: 60_000 });
    const r = runCli([
      'agents',
      '--json',
      '--url',
      url,
      '--token',
      viewer,
      '--data-dir',
      '/nonexistent',
    ]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(2);
  });

  it('a token signed with another secret is refused as one line naming unauthorized', () => {
    const other = tempDataDir();
    const r = runCli(['agents', '--url', url, '--data-dir', other], {
      WARDEN_JWT_SECRET: 'some-other-secret-0123456789',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^warden: unauthorized: .+ \(HTTP 401\) — the token was minted from the configured jwt_secret: .*\n$/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an unreachable --url fails with one line and exit 1', async () => {
    const port = await freePort();
    const r = runCli(['agents', '--url', `http://127.0.0.1:${port}`, '--token', 't']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^warden: cannot reach Warden at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\n$`,
      ),
    );
    expect(r.stdout).toBe('');
  });

  it('a malformed --url is a usage error, exit 64', () => {
    const r = runCli(['agents', '--url', 'localhost 7070', '--token', 't']);
    expect(r.status).toBe(64);
    expect(r.stderr).toBe('warden: --url "localhost 7070" is not a URL\n');
  });

  it('with no server in the data dir, says so and how to point at one', () => {
    const empty = tempDataDir();
    const r = runCli(['agents', '--data-dir', empty]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `warden: no Warden server found: ${join(empty, 'server.json')} does not exist — start one (warden serve, warden daemon start) or pass --url / WARDEN_URL\n`,
    );
  });
});
