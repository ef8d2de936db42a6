import { describe, expect, it } from 'vitest';
import {
  PaneWatcher,
  normalizeScreen,
  type PaneObservation,
  type PaneSource,
  type ProcessTable,
} from './pane-watcher.js';
import { PromptDetector } from './prompt-detector.js';
import { ManualClock } from './test-support/manual-clock.js';
import type { PaneInfo, PaneSnapshot, TmuxResult } from './tmux-client.js';

/** A pane whose answers the test sets; records every target it was asked about. */
class FakePane implements PaneSource {
  screen = 'hello\n';
  info: PaneInfo = {
    paneId: '%1',
    session: 'fleet',
    dead: false,
    pid: 100,
    currentCommand: 'claude',
  };
  failure: { liveness: 'absent' | 'unknown'; reason: string } | undefined;
  /** When set, snapshot waits for this promise (a poll in flight). */
  hold: Promise<void> | undefined;
  calls: string[] = [];

  async snapshot(target: string): Promise<TmuxResult<PaneSnapshot>> {
    this.calls.push(target);
    if (this.hold) await this.hold;
    if (this.failure) return { ok: false, ...this.failure };
    return { ok: true, value: { info: { ...this.info }, screen: this.screen } };
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r));

function setup(options: Partial<ConstructorParameters<typeof PaneWatcher>[0]> = {}) {
  const clock = new ManualClock();
  const pane = new FakePane();
  const seen: PaneObservation[] = [];
  const watcher = new PaneWatcher({
    target: 'fleet:0.1',
    source: pane,
    clock,
    onObservation: (o) => seen.push(o),
    processes: null,
    graceMs: 0,
    ...options,
  });
  const interval = options.pollIntervalMs ?? 1000;
  /** Starts the watcher: its first poll runs at once. */
  const start = async () => {
    watcher.start();
    await settle();
  };
  /** Lets `n` more polls run. */
  const polls = async (n: number) => {
    for (let i = 0; i < n; i++) {
      clock.advance(interval);
      await settle();
    }
  };
  const kinds = (kind: PaneObservation['kind']) => seen.filter((o) => o.kind === kind);
  const statuses = () => seen.flatMap((o) => (o.kind === 'status' ? [o.status] : []));
  return { clock, pane, seen, watcher, start, polls, kinds, statuses };
}

describe('PaneWatcher: status from the screen', () => {
  it('is busy while the screen changes and idle after idle_after unchanged polls, emitting changes only', async () => {
    const t = setup({ idleAfter: 3 });
    await t.start();
    expect(t.statuses()).toEqual([]);
    for (let i = 0; i < 4; i++) {
      t.pane.screen = `line ${i}\n`;
      await t.polls(1);
    }
    expect(t.statuses()).toEqual(['busy']);
    await t.polls(2);
    expect(t.statuses()).toEqual(['busy']);
    await t.polls(1);
    expect(t.statuses()).toEqual(['busy', 'idle']);
    expect(t.kinds('status').at(-1)).toMatchObject({ reason: expect.stringContaining('3 polls') });
    await t.polls(5);
    expect(t.statuses()).toEqual(['busy', 'idle']);
    t.pane.screen = 'new output\n';
    await t.polls(1);
    expect(t.statuses()).toEqual(['busy', 'idle', 'busy']);
  });

  it('defaults to idle after 5 unchanged polls, one poll a second', async () => {
    const t = setup();
    await t.start();
    await t.polls(4);
    expect(t.statuses()).toEqual([]);
    await t.polls(1);
    expect(t.statuses()).toEqual(['idle']);
    expect(t.pane.calls).toHaveLength(6);
  });

  it('ignores trailing spaces and blank rows, which tmux pads the screen with', async () => {
    const t = setup({ idleAfter: 2 });
    await t.start();
    t.pane.screen = 'hello   \n\n\n   \n';
    await t.polls(1);
    t.pane.screen = 'hello\n';
    await t.polls(1);
    expect(t.statuses()).toEqual(['idle']);
    expect(normalizeScreen('a  \nb\t\n\n  \n')).toBe('a\nb');
  });

  it('is needs_input when a confirmation prompt stays on the bottom of the screen', async () => {
    const t = setup();
    await t.start();
    t.pane.screen = 'Bash command\n  rm -rf build\nDo you want to proceed?\n❯ 1. Yes\n  2. No\n';
    await t.polls(1);
    // Just appeared: the screen changed, so it is not yet known to be waiting.
    expect(t.statuses()).toEqual(['busy']);
    await t.polls(1);
    expect(t.statuses()).toEqual(['busy', 'needs_input']);
    expect(t.kinds('status').at(-1)).toMatchObject({
      reason: 'prompt on screen (claude-proceed): Do you want to proceed?',
    });
    t.pane.screen = 'Running rm -rf build…\n';
    await t.polls(1);
    expect(t.statuses()).toEqual(['busy', 'needs_input', 'busy']);
  });

  it('takes prompts of other tools through the options', async () => {
    const t = setup({
      promptDetector: new PromptDetector({
        extraPatterns: [{ name: 'mytool', pattern: /Go on\? \[ok\]/ }],
      }),
      promptStablePolls: 0,
    });
    t.pane.screen = 'Go on? [ok]\n';
    await t.start();
    expect(t.kinds('status')).toEqual([
      { kind: 'status', status: 'needs_input', reason: 'prompt on screen (mytool): Go on? [ok]' },
    ]);
  });
});

