import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import {
  applyEvent,
  applySnapshot,
  emptyFleet,
  type AgentSnapshot,
  type FleetState,
} from './fleet-model.js';
import { historyLoaded, openTail } from './log-tail.js';
import {
  MIN_HEIGHT,
  MIN_WIDTH,
  formatSpan,
  monitorScreen,
  restartText,
  rowDetail,
  type ScreenInput,
  type ScreenLine,
} from './monitor-screen.js';
import { cells } from './text-cells.js';

const NOW = 1_763_791_200_000;

function agent(agentId: string, over: Partial<AgentSnapshot> = {}): AgentSnapshot {
  return {
    agentId,
    status: 'running',
    statusMessage: null,
    health: 'healthy',
    checks: {},
    metrics: { cpu_percent: 15, memory_mb: 234 },
    openTasks: 0,
    unresolvedErrors: 0,
    lastSeen: NOW,
    lastSeq: 10,
    ...over,
  };
}

function lifecycle(agentId: string, data: Record<string, unknown>, seq: number): StoredEvent {
  return {
    id: `l${seq}`,
    type: 'agent_lifecycle',
    agentId,
    ts: NOW,
    receivedAt: NOW,
    seq,
    data,
  } as StoredEvent;
}

/** The fleet of SPEC §11's sketch. */
function sketchFleet(): FleetState {
  let s = applySnapshot(emptyFleet({ deva_ts: 3 }), {
    agents: [
      agent('saa'),
      agent('deva_python', { metrics: { cpu_percent: 8, memory_mb: 512 } }),
      agent('qaa', { status: 'busy', metrics: { cpu_percent: 12, memory_mb: 178 } }),
      agent('sma', {
        status: 'idle',
        health: 'warning',
        metrics: { cpu_percent: 2, memory_mb: 89 },
        checks: { memory_leak: { health: 'warning', reason: 'grew 60 MB in 10m', at: NOW } },
      }),
      agent('deva_ts', { status: 'failed', health: 'critical', metrics: {} }),
    ],
    runningTasks: [{ taskId: 't-17', agentId: 'saa', name: null, assignedAt: NOW - 125_000 }],
    queue: { depth: 12, leased: 2, ratePerMin: 3.2 },
    head: 10,
  });
  s = applyEvent(
    s,
    lifecycle('deva_ts', { action: 'restart_scheduled', attempt: 2, delayMs: 30_000 }, 11),
  );
  return s;
}

function input(over: Partial<ScreenInput> = {}): ScreenInput {
  return {
    fleet: sketchFleet(),
    loaded: true,
    now: NOW,
    width: 80,
    height: 23,
    connection: { state: 'live', since: NOW },
    selected: 'deva_python',
    message: undefined,
    logs: undefined,
    url: 'http://127.0.0.1:7070',
    ...over,
  };
}

const text = (l: ScreenLine) => l.map((s) => s.text).join('');
const screen = (i: ScreenInput) => monitorScreen(i).map(text);

