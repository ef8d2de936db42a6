import { describe, expect, it } from 'vitest';
import { HeartbeatCheck } from './heartbeat-check.js';
import { ManualClock } from './test-support/manual-clock.js';

describe('HeartbeatCheck', () => {
  it('with a 30s timeout, 29,999 ms of silence after start is healthy and 30,000 ms is unresponsive', () => {
    const clock = new ManualClock();
    const check = new HeartbeatCheck({ timeoutMs: 30_000, since: clock.now() });
    clock.advance(29_999);
    expect(check.evaluate(clock.now())).toEqual({
      check: 'heartbeat',
      health: 'healthy',
      reason: 'no event or heartbeat yet, 29s since start (timeout 30s)',
    });
    expect(check.isUnresponsive(clock.now())).toBe(false);
    clock.advance(1);
    expect(check.evaluate(clock.now())).toEqual({
      check: 'heartbeat',
      health: 'warning',
      reason: 'no event or heartbeat for 30s (timeout 30s)',
    });
    expect(check.isUnresponsive(clock.now())).toBe(true);
  });

  it('counts silence from the last event, and names how long it has lasted', () => {
    const clock = new ManualClock();
    const check = new HeartbeatCheck({ timeoutMs: 30_000, since: clock.now() });
    clock.advance(10_000);
    check.seen(clock.now());
    clock.advance(12_000);
    expect(check.evaluate(clock.now()).reason).toBe('last event 12s ago (timeout 30s)');
    clock.advance(17_999); // 29,999 ms since the event
    expect(check.evaluate(clock.now()).health).toBe('healthy');
    clock.advance(12_001); // 42,000 ms
    expect(check.evaluate(clock.now())).toEqual({
      check: 'heartbeat',
      health: 'warning',
      reason: 'no event or heartbeat for 42s (timeout 30s)',
    });
  });

  it('an event brings an unresponsive agent back to healthy at once', () => {
    const clock = new ManualClock();
    const check = new HeartbeatCheck({ timeoutMs: 30_000, since: clock.now() });
    clock.advance(45_000);
    expect(check.evaluate(clock.now()).health).toBe('warning');
    check.seen(clock.now());
    expect(check.evaluate(clock.now()).health).toBe('healthy');
  });

  it('an event older than one already seen does not shorten the silence', () => {
    const clock = new ManualClock(0);
    const check = new HeartbeatCheck({ timeoutMs: 30_000, since: 0 });
    check.seen(20_000);
    check.seen(5_000);
    clock.advance(49_999);
    expect(check.evaluate(clock.now()).health).toBe('healthy');
    clock.advance(1);
    expect(check.evaluate(clock.now()).health).toBe('warning');
  });

  it('with max_failures 3 and a 10s timeout, the third missed timeout (30,000 ms) makes it unresponsive', () => {
    const clock = new ManualClock(0);
    const check = new HeartbeatCheck({ timeoutMs: 10_000, maxFailures: 3, since: 0 });
    check.seen(0);
    clock.advance(9_999);
    expect(check.evaluate(clock.now()).reason).toBe('last event 9.9s ago (timeout 10s)');
    clock.advance(1);
    expect(check.evaluate(clock.now())).toEqual({
      check: 'heartbeat',
      health: 'healthy',
      reason: 'last event 10s ago (timeout 10s): 1 of 3 timeouts missed before unresponsive',
    });
    clock.advance(10_000);
    expect(check.evaluate(clock.now()).reason).toBe(
      'last event 20s ago (timeout 10s): 2 of 3 timeouts missed before unresponsive',
    );
    clock.advance(9_999);
    expect(check.evaluate(clock.now()).health).toBe('healthy');
    clock.advance(1);
    expect(check.evaluate(clock.now())).toEqual({
      check: 'heartbeat',
      health: 'warning',
      reason: 'no event or heartbeat for 30s (3 missed 10s timeouts, max_failures 3)',
    });
  });

  it('after a reset, silence counts from the restart and the old events are forgotten', () => {
    const clock = new ManualClock(0);
    const check = new HeartbeatCheck({ timeoutMs: 30_000, since: 0 });
    clock.advance(40_000);
    expect(check.evaluate(clock.now()).health).toBe('warning');
    check.reset(clock.now());
    clock.advance(29_999);
    expect(check.evaluate(clock.now()).health).toBe('healthy');
    clock.advance(1);
    expect(check.evaluate(clock.now()).health).toBe('warning');
  });

  it('refuses a timeout of zero and a max_failures that is not a positive integer', () => {
    expect(() => new HeartbeatCheck({ timeoutMs: 0, since: 0 })).toThrow(RangeError);
    expect(() => new HeartbeatCheck({ timeoutMs: 1000, maxFailures: 0, since: 0 })).toThrow(
      RangeError,
    );
    expect(() => new HeartbeatCheck({ timeoutMs: 1000, maxFailures: 1.5, since: 0 })).toThrow(
      RangeError,
    );
  });
});

describe('HeartbeatCheck armed on the first sign of life', () => {
  it('stays unknown for an agent that never spoke, however long, and counts silence once it has', () => {
    const check = new HeartbeatCheck({ timeoutMs: 30_000, since: 0, armOnFirstSeen: true });
    expect(check.evaluate(3_600_000).health).toBe('unknown');
    expect(check.isUnresponsive(3_600_000)).toBe(false);
    check.seen(3_600_000);
    expect(check.evaluate(3_629_999).health).toBe('healthy');
    expect(check.evaluate(3_630_000).health).toBe('warning');
    // A restart forgets the last sign of life but not that the agent speaks.
    check.reset(4_000_000);
    expect(check.evaluate(4_030_000).health).toBe('warning');
  });

  it('healthAt agrees with evaluate at every moment, armed or not', () => {
    const check = new HeartbeatCheck({
      timeoutMs: 10_000,
      maxFailures: 2,
      since: 0,
      armOnFirstSeen: true,
    });
    const at = (t: number) => expect(check.healthAt(t)).toBe(check.evaluate(t).health);
    for (const t of [0, 50_000]) at(t);
    check.seen(60_000);
    for (const t of [60_000, 69_999, 70_000, 79_999, 80_000, 95_000]) at(t);
    check.reset(100_000);
    for (const t of [100_000, 119_999, 120_000]) at(t);
  });
});