describe('PaneWatcher: liveness and missing', () => {
  it('reports alive at the first answer, once', async () => {
    const t = setup();
    await t.start();
    await t.polls(3);
    expect(t.kinds('liveness')).toEqual([
      { kind: 'liveness', state: 'alive', reason: 'tmux answered for pane %1' },
    ]);
  });

  it('when the pane is not found twice in a row, the agent is missing — once, not at the first miss', async () => {
    const t = setup();
    await t.start();
    t.pane.failure = { liveness: 'absent', reason: "can't find pane: 1" };
    await t.polls(1);
    expect(t.kinds('liveness').at(-1)).toMatchObject({ state: 'absent' });
    expect(t.kinds('missing')).toEqual([]);
    await t.polls(1);
    expect(t.kinds('missing')).toEqual([
      {
        kind: 'missing',
        reason: "pane fleet:0.1 not found in 2 polls in a row (can't find pane: 1)",
      },
    ]);
    await t.polls(5);
    expect(t.kinds('missing')).toHaveLength(1);
  });

  it('a single miss between answers is forgotten', async () => {
    const t = setup();
    await t.start();
    for (let i = 0; i < 3; i++) {
      t.pane.failure = { liveness: 'absent', reason: 'no server running on /tmp/x' };
      await t.polls(1);
      t.pane.failure = undefined;
      await t.polls(1);
    }
    expect(t.kinds('missing')).toEqual([]);
    expect(t.kinds('liveness').map((o) => (o.kind === 'liveness' ? o.state : ''))).toEqual([
      'alive',
      'absent',
      'alive',
      'absent',
      'alive',
      'absent',
      'alive',
    ]);
  });

  it('misses during the grace period after the start do not count', async () => {
    const t = setup({ graceMs: 10_000 });
    t.pane.failure = { liveness: 'absent', reason: "can't find session: fleet" };
    await t.start();
    await t.polls(9); // t = 9 s: ten misses, all in the grace period
    expect(t.kinds('missing')).toEqual([]);
    expect(t.kinds('liveness')).toEqual([
      { kind: 'liveness', state: 'absent', reason: "can't find session: fleet" },
    ]);
    await t.polls(1); // t = 10 s: first miss that counts
    expect(t.kinds('missing')).toEqual([]);
    await t.polls(1);
    expect(t.kinds('missing')).toHaveLength(1);
  });

  it('a pane that shows up within the grace period is simply alive', async () => {
    const t = setup({ graceMs: 5000 });
    t.pane.failure = { liveness: 'absent', reason: "can't find session: fleet" };
    await t.start();
    await t.polls(3);
    t.pane.failure = undefined;
    await t.polls(10);
    expect(t.kinds('missing')).toEqual([]);
    expect(t.kinds('liveness').at(-1)).toMatchObject({ state: 'alive' });
  });

  it('a failing or timing-out tmux is unknown and never makes the pane missing', async () => {
    const t = setup();
    await t.start();
    t.pane.failure = { liveness: 'unknown', reason: 'tmux did not answer within 2000 ms' };
    await t.polls(20);
    expect(t.kinds('missing')).toEqual([]);
    expect(t.kinds('liveness').at(-1)).toEqual({
      kind: 'liveness',
      state: 'unknown',
      reason: 'tmux did not answer within 2000 ms',
    });
  });

  it('unknown between two misses neither counts nor clears: the two misses confirm', async () => {
    const t = setup();
    await t.start();
    t.pane.failure = { liveness: 'absent', reason: "can't find pane: 1" };
    await t.polls(1);
    t.pane.failure = {
      liveness: 'unknown',
      reason: 'tmux failed (exit code 1): server exited unexpectedly',
    };
    await t.polls(3);
    expect(t.kinds('missing')).toEqual([]);
    t.pane.failure = { liveness: 'absent', reason: "can't find pane: 1" };
    await t.polls(1);
    expect(t.kinds('missing')).toHaveLength(1);
  });

  it('a different pane at the target means the watched one is gone; the newcomer is watched afresh', async () => {
    const t = setup({ idleAfter: 2 });
    await t.start();
    await t.polls(2);
    expect(t.statuses()).toEqual(['idle']);
    t.pane.info = { ...t.pane.info, paneId: '%7', pid: 200 };
    t.pane.screen = 'other agent\n';
    await t.polls(1);
    expect(t.kinds('missing')).toEqual([
      { kind: 'missing', reason: 'pane %1 is gone: fleet:0.1 is now pane %7' },
    ]);
    // Fresh start: a baseline screen, then two unchanged polls to idle again.
    await t.polls(2);
    expect(t.statuses()).toEqual(['idle', 'idle']);
  });

  it('after missing, the pane coming back is alive again and can go missing again', async () => {
    const t = setup();
    await t.start();
    t.pane.failure = { liveness: 'absent', reason: 'no server running on /tmp/x' };
    await t.polls(2);
    t.pane.failure = undefined;
    await t.polls(1);
    expect(t.kinds('liveness').at(-1)).toMatchObject({ state: 'alive' });
    t.pane.failure = { liveness: 'absent', reason: 'no server running on /tmp/x' };
    await t.polls(2);
    expect(t.kinds('missing')).toHaveLength(2);
  });

  it('asks tmux for the session by its exact name, never by prefix', async () => {
    const t = setup();
    await t.start();
    expect(t.pane.calls[0]).toBe('=fleet:0.1');
    expect(t.watcher.target).toBe('fleet:0.1');
  });
});

