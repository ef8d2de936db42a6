import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '@warden/server';
import { connect, type WardenClient } from '@warden/sdk';
import { control, type ControlOutcome } from './control-command.js';
import { runCli, serverJson, stopDaemonIn, tempDataDir } from './test-support/cli-run.js';
import { captureIo, startInProcessHub, type InProcessHub } from './test-support/in-process-hub.js';

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

  it('--json: one object with the accepted command, the lifecycle events seen and the verdict', () => {
    const r = runCli(['restart', 'worker-1', '--json', '--data-dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as ControlOutcome;
    expect(out).toMatchObject({
      action: 'restart',
      agentId: 'worker-1',
      command: { agentId: 'worker-1', action: 'restart' },
      outcome: 'done',
      ok: true,
      statusBefore: 'running',
      timeoutMs: 30_000,
      final: { action: 'started' },
    });
    expect(out.command?.id).toEqual(expect.any(String));
    expect(out.final?.pid).toEqual(expect.any(Number));
    expect(out.events.at(-1)).toEqual(out.final);
    expect(out.events.map((e) => e.action).at(-1)).toBe('started');
    for (const e of out.events) expect(e.seq).toBeGreaterThan(0);
  });

  it('--json with --no-wait, and for an agent that is already running', () => {
    const accepted = JSON.parse(
      runCli(['restart', 'worker-1', '--no-wait', '--json', '--data-dir', dir]).stdout,
    ) as ControlOutcome;
    expect(accepted).toMatchObject({ outcome: 'accepted', ok: true, events: [], timeoutMs: null });
    const r = runCli(['start', 'worker-1', '--json', '--data-dir', dir, '--timeout', '10s']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'already', ok: true, events: [] });
  });

  it('--json when the hub refuses: outcome error with the problem, exit 1, the line on stderr', () => {
    const r = runCli(['start', 'nope', '--json', '--data-dir', dir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^warden: conflict: .*nope.* \(HTTP 409\)\n$/);
    const out = JSON.parse(r.stdout) as ControlOutcome;
    expect(out).toMatchObject({
      action: 'start',
      agentId: 'nope',
      command: null,
      outcome: 'error',
      ok: false,
      error: { code: 'conflict', status: 409 },
    });
    expect(out.error?.message).toMatch(/^conflict: /);
  });
});

// A real hub in this process and a scripted supervisor on the real command channel: it
// answers commands with the lifecycle events a real one sends, or none, so the outcomes a real
// fleet rarely shows on demand (an open circuit, no answer) are seen end to end.
describe('warden start|stop|restart outcomes with a scripted supervisor', () => {
  let hub: InProcessHub;
  let supervisor: WardenClient;
  let operator: string;

  beforeAll(async () => {
    hub = await startInProcessHub();
    operator = await hub.token('operator');
    supervisor = connect({
      url: hub.url,
      token: await hub.token('agent', '*'),
      heartbeatMs: 0,
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    supervisor.onCommand(
      (cmd) => {
        const life = (action: string, extra: Record<string, unknown> = {}) =>
          supervisor.publish({
            type: 'agent_lifecycle',
            agentId: cmd.agentId,
            data: { action, reason: `scripted ${action}`, ...extra },
          });
        if (cmd.agentId === 'flaky') {
          void life('stopped').then(() => life('circuit_open', { attempt: 5 }));
        } else if (cmd.agentId === 'good') {
          void life('stopped').then(() => life('started', { pid: 4242 }));
        }
        // 'silent' takes the command and never reports.
      },
      { agents: ['*'] },
    );
    const deadline = Date.now() + 10_000;
    while (hub.warden.ctx.hub.commands.size < 1) {
      if (Date.now() > deadline) throw new Error('the scripted supervisor did not subscribe');
      await new Promise((r) => setTimeout(r, 10));
    }
  });

  afterAll(async () => {
    await supervisor?.close();
    await hub?.close();
  });

  async function run(
    action: 'start' | 'stop' | 'restart',
    id: string,
    json: boolean,
    timeout = '10s',
  ) {
    const c = captureIo();
    const code = await control(
      action,
      id,
      { url: hub.url, token: operator, wait: true, timeout, json },
      undefined,
      undefined,
      c.io,
    );
    return { code, stdout: c.stdout(), stderr: c.stderr() };
  }

  it('text: each step on its own line, the outcome last', async () => {
    const r = await run('restart', 'good', false);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^restart of good requested \(command \S+\)\ngood: stopped — scripted stopped\ngood: started \(pid 4242\) — scripted started\n$/,
    );
  });

  it('an open circuit fails the command: exit 1; --json says failed with the final event', async () => {
    const text = await run('restart', 'flaky', false);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/\nflaky: stopped — scripted stopped\n$/);
    expect(text.stderr).toBe(
      'warden: restart of flaky failed: flaky: circuit_open (attempt 5) — scripted circuit_open\n',
    );

    const r = await run('restart', 'flaky', true);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as ControlOutcome;
    expect(out).toMatchObject({
      outcome: 'failed',
      ok: false,
      final: { action: 'circuit_open', attempt: 5, reason: 'scripted circuit_open' },
    });
    expect(out.events.map((e) => e.action)).toEqual(['stopped', 'circuit_open']);
  });

  it('no answer within --timeout: exit 1, outcome timeout, the command id on both', async () => {
    const r = await run('stop', 'silent', true, '1s');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as ControlOutcome;
    expect(out).toMatchObject({
      outcome: 'timeout',
      ok: false,
      events: [],
      final: null,
      timeoutMs: 1000,
    });
    expect(r.stderr).toBe(
      `warden: no outcome of stop silent within 1s (command ${out.command!.id} was sent; see warden agents)\n`,
    );
  });
});
