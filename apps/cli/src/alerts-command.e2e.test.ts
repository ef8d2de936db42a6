import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ackAlert,
  addSilence,
  expireSilence,
  listAlerts,
  listSilences,
  type AlertItem,
  type SilenceItem,
} from './alerts-command.js';
import type { CliIo } from './cli-io.js';
import { runCliAsync } from './test-support/cli-run.js';
import { captureIo, startInProcessHub, type InProcessHub } from './test-support/in-process-hub.js';

// One real hub in this process. Rules are evaluated every 100 ms: the built-in agent-failed
// (critical) fires for deva_ts, and agent-cpu-high (warning, replaced by one with no `for`) for
// worker-1. The tests run in order:
// acknowledging and silencing change what later ones see.
let hub: InProcessHub;
let viewer: string;
let operator: string;

beforeAll(async () => {
  hub = await startInProcessHub({
    alerts: {
      evaluation_interval: '100ms',
      group_wait: '0s',
      rules: [
        {
          name: 'agent-cpu-high',
          type: 'threshold',
          metric: 'cpu_percent',
          op: '>',
          threshold: 80,
          for: '0s',
          severity: 'warning',
          annotations: { summary: '{{agentId}} CPU at {{value}}%' },
        },
      ],
    },
  });
  viewer = await hub.token('viewer');
  operator = await hub.token('operator');
  await hub.publish([
    { id: 'a1', type: 'agent_status_update', agentId: 'deva_ts', data: { status: 'failed' } },
    { id: 'a2', type: 'agent_status_update', agentId: 'worker-1', data: { status: 'busy' } },
    {
      id: 'a3',
      type: 'metric_update',
      agentId: 'worker-1',
      data: { metrics: { cpu_percent: 95 } },
    },
  ]);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const r = await hub.api('GET', '/api/v1/alerts?state=firing');
    if ((r.body as { alerts: unknown[] }).alerts.length === 2) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('the two alerts did not fire');
});

afterAll(async () => {
  await hub?.close();
});

type Run = (io: CliIo) => Promise<number>;

