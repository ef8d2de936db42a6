import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.js';
import { alertNotification } from '../test-support/alert-notification.js';
import { LEVEL, LogCapture } from '../test-support/log-capture.js';
import { NotificationDelivery } from './notification-delivery.js';
import { TmuxReceiverConfigSchema } from './receiver-config.js';
import { TmuxReceiver, execFileTmuxCommandRunner, tmuxLine } from './tmux-receiver.js';

// A private tmux server (own socket in a temp dir, no config file) with a pane running `cat`,
// so whatever is typed into it shows on its screen.
const dir = mkdtempSync(join(tmpdir(), 'warden-tmux-rx-'));
const runner = execFileTmuxCommandRunner({
  binary: '/usr/bin/tmux',
  socketPath: join(dir, 'sock'),
});

async function tmux(...args: string[]): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile('/usr/bin/tmux', ['-S', join(dir, 'sock'), ...args], (err, stdout, stderr) =>
      err ? reject(new Error(stderr || err.message)) : resolve(stdout),
    ),
  );
}

async function screen(target: string, contains: string): Promise<string> {
  const end = Date.now() + 5000;
  for (;;) {
    const text = await tmux('capture-pane', '-p', '-J', '-t', target);
    if (text.includes(contains) || Date.now() > end) return text;
    await new Promise((r) => setTimeout(r, 30));
  }
}

beforeAll(async () => {
  await tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'fleet', '-x', '250', '-y', '20', 'cat');
  await tmux('new-session', '-d', '-s', 'fleet2', '-x', '250', '-y', '20', 'cat');
});
afterAll(async () => {
  await tmux('kill-server').catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

function receiver(target: string, extra: Record<string, unknown> = {}) {
  return new TmuxReceiver(
    TmuxReceiverConfigSchema.parse({
      name: 'pm-pane',
      type: 'tmux',
      target,
      enter_delay: '50ms',
      ...extra,
    }),
    runner,
  );
}

describe('tmux receiver against a real tmux server', () => {
  it('types the notification as one line into the pane and presses Enter', async () => {
    const logs = new LogCapture();
    const d = new NotificationDelivery({
      receivers: [receiver('fleet:0.0')],
      clock: systemClock,
      log: logs.logger,
    });
    const result = await d.deliver(
      alertNotification('pm-pane', { text: 'agent-cpu-high w1 CPU at 93.5%' }),
    );
    expect(result).toEqual({ ok: true, attempts: 1, outcome: 'sent' });
    // `cat` echoes the submitted line back: it appears twice once Enter was pressed.
    const text = await screen('=fleet:0.0', '93.5%\n[warden]');
    expect(text).toContain(
      '[warden] agent-cpu-high w1 CPU at 93.5%\n[warden] agent-cpu-high w1 CPU at 93.5%',
    );
    await d.close();
  });

  it('types key names and control characters as text, never as keys', async () => {
    await tmux('new-window', '-d', '-t', '=fleet:', '-n', 'keys', 'cat');
    const d = new NotificationDelivery({
      receivers: [receiver('fleet:keys')],
      clock: systemClock,
      log: new LogCapture().logger,
    });
    await d.deliver(
      alertNotification('pm-pane', { text: 'C-c Enter ; kill-server\n\u001b[31mred\u0007 -l' }),
    );
    const text = await screen('=fleet:keys', '-l\n');
    expect(text).toContain('[warden] C-c Enter ; kill-server [31mred -l\n[warden] C-c Enter');
    expect(await tmux('list-sessions', '-F', '#{session_name}')).toContain('fleet');
    await d.close();
  });

  it('fails with a clear reason when the pane is not there, after its retries', async () => {
    const logs = new LogCapture();
    const d = new NotificationDelivery({
      receivers: [receiver('nosuch:0.0', { max_attempts: 2, backoff: { initial: '10ms' } })],
      clock: systemClock,
      log: logs.logger,
    });
    const result = await d.deliver(alertNotification('pm-pane'));
    expect(result).toMatchObject({ ok: false, attempts: 2, outcome: 'failed' });
    expect(result.error).toMatch(/^tmux pane nosuch:0\.0 not found: can't find session/);
    expect(
      logs.matching(/notification to pm-pane failed: tmux pane nosuch:0.0 not found/, LEVEL.error),
    ).toHaveLength(1);
    await d.close();
  });

  it('matches the session exactly: "fleet" never lands in "fleet2"', async () => {
    await tmux('kill-session', '-t', '=fleet');
    const d = new NotificationDelivery({
      receivers: [receiver('fleet:0.0', { max_attempts: 1 })],
      clock: systemClock,
      log: new LogCapture().logger,
    });
    const result = await d.deliver(alertNotification('pm-pane', { text: 'must not arrive' }));
    expect(result.error).toMatch(/not found/);
    expect(await tmux('capture-pane', '-p', '-t', '=fleet2:0.0')).not.toContain('must not arrive');
    await d.close();
  });

  it('does not type resolved notifications unless send_resolved is on', async () => {
    const d = new NotificationDelivery({
      receivers: [receiver('fleet2:0.0')],
      clock: systemClock,
      log: new LogCapture().logger,
    });
    expect(await d.deliver(alertNotification('pm-pane', { status: 'resolved' }))).toMatchObject({
      outcome: 'skipped',
    });
    await d.close();
  });

  it('cuts a very long text to one short line', () => {
    const line = tmuxLine(alertNotification('x', { text: 'y'.repeat(2000) }));
    expect(line).toHaveLength(500);
    expect(line.endsWith('…')).toBe(true);
  });
});