describe('the fleet frame', () => {
  it('is exactly height lines of exactly width columns, at 80 and 120 columns and when tiny', () => {
    for (const [width, height] of [
      [80, 23],
      [120, 39],
      [MIN_WIDTH, MIN_HEIGHT],
      [30, 5],
    ] as const) {
      const lines = screen(input({ width, height }));
      expect(lines).toHaveLength(height);
      for (const l of lines) expect(cells(l)).toBe(width);
    }
  });

  it('shows the header and one row per agent as SPEC §11 sketches it', () => {
    const lines = screen(input());
    expect(lines[0]).toMatch(/^┌─ Warden — fleet monitor ─+ ● live ─┐$/);
    expect(lines[1]).toMatch(
      /^│ System: ❌ Critical {3}Agents: 4\/5 active {3}Queue: 12 {3}Rate: 3\.2\/min +│$/,
    );
    expect(lines[2]).toMatch(/^├─+┤$/);
    const rows = lines.slice(3, 8);
    expect(rows.map((r) => r.slice(4, 16).trim())).toEqual([
      'deva_python',
      'deva_ts',
      'qaa',
      'saa',
      'sma',
    ]);
    expect(lines[3]).toMatch(/^│ › deva_python +✅ running +CPU {3}8% +RAM {2}512 MB +│$/);
    expect(lines[4]).toMatch(/deva_ts +❌ failed +restarting in 30 s \(attempt 2\/3\) +│$/);
    expect(lines[4]).not.toContain('CPU');
    expect(lines[6]).toMatch(/saa +✅ running +CPU {2}15% +RAM {2}234 MB +task t-17 \(2m\) +│$/);
    // ⚠ without its variation selector, and a second space so the words line up.
    expect(lines[7]).toMatch(
      /sma +⚠ {2}idle +CPU {3}2% +RAM {3}89 MB +memory_leak: grew 60 MB … │$/,
    );
    expect(lines.at(-3)).toMatch(/^│ +│$/); // no status message yet
    expect(lines.at(-2)).toMatch(/^│ ↑\/↓ select {3}r restart {3}l logs {3}q quit +│$/);
    expect(lines.at(-1)).toMatch(/^└─+┘$/);
  });

  it('marks the selected row with › and inverse video, not colour alone', () => {
    const frame = monitorScreen(input({ selected: 'qaa' }));
    const qaa = frame.find((l) => text(l).includes(' qaa '))!;
    expect(text(qaa)).toMatch(/^│ › qaa/);
    expect(qaa.filter((s) => s.inverse).length).toBeGreaterThan(3);
    const saa = frame.find((l) => text(l).includes(' saa '))!;
    expect(text(saa)).toMatch(/^│ {3}saa/);
    expect(saa.some((s) => s.inverse)).toBe(false);
  });

  it('health colours go with the mark and the status word', () => {
    const frame = monitorScreen(input());
    const failed = frame.find((l) => text(l).includes('deva_ts'))!;
    expect(failed.find((s) => s.text.startsWith('❌'))?.color).toBe('red');
    expect(failed.find((s) => s.text.startsWith('failed'))?.color).toBe('red');
  });

  it('counts down the restart and says when it is due', () => {
    expect(screen(input({ now: NOW + 12_500 }))[4]).toContain('restarting in 18 s (attempt 2/3)');
    expect(screen(input({ now: NOW + 31_000 }))[4]).toContain('restarting now (attempt 2/3)');
  });

  it('while away from the server: the title says reconnecting and the header stale', () => {
    const lines = screen(input({ connection: { state: 'reconnecting', since: NOW - 7000 } }));
    expect(lines[0]).toContain(' ↻ reconnecting… 7s ─┐');
    expect(lines[1]).toContain('(stale)');
  });

  it('before the first snapshot and with no agents it says what is going on', () => {
    const connecting = screen(
      input({
        loaded: false,
        fleet: emptyFleet(),
        connection: { state: 'connecting', since: NOW },
      }),
    );
    expect(connecting[0]).toContain('… connecting');
    expect(connecting[1]).toContain('System: …');
    expect(connecting[3]).toContain('Connecting to http://127.0.0.1:7070…');
    const empty = screen(input({ fleet: emptyFleet() }));
    expect(empty[1]).toContain('Agents: 0/0 active   Queue: -   Rate: -');
    expect(empty[3]).toContain('No agents yet');
  });

  it('the status line shows the last result with a mark', () => {
    const ok = screen(input({ message: { text: 'saa restarted (pid 42)', tone: 'ok' } }));
    expect(ok.at(-3)).toMatch(/^│ ✓ saa restarted \(pid 42\) +│$/);
    const err = screen(
      input({ message: { text: 'restart of saa failed: forbidden', tone: 'error' } }),
    );
    expect(err.at(-3)).toContain('✗ restart of saa failed: forbidden');
  });

  it('long ids, details and messages are cut with … and never push the border', () => {
    let s = applySnapshot(emptyFleet(), {
      agents: [
        agent('a-very-long-agent-identifier-that-goes-on-and-on', {
          status: 'needs_input',
          health: 'warning',
          statusMessage: 'Do you want to proceed with the very long operation? '.repeat(4),
        }),
      ],
      runningTasks: [],
      queue: undefined,
      head: 1,
    });
    s = { ...s };
    const lines = screen(
      input({
        fleet: s,
        selected: undefined,
        message: { text: 'x'.repeat(300), tone: 'info' },
      }),
    );
    for (const l of lines) expect(cells(l)).toBe(80);
    expect(lines[3]).toContain('…');
    expect(lines[3]).toContain('Do you want');
    expect(lines.at(-3)).toMatch(/x… │$/);
  });

  it('agent text cannot inject escapes or break the line', () => {
    const s = applySnapshot(emptyFleet(), {
      agents: [
        agent('a', {
          status: 'needs_input',
          health: 'warning',
          statusMessage: 'line1\nline2\x1b[2J\ttab',
        }),
      ],
      runningTasks: [],
      queue: undefined,
      head: 1,
    });
    const row = screen(input({ fleet: s }))[3]!;
    expect(row).toContain('line1 line2\\x1b[2J tab');
    expect(row).not.toContain('\x1b');
  });

  it('wide characters in agent text are counted as two columns', () => {
    const s = applySnapshot(emptyFleet(), {
      agents: [
        agent('a', {
          status: 'needs_input',
          health: 'warning',
          statusMessage: '确认继续吗？'.repeat(10),
        }),
      ],
      runningTasks: [],
      queue: undefined,
      head: 1,
    });
    for (const l of screen(input({ fleet: s }))) expect(cells(l)).toBe(80);
  });

  it('drops RAM, then CPU, on narrow terminals; ids are cut; the countdown keeps its place', () => {
    const narrow = screen(input({ width: 56 }));
    expect(narrow[3]).not.toContain('RAM');
    expect(narrow[3]).toMatch(/CPU {3}8% +│$/);
    const tiny = screen(input({ width: 40 }));
    expect(tiny[3]).toMatch(/› deva_pyth… ✅ running +│$/);
    expect(tiny[4]).toMatch(/deva_ts +❌ failed +restarti… │$/);
  });

  it('more agents than lines: the selected one stays in view and the rule says how many are hidden', () => {
    const agents = Array.from({ length: 40 }, (_, i) =>
      agent(`agent-${String(i).padStart(2, '0')}`),
    );
    const fleet = applySnapshot(emptyFleet(), {
      agents,
      runningTasks: [],
      queue: undefined,
      head: 1,
    });
    const top = screen(input({ fleet, selected: 'agent-00', height: 20 }));
    expect(top[3]).toContain('› agent-00');
    expect(top.at(-4)).toContain('27 below (↑/↓ scrolls)');
    const mid = screen(input({ fleet, selected: 'agent-20', height: 20 }));
    expect(mid.some((l) => l.includes('› agent-20'))).toBe(true);
    expect(mid.at(-4)).toMatch(/\d+ above, \d+ below/);
    const end = screen(input({ fleet, selected: 'agent-39', height: 20 }));
    expect(end.at(-5)).toContain('› agent-39');
    expect(end.at(-4)).toContain('27 above');
  });

  it('a terminal too small says so in one line', () => {
    const lines = screen(input({ width: 30, height: 5 }));
    expect(lines[0]).toMatch(/^terminal too small/);
    expect(lines.slice(1).every((l) => l.trim() === '')).toBe(true);
  });
});