describe('PaneWatcher: crash from process facts', () => {
  it('pane_dead is a crash, with the exit status', async () => {
    const t = setup();
    await t.start();
    t.pane.info = { ...t.pane.info, dead: true, deadStatus: 3 };
    await t.polls(3);
    expect(t.kinds('crashed')).toEqual([
      {
        kind: 'crashed',
        fact: 'pane_dead',
        reason: "pane_dead=1: the pane's process (pid 100, claude) exited with status 3",
      },
    ]);
    // A dead pane's frozen screen says nothing about work: no idle is reported for it.
    expect(t.statuses()).toEqual([]);
    expect(t.watcher.currentStatus).toBeUndefined();
  });

  it('the current command back to a bare shell after an agent is a crash; the agent returning re-arms it', async () => {
    const t = setup({ idleAfter: 2 });
    await t.start();
    await t.polls(2);
    expect(t.statuses()).toEqual(['idle']);
    t.pane.info = { ...t.pane.info, currentCommand: '-bash' };
    await t.polls(2);
    expect(t.kinds('crashed')).toEqual([
      {
        kind: 'crashed',
        fact: 'back_to_shell',
        reason:
          "the pane's current command went back to the shell bash after claude had been running",
      },
    ]);
    t.pane.info = { ...t.pane.info, currentCommand: 'claude' };
    t.pane.screen = 'claude again\n';
    await t.polls(1);
    expect(t.statuses()).toEqual(['idle', 'busy']);
    t.pane.info = { ...t.pane.info, currentCommand: 'zsh' };
    await t.polls(1);
    expect(t.kinds('crashed')).toHaveLength(2);
  });

  it('a bare shell from the start is not a crash: nothing ran there yet', async () => {
    const t = setup({ idleAfter: 2 });
    t.pane.info = { ...t.pane.info, currentCommand: 'bash' };
    await t.start();
    await t.polls(3);
    expect(t.kinds('crashed')).toEqual([]);
    expect(t.statuses()).toEqual(['idle']);
  });

  it('screen text alone never makes a crash', async () => {
    const t = setup();
    await t.start();
    t.pane.screen = 'Segmentation fault (core dumped)\n$ \n';
    await t.polls(10);
    expect(t.kinds('crashed')).toEqual([]);
  });

  it('under a shell that stays the foreground command, the agent child gone (twice in a row) is a crash', async () => {
    const kids = new Map<number, number[]>([[100, [4242]]]);
    const processes: ProcessTable = {
      childrenOf: async (pid) => kids.get(pid),
      nameOf: async (pid) => (pid === 4242 ? 'node' : undefined),
    };
    const t = setup({ processes });
    t.pane.info = { ...t.pane.info, currentCommand: 'bash' };
    await t.start();
    await t.polls(2);
    kids.set(100, []);
    await t.polls(1);
    expect(t.kinds('crashed')).toEqual([]);
    await t.polls(1);
    expect(t.kinds('crashed')).toEqual([
      {
        kind: 'crashed',
        fact: 'child_gone',
        reason:
          "the agent process node is gone: the pane's shell (pid 100, bash) has no child process",
      },
    ]);
  });

  it('a shell whose children cannot be read is not judged', async () => {
    const processes: ProcessTable = {
      childrenOf: async () => undefined,
      nameOf: async () => undefined,
    };
    const t = setup({ processes });
    t.pane.info = { ...t.pane.info, currentCommand: 'bash' };
    await t.start();
    await t.polls(5);
    expect(t.kinds('crashed')).toEqual([]);
  });

  it('a process killed by a signal says so', async () => {
    const t = setup();
    await t.start();
    t.pane.info = { ...t.pane.info, dead: true, deadSignal: 9 };
    await t.polls(1);
    expect(t.kinds('crashed')).toMatchObject([
      {
        fact: 'pane_dead',
        reason: "pane_dead=1: the pane's process (pid 100, claude) was killed by signal 9",
      },
    ]);
  });

  it('a dead pane whose exit status tmux does not know yet gets a second, then is crashed anyway', async () => {
    const t = setup({ pollIntervalMs: 250 });
    await t.start();
    t.pane.info = { ...t.pane.info, dead: true };
    await t.polls(4);
    expect(t.kinds('crashed')).toEqual([]);
    await t.polls(1);
    expect(t.kinds('crashed')).toMatchObject([
      { fact: 'pane_dead', reason: "pane_dead=1: the pane's process (pid 100, claude) exited" },
    ]);
  });

  it('a respawned pane (new pid) starts with a clean slate', async () => {
    const t = setup();
    await t.start();
    t.pane.info = { ...t.pane.info, dead: true, deadStatus: 1 };
    await t.polls(1);
    expect(t.kinds('crashed')).toHaveLength(1);
    t.pane.info = { ...t.pane.info, dead: false, pid: 101, currentCommand: 'bash' };
    await t.polls(3);
    expect(t.kinds('crashed')).toHaveLength(1);
  });
});

