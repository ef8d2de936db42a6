import { describe, expect, it } from 'vitest';
import { TeamIdleMonitor, type TeamIdleNotice } from './team-idle.js';
import { ManualClock } from './test-support/manual-clock.js';

const MIN = 60_000;

function setup(idleForMs = 10 * MIN) {
  const clock = new ManualClock(0);
  const notices: TeamIdleNotice[] = [];
  const monitor = new TeamIdleMonitor({ clock, idleForMs, onTeamIdle: (n) => notices.push(n) });
  return { clock, notices, monitor };
}

describe('TeamIdleMonitor', () => {
  it('escalates once when every agent of a session has been idle for the configured time', () => {
    const t = setup();
    t.monitor.update('a', 'fleet', 'idle');
    t.clock.advance(3 * MIN);
    t.monitor.update('b', 'fleet', 'idle'); // the team is idle from here
    t.clock.advance(10 * MIN - 1);
    expect(t.notices).toEqual([]);
    t.clock.advance(1);
    expect(t.notices).toEqual([
      {
        session: 'fleet',
        agentIds: ['a', 'b'],
        idleSince: 3 * MIN,
        idleForMs: 10 * MIN,
        reason: 'every agent of tmux session fleet (a, b) has been idle for 600 s',
      },
    ]);
    t.clock.advance(60 * MIN);
    expect(t.notices).toHaveLength(1);
    expect(t.monitor.hasFired('fleet')).toBe(true);
  });

  it('does not escalate while one agent is still busy', () => {
    const t = setup();
    t.monitor.update('a', 'fleet', 'idle');
    t.monitor.update('b', 'fleet', 'busy');
    t.clock.advance(60 * MIN);
    expect(t.notices).toEqual([]);
  });

  it('re-arms when one of them becomes busy again, and times the next spell from then', () => {
    const t = setup();
    t.monitor.update('a', 'fleet', 'idle');
    t.clock.advance(10 * MIN);
    expect(t.notices).toHaveLength(1);
    t.monitor.update('a', 'fleet', 'busy');
    expect(t.monitor.hasFired('fleet')).toBe(false);
    t.clock.advance(MIN);
    t.monitor.update('a', 'fleet', 'idle');
    t.clock.advance(10 * MIN);
    expect(t.notices).toHaveLength(2);
    expect(t.notices[1]!.idleSince).toBe(11 * MIN);
  });

  it('needs_input holds the team back and does not re-arm it', () => {
    const t = setup();
    t.monitor.update('a', 'fleet', 'idle');
    t.monitor.update('b', 'fleet', 'needs_input');
    t.clock.advance(30 * MIN);
    expect(t.notices).toEqual([]);
    t.monitor.update('b', 'fleet', 'idle');
    t.clock.advance(10 * MIN);
    expect(t.notices).toHaveLength(1);
    t.monitor.update('b', 'fleet', 'needs_input');
    t.monitor.update('b', 'fleet', 'idle');
    t.clock.advance(30 * MIN);
    expect(t.notices).toHaveLength(1);
  });

  it('repeating the same status keeps its start time', () => {
    const t = setup();
    t.monitor.update('a', 'fleet', 'idle');
    t.clock.advance(5 * MIN);
    t.monitor.update('a', 'fleet', 'idle');
    t.clock.advance(5 * MIN);
    expect(t.notices).toHaveLength(1);
  });

  it('judges each session on its own', () => {
    const t = setup();
    t.monitor.update('a', 'team1', 'idle');
    t.monitor.update('b', 'team2', 'busy');
    t.clock.advance(10 * MIN);
    expect(t.notices.map((n) => n.session)).toEqual(['team1']);
  });

  it('an agent removed from the team no longer holds it back', () => {
    const t = setup();
    t.monitor.update('a', 'fleet', 'idle');
    t.monitor.update('b', 'fleet', 'busy');
    t.clock.advance(4 * MIN);
    t.monitor.remove('b');
    t.clock.advance(10 * MIN);
    expect(t.notices).toEqual([expect.objectContaining({ agentIds: ['a'], idleSince: 0 })]);
  });

  it('an agent that moves to another session leaves its old team', () => {
    const t = setup();
    t.monitor.update('a', 'team1', 'idle');
    t.monitor.update('b', 'team1', 'busy');
    t.monitor.update('b', 'team2', 'busy');
    t.clock.advance(10 * MIN);
    expect(t.notices.map((n) => n.agentIds)).toEqual([['a']]);
  });

  it('stop() cancels the timers', () => {
    const t = setup();
    t.monitor.update('a', 'fleet', 'idle');
    t.monitor.stop();
    t.clock.advance(60 * MIN);
    expect(t.notices).toEqual([]);
    expect(t.clock.pending()).toEqual([]);
  });
});
