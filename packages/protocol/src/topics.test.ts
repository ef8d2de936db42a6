import { describe, expect, it } from 'vitest';
import { parseTopic, topicMatches, topicName, type Topic } from './topics.js';

const parsed = (raw: string): Topic => {
  const t = parseTopic(raw);
  if (typeof t === 'string') throw new Error(t);
  return t;
};

describe('topics', () => {
  it('parses events, agent:<id> and type:<type>', () => {
    expect(parseTopic('events')).toEqual({ kind: 'events' });
    expect(parseTopic('agent:deva_python')).toEqual({ kind: 'agent', agentId: 'deva_python' });
    expect(parseTopic('type:metric_update')).toEqual({ kind: 'type', type: 'metric_update' });
    expect(parseTopic('type:agent_lifecycle')).toEqual({ kind: 'type', type: 'agent_lifecycle' });
  });

  it('parses logs:<id>, commands:<id> and commands:*', () => {
    expect(parseTopic('logs:worker-1')).toEqual({ kind: 'logs', agentId: 'worker-1' });
    expect(parseTopic('commands:worker-1')).toEqual({ kind: 'commands', agentId: 'worker-1' });
    expect(parseTopic('commands:*')).toEqual({ kind: 'commands', agentId: '*' });
  });

  it('names what is wrong with a bad topic', () => {
    expect(parseTopic('agent:')).toMatch(/agent id/);
    expect(parseTopic('type:nope')).toMatch(/unknown event type/);
    expect(parseTopic('logs')).toMatch(/unknown topic.*logs:<agentId>/);
    expect(parseTopic('logs:*')).toMatch(/agent id must match/);
    expect(parseTopic('commands:-x')).toMatch(
      /agent id must match .* \(or be \* for every agent\)/,
    );
  });

  it('gives every topic back under its own name', () => {
    for (const raw of ['events', 'agent:a', 'type:log', 'logs:a', 'commands:a', 'commands:*']) {
      expect(topicName(parsed(raw))).toBe(raw);
    }
  });

  it('matches events by agent or type', () => {
    const t = parsed('agent:a');
    expect(topicMatches(t, 'a', 'x')).toBe(true);
    expect(topicMatches(t, 'b', 'x')).toBe(false);
  });

  it("matches only that agent's log events under logs:<id>", () => {
    const t = parsed('logs:a');
    expect(topicMatches(t, 'a', 'log')).toBe(true);
    expect(topicMatches(t, 'a', 'agent_lifecycle')).toBe(false);
    expect(topicMatches(t, 'b', 'log')).toBe(false);
  });

  it('never matches an event under a commands topic: commands are not events', () => {
    expect(topicMatches(parsed('commands:a'), 'a', 'log')).toBe(false);
    expect(topicMatches(parsed('commands:*'), 'a', 'agent_lifecycle')).toBe(false);
  });
});
