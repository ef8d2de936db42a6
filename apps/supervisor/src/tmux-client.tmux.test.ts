import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TmuxTestServer, waitFor } from './test-support/tmux-test-server.js';
import { TmuxClient, exactTarget, execFileTmuxRunner } from './tmux-client.js';

const server = new TmuxTestServer();

beforeAll(() => server.start());
afterEach(() => server.tmux('kill-window', '-a', '-t', '=base:0').then(() => undefined));
afterAll(() => server.kill());

describe('TmuxClient on a real tmux server', () => {
  it('a snapshot reads the screen and the process facts of a pane in one call', async () => {
    const pane = await server.newPane(['sh', '-c', 'echo hello from the pane; exec sleep 1000'], {
      name: 'snap',
    });
    const client = server.client();
    await waitFor(async () => (await server.capture(pane)).includes('hello'), 5000, 'the echo');
    const r = await client.snapshot(exactTarget('base:snap'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.screen).toContain('hello from the pane');
    expect(r.value.info).toMatchObject({
      paneId: pane,
      session: 'base',
      dead: false,
      currentCommand: 'sleep',
    });
    expect(r.value.info.pid).toBeGreaterThan(1);
    const listed = await client.listPaneInfo();
    expect(listed.ok && listed.value.map((p) => p.paneId)).toContain(pane);
  });

  it('a pane, window or session that does not exist is absent', async () => {
    const client = server.client();
    for (const target of ['%9999', '=base:77', '=base:0.9', '=nosuchsession:0'])
      expect(await client.snapshot(target)).toMatchObject({ ok: false, liveness: 'absent' });
  });

  it('no server on the socket is absent', async () => {
    const client = new TmuxClient({
      runner: execFileTmuxRunner({
        binary: '/usr/bin/tmux',
        socketPath: `${server.dir}/no-server-here`,
      }),
    });
    expect(await client.snapshot('=base:0')).toEqual({
      ok: false,
      liveness: 'absent',
      reason: expect.stringContaining('error connecting to'),
    });
  });

  it('display-message alone would "find" a missing pane — the snapshot does not', async () => {
    const client = server.client();
    // tmux lets display-message fall back to another pane when its target does not exist.
    expect((await client.displayMessage('=base:0.9', '#{pane_id}')).ok).toBe(true);
    expect((await client.snapshot('=base:0.9')).ok).toBe(false);
  });

  it('an exact target does not fall through to a session whose name merely starts the same', async () => {
    await server.tmux('new-session', '-d', '-s', 'fleet2', 'sleep', '100000');
    const client = server.client();
    expect((await client.snapshot('fleet:0')).ok).toBe(true); // tmux's prefix match: fleet2
    expect(await client.snapshot(exactTarget('fleet:0'))).toMatchObject({
      ok: false,
      liveness: 'absent',
    });
    await server.tmux('kill-session', '-t', '=fleet2');
  });

  it('sendText arrives literally: `;`, key names and a leading dash are just characters', async () => {
    const pane = await server.newPane([
      'sh',
      '-c',
      'while IFS= read -r l; do printf "got:%s\\n" "$l"; done',
    ]);
    const client = server.client();
    const r = await client.sendText(pane, '-n first; kill-server C-c Enter');
    expect(r.ok).toBe(true);
    await waitFor(async () => (await server.capture(pane)).includes('got:'), 5000, 'the line');
    expect(await server.capture(pane)).toContain('got:-n first; kill-server C-c Enter');
    expect((await client.snapshot(pane)).ok).toBe(true); // the server is still there
  });

  it('a wedged server (stopped) is unknown after the timeout, not absent', async () => {
    const wedged = new TmuxTestServer();
    await wedged.start();
    const pid = await wedged.serverPid();
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      expect(await wedged.client(300).snapshot('=base:0')).toEqual({
        ok: false,
        liveness: 'unknown',
        reason: 'tmux did not answer within 300 ms',
      });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      process.kill(pid, 'SIGCONT');
      await wedged.kill();
    }
  });
});