describe('the log view', () => {
  const tail = () =>
    historyLoaded(
      openTail('saa'),
      [
        { seq: 9, agentId: 'saa', ts: NOW, level: 'error', message: 'boom' },
        { seq: 8, agentId: 'saa', ts: NOW, level: 'info', message: 'tick 1' },
      ],
      9,
    );

  it('shows the agent’s lines oldest first under the header, the level as a word', () => {
    const lines = screen(input({ logs: tail() }));
    expect(lines[0]).toMatch(/^┌─ Warden — logs of saa ─+ ● live ─┐$/);
    expect(lines[1]).toContain('System:');
    const body = lines.slice(3, -4).filter((l) => l.trim() !== '│ │'.replace(' ', ''));
    const shown = body.filter((l) => /\d\d:\d\d:\d\d/.test(l));
    expect(shown).toHaveLength(2);
    expect(shown[0]).toMatch(/^│ \d\d:\d\d:\d\d INFO {2}tick 1 +│$/);
    expect(shown[1]).toMatch(/^│ \d\d:\d\d:\d\d ERROR boom +│$/);
    expect(lines.at(-2)).toContain('l/Esc back to the fleet   q quit');
  });

  it('the newest lines fill the pane when there are more than fit', () => {
    const many = Array.from({ length: 100 }, (_, i) => ({
      seq: 100 - i,
      agentId: 'saa',
      ts: NOW,
      level: 'info' as const,
      message: `line ${100 - i}`,
    }));
    const lines = screen(input({ logs: historyLoaded(openTail('saa'), many, 100), height: 20 }));
    const body = lines.slice(3, -4);
    expect(body).toHaveLength(13);
    expect(body.at(-1)).toContain('line 100');
    expect(body[0]).toContain('line 88');
  });

  it('says when loading, when empty, and when the history failed', () => {
    expect(screen(input({ logs: openTail('saa') }))[3]).toContain('loading the log history…');
    expect(screen(input({ logs: historyLoaded(openTail('saa'), [], 0) }))[3]).toContain(
      'no log lines from saa yet',
    );
    expect(
      screen(input({ logs: { ...openTail('saa'), loading: false, error: 'HTTP 503' } }))[3],
    ).toContain('cannot read the log history: HTTP 503');
  });
});

