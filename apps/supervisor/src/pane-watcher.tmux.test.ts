import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import {
  PaneWatcher,
  procfsProcessTable,
  type PaneObservation,
  type PaneSource,
  type PaneWatcherOptions,
} from './pane-watcher.js';
import { TeamIdleMonitor, type TeamIdleNotice } from './team-idle.js';
import { TmuxTestServer, waitFor } from './test-support/tmux-test-server.js';
import type { PaneSnapshot, TmuxClient, TmuxResult } from './tmux-client.js';

const server = new TmuxTestServer();
const watchers: PaneWatcher[] = [];

beforeAll(() => server.start());
afterEach(async () => {
  for (const w of watchers.splice(0)) w.stop();
  // Every pane a test opened goes with it; the base window keeps the server up.
  await server.tmux('kill-window', '-a', '-t', '=base:0');
});
afterAll(() => server.kill());

interface Seen {
  at: number;
  o: PaneObservation;
}

/** Every answer tmux gave the watcher, so a test can count the misses behind a verdict. */
function recording(client: TmuxClient) {
  const answers: { at: number; result: TmuxResult<PaneSnapshot> }[] = [];
  const source: PaneSource = {
    snapshot: async (target) => {
      const result = await client.snapshot(target);
      answers.push({ at: Date.now(), result });
      return result;
    },
  };
  return { source, answers };
}

/** A watcher on the real clock polling every 100 ms. */
function watch(
  target: string,
  options: Partial<PaneWatcherOptions> = {},
  client = server.client(),
) {
  const seen: Seen[] = [];
  const rec = recording(client);
  const watcher = new PaneWatcher({
    target,
    source: rec.source,
    clock: systemClock,
    pollIntervalMs: 100,
    graceMs: 0,
    onObservation: (o) => seen.push({ at: Date.now(), o }),
    ...options,
  });
  watchers.push(watcher);
  const startedAt = Date.now();
  watcher.start();
  const find = (pred: (o: PaneObservation) => boolean) => seen.find((s) => pred(s.o));
  const until = (
    pred: (o: PaneObservation) => boolean,
    timeoutMs = 8000,
    what = 'an observation',
  ) => waitFor(() => find(pred) !== undefined, timeoutMs, what).then(() => find(pred)!);
  const statuses = () => seen.flatMap((s) => (s.o.kind === 'status' ? [s.o.status] : []));
  return { watcher, seen, startedAt, answers: rec.answers, find, until, statuses };
}