async function run(fn: Run) {
  const c = captureIo();
  const code = await fn(c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

const as = (token: string) => ({ url: hub.url, token });

async function firing(): Promise<AlertItem[]> {
  const r = await run((io) => listAlerts({ ...as(viewer), json: true }, io));
  return JSON.parse(r.stdout) as AlertItem[];
}

describe('warden alerts (list)', () => {
  it('lists the pending and firing alerts in a table, newest first', async () => {
    const r = await run((io) => listAlerts(as(viewer), io));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID +STATE +SEVERITY +RULE +AGENT +VALUE +SINCE +NOTES +SUMMARY$/);
    const rows = lines.slice(1, 3);
    expect(rows.find((l) => l.includes(' agent-failed '))).toMatch(
      /^[0-9a-f]{16}-\w+ +firing +❌ critical +agent-failed +deva_ts +\S+ +(just now|\d+s ago) +- +deva_ts failed/,
    );
    expect(rows.find((l) => l.includes(' agent-cpu-high '))).toMatch(
      /^[0-9a-f]{16}-\w+ +firing +⚠️ {2}warning +agent-cpu-high +worker-1 +95 +(just now|\d+s ago) +- +worker-1 CPU at 95%$/,
    );
    expect(r.stdout).toContain('\n\n2 alerts: 2 firing\n');
  });

  it('--json prints the API’s alerts; --agent and --state narrow them', async () => {
    const list = await firing();
    expect(list.map((a) => a.rule).sort()).toEqual(['agent-cpu-high', 'agent-failed']);
    const r = await run((io) =>
      listAlerts({ ...as(viewer), agent: 'worker-1', state: 'firing', json: true }, io),
    );
    expect((JSON.parse(r.stdout) as AlertItem[]).map((a) => a.rule)).toEqual(['agent-cpu-high']);
    const none = await run((io) => listAlerts({ ...as(viewer), state: 'resolved' }, io));
    expect(none.stdout).toBe('No resolved alerts. (--state all shows the resolved ones too)\n');
  });

  it('a bad --state, --agent or --limit is a usage error, exit 64', async () => {
    const cases: Array<[Parameters<typeof listAlerts>[0], string]> = [
      [
        { state: 'burning' },
        'warden: --state "burning" must be pending, firing, resolved or all (or a comma-separated list)\n',
      ],
      [{ agent: 'no such agent' }, 'warden: --agent "no such agent" is not an agent id\n'],
      [{ limit: '0' }, 'warden: --limit "0" must be a whole number 1..1000\n'],
    ];
    for (const [flags, message] of cases) {
      const r = await run((io) => listAlerts({ ...as(viewer), ...flags }, io));
      expect(r.code).toBe(64);
      expect(r.stderr).toBe(message);
    }
  });
});

describe('warden alerts ack', () => {
  it('a viewer is refused with the server’s 403 on one line, exit 1', async () => {
    const [a] = await firing();
    const r = await run((io) => ackAlert(a!.id, as(viewer), io));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^warden: forbidden: .* \(HTTP 403\)\n$/);
  });

  it('an unknown alert id is the 404 on one line, exit 1', async () => {
    const r = await run((io) => ackAlert('0000000000000000-zz', as(operator), io));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'warden: not_found: no pending or firing alert 0000000000000000-zz (resolved alerts need no acknowledgement) (HTTP 404)\n',
    );
  });

  it('an operator acknowledges: one line naming the alert and who; the list shows it', async () => {
    const a = (await firing()).find((x) => x.rule === 'agent-failed')!;
    const r = await run((io) => ackAlert(a.id, { ...as(operator), comment: 'looking at it' }, io));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^acknowledged ${a.id}: agent-failed on deva_ts \\(firing\\), by test-operator at \\S+Z; its escalation stops\n$`,
      ),
    );
    const after = (await firing()).find((x) => x.id === a.id)!;
    expect(after).toMatchObject({ acknowledged: true, ackedBy: 'test-operator' });
    const table = await run((io) => listAlerts(as(viewer), io));
    expect(table.stdout).toMatch(/agent-failed +deva_ts .* acked by test-operator /);
  });
});

describe('warden alerts silence', () => {
  let silenceId = '';

  it('bad input is a usage error, exit 64, with one line saying what was wrong', async () => {
    const cases: Array<[string[], Parameters<typeof addSilence>[1], string]> = [
      [
        ['worker-1'],
        { comment: 'x' },
        'warden: matcher "worker-1" is not name=value, name!=value, name=~regex or name!~regex\n',
      ],
      [
        ['alertname=~(cpu'],
        { comment: 'x' },
        /* checked by prefix below */ 'warden: matcher "alertname=~(cpu": not a valid regular expression',
      ],
      [
        [],
        { comment: 'x' },
        'warden: a silence needs at least one matcher: name=value (e.g. agentId=worker-1), --agent, --rule or --alert ID\n',
      ],
      [
        ['agentId=worker-1'],
        {},
        'warden: a silence needs --comment saying why (e.g. --comment "deploying worker-1")\n',
      ],
      [
        ['agentId=worker-1'],
        { comment: 'x', duration: 'a while' },
        'warden: --duration "a while" is not a duration (e.g. 30m, 2h, 1d)\n',
      ],
      [
        ['agentId=worker-1'],
        { comment: 'x', until: '2h' },
        'warden: --until "2h" must be epoch milliseconds or ISO-8601 (2025-11-22T18:00:00Z); for a length use --duration\n',
      ],
      [
        ['agentId=worker-1'],
        { comment: 'x', until: '2001-01-01T00:00:00Z' },
        'warden: --until "2001-01-01T00:00:00Z" is not in the future\n',
      ],
      [
        ['agentId=worker-1'],
        { comment: 'x', until: '2999-01-01T00:00:00Z', duration: '1h' },
        'warden: --duration and --until both say when the silence ends: give one\n',
      ],
      // Checked by the server: a silence whose matchers all match "" would silence everything.
      [
        ['agentId=~.*'],
        { comment: 'x' },
        'warden: invalid_request: /matchers: at least one matcher must not match the empty string',
      ],
    ];
    for (const [args, flags, message] of cases) {
      const r = await run((io) => addSilence(args, { ...as(operator), ...flags }, io));
      expect(r.code, message).toBe(64);
      expect(r.stderr.startsWith(message), r.stderr).toBe(true);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    const none = await run((io) => listSilences(as(viewer), io));
    expect(none.stdout).toBe('No active or pending silences. (--all shows expired ones too)\n');
  });

  it('a viewer is refused with the server’s 403, exit 1', async () => {
    const r = await run((io) =>
      addSilence(['agentId=worker-1'], { ...as(viewer), comment: 'x' }, io),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^warden: forbidden: .* \(HTTP 403\)\n$/);
  });

  it('--agent with --duration creates it, prints its id and what it silences now', async () => {
    const r = await run((io) =>
      addSilence(
        ['alertname=~"agent-cpu-.*"'],
        { ...as(operator), agent: 'worker-1', duration: '2h', comment: 'load test' },
        io,
      ),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m =
      /^silence (\S+) active until \S+Z \((1h 59m|2h)\): alertname=~"agent-cpu-\.\*", agentId="worker-1"\nit silences 1 pending or firing alert now; end it early with: warden alerts silence expire \1\n$/.exec(
        r.stdout,
      );
    expect(m, r.stdout).not.toBeNull();
    silenceId = m![1]!;
    const cpu = (await firing()).find((a) => a.rule === 'agent-cpu-high')!;
    expect(cpu.silencedBy).toEqual([silenceId]);
  });

  it('--alert ID silences exactly that alert’s labels; --json prints the silence', async () => {
    const a = (await firing()).find((x) => x.rule === 'agent-failed')!;
    const r = await run((io) =>
      addSilence(
        [],
        {
          ...as(operator),
          alert: a.id,
          until: String(Date.now() + 600_000),
          comment: 'known',
          json: true,
        },
        io,
      ),
    );
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as SilenceItem & { silencing: string[] };
    expect(s.matchers).toEqual(
      Object.entries(a.labels)
        .sort(([x], [y]) => (x < y ? -1 : 1))
        .map(([name, value]) => ({ name, value, isRegex: false, isEqual: true })),
    );
    expect(s).toMatchObject({
      comment: 'known',
      createdBy: 'test-operator',
      status: { state: 'active' },
    });
    expect(s.silencing).toEqual([a.id]);
    const gone = await run((io) =>
      addSilence([], { ...as(operator), alert: '0000000000000000-zz', comment: 'x' }, io),
    );
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('warden: not_found: no alert 0000000000000000-zz (HTTP 404)\n');
  });

  it('silence list shows the active ones; expire ends one, and it is listed with --all only', async () => {
    const list = await run((io) => listSilences(as(viewer), io));
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +STATE +MATCHERS +ENDS +CREATED BY +COMMENT$/);
    expect(lines).toHaveLength(3);
    expect(list.stdout).toMatch(
      new RegExp(
        `\n${silenceId} +active +alertname=~"agent-cpu-\\.\\*", agentId="worker-1" +in (1h 59m|2h) +test-operator +load test\n`,
      ),
    );

    const expired = await run((io) => expireSilence(silenceId, as(operator), io));
    expect(expired.stderr).toBe('');
    expect(expired.code).toBe(0);
    expect(expired.stdout).toMatch(
      new RegExp(
        `^silence ${silenceId} expired at \\S+Z: alertname=~"agent-cpu-\\.\\*", agentId="worker-1"\n$`,
      ),
    );
    const cpu = (await firing()).find((a) => a.rule === 'agent-cpu-high')!;
    expect(cpu.silencedBy).toEqual([]);

    const active = await run((io) => listSilences({ ...as(viewer), json: true }, io));
    expect((JSON.parse(active.stdout) as SilenceItem[]).map((s) => s.id)).not.toContain(silenceId);
    const all = await run((io) => listSilences({ ...as(viewer), all: true, json: true }, io));
    const mine = (JSON.parse(all.stdout) as SilenceItem[]).find((s) => s.id === silenceId);
    expect(mine?.status.state).toBe('expired');
  });

  it('expire of an unknown id is the 404 on one line; a viewer gets the 403', async () => {
    const r = await run((io) => expireSilence('nope', as(operator), io));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('warden: not_found: no silence nope (HTTP 404)\n');
    const v = await run((io) => expireSilence('nope', as(viewer), io));
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^warden: forbidden: .* \(HTTP 403\)\n$/);
  });
});

describe('warden alerts through the built CLI', () => {
  it('`alerts` lists by default; `alerts silence MATCHER` adds by default; bad input exits 64', async () => {
    const list = await runCliAsync([
      'alerts',
      '--state',
      'all',
      '--json',
      '--url',
      hub.url,
      '--token',
      viewer,
    ]);
    expect(list.stderr).toBe('');
    expect(list.status).toBe(0);
    expect((JSON.parse(list.stdout) as AlertItem[]).length).toBeGreaterThanOrEqual(2);

    const add = await runCliAsync([
      'alerts',
      'silence',
      'agentId=worker-1',
      '--duration',
      '10m',
      '--comment',
      'from the bin',
      '--url',
      hub.url,
      '--token',
      operator,
    ]);
    expect(add.stderr).toBe('');
    expect(add.status).toBe(0);
    expect(add.stdout).toMatch(/^silence \S+ active until /);

    const bad = await runCliAsync([
      'alerts',
      'silence',
      'add',
      'agentId=worker-1',
      '--duration',
      'forever',
      '--comment',
      'x',
      '--url',
      hub.url,
      '--token',
      operator,
    ]);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toBe('warden: --duration "forever" is not a duration (e.g. 30m, 2h, 1d)\n');

    const ack = await runCliAsync(['alerts', 'ack', 'nope', '--url', hub.url, '--token', viewer]);
    expect(ack.status).toBe(1);
    expect(ack.stderr).toMatch(/^warden: forbidden: .*\(HTTP 403\)\n$/);
  });
});
