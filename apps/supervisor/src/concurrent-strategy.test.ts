import { describe, expect, it } from 'vitest';
import { CheckRunner, ConcurrentStrategy } from './concurrent-strategy.js';
import { CHECK_DONE, MonitoringError } from './monitoring-strategy.js';
import type { MonitorTarget } from './monitoring-strategy.js';
import { ManualClock } from './test-support/manual-clock.js';

const T0 = 1_760_000_000_000;

/**
 * Targets whose checks stay in flight until the test settles them, counting how many run at
 * once; `starts` logs `at id`.
 */
function deferredFleet(clock: ManualClock, ids: string[]) {
  const starts: string[] = [];
  const errors: string[] = [];
  const open = new Map<string, Array<{ resolve: () => void; reject: (e: Error) => void }>>();
  let inFlight = 0;
  let maxInFlight = 0;
  const targets: MonitorTarget[] = ids.map((id) => ({
    id,
    priority: 0,
    health: () => 'healthy',
    check: () => {
      starts.push(`${clock.now() - T0} ${id}`);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<void>((resolve, reject) => {
        const list = open.get(id) ?? [];
        list.push({
          resolve: () => {
            inFlight -= 1;
            resolve();
          },
          reject: (e) => {
            inFlight -= 1;
            reject(e);
          },
        });
        open.set(id, list);
      });
    },
  }));
  const take = (id: string) => {
    const d = open.get(id)?.shift();
    if (!d) throw new Error(`no check of ${id} in flight`);
    return d;
  };
  return {
    targets,
    starts,
    errors,
    onError: (t: MonitorTarget, e: unknown) =>
      errors.push(
        `${clock.now() - T0} ${t.id} ${e instanceof MonitoringError ? e.code : String(e)}`,
      ),
    settle: async (id: string) => {
      take(id).resolve();
      await clock.runFor(0);
    },
    fail: async (id: string, message: string) => {
      take(id).reject(new Error(message));
      await clock.runFor(0);
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get inFlight() {
      return inFlight;
    },
  };
}

describe('ConcurrentStrategy', () => {
  it('never has more than `concurrency` checks in flight, and starts the next as soon as a slot frees', async () => {
    const clock = new ManualClock(T0);
    const f = deferredFleet(clock, ['a', 'b', 'c', 'd', 'e']);
    const s = new ConcurrentStrategy({
      intervalMs: 1000,
      clock,
      onError: f.onError,
      concurrency: 2,
      checkTimeoutMs: 10_000,
    });
    s.start(() => f.targets);
    await clock.runFor(0);
    expect(f.starts).toEqual(['0 a', '0 b']);
    expect(s.inFlight).toBe(2);
    await clock.runFor(100);
    await f.settle('b');
    expect(f.starts).toEqual(['0 a', '0 b', '100 c']);
    await f.settle('a');
    await f.settle('c');
    expect(f.starts).toEqual(['0 a', '0 b', '100 c', '100 d', '100 e']);
    await f.settle('d');
    await f.settle('e');
    expect(f.maxInFlight).toBe(2);
    await s.stop();
  });

  it('runs passes at a fixed rate; a target still being checked from the previous pass is skipped, not doubled', async () => {
    const clock = new ManualClock(T0);
    const f = deferredFleet(clock, ['slow', 'quick']);
    const s = new ConcurrentStrategy({
      intervalMs: 1000,
      clock,
      onError: f.onError,
      checkTimeoutMs: 10_000,
    });
    s.start(() => f.targets);
    await clock.runFor(0);
    await f.settle('quick');
    await clock.runFor(1000);
    // Pass 2: `slow` is still in flight from pass 1, so only `quick` starts.
    expect(f.starts).toEqual(['0 slow', '0 quick', '1000 quick']);
    await f.settle('quick');
    await clock.runFor(500);
    await f.settle('slow');
    await clock.runFor(500);
    expect(f.starts).toEqual(['0 slow', '0 quick', '1000 quick', '2000 slow', '2000 quick']);
    expect(f.maxInFlight).toBe(2);
    await f.settle('slow');
    await f.settle('quick');
    await s.stop();
  });

  it('a target waiting for a slot keeps its place in the queue across passes, so none starves', async () => {
    const clock = new ManualClock(T0);
    const f = deferredFleet(clock, ['a', 'b', 'c']);
    const s = new ConcurrentStrategy({
      intervalMs: 1000,
      clock,
      onError: f.onError,
      concurrency: 1,
      checkTimeoutMs: 10_000,
    });
    s.start(() => f.targets);
    // Pass 2 at 1000 finds a in flight and b, c still queued from pass 1: nothing is added.
    await clock.runFor(1500);
    await f.settle('a');
    await f.settle('b');
    // Pass 3 at 2000 finds c in flight: a and b are queued behind it.
    await clock.runFor(700);
    await f.settle('c');
    await f.settle('a');
    await f.settle('b');
    expect(f.starts).toEqual(['0 a', '1500 b', '1500 c', '2200 a', '2200 b']);
    await s.stop();
  });

  it('a check that hangs past the timeout is reported and its slot freed; the target is checked again next pass', async () => {
    const clock = new ManualClock(T0);
    const f = deferredFleet(clock, ['hanger', 'other']);
    const s = new ConcurrentStrategy({
      intervalMs: 1000,
      clock,
      onError: f.onError,
      concurrency: 1,
      checkTimeoutMs: 300,
    });
    s.start(() => f.targets);
    await clock.runFor(299);
    expect(f.starts).toEqual(['0 hanger']);
    await clock.runFor(1);
    expect(f.errors).toEqual(['300 hanger check_timeout']);
    expect(f.starts).toEqual(['0 hanger', '300 other']);
    await f.settle('other');
    await clock.runFor(700);
    expect(f.starts).toEqual(['0 hanger', '300 other', '1000 hanger']);
    // The abandoned check settling late frees nothing: the new check of `hanger` still holds
    // the only slot, so `other` waits.
    await f.settle('hanger');
    expect(s.inFlight).toBe(1);
    expect(f.starts).toEqual(['0 hanger', '300 other', '1000 hanger']);
    await clock.runFor(300);
    expect(f.errors).toEqual(['300 hanger check_timeout', '1300 hanger check_timeout']);
    await f.settle('other');
    await s.stop();
  });

  it('a check that throws or rejects is reported with its error and the other checks run', async () => {
    const clock = new ManualClock(T0);
    const f = deferredFleet(clock, ['rejecter', 'fine']);
    const thrower: MonitorTarget = {
      id: 'thrower',
      priority: 0,
      health: () => 'healthy',
      check: () => {
        throw new Error('sync boom');
      },
    };
    const s = new ConcurrentStrategy({ intervalMs: 1000, clock, onError: f.onError });
    s.start(() => [thrower, ...f.targets]);
    await clock.runFor(0);
    await f.fail('rejecter', 'async boom');
    await f.settle('fine');
    await clock.runFor(1000);
    expect(f.errors).toEqual([
      '0 thrower Error: sync boom',
      '0 rejecter Error: async boom',
      '1000 thrower Error: sync boom',
    ]);
    expect(f.starts).toEqual(['0 rejecter', '0 fine', '1000 rejecter', '1000 fine']);
    await f.settle('rejecter');
    await f.settle('fine');
    await s.stop();
  });

  it('a late timer runs one pass, not a burst of the missed ones', async () => {
    const clock = new ManualClock(T0);
    // The event loop is blocked for 3.5 intervals: the timer of pass 2 fires at 4500.
    let lag = 3500;
    const lateClock = {
      now: () => clock.now(),
      clearTimeout: (h: unknown) => clock.clearTimeout(h),
      setTimeout: (fn: () => void, ms: number) => {
        const extra = ms === 1000 ? lag : 0;
        if (extra) lag = 0;
        return clock.setTimeout(fn, ms + extra);
      },
    };
    const f = deferredFleet(clock, ['a']);
    const s = new ConcurrentStrategy({ intervalMs: 1000, clock: lateClock, onError: f.onError });
    s.start(() => f.targets);
    await clock.runFor(0);
    await f.settle('a');
    await clock.runFor(4500);
    expect(f.starts).toEqual(['0 a', '4500 a']);
    await f.settle('a');
    await clock.runFor(1000);
    expect(f.starts).toEqual(['0 a', '4500 a', '5500 a']);
    await f.settle('a');
    await s.stop();
  });

  it('stop drops queued checks and resolves only when the checks in flight settle', async () => {
    const clock = new ManualClock(T0);
    const f = deferredFleet(clock, ['a', 'b']);
    const s = new ConcurrentStrategy({
      intervalMs: 1000,
      clock,
      onError: f.onError,
      concurrency: 1,
    });
    s.start(() => f.targets);
    await clock.runFor(0);
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    await clock.runFor(100);
    expect(stopped).toBe(false);
    await f.settle('a');
    await stopping;
    await clock.runFor(5000);
    expect(f.starts).toEqual(['0 a']);
    expect(clock.pending()).toEqual([]);
    expect(s.stop()).toBe(s.stop());
  });
});

describe('CheckRunner', () => {
  it('a check that returns CHECK_DONE has finished: no timeout is armed and its slot is free at once', async () => {
    const clock = new ManualClock(T0);
    const checked: string[] = [];
    const errors: string[] = [];
    const targets: MonitorTarget[] = ['a', 'b', 'c'].map((id) => ({
      id,
      priority: 0,
      health: () => 'healthy',
      check: () => {
        checked.push(id);
        return CHECK_DONE;
      },
    }));
    const runner = new CheckRunner({
      clock,
      concurrency: 1,
      timeoutMs: 1000,
      onError: (t, e) => errors.push(`${t.id} ${String(e)}`),
    });
    runner.enqueue(targets);
    // All three ran within enqueue, one at a time, with no timer left behind.
    expect(checked).toEqual(['a', 'b', 'c']);
    expect(runner.inFlight).toBe(0);
    expect(runner.waiting).toBe(0);
    expect(clock.pending()).toEqual([]);
    await runner.idle();
    clock.advance(5000);
    expect(errors).toEqual([]);
    await runner.close();
  });

  it('queues a target once however often it is offered', async () => {
    const clock = new ManualClock(T0);
    const f = deferredFleet(clock, ['a', 'b']);
    const runner = new CheckRunner({ clock, concurrency: 1, timeoutMs: 1000, onError: f.onError });
    runner.enqueue([...f.targets, ...f.targets]);
    runner.enqueue(f.targets);
    expect(runner.waiting).toBe(1);
    expect(runner.isBusy('a') && runner.isBusy('b')).toBe(true);
    await f.settle('a');
    await f.settle('b');
    await runner.idle();
    expect(f.starts).toEqual(['0 a', '0 b']);
    await runner.close();
  });
});