describe('the pieces', () => {
  it('formatSpan reads like SPEC §11’s "(2m)"', () => {
    expect([0, 45_000, 125_000, 3_600_000, 3_900_000, -5].map(formatSpan)).toEqual([
      '0s',
      '45s',
      '2m',
      '1h',
      '1h5m',
      '0s',
    ]);
  });

  it('restartText: seconds rounded up, the limit only when known', () => {
    expect(restartText({ attempt: 1, at: NOW + 1001 }, NOW)).toBe('restarting in 2 s (attempt 1)');
    expect(restartText({ attempt: 3, maxAttempts: 5, at: NOW }, NOW)).toBe(
      'restarting now (attempt 3/5)',
    );
  });

  it('rowDetail: a task by its name, else its id; the name is cut first so its age stays', () => {
    const s = applySnapshot(emptyFleet(), {
      agents: [agent('a'), agent('b')],
      runningTasks: [
        {
          taskId: 't-9abd1310-849b-48e2-86de-1524a8207778',
          agentId: 'a',
          name: 'build #17',
          assignedAt: NOW - 2000,
        },
        {
          taskId: 't-9abd1310-849b-48e2-86de-1524a8207778',
          agentId: 'b',
          name: null,
          assignedAt: NOW - 65_000,
        },
      ],
      queue: undefined,
      head: 1,
    });
    expect(rowDetail(s.agents.a!, NOW).text).toBe('task build #17 (2s)');
    expect(rowDetail(s.agents.b!, NOW).text).toBe(
      'task t-9abd1310-849b-48e2-86de-1524a8207778 (1m)',
    );
    expect(rowDetail(s.agents.b!, NOW, 22).text).toBe('task t-9abd1310-… (1m)');
  });

  it('rowDetail: what a waiting agent waits for comes before its task', () => {
    const s = applySnapshot(emptyFleet(), {
      agents: [
        agent('r', { status: 'rate_limited', health: 'warning', statusMessage: 'until 12:05' }),
      ],
      runningTasks: [{ taskId: 't-1', agentId: 'r', name: 'review', assignedAt: NOW - 3000 }],
      queue: undefined,
      head: 1,
    });
    expect(rowDetail(s.agents.r!, NOW).text).toBe('until 12:05 · task review (3s)');
  });

  it('rowDetail: a running agent’s own message is not repeated, a half-open trial is said', () => {
    const s = applySnapshot(emptyFleet(), {
      agents: [agent('a', { statusMessage: 'started (restart 1)' })],
      runningTasks: [],
      queue: undefined,
      head: 1,
    });
    expect(rowDetail(s.agents.a!, NOW).text).toBe('');
    const t = applyEvent(
      s,
      lifecycle('a', { action: 'circuit_half_open', attempt: 1, reason: 'trial 1 of 3' }, 20),
    );
    expect(rowDetail(t.agents.a!, NOW).text).toBe('half-open trial 1/3');
  });
});
