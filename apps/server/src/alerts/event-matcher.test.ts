import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import { EventMatchSchema } from './alert-rule.js';
import { compileEventMatch } from './event-matcher.js';

function ev(type: string, data: Record<string, unknown>): StoredEvent {
  return { seq: 1, receivedAt: 0, id: 'e1', type, agentId: 'a1', ts: 0, data } as StoredEvent;
}

describe('event matcher', () => {
  it('matches a health_changed event by the supervisor check and the new health', () => {
    const m = compileEventMatch(
      EventMatchSchema.parse({ type: 'health_changed', check: 'memory_leak', health: 'warning' }),
    );
    const leak = { check: 'memory_leak', health: 'warning', previous: 'healthy', reason: 'r' };
    expect(m(ev('health_changed', leak))).toBe(true);
    expect(m(ev('health_changed', { ...leak, health: 'healthy' }))).toBe(false);
    expect(m(ev('health_changed', { ...leak, check: 'cpu' }))).toBe(false);
    expect(m(ev('agent_lifecycle', { action: 'started', reason: 'r' }))).toBe(false);
  });

  it('takes a list of checks, any of which matches', () => {
    const m = compileEventMatch(
      EventMatchSchema.parse({ type: 'health_changed', check: ['task_stale', 'task_duration'] }),
    );
    expect(m(ev('health_changed', { check: 'task_duration', health: 'critical' }))).toBe(true);
    expect(m(ev('health_changed', { check: 'heartbeat', health: 'critical' }))).toBe(false);
  });

  it('refuses a health that is not one of the four', () => {
    const r = EventMatchSchema.safeParse({ type: 'health_changed', health: 'red' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['health']);
  });
});
