import { describe, expect, it } from 'vitest';
import { PmNotifier, type PaneTyper, type PmNotifierOptions } from './pm-notifier.js';
import { ManualClock } from './test-support/manual-clock.js';
import type { TmuxResult } from './tmux-client.js';

/** Records keystrokes per pane; `fail` makes every call answer as tmux would for a gone pane. */
class FakeTyper implements PaneTyper {
  keys: { target: string; text?: string; enter?: true; at: number }[] = [];
  fail: string | undefined;
  constructor(private readonly clock: ManualClock) {}
  async typeText(target: string, text: string): Promise<TmuxResult<void>> {
    if (this.fail) return { ok: false, liveness: 'absent', reason: this.fail };
    this.keys.push({ target, text, at: this.clock.now() });
    return { ok: true, value: undefined };
  }
  async pressEnter(target: string): Promise<TmuxResult<void>> {
    if (this.fail) return { ok: false, liveness: 'absent', reason: this.fail };
    this.keys.push({ target, enter: true, at: this.clock.now() });
    return { ok: true, value: undefined };
  }
  /** The lines submitted (text followed by Enter) to `target`. */
  lines(target: string): string[] {
    const out: string[] = [];
    let typed: string | undefined;
    for (const k of this.keys.filter((k) => k.target === target)) {
      if (k.text !== undefined) typed = k.text;
      else if (typed !== undefined) {
        out.push(typed);
        typed = undefined;
      }
    }
    return out;
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r));

function setup(options: Partial<PmNotifierOptions> = {}) {
  const clock = new ManualClock();
  const typer = new FakeTyper(clock);
  const sent: string[] = [];
  const failed: string[] = [];
  const notifier = new PmNotifier({
    typer,
    clock,
    enterDelayMs: 0,
    onSent: (_pm, text) => sent.push(text),
    onFailed: (_pm, reason) => failed.push(reason),
    ...options,
  });
  const advance = async (ms: number) => {
    await clock.advanceAsync(ms, Math.min(ms, 100));
    await settle();
  };
  return { clock, typer, notifier, sent, failed, advance };
}

const PM = '=fleet:0.0';

