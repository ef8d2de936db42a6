import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_UNKNOWN, health, type HealthReport } from './health-command.js';
import { freePort, runCliAsync } from './test-support/cli-run.js';
import { captureIo, startInProcessHub, type InProcessHub } from './test-support/in-process-hub.js';

// One real hub in this process for the file; the fleet gets worse test by test, so the tests
// run in order. Alerts are evaluated every 100 ms so the built-in agent-failed rule fires fast.
let hub: InProcessHub;
let viewer: string;

beforeAll(async () => {
  hub = await startInProcessHub({ alerts: { evaluation_interval: '100ms', group_wait: '0s' } });
  viewer = await hub.token('viewer');
});

afterAll(async () => {
  await hub?.close();
});

async function run(...args: string[]) {
  const c = captureIo();
  const json = args.includes('--json');
  const code = await health({ url: hub.url, token: viewer, json }, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('warden health against a real hub', () => {
  it('a hub with no agents yet is healthy: exit 0, and says how agents appear', async () => {
    const r = await run();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('System: ✅ healthy — no agent unhealthy, no alert firing');
    expect(lines[1]).toBe('Agents: none yet — an agent appears with its first event or heartbeat');
    expect(lines[2]).toBe('Alerts: 0 firing, 0 pending');
    expect(lines[3]).toBe('Errors: no unresolved error groups');
    expect(lines[4]).toBe('Queue:  0 queued, 0 leased, 0/min');
    expect(lines[5]).toMatch(/^Server: Warden \S+ at http:\/\/127\.0\.0\.1:\d+, up \d+s, ready, /);
  });

  it('an agent waiting for a person makes it warning: exit 1, naming the agent', async () => {
    await hub.publish([
      { id: 'h1', type: 'agent_status_update', agentId: 'worker-1', data: { status: 'busy' } },
      {
        id: 'h2',
        type: 'agent_status_update',
        agentId: 'claude-1',
        data: { status: 'needs_input', message: 'permission prompt' },
      },
    ]);
    const r = await run();
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')[0]).toBe('System: ⚠️  warning — 1 agent warning (claude-1)');
    expect(r.stdout).toContain(
      '\nAgents: 2/2 active · 1 healthy, 1 warning · 1 busy, 1 needs_input\n',
    );
  });

  it('a failed agent and its firing alert make it critical: exit 2; --json has the facts', async () => {
    await hub.publish([
      { id: 'h3', type: 'agent_status_update', agentId: 'deva_ts', data: { status: 'failed' } },
      {
        id: 'h4',
        type: 'error_occurred',
        agentId: 'deva_ts',
        data: { errorType: 'Crash', message: 'boom' },
      },
    ]);
    const r = await until(
      () => run('--json'),
      (x) => (JSON.parse(x.stdout) as HealthReport).alerts.firing > 0,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(2);
    const report = JSON.parse(r.stdout) as HealthReport;
    expect(report).toMatchObject({
      verdict: 'critical',
      exitCode: 2,
      reasons: [
        '1 agent critical (deva_ts)',
        '1 critical alert firing (agent-failed on deva_ts)',
        '1 agent warning (claude-1)',
      ],
      url: hub.url,
      agents: {
        total: 3,
        active: 2,
        byHealth: { healthy: 1, warning: 1, critical: 1, unknown: 0 },
        byStatus: { busy: 1, needs_input: 1, failed: 1 },
        critical: ['deva_ts'],
        warning: ['claude-1'],
      },
      alerts: { firing: 1, critical: 1, warning: 0, suppressed: 0, unacknowledged: 1 },
      errorGroups: {
        unresolved: 1,
        more: false,
        latest: [{ errorType: 'Crash', message: 'boom' }],
      },
      queue: { depth: 0, leased: 0 },
      server: { ready: true, problem: null },
    });
    expect(report.alerts.list[0]).toMatchObject({
      rule: 'agent-failed',
      agentId: 'deva_ts',
      severity: 'critical',
      acknowledged: false,
    });

    const text = await run();
    expect(text.code).toBe(2);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(
      'System: ❌ critical — 1 agent critical (deva_ts); 1 critical alert firing (agent-failed on deva_ts); 1 agent warning (claude-1)',
    );
    expect(lines[2]).toBe('Alerts: 1 firing (1 critical; 1 unacknowledged), 0 pending');
    expect(lines[3]).toMatch(
      /^ {2}❌ agent-failed on deva_ts — deva_ts failed .*\((just now|\d+s ago)\)$/,
    );
    expect(lines[4]).toBe('Errors: 1 unresolved error group, latest Crash: boom (deva_ts, 1×)');
  });

  it('an unreachable server cannot tell: exit 3, one line on stderr, and --json says unknown', async () => {
    const port = await freePort();
    const c = captureIo();
    const code = await health({ url: `http://127.0.0.1:${port}`, token: 't', json: true }, c.io);
    expect(code).toBe(EXIT_UNKNOWN);
    expect(c.stderr()).toMatch(
      new RegExp(
        `^warden: cannot reach Warden at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\n$`,
      ),
    );
    const out = JSON.parse(c.stdout()) as { verdict: string; exitCode: number; error: string };
    expect(out).toMatchObject({ verdict: 'unknown', exitCode: 3 });
    expect(out.error).toMatch(/^cannot reach Warden at /);
  });

  it('a refused token cannot tell either: exit 3 with the 401 on one line', async () => {
    const c = captureIo();
    const code = await health({ url: hub.url, token: 'not-a-jwt' }, c.io);
    expect(code).toBe(EXIT_UNKNOWN);
    expect(c.stdout()).toBe('');
    expect(c.stderr()).toMatch(/^warden: unauthorized: .* \(HTTP 401\)\n$/);
  });

  it('through the built CLI: the exit code is the verdict; a malformed --url is a usage error', async () => {
    const r = await runCliAsync(['health', '--url', hub.url, '--token', viewer]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/^System: ❌ critical — /);

    const port = await freePort();
    const gone = await runCliAsync(['health', '--url', `http://127.0.0.1:${port}`, '--token', 't']);
    expect(gone.status).toBe(3);
    expect(gone.stdout).toBe('');

    const bad = await runCliAsync(['health', '--url', 'localhost 7070', '--token', 't']);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toBe('warden: --url "localhost 7070" is not a URL\n');
  });
});
