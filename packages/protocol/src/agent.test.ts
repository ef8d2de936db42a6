import { describe, expect, it } from 'vitest';
import { agentHealth } from './agent.js';

describe('agentHealth', () => {
  it('is what the status implies when no check is failing', () => {
    expect(agentHealth('running', [])).toBe('healthy');
    expect(agentHealth('needs_input', ['healthy'])).toBe('warning');
    expect(agentHealth('failed', ['healthy', 'unknown'])).toBe('critical');
  });

  it('is raised to the level of the worst failing check', () => {
    expect(agentHealth('running', ['healthy', 'warning'])).toBe('warning');
    expect(agentHealth('idle', ['warning', 'critical'])).toBe('critical');
    expect(agentHealth('rate_limited', ['critical'])).toBe('critical');
  });

  it('comes from the checks alone before the agent has reported a status', () => {
    expect(agentHealth(null, [])).toBe('unknown');
    expect(agentHealth(null, ['warning'])).toBe('warning');
  });

  it('stays unknown for an agent stopped on purpose, whatever its checks said last', () => {
    expect(agentHealth('stopped', ['critical'])).toBe('unknown');
  });
});