describe('PmNotifier', () => {
  it('sends the first message at once, literally, then Enter, to the exact PM pane', async () => {
    const t = setup();
    expect(t.notifier.notify('fleet:0.0', 'claude-1', 'needs input: Do you want to proceed?')).toBe(
      'sending',
    );
    await settle();
    expect(t.typer.keys).toEqual([
      {
        target: PM,
        text: '[warden] claude-1: needs input: Do you want to proceed?',
        at: t.clock.now(),
      },
      { target: PM, enter: true, at: t.clock.now() },
    ]);
  });

  it('does not send the same text for the same agent again while it is unchanged', async () => {
    const t = setup({ cooldownMs: 1000 });
    t.notifier.notify('fleet:0.0', 'claude-1', 'idle');
    await t.advance(5000);
    expect(t.notifier.notify('fleet:0.0', 'claude-1', 'idle')).toBe('duplicate');
    expect(t.notifier.notify('fleet:0.0', 'claude-2', 'idle')).toBe('sending');
    await t.advance(5000);
    t.notifier.notify('fleet:0.0', 'claude-1', 'busy');
    await t.advance(5000);
    expect(t.notifier.notify('fleet:0.0', 'claude-1', 'idle')).toBe('sending');
    await settle();
    expect(t.typer.lines(PM)).toEqual([
      '[warden] claude-1: idle',
      '[warden] claude-2: idle',
      '[warden] claude-1: busy',
      '[warden] claude-1: idle',
    ]);
  });

  it('batches what comes within the cooldown into ONE line sent when the cooldown ends', async () => {
    const t = setup({ cooldownMs: 30_000 });
    t.notifier.notify('fleet:0.0', 'a', 'crashed');
    await t.advance(1000);
    expect(t.notifier.notify('fleet:0.0', 'b', 'needs input')).toBe('batched');
    await t.advance(10_000);
    expect(t.notifier.notify('fleet:0.0', 'c', 'missing')).toBe('batched');
    expect(t.notifier.pendingFor('fleet:0.0')).toHaveLength(2);
    await t.advance(18_900); // t = 29.9 s
    expect(t.typer.lines(PM)).toEqual(['[warden] a: crashed']);
    await t.advance(100); // t = 30 s: the cooldown ends
    expect(t.typer.lines(PM)).toEqual([
      '[warden] a: crashed',
      '[warden] b: needs input | c: missing',
    ]);
    const batch = t.typer.keys.filter((k) => k.text !== undefined).at(-1)!;
    expect(batch.at - t.typer.keys[0]!.at).toBe(30_000);
  });

  it('a batch starts a new cooldown', async () => {
    const t = setup({ cooldownMs: 1000 });
    t.notifier.notify('pm', 'a', '1');
    t.notifier.notify('pm', 'a', '2');
    await t.advance(1000); // batch "a: 2" at 1 s
    t.notifier.notify('pm', 'a', '3');
    await t.advance(999);
    expect(t.typer.lines('=pm:')).toEqual(['[warden] a: 1', '[warden] a: 2']);
    await t.advance(1);
    expect(t.typer.lines('=pm:')).toEqual(['[warden] a: 1', '[warden] a: 2', '[warden] a: 3']);
  });

  it('keeps one copy of each distinct message in a batch, in the order last raised', async () => {
    const t = setup({ cooldownMs: 1000 });
    t.notifier.notify('pm', 'a', 'first');
    t.notifier.notify('pm', 'a', 'needs input');
    t.notifier.notify('pm', 'a', 'busy');
    t.notifier.notify('pm', 'a', 'needs input');
    await t.advance(1000);
    expect(t.typer.lines('=pm:')).toEqual([
      '[warden] a: first',
      '[warden] a: busy | a: needs input',
    ]);
  });

  it('throttles each PM pane on its own', async () => {
    const t = setup({ cooldownMs: 30_000 });
    expect(t.notifier.notify('team1:0.0', 'a', 'x')).toBe('sending');
    expect(t.notifier.notify('team2:0.0', 'b', 'y')).toBe('sending');
    expect(t.notifier.notify('team1:0.0', 'c', 'z')).toBe('batched');
    await settle();
    expect(t.typer.lines('=team1:0.0')).toEqual(['[warden] a: x']);
    expect(t.typer.lines('=team2:0.0')).toEqual(['[warden] b: y']);
  });

  it('waits enterDelayMs between the text and Enter', async () => {
    const t = setup({ enterDelayMs: 500 });
    t.notifier.notify('pm', 'a', 'hi');
    await settle();
    expect(t.typer.keys).toHaveLength(1);
    await t.advance(500);
    expect(t.typer.keys.map((k) => k.at - t.typer.keys[0]!.at)).toEqual([0, 500]);
  });

  it('types line breaks and control characters as spaces, so nothing is submitted half-way', async () => {
    const t = setup();
    t.notifier.notify('pm', 'a', 'line one\nline two\r\n\u0003end');
    await settle();
    expect(t.typer.lines('=pm:')).toEqual(['[warden] a: line one line two end']);
  });

  it('a failed send is reported and does not block the same message later', async () => {
    const t = setup({ cooldownMs: 1000 });
    t.typer.fail = "can't find pane: 0";
    t.notifier.notify('pm', 'a', 'crashed');
    await settle();
    expect(t.failed).toEqual(["can't find pane: 0"]);
    t.typer.fail = undefined;
    await t.advance(1000);
    expect(t.notifier.notify('pm', 'a', 'crashed')).toBe('sending');
    await settle();
    expect(t.sent).toEqual(['[warden] a: crashed']);
  });

  it('forget() lets the same text through again; close() drops the batch and its timer', async () => {
    const t = setup({ cooldownMs: 1000 });
    t.notifier.notify('pm', 'a', 'idle');
    t.notifier.forget('a');
    expect(t.notifier.notify('pm', 'a', 'idle')).toBe('batched');
    t.notifier.close();
    expect(t.clock.pending()).toEqual([]);
    expect(t.notifier.notify('pm', 'a', 'busy')).toBe('closed');
    await t.advance(5000);
    expect(t.typer.lines('=pm:')).toEqual(['[warden] a: idle']);
  });

  it('a throwing callback does not escape', async () => {
    const t = setup({
      onSent: () => {
        throw new Error('bug');
      },
    });
    t.notifier.notify('pm', 'a', 'x');
    await settle();
    expect(t.typer.lines('=pm:')).toEqual(['[warden] a: x']);
  });
});
