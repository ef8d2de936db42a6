import { describe, expect, it } from 'vitest';
import {
  TmuxClient,
  classifyTmuxFailure,
  exactTarget,
  execFileTmuxRunner,
  parsePaneInfo,
  singleLine,
  tmuxSocketArgs,
  type TmuxExecResult,
  type TmuxRunner,
} from './tmux-client.js';

/** Answers every run with `reply` and records the arguments and timeout. */
function fakeRunner(reply: Partial<TmuxExecResult>) {
  const calls: { args: readonly string[]; timeoutMs: number }[] = [];
  const runner: TmuxRunner = {
    run: async (args, timeoutMs) => {
      calls.push({ args, timeoutMs });
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...reply };
    },
  };
  return { runner, calls };
}

const fail = (stderr: string, extra: Partial<TmuxExecResult> = {}): TmuxExecResult => ({
  exitCode: 1,
  stdout: '',
  stderr,
  timedOut: false,
  ...extra,
});

describe('classifyTmuxFailure', () => {
  it.each([
    'no server running on /tmp/tmux-1000/default',
    'error connecting to /tmp/tmux-1000/fleet (No such file or directory)',
    'error connecting to /tmp/tmux-1000/fleet (Connection refused)',
    "can't find pane: 7",
    "can't find window: 3",
    "can't find session: fleet",
    'session not found: fleet',
  ])('"%s" means the pane is absent', (stderr) => {
    expect(classifyTmuxFailure(fail(`${stderr}\n`), 2000)).toEqual({
      liveness: 'absent',
      reason: stderr,
    });
  });

  it('a timeout is unknown, whatever was printed', () => {
    expect(
      classifyTmuxFailure(fail("can't find pane: 7", { exitCode: null, timedOut: true }), 2000),
    ).toEqual({
      liveness: 'unknown',
      reason: 'tmux did not answer within 2000 ms',
    });
  });

  it('tmux that cannot be run is unknown', () => {
    expect(classifyTmuxFailure(fail('', { exitCode: null, spawnError: 'ENOENT' }), 2000)).toEqual({
      liveness: 'unknown',
      reason: 'tmux could not be run (ENOENT)',
    });
  });

  it('any other failure is unknown and keeps tmux’s words', () => {
    expect(classifyTmuxFailure(fail('server exited unexpectedly'), 2000)).toEqual({
      liveness: 'unknown',
      reason: 'tmux failed (exit code 1): server exited unexpectedly',
    });
    expect(classifyTmuxFailure(fail('', { exitCode: 2 }), 2000).reason).toBe(
      'tmux failed (exit code 2)',
    );
  });
});

describe('exactTarget', () => {
  it.each([
    ['fleet:0.1', '=fleet:0.1'],
    ['fleet', '=fleet:'],
    ['fleet:editor', '=fleet:editor'],
    ['=fleet:0.1', '=fleet:0.1'],
    ['%3', '%3'],
    ['$1:0', '$1:0'],
    ['@2', '@2'],
    [':0.1', ':0.1'],
    ['{last}', '{last}'],
  ])('%s → %s', (target, exact) => expect(exactTarget(target)).toBe(exact));
});

describe('parsePaneInfo', () => {
  it('reads the facts, a command with a space included', () => {
    expect(parsePaneInfo('%3\tfleet\t0\t\t\t4242\tnpm exec\n')).toEqual({
      paneId: '%3',
      session: 'fleet',
      dead: false,
      pid: 4242,
      currentCommand: 'npm exec',
    });
    expect(parsePaneInfo('%4\tfleet\t1\t137\t\t4243\tclaude')).toMatchObject({
      dead: true,
      deadStatus: 137,
    });
    expect(parsePaneInfo('%5\tfleet\t1\t\t9\t4244\tclaude')).toMatchObject({
      dead: true,
      deadSignal: 9,
    });
    expect(parsePaneInfo('%5\tfleet\t1\t\t9\t4244\tclaude')?.deadStatus).toBeUndefined();
  });

  it('refuses a line that is not pane facts', () => {
    expect(parsePaneInfo('')).toBeUndefined();
    expect(parsePaneInfo('hello world')).toBeUndefined();
    expect(parsePaneInfo('x\ts\t0\t\t\t1\tbash')).toBeUndefined();
  });
});

