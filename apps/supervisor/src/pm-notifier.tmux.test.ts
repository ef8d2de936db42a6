import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import { PmNotifier } from './pm-notifier.js';
import { TmuxTestServer, waitFor } from './test-support/tmux-test-server.js';

const server = new TmuxTestServer();
const notifiers: PmNotifier[] = [];

beforeAll(() => server.start());
afterEach(async () => {
  for (const n of notifiers.splice(0)) n.close();
  await server.tmux('kill-window', '-a', '-t', '=base:0');
});
afterAll(() => server.kill());

/** A PM pane that prints every line it receives as `got:LINE`, in window `base:pm`. */
async function pmPane(): Promise<string> {
  return server.newPane(['sh', '-c', 'while IFS= read -r l; do printf "got:%s\\n" "$l"; done'], {
    name: 'pm',
  });
}

async function received(pane: string): Promise<string[]> {
  return (await server.capture(pane))
    .split('\n')
    .filter((l) => l.startsWith('got:'))
    .map((l) => l.slice(4));
}

describe('PmNotifier on a real PM pane', () => {
  it('messages arrive deduplicated, and those within the cooldown as one batched line', async () => {
    const pane = await pmPane();
    const sent: string[] = [];
    const notifier = new PmNotifier({
      typer: server.client(),
      clock: systemClock,
      cooldownMs: 800,
      enterDelayMs: 50,
      onSent: (_pm, text) => sent.push(text),
    });
    notifiers.push(notifier);
    const started = Date.now();
    expect(notifier.notify('base:pm', 'claude-1', 'needs input: Do you want to proceed?')).toBe(
      'sending',
    );
    expect(notifier.notify('base:pm', 'claude-1', 'needs input: Do you want to proceed?')).toBe(
      'duplicate',
    );
    expect(notifier.notify('base:pm', 'claude-2', 'idle')).toBe('batched');
    expect(notifier.notify('base:pm', 'claude-3', 'crashed; pane_dead=1 C-c Enter')).toBe(
      'batched',
    );
    expect(notifier.notify('base:pm', 'claude-2', 'idle')).toBe('duplicate');

    await waitFor(async () => (await received(pane)).length >= 1, 5000, 'the first line');
    expect(await received(pane)).toEqual([
      '[warden] claude-1: needs input: Do you want to proceed?',
    ]);
    await waitFor(async () => (await received(pane)).length >= 2, 5000, 'the batch');
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    // Sent literally: `;` and the key names are text, and the server is still there.
    expect(await received(pane)).toEqual([
      '[warden] claude-1: needs input: Do you want to proceed?',
      '[warden] claude-2: idle | claude-3: crashed; pane_dead=1 C-c Enter',
    ]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await received(pane)).toHaveLength(2);
    expect(sent).toHaveLength(2);
  });

  it('a PM pane that is gone is reported, not retried in a loop', async () => {
    const failed: string[] = [];
    const notifier = new PmNotifier({
      typer: server.client(),
      clock: systemClock,
      cooldownMs: 200,
      enterDelayMs: 0,
      onFailed: (_pm, reason) => failed.push(reason),
    });
    notifiers.push(notifier);
    notifier.notify('base:nopm', 'claude-1', 'idle');
    await waitFor(() => failed.length === 1, 5000, 'the failure');
    expect(failed[0]).toMatch(/can't find window/);
    await new Promise((r) => setTimeout(r, 500));
    expect(failed).toHaveLength(1);
  });
});
