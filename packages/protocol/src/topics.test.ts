import { describe, expect, it } from 'vitest';
import { parseTopic, topicMatches } from './topics.js';

describe('topics', () => {
  it('parses events, agent:<id> and type:<type>', () => {
    expect(parseTopic('events')).toEqual({ kind: 'events' });
    expect(parseTopic('agent:deva_python')).toEqual({ kind: 'agent', agentId: 'deva_python' });
    expect(parseTopic('type:metric_update')).toEqual({ kind: 'type', type: 'metric_update' });
  });

  it('names what is wrong with a bad topic', () => {
    expect(parseTopic('agent:')).toMatch(/agent id/);
    expect(parseTopic('type:nope')).toMatch(/unknown event type/);
    expect(parseTopic('logs')).toMatch(/unknown topic/);
  });

  it('matches events by agent or type', () => {
    const t = parseTopic('agent:a');
    expect(typeof t !== 'string' && topicMatches(t, 'a', 'x')).toBe(true);
    expect(typeof t !== 'string' && topicMatches(t, 'b', 'x')).toBe(false);
  });
});