describe('TmuxClient', () => {
  it('gives every call its timeout', async () => {
    const { runner, calls } = fakeRunner({ stdout: 'screen\n' });
    const client = new TmuxClient({ runner, timeoutMs: 750 });
    expect(await client.capturePane('%1')).toEqual({ ok: true, value: 'screen\n' });
    expect(calls).toEqual([{ args: ['capture-pane', '-p', '-t', '%1'], timeoutMs: 750 }]);
    expect(new TmuxClient({ runner }).timeoutMs).toBe(2000);
  });

  it('display-message strips the newline; list-panes splits lines', async () => {
    const { runner, calls } = fakeRunner({ stdout: '1 4242\n' });
    const client = new TmuxClient({ runner });
    expect(await client.displayMessage('%1', '#{pane_dead} #{pane_pid}')).toEqual({
      ok: true,
      value: '1 4242',
    });
    expect(calls[0]!.args).toEqual([
      'display-message',
      '-p',
      '-t',
      '%1',
      '#{pane_dead} #{pane_pid}',
    ]);
    const lines = new TmuxClient({ runner: fakeRunner({ stdout: 'a\nb\n' }).runner });
    expect(await lines.listPanes('#{pane_id}')).toEqual({ ok: true, value: ['a', 'b'] });
  });

  it('a snapshot is one call: capture-pane first (it fails on a missing pane), then the facts', async () => {
    const { runner, calls } = fakeRunner({
      stdout: 'line 1\n\nline 3\n%1\tfleet\t0\t\t\t99\tclaude\n',
    });
    const r = await new TmuxClient({ runner }).snapshot('=fleet:0.1');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args.slice(0, 5)).toEqual(['capture-pane', '-p', '-t', '=fleet:0.1', ';']);
    expect(calls[0]!.args.slice(5, 9)).toEqual(['display-message', '-p', '-t', '=fleet:0.1']);
    expect(r).toEqual({
      ok: true,
      value: {
        screen: 'line 1\n\nline 3\n',
        info: { paneId: '%1', session: 'fleet', dead: false, pid: 99, currentCommand: 'claude' },
      },
    });
  });

  it('a snapshot without readable facts is unknown', async () => {
    const r = await new TmuxClient({ runner: fakeRunner({ stdout: 'garbage\n' }).runner }).snapshot(
      '%1',
    );
    expect(r).toEqual({
      ok: false,
      liveness: 'unknown',
      reason: 'tmux answered with unreadable pane facts',
    });
  });

  it('a failed call carries absent or unknown', async () => {
    const absent = new TmuxClient({ runner: fakeRunner(fail("can't find pane: 9")).runner });
    expect(await absent.snapshot('%9')).toEqual({
      ok: false,
      liveness: 'absent',
      reason: "can't find pane: 9",
    });
    const unknown = new TmuxClient({
      runner: fakeRunner(fail('', { exitCode: null, timedOut: true })).runner,
    });
    expect(await unknown.sendText('%9', 'x')).toMatchObject({ ok: false, liveness: 'unknown' });
  });

  it('sendText types literally after `--`, as one line, then presses Enter', async () => {
    const { runner, calls } = fakeRunner({});
    expect(await new TmuxClient({ runner }).sendText('%0', '-n a; kill-server\nEnter')).toEqual({
      ok: true,
      value: undefined,
    });
    expect(calls.map((c) => c.args)).toEqual([
      ['send-keys', '-t', '%0', '-l', '--', '-n a; kill-server Enter'],
      ['send-keys', '-t', '%0', 'Enter'],
    ]);
    expect(singleLine('a\r\nb\tc\u001b[0m')).toBe('a b c [0m');
  });
});

describe('execFileTmuxRunner', () => {
  it('puts the socket flags first', () => {
    expect(tmuxSocketArgs({ socketName: 'w' })).toEqual(['-L', 'w']);
    expect(tmuxSocketArgs({ socketName: 'w', socketPath: '/tmp/s' })).toEqual(['-S', '/tmp/s']);
    expect(tmuxSocketArgs({})).toEqual([]);
  });

  it('kills a run that outlives its timeout and says so', async () => {
    // `sleep` stands in for a tmux client stuck on a wedged server.
    const runner = execFileTmuxRunner({ binary: 'sleep' });
    const started = Date.now();
    const r = await runner.run(['5'], 150);
    expect(r).toMatchObject({ timedOut: true, exitCode: null });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reports a binary that is not there as a spawn error, and exit codes as they are', async () => {
    expect(await execFileTmuxRunner({ binary: '/nonexistent/tmux' }).run([], 1000)).toMatchObject({
      spawnError: 'ENOENT',
      timedOut: false,
      exitCode: null,
    });
    expect(
      await execFileTmuxRunner({ binary: 'sh' }).run(
        ['-c', 'echo out; echo err >&2; exit 3'],
        2000,
      ),
    ).toEqual({
      exitCode: 3,
      stdout: 'out\n',
      stderr: 'err\n',
      timedOut: false,
    });
  });
});
