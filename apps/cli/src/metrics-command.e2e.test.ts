import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync } from './test-support/cli-run.js';
import { metricsCommand, type MetricsFlags, type SeriesStats } from './metrics-command.js';
import { captureIo, startInProcessHub, type InProcessHub } from './test-support/in-process-hub.js';

// One real hub in this process; two agents report a few samples in the last minutes.
let hub: InProcessHub;
let viewer: string;

beforeAll(async () => {
  hub = await startInProcessHub();
  viewer = await hub.token('viewer');
  const now = Date.now();
  const sample = (id: string, agentId: string, ago: number, metrics: Record<string, number>) => ({
    id,
    type: 'metric_update',
    agentId,
    ts: now - ago,
    data: { metrics },
  });
  await hub.publish([
    sample('m1', 'worker-1', 120_000, { cpu_percent: 10, memory_mb: 170 }),
    sample('m2', 'worker-1', 60_000, { cpu_percent: 30, memory_mb: 180 }),
    sample('m3', 'worker-1', 1000, { cpu_percent: 20, memory_mb: 178 }),
    sample('m4', 'trainer', 1000, { loss: 0.25, cpu_percent: 95 }),
  ]);
});

afterAll(async () => {
  await hub?.close();
});

async function run(flags: Omit<MetricsFlags, 'url' | 'token'>) {
  const c = captureIo();
  const code = await metricsCommand({ url: hub.url, token: viewer, ...flags }, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

describe('warden metrics against a real hub', () => {
  it('with no flags: the latest value of each metric per agent', async () => {
    const r = await run({});
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        'AGENT     cpu_percent  memory_mb  loss',
        'trainer           95%          -  0.25',
        'worker-1          20%     178 MB     -',
        '',
      ].join('\n'),
    );
  });

  it('--name narrows the columns; --json prints the agents and their latest values', async () => {
    const r = await run({ name: 'memory_mb', json: true });
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { agents: Array<{ agentId: string; metrics: object }> };
    const byId = Object.fromEntries(body.agents.map((a) => [a.agentId, a.metrics]));
    expect(byId).toEqual({ 'worker-1': { memory_mb: 178 }, trainer: {} });
  });

  it('--agent: each series over the last hour with last, min, avg, max and samples', async () => {
    const r = await run({ agent: 'worker-1' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('worker-1: metrics over the last 1h');
    expect(lines[2]).toMatch(/^METRIC +LAST +MIN +AVG +MAX +SAMPLES +UPDATED$/);
    expect(lines[3]).toMatch(/^cpu_percent +20% +10% +20% +30% +3 +(just now|\d+s ago)$/);
    expect(lines[4]).toMatch(/^memory_mb +178 MB +170 MB +176 MB +180 MB +3 +(just now|\d+s ago)$/);
  });

  it('--agent with --since and --json: the window and each series’ figures', async () => {
    const r = await run({ agent: 'worker-1', since: '90s', json: true, name: 'cpu_percent' });
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as {
      agentId: string;
      from: number;
      to: number;
      series: SeriesStats[];
    };
    expect(body.agentId).toBe('worker-1');
    expect(body.to - body.from).toBe(90_000);
    expect(body.series).toHaveLength(1);
    expect(body.series[0]).toMatchObject({
      name: 'cpu_percent',
      count: 2,
      min: 20,
      max: 30,
      last: 20,
    });
  });

  it('--fleet: the fleet series, every agent’s samples together', async () => {
    const r = await run({ fleet: true, name: 'cpu_percent' });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('fleet (*): metrics over the last 1h');
    expect(r.stdout).toMatch(/\ncpu_percent +(20|95)% +10% +38\.8% +95% +4 /);
  });

  it('an agent the hub does not know: the 404 on one line, exit 1', async () => {
    const r = await run({ agent: 'nobody' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('warden: not_found: no agent nobody (HTTP 404)\n');
  });

  it('bad flags are usage errors (exit 64) with one line, before anything is asked', async () => {
    const cases: Array<[Omit<MetricsFlags, 'url' | 'token'>, string]> = [
      [
        { agent: 'worker-1', since: 'yesterday' },
        'warden: --since "yesterday" must be epoch milliseconds, ISO-8601 (2025-11-22T06:00:00Z) or a duration back from now (10m, 2h, 7d)\n',
      ],
      [
        { since: '10m' },
        "warden: --since is for one agent's series over time: add --agent ID (or --fleet for the fleet's)\n",
      ],
      [
        { name: 'CPU%' },
        'warden: --name "CPU%" is not a metric name (lower case letters, digits and _, starting with a letter)\n',
      ],
      [{ agent: 'bad id' }, 'warden: --agent "bad id" is not an agent id (or * for the fleet)\n'],
      [
        { agent: 'w', fleet: true },
        'warden: --fleet and --agent name different series: give one\n',
      ],
    ];
    for (const [flags, message] of cases) {
      const r = await run(flags);
      expect(r.code).toBe(64);
      expect(r.stderr).toBe(message);
      expect(r.stdout).toBe('');
    }
  });
});

describe('warden metrics through the built CLI', () => {
  it('parses its flags: --fleet --name --json, and a bad --since is exit 64', async () => {
    const r = await runCliAsync([
      'metrics',
      '--fleet',
      '--name',
      'cpu_percent',
      '--json',
      '--url',
      hub.url,
      '--token',
      viewer,
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { agentId: string }).agentId).toBe('*');
    const bad = await runCliAsync([
      'metrics',
      '--agent',
      'worker-1',
      '--since',
      'soon',
      '--url',
      hub.url,
      '--token',
      viewer,
    ]);
    expect(bad.status).toBe(64);
  });
});
