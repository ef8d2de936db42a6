import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TmuxClient, execFileTmuxRunner, type TmuxRunner } from '../tmux-client.js';

/**
 * A private tmux server for one test file: its own socket in a temp dir (so nothing collides
 * with the user's tmux or another test file), no config file, a `base` session that keeps
 * it alive, and `remain-on-exit` on so a pane whose process exits stays as `pane_dead`.
 */
export class TmuxTestServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'warden-tmux-'));
  readonly socketPath = join(this.dir, 'sock');
  readonly runner: TmuxRunner = execFileTmuxRunner({
    binary: '/usr/bin/tmux',
    socketPath: this.socketPath,
  });

  /** A client on this server with the given timeout. */
  client(timeoutMs = 2000): TmuxClient {
    return new TmuxClient({ runner: this.runner, timeoutMs });
  }

  /** Runs tmux on this server; throws with tmux's stderr when it fails. */
  async tmux(...args: string[]): Promise<string> {
    const r = await this.runner.run(args, 5000);
    if (r.exitCode !== 0)
      throw new Error(`tmux ${args.join(' ')} failed: ${r.stderr.trim() || r.exitCode}`);
    return r.stdout;
  }

  async start(): Promise<void> {
    await this.tmux(
      '-f',
      '/dev/null',
      'new-session',
      '-d',
      '-s',
      'base',
      '-x',
      '120',
      '-y',
      '40',
      'sleep',
      '100000',
    );
    await this.tmux('set-option', '-wg', 'remain-on-exit', 'on');
  }

  /** A new window in `session` running `argv` directly (no shell); resolves its pane id. */
  async newPane(
    argv: string[],
    options: { session?: string; name?: string } = {},
  ): Promise<string> {
    const name = options.name === undefined ? [] : ['-n', options.name];
    const out = await this.tmux(
      'new-window',
      '-d',
      '-P',
      '-F',
      '#{pane_id}',
      '-t',
      `=${options.session ?? 'base'}:`,
      ...name,
      ...argv,
    );
    return out.trim();
  }

  /** The pane's visible text. */
  async capture(target: string): Promise<string> {
    return this.tmux('capture-pane', '-p', '-t', target);
  }

  /** The tmux server's pid. */
  async serverPid(): Promise<number> {
    return Number((await this.tmux('display-message', '-p', '#{pid}')).trim());
  }

  /** Kills the server (if still running) and removes the temp dir. */
  async kill(): Promise<void> {
    await this.runner.run(['kill-server'], 5000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolves once `predicate` holds, checking every 20 ms; rejects after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
