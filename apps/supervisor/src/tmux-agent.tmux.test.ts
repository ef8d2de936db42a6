import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentsConfigSchema, MonitoringConfigSchema, resolveAgents } from './supervisor-config.js';
import { Supervisor } from './supervisor.js';
import { MemoryReporter, silentLog } from './supervisor-reporter.js';
import { TmuxTestServer, waitFor } from './test-support/tmux-test-server.js';

/**
 * tmux agents through the supervisor on a real tmux server: what the pane shows becomes
 * status events, a prompt waiting for a person reaches the PM pane, a crash is an escalation.
 */

const server = new TmuxTestServer();
const supervisors: Supervisor[] = [];

beforeAll(() => server.start());
afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.close();
  await server.tmux('kill-window', '-a', '-t', '=base:0');
});
afterAll(() => server.kill());

async function received(pane: string): Promise<string[]> {
  return (await server.capture(pane))
    .split('\n')
    .filter((l) => l.startsWith('got:'))
    .map((l) => l.slice(4));
}

describe('tmux agents in the supervisor', () => {
  it('reports busy, then needs_input with a notice typed into the PM pane, then a crash as an escalation', async () => {
    const pm = await server.newPane(
      ['sh', '-c', 'while IFS= read -r l; do printf "got:%s\\n" "$l"; done'],
      { name: 'pm' },
    );
    // An "agent" that works for a while, then asks for permission, then dies.
    const agent = await server.newPane(
      [
        'sh',
        '-c',
        'for i in 1 2 3 4 5 6; do echo working $i; sleep 0.15; done; printf "Do you want to proceed?\\n❯ 1. Yes\\n  2. No\\n"; sleep 2; exit 3',
      ],
      { name: 'agent' },
    );
    const reporter = new MemoryReporter();
    const sup = new Supervisor({
      agents: resolveAgents(
        AgentsConfigSchema.parse([
          {
            id: 'claude-1',
            tmux: { target: agent, poll_interval: '100ms', idle_after: 50 },
            pm,
          },
        ]),
        MonitoringConfigSchema.parse({}),
      ),
      reporter,
      log: silentLog,
      agentEnv: () => Promise.resolve({}),
      tmux: server.client(),
      pmCooldownMs: 200,
    });
    supervisors.push(sup);
    sup.start();
    const statuses = () =>
      reporter.of('claude-1', 'agent_status_update').map((d) => d.status as string);
    await waitFor(() => statuses().includes('busy'), 5000, 'busy');
    await waitFor(() => statuses().includes('needs_input'), 8000, 'needs_input');
    await waitFor(
      async () => (await received(pm)).some((l) => l.includes('claude-1: needs input')),
      8000,
      'the PM notice',
    );
    await waitFor(() => statuses().includes('failed'), 8000, 'the crash');
    const escalation = reporter.of('claude-1', 'escalation')[0]!;
    expect(escalation).toMatchObject({ severity: 'critical' });
    expect(String(escalation.reason)).toMatch(/crashed/);
    expect(reporter.of('claude-1', 'health_changed')).toContainEqual(
      expect.objectContaining({ check: 'tmux', health: 'critical' }),
    );
    expect(sup.list()[0]).toMatchObject({ id: 'claude-1', kind: 'tmux', status: 'failed' });
    // A command for a tmux agent is answered, not carried out: Warden does not own the pane.
    expect(await sup.command({ id: 'c1', agentId: 'claude-1', action: 'restart' })).toBe(true);
    expect(reporter.of('claude-1', 'log').at(-1)!.message).toMatch(/tmux agent/);
  });
});