describe('PaneWatcher: polling', () => {
  it('never overlaps polls: a tick that finds the previous poll running is skipped', async () => {
    const t = setup();
    let release!: () => void;
    t.pane.hold = new Promise((r) => (release = r));
    await t.start();
    await t.polls(5);
    expect(t.pane.calls).toHaveLength(1);
    expect(t.watcher.skippedPolls).toBe(5);
    t.pane.hold = undefined;
    release();
    await settle();
    await t.polls(1);
    expect(t.pane.calls).toHaveLength(2);
  });

  it('stops polling on stop(), and a poll in flight then reports nothing', async () => {
    const t = setup();
    let release!: () => void;
    t.pane.hold = new Promise((r) => (release = r));
    await t.start();
    t.watcher.stop();
    release();
    await settle();
    await t.polls(5);
    expect(t.pane.calls).toHaveLength(1);
    expect(t.seen).toEqual([]);
    expect(t.clock.pending()).toEqual([]);
  });

  it('a poll begun before stop() does not report after a restart', async () => {
    const t = setup();
    let release!: () => void;
    t.pane.hold = new Promise((r) => (release = r));
    t.pane.failure = { liveness: 'unknown', reason: 'stale answer' };
    await t.start();
    t.watcher.stop();
    t.watcher.start();
    release();
    await settle();
    expect(t.seen).toEqual([]);
    t.pane.hold = undefined;
    t.pane.failure = undefined;
    await t.polls(1);
    expect(t.kinds('liveness')).toMatchObject([{ state: 'alive' }]);
  });

  it('an observer that throws is reported and watching goes on', async () => {
    const errors: unknown[] = [];
    const clock = new ManualClock();
    const pane = new FakePane();
    let calls = 0;
    const watcher = new PaneWatcher({
      target: 'fleet:0.1',
      source: pane,
      clock,
      processes: null,
      idleAfter: 1,
      onObservation: () => {
        calls++;
        throw new Error('observer bug');
      },
      onError: (e) => errors.push(e),
    });
    watcher.start();
    await settle();
    clock.advance(1000);
    await settle();
    expect(calls).toBe(2); // liveness, then idle
    expect(errors).toHaveLength(2);
  });

  it('a source that throws is unknown, not missing', async () => {
    const t = setup();
    t.pane.snapshot = async () => {
      throw new Error('EMFILE');
    };
    await t.start();
    await t.polls(5);
    expect(t.kinds('liveness')).toEqual([
      { kind: 'liveness', state: 'unknown', reason: 'tmux call threw: Error: EMFILE' },
    ]);
    expect(t.kinds('missing')).toEqual([]);
  });
});