describe('PaneWatcher on real tmux panes', () => {
  it('a pane printing every 200 ms is busy, then idle idle_after polls after the loop stops', async () => {
    const pane = await server.newPane([
      'node',
      '-e',
      "let i=0;const t=setInterval(()=>{console.log('tick '+i++);if(i>=10){clearInterval(t);console.log('done')}},200);setTimeout(()=>{},1e6)",
    ]);
    const w = watch(pane, { idleAfter: 5 });
    await w.until((o) => o.kind === 'status' && o.status === 'busy', 5000, 'busy');
    const idle = await w.until((o) => o.kind === 'status' && o.status === 'idle', 10_000, 'idle');
    // The loop runs ~2 s, and idle needs 5 unchanged polls (≥ 500 ms) after its last line.
    const screen = await server.capture(pane);
    expect(screen).toContain('done');
    expect(idle.at - w.startedAt).toBeGreaterThanOrEqual(2000);
    expect(w.statuses()).toEqual(['busy', 'idle']);
    expect(w.find((o) => o.kind === 'crashed')).toBeUndefined();
  });

  it('a pane showing "Do you want to proceed? ❯ 1. Yes" is needs_input', async () => {
    const pane = await server.newPane([
      'sh',
      '-c',
      'printf "Bash command\\n  rm -rf build\\nDo you want to proceed?\\n\\342\\235\\257 1. Yes\\n  2. No\\n"; exec sleep 1000',
    ]);
    const w = watch(pane);
    const seen = await w.until(
      (o) => o.kind === 'status' && o.status === 'needs_input',
      5000,
      'needs_input',
    );
    expect(seen.o).toEqual({
      kind: 'status',
      status: 'needs_input',
      reason: 'prompt on screen (claude-proceed): Do you want to proceed?',
    });
    expect(await server.capture(pane)).toContain('❯ 1. Yes');
  });

  it('a pane whose command exits (remain-on-exit on) is crashed: pane_dead', async () => {
    // Not a shell script: a shell back in the foreground after its `sleep` is a crash fact of
    // its own (back_to_shell), which a poll on a loaded machine could see first.
    const pane = await server.newPane([
      process.execPath,
      '-e',
      "console.log('working'); setTimeout(() => process.exit(3), 600)",
    ]);
    const w = watch(pane);
    await w.until((o) => o.kind === 'liveness' && o.state === 'alive', 5000, 'alive');
    const crashed = await w.until((o) => o.kind === 'crashed', 5000, 'crashed');
    expect(crashed.o).toMatchObject({ kind: 'crashed', fact: 'pane_dead' });
    // On a loaded machine tmux may reap the process seconds after it marks the pane dead
    // (seen here: a zombie child left until the server's next SIGCHLD); the watcher waits a
    // second for the status and then reports the crash without it.
    expect(crashed.o.kind === 'crashed' && crashed.o.reason).toMatch(
      /^pane_dead=1: the pane's process \(pid \d+, node\) exited( with status 3)?$/,
    );
    expect(crashed.at - w.startedAt).toBeGreaterThanOrEqual(500);
    // The pane is still there (remain-on-exit): dead is a crash, not a missing pane.
    expect(w.find((o) => o.kind === 'missing')).toBeUndefined();
  });

  it('sleep 1000 under bash killed — back to a bare shell — is crashed', async () => {
    const pane = await server.newPane(['bash', '--norc', '--noprofile']);
    const w = watch(pane);
    await waitFor(() => w.watcher.pane?.currentCommand === 'bash', 5000, 'the shell');
    await server.tmux('send-keys', '-t', pane, 'sleep 1000', 'Enter');
    await waitFor(
      () => w.watcher.pane?.currentCommand === 'sleep',
      5000,
      'sleep in the foreground',
    );
    const kids = await procfsProcessTable.childrenOf(w.watcher.pane!.pid);
    expect(kids).toHaveLength(1);
    expect(w.find((o) => o.kind === 'crashed')).toBeUndefined();
    process.kill(kids![0]!, 'SIGKILL');
    const crashed = await w.until((o) => o.kind === 'crashed', 5000, 'crashed');
    expect(crashed.o).toEqual({
      kind: 'crashed',
      fact: 'back_to_shell',
      reason: "the pane's current command went back to the shell bash after sleep had been running",
    });
  });

  it('an agent child under a shell that stays in the foreground, killed, is crashed: child_gone', async () => {
    // Non-interactive bash keeps the terminal's process group, so tmux names the pane "bash"
    // all along; only the process table shows the agent.
    const pane = await server.newPane([
      'bash',
      '--norc',
      '--noprofile',
      '-c',
      'sleep 1000; read x',
    ]);
    const w = watch(pane);
    let kids: number[] | undefined;
    await waitFor(
      async () => {
        const pid = w.watcher.pane?.pid;
        kids = pid === undefined ? undefined : await procfsProcessTable.childrenOf(pid);
        return kids?.length === 1;
      },
      5000,
      'the sleep child',
    );
    expect(w.watcher.pane?.currentCommand).toBe('bash');
    await new Promise((r) => setTimeout(r, 300));
    expect(w.find((o) => o.kind === 'crashed')).toBeUndefined();
    process.kill(kids![0]!, 'SIGKILL');
    const crashed = await w.until((o) => o.kind === 'crashed', 5000, 'crashed');
    expect(crashed.o).toMatchObject({ kind: 'crashed', fact: 'child_gone' });
    expect(crashed.o.kind === 'crashed' && crashed.o.reason).toContain(
      'the agent process sleep is gone',
    );
  });

  it('a killed pane is missing only after two confirmed misses', async () => {
    const pane = await server.newPane(['sleep', '1000']);
    const w = watch(pane);
    await w.until((o) => o.kind === 'liveness' && o.state === 'alive', 5000, 'alive');
    await server.tmux('kill-pane', '-t', pane);
    const missing = await w.until((o) => o.kind === 'missing', 5000, 'missing');
    const absent = w.find((o) => o.kind === 'liveness' && o.state === 'absent')!;
    expect(absent.at).toBeLessThanOrEqual(missing.at);
    const misses = w.answers.filter((a) => !a.result.ok && a.at <= missing.at);
    expect(misses).toHaveLength(2);
    expect(misses.every((a) => !a.result.ok && a.result.liveness === 'absent')).toBe(true);
    expect(missing.o).toEqual({
      kind: 'missing',
      reason: `pane ${pane} not found in 2 polls in a row (can't find pane: ${pane})`,
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(w.seen.filter((s) => s.o.kind === 'missing')).toHaveLength(1);
  });

  it('misses during the grace period do not count', async () => {
    const w = watch('nosuch:0', { graceMs: 1000 });
    await w.until((o) => o.kind === 'liveness' && o.state === 'absent', 3000, 'absent');
    await new Promise((r) => setTimeout(r, 800));
    expect(w.answers.length).toBeGreaterThanOrEqual(5);
    expect(w.find((o) => o.kind === 'missing')).toBeUndefined();
    const missing = await w.until((o) => o.kind === 'missing', 3000, 'missing');
    expect(missing.at - w.startedAt).toBeGreaterThanOrEqual(1000);
  });

  it('a pane that appears within the grace period is alive, never missing', async () => {
    const w = watch('late:0', { graceMs: 1500 });
    await w.until((o) => o.kind === 'liveness' && o.state === 'absent', 3000, 'absent');
    await new Promise((r) => setTimeout(r, 400));
    await server.tmux('new-session', '-d', '-s', 'late', 'sleep', '100000');
    await w.until((o) => o.kind === 'liveness' && o.state === 'alive', 3000, 'alive');
    await new Promise((r) => setTimeout(r, 1500));
    expect(w.find((o) => o.kind === 'missing')).toBeUndefined();
    await server.tmux('kill-session', '-t', '=late');
  });

  it('a wedged tmux server is unknown and never makes the pane missing', async () => {
    const wedged = new TmuxTestServer();
    await wedged.start();
    const pid = await wedged.serverPid();
    const w = watch('base:0', {}, wedged.client(250));
    try {
      await w.until((o) => o.kind === 'liveness' && o.state === 'alive', 3000, 'alive');
      process.kill(pid, 'SIGSTOP');
      await w.until((o) => o.kind === 'liveness' && o.state === 'unknown', 3000, 'unknown');
      await new Promise((r) => setTimeout(r, 1000));
      expect(w.find((o) => o.kind === 'missing')).toBeUndefined();
      // Polls were skipped, not stacked, while each call waited for its timeout.
      expect(w.watcher.skippedPolls).toBeGreaterThan(0);
      process.kill(pid, 'SIGCONT');
      await waitFor(() => w.watcher.currentLiveness === 'alive', 3000, 'alive again');
    } finally {
      process.kill(pid, 'SIGCONT');
      w.watcher.stop();
      await wedged.kill();
    }
  });

  it('team idle: every agent pane of one session idle for the configured time escalates once, busy re-arms', async () => {
    await server.tmux('new-session', '-d', '-s', 'team', 'sleep', '100000');
    const panes = [
      await server.newPane(['sh', '-c', 'echo agent one; exec sleep 1000'], { session: 'team' }),
      await server.newPane(['cat'], { session: 'team' }),
    ];
    const notices: TeamIdleNotice[] = [];
    const team = new TeamIdleMonitor({
      clock: systemClock,
      idleForMs: 500,
      onTeamIdle: (n) => notices.push(n),
    });
    try {
      const ws = panes.map((pane, i) => {
        const agentId = `agent-${i + 1}`;
        const w: { watcher?: PaneWatcher } = {};
        const onObservation = (o: PaneObservation) => {
          const session = w.watcher?.pane?.session;
          if (o.kind === 'status' && session !== undefined) team.update(agentId, session, o.status);
          if (o.kind === 'crashed' || o.kind === 'missing') team.remove(agentId);
        };
        w.watcher = watch(pane, { idleAfter: 2, onObservation }).watcher;
        return w.watcher;
      });
      await waitFor(() => notices.length === 1, 5000, 'the team idle notice');
      expect(notices[0]).toMatchObject({
        session: 'team',
        agentIds: ['agent-1', 'agent-2'],
        idleForMs: 500,
      });
      await new Promise((r) => setTimeout(r, 800));
      expect(notices).toHaveLength(1);
      // agent-2 works (cat echoes what is typed), then settles: a second idle spell, a second notice.
      await server.tmux('send-keys', '-t', panes[1]!, 'some work', 'Enter');
      await waitFor(() => ws[1]!.currentStatus === 'busy', 3000, 'agent-2 busy');
      await waitFor(() => notices.length === 2, 5000, 'the second notice');
    } finally {
      team.stop();
      await server.tmux('kill-session', '-t', '=team');
    }
  });
});
