import { describe, expect, it } from 'vitest';
import type { AgentCommand } from '@warden/protocol';
import { CommandRouter, type CommandPeer } from './command-router.js';

/** A peer that records what it is sent; `open: false` refuses like a closing socket. */
class RecordingPeer implements CommandPeer {
  readonly got: AgentCommand[] = [];
  constructor(public open = true) {}
  sendCommand(command: AgentCommand): boolean {
    if (!this.open) return false;
    this.got.push(command);
    return true;
  }
}

const ids = () => {
  let n = 0;
  return () => `c${++n}`;
};

describe('CommandRouter', () => {
  it('sends to the peers subscribed to the agent exactly, not to the commands:* ones', () => {
    const router = new CommandRouter(ids());
    const exact = new RecordingPeer();
    const any = new RecordingPeer();
    router.add(exact, ['alpha']);
    router.add(any, ['*']);
    expect(router.send('alpha', 'restart')).toEqual({
      command: { id: 'c1', agentId: 'alpha', action: 'restart' },
      peers: 1,
      wildcard: false,
    });
    expect(exact.got).toEqual([{ id: 'c1', agentId: 'alpha', action: 'restart' }]);
    expect(any.got).toEqual([]);
  });

  it('falls back to every commands:* peer for an agent nobody subscribed to exactly', () => {
    const router = new CommandRouter(ids());
    const a = new RecordingPeer();
    const b = new RecordingPeer();
    router.add(a, ['*']);
    router.add(b, ['*', 'alpha']);
    expect(router.send('beta', 'stop')).toMatchObject({ peers: 2, wildcard: true });
    expect(a.got.map((c) => c.agentId)).toEqual(['beta']);
    expect(b.got.map((c) => c.agentId)).toEqual(['beta']);
  });

  it('falls back to commands:* when the exact peers are all closing', () => {
    const router = new CommandRouter(ids());
    const closing = new RecordingPeer(false);
    const any = new RecordingPeer();
    router.add(closing, ['alpha']);
    router.add(any, ['*']);
    expect(router.send('alpha', 'start')).toMatchObject({ peers: 1, wildcard: true });
    expect(any.got).toHaveLength(1);
  });

  it('sends nothing and says so when no open peer takes the agent', () => {
    const router = new CommandRouter(ids());
    expect(router.send('alpha', 'start')).toBeUndefined();
    router.add(new RecordingPeer(false), ['*']);
    expect(router.send('alpha', 'start')).toBeUndefined();
  });

  it('forgets unsubscribed agents and dropped peers', () => {
    const router = new CommandRouter(ids());
    const peer = new RecordingPeer();
    router.add(peer, ['alpha', 'beta']);
    router.remove(peer, ['alpha', 'never-added']);
    expect(router.send('alpha', 'start')).toBeUndefined();
    expect(router.send('beta', 'start')).toMatchObject({ peers: 1 });
    expect(router.size).toBe(1);
    router.drop(peer);
    expect(router.size).toBe(0);
    expect(router.send('beta', 'start')).toBeUndefined();
  });

  it('gives every command its own id', () => {
    const router = new CommandRouter();
    const peer = new RecordingPeer();
    router.add(peer, ['*']);
    router.send('a', 'start');
    router.send('a', 'start');
    expect(new Set(peer.got.map((c) => c.id)).size).toBe(2);
    expect(peer.got[0]!.id).toMatch(/^cmd-[0-9a-f-]{36}$/);
  });
});
