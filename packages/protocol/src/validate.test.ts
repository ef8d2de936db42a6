import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from './limits.js';
import { exceedsDepth, validateEventBody } from './validate.js';

const now = 1_700_000_000_000;
const ok = (data: Record<string, unknown>, type = 'task_assigned') => ({
  id: 'e-1',
  type,
  agentId: 'deva_python',
  data,
});

describe('validateEventBody', () => {
  it('accepts one event and fills ts with the receive time', () => {
    const r = validateEventBody(ok({ taskId: 't-1' }), { now });
    expect(r).toMatchObject({ ok: true, batch: false, events: [{ ts: now }] });
  });

  it('refuses U+0000 in an id or correlationId, naming the field', () => {
    for (const [key, path] of [
      ['id', '/id'],
      ['correlationId', '/correlationId'],
    ] as const) {
      const r = validateEventBody({ ...ok({ taskId: 't' }), [key]: 'a\u0000b' }, { now });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.code).toBe('invalid_event');
      expect(r.errors).toEqual([{ path, message: 'must not contain U+0000' }]);
    }
  });

  it('normalises an ISO-8601 ts to epoch milliseconds', () => {
    const r = validateEventBody({ ...ok({ taskId: 't' }), ts: '2025-11-22T06:00:00Z' }, { now });
    expect(r.ok && r.events[0]!.ts).toBe(Date.parse('2025-11-22T06:00:00Z'));
  });

  it('names the index and field of the bad event in a batch', () => {
    const events = [ok({ taskId: 'a' }), ok({ taskId: 'b' }), ok({ taskId: 'c' }), ok({})];
    const r = validateEventBody({ events }, { now });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.code).toBe('invalid_event');
    expect(r.errors).toEqual([{ path: '/events/3/data/taskId', message: 'is required (string)' }]);
  });

  it('rejects unknown types, naming /type', () => {
    const r = validateEventBody({ ...ok({}), type: 'nope' }, { now });
    expect(!r.ok && r.errors[0]!.path).toBe('/type');
  });

  it('rejects unknown envelope keys', () => {
    const r = validateEventBody({ ...ok({ taskId: 'x' }), extra: 1 }, { now });
    expect(!r.ok && r.errors[0]!.message).toMatch(/unknown key/);
  });

  it('rejects a bad agent id and a bad metric name', () => {
    const r1 = validateEventBody({ ...ok({ taskId: 'x' }), agentId: '-bad' }, { now });
    expect(!r1.ok && r1.errors[0]!.path).toBe('/agentId');
    const r2 = validateEventBody(ok({ metrics: { 'Bad-Name': 1 } }, 'metric_update'), { now });
    expect(!r2.ok && r2.errors[0]!.path).toMatch(/^\/data\/metrics/);
  });

  it('refuses batches over the event count with payload_too_large', () => {
    const events = Array.from({ length: DEFAULT_LIMITS.maxBatchEvents + 1 }, () =>
      ok({ taskId: 'x' }),
    );
    const r = validateEventBody({ events }, { now });
    expect(!r.ok && r.code).toBe('payload_too_large');
  });

  it('refuses an event over 64 KiB with payload_too_large', () => {
    const r = validateEventBody(
      ok({ errorType: 'E', message: 'x'.repeat(70_000) }, 'error_occurred'),
      { now },
    );
    expect(!r.ok && r.code).toBe('payload_too_large');
  });

  it('refuses deep nesting without overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const r = validateEventBody(ok({ status: 'running', meta: { deep } }, 'agent_status_update'), {
      now,
    });
    expect(!r.ok && r.errors[0]!.message).toMatch(/deeper than/);
  });

  it('rejects an empty batch and a non-object body', () => {
    expect(validateEventBody({ events: [] }, { now }).ok).toBe(false);
    expect(validateEventBody([1, 2], { now }).ok).toBe(false);
    expect(validateEventBody(null, { now }).ok).toBe(false);
  });
});

describe('exceedsDepth', () => {
  it('counts objects and arrays', () => {
    expect(exceedsDepth({ a: { b: [1] } }, 3)).toBe(false);
    expect(exceedsDepth({ a: { b: [[1]] } }, 3)).toBe(true);
  });
});
