import { describe, expect, it } from 'vitest';
import { TaskProgressCheck } from './task-progress-check.js';

const T0 = 1_760_000_000_000;

describe('TaskProgressCheck (task_duration)', () => {
  it('is healthy with no task running', () => {
    const check = new TaskProgressCheck({ check: 'task_duration', limitMs: 300_000 });
    expect(check.evaluate(T0)).toEqual({
      check: 'task_duration',
      health: 'healthy',
      reason: 'no task running',
    });
  });

  it('a task running 299,999 ms is healthy and at 300,000 ms it is critical (hung)', () => {
    const check = new TaskProgressCheck({ check: 'task_duration', limitMs: 300_000 });
    check.taskStarted('t-42', T0);
    check.taskProgress('t-42', T0 + 200_000); // progress does not extend a duration limit
    expect(check.evaluate(T0 + 299_999)).toEqual({
      check: 'task_duration',
      health: 'healthy',
      reason: 'longest task t-42 running for 4m 59s (max_task_duration 5m)',
      taskId: 't-42',
    });
    expect(check.evaluate(T0 + 300_000)).toEqual({
      check: 'task_duration',
      health: 'critical',
      reason: 'task t-42 has been running for 5m, past max_task_duration 5m',
      taskId: 't-42',
    });
  });

  it('an ended task is no longer judged', () => {
    const check = new TaskProgressCheck({ check: 'task_duration', limitMs: 300_000 });
    check.taskStarted('t-1', T0);
    check.taskEnded('t-1');
    expect(check.evaluate(T0 + 600_000).health).toBe('healthy');
    expect(check.runningTasks()).toEqual([]);
  });

  it('with several tasks it judges and names the oldest', () => {
    const check = new TaskProgressCheck({ check: 'task_duration', limitMs: 300_000 });
    check.taskStarted('young', T0 + 100_000);
    check.taskStarted('old', T0);
    expect(check.runningTasks()).toEqual(['old', 'young']);
    expect(check.evaluate(T0 + 312_000)).toEqual({
      check: 'task_duration',
      health: 'critical',
      reason: 'task old has been running for 5m 12s, past max_task_duration 5m (2 tasks running)',
      taskId: 'old',
    });
  });

  it('a task first seen through its progress is timed from that sighting', () => {
    const check = new TaskProgressCheck({ check: 'task_duration', limitMs: 300_000 });
    check.taskProgress('mid-flight', T0 + 60_000);
    expect(check.evaluate(T0 + 359_999).health).toBe('healthy');
    expect(check.evaluate(T0 + 360_000).health).toBe('critical');
  });

  it('a task id started again is timed from its new start', () => {
    const check = new TaskProgressCheck({ check: 'task_duration', limitMs: 300_000 });
    check.taskStarted('t', T0);
    check.taskStarted('t', T0 + 200_000);
    expect(check.evaluate(T0 + 499_999).health).toBe('healthy');
  });
});

describe('TaskProgressCheck (task_stale)', () => {
  it('no progress for 179,999 ms since the start is healthy, and 180,000 ms is critical (deadlock)', () => {
    const check = new TaskProgressCheck({ check: 'task_stale', limitMs: 180_000 });
    check.taskStarted('t-7', T0);
    expect(check.evaluate(T0 + 179_999)).toEqual({
      check: 'task_stale',
      health: 'healthy',
      reason: 'task t-7 last progressed 2m 59s ago (stale_task_threshold 3m)',
      taskId: 't-7',
    });
    expect(check.evaluate(T0 + 180_000)).toEqual({
      check: 'task_stale',
      health: 'critical',
      reason: 'task t-7 made no progress for 3m (stale_task_threshold 3m): hung or deadlocked',
      taskId: 't-7',
    });
  });

  it('any progress restarts the stale clock', () => {
    const check = new TaskProgressCheck({ check: 'task_stale', limitMs: 180_000 });
    check.taskStarted('t', T0);
    check.taskProgress('t', T0 + 170_000);
    expect(check.evaluate(T0 + 349_999).health).toBe('healthy');
    expect(check.evaluate(T0 + 350_000).health).toBe('critical');
    // It recovers as soon as the task moves again.
    check.taskProgress('t', T0 + 350_001);
    expect(check.evaluate(T0 + 350_001).health).toBe('healthy');
  });

  it('progress reported out of order does not move the clock back', () => {
    const check = new TaskProgressCheck({ check: 'task_stale', limitMs: 180_000 });
    check.taskStarted('t', T0);
    check.taskProgress('t', T0 + 100_000);
    check.taskProgress('t', T0 + 50_000);
    expect(check.evaluate(T0 + 279_999).health).toBe('healthy');
    expect(check.evaluate(T0 + 280_000).health).toBe('critical');
  });

  it('one stuck task among busy ones is named', () => {
    const check = new TaskProgressCheck({ check: 'task_stale', limitMs: 180_000 });
    check.taskStarted('busy', T0);
    check.taskStarted('stuck', T0 + 1000);
    check.taskProgress('busy', T0 + 170_000);
    const r = check.evaluate(T0 + 181_000);
    expect(r.health).toBe('critical');
    expect(r.taskId).toBe('stuck');
  });

  it('forgets all tasks on reset (a new process runs none of them)', () => {
    const check = new TaskProgressCheck({ check: 'task_stale', limitMs: 180_000 });
    check.taskStarted('t', T0);
    check.reset(T0 + 200_000);
    expect(check.evaluate(T0 + 200_000).health).toBe('healthy');
  });

  it('refuses a limit that is not positive', () => {
    expect(() => new TaskProgressCheck({ check: 'task_stale', limitMs: 0 })).toThrow(RangeError);
  });
});
