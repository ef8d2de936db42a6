import { execFile } from 'node:child_process';

/** What one run of the `tmux` binary produced. */
export interface TmuxExecResult {
  /** Exit code; `null` when the process did not exit by itself (killed on timeout, not started). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** True when the run was killed because it outlived its timeout. */
  timedOut: boolean;
  /** The spawn error's code when tmux could not be run at all (`ENOENT`: not installed). */
  spawnError?: string;
}

/**
 * The slice of process spawning the client needs: run `tmux` with these arguments and report
 * what happened. Never rejects — every failure is data — so the caller classifies it.
 * Injectable so the classification and everything above it is tested without a tmux server.
 */
export interface TmuxRunner {
  run(args: readonly string[], timeoutMs: number): Promise<TmuxExecResult>;
}

/** Where the tmux server lives; neither given means tmux's own default (`$TMUX`, then `default`). */
export interface TmuxSocket {
  /** `tmux -L NAME`: a named socket in tmux's socket directory. */
  socketName?: string;
  /** `tmux -S PATH`: a socket at this path (wins over `socketName`). */
  socketPath?: string;
}

/** Options of {@link execFileTmuxRunner}. */
export interface ExecFileTmuxRunnerOptions extends TmuxSocket {
  /**
   * The tmux binary.
   * @defaultValue `'tmux'` (looked up on `PATH`)
   */
  binary?: string;
}

/** Socket flags before the command, so every call reaches the same server. */
export function tmuxSocketArgs(socket: TmuxSocket): string[] {
  if (socket.socketPath !== undefined) return ['-S', socket.socketPath];
  if (socket.socketName !== undefined) return ['-L', socket.socketName];
  return [];
}

/**
 * The real runner: `execFile` (no shell, so targets and texts are never interpreted), killed
 * with SIGKILL at the timeout — a tmux client stuck on a wedged server must not pile up.
 */
export function execFileTmuxRunner(options: ExecFileTmuxRunnerOptions = {}): TmuxRunner {
  const binary = options.binary ?? 'tmux';
  const prefix = tmuxSocketArgs(options);
  return {
    run: (args, timeoutMs) =>
      new Promise((resolve) => {
        execFile(
          binary,
          [...prefix, ...args],
          {
            timeout: timeoutMs,
            killSignal: 'SIGKILL',
            encoding: 'utf8',
            maxBuffer: 16 * 1024 * 1024,
            windowsHide: true,
          },
          (error, stdout, stderr) => {
            if (!error) {
              resolve({ exitCode: 0, stdout, stderr, timedOut: false });
              return;
            }
            const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
            const spawnError = typeof e.code === 'string' ? e.code : undefined;
            resolve({
              exitCode: typeof e.code === 'number' ? e.code : null,
              stdout: stdout ?? '',
              stderr: stderr ?? '',
              timedOut: e.killed === true && spawnError === undefined,
              ...(spawnError === undefined ? {} : { spawnError }),
            });
          },
        );
      }),
  };
}

/**
 * How sure we are that a pane exists: `alive` (tmux answered about it), `absent` (tmux said
 * there is no such server, session, window or pane) or `unknown` (tmux failed some other way —
 * a timeout, a crash, not installed — so nothing was learned about the pane).
 */
export type Liveness = 'alive' | 'absent' | 'unknown';

/** A tmux answer: the value, or why there is none and what that says about the target. */
export type TmuxResult<T> =
  { ok: true; value: T } | { ok: false; liveness: 'absent' | 'unknown'; reason: string };

// tmux's wording for "the thing you named does not exist" across 2.x–3.x. A missing socket
// file or a refused connection is a server that is not running: its panes are gone too.
const ABSENT_PATTERNS: readonly RegExp[] = [
  /no server running on/i,
  /error connecting to .*\((No such file or directory|Connection refused)\)/i,
  /can't find (pane|window|session)/i,
  /(pane|window|session) not found/i,
];

/**
 * Sorts a failed run into `absent` (a definite "no such pane") or `unknown` (anything else,
 * which must never be taken as proof that the pane is gone).
 */
export function classifyTmuxFailure(
  result: TmuxExecResult,
  timeoutMs: number,
): { liveness: 'absent' | 'unknown'; reason: string } {
  const stderr = result.stderr.trim().split('\n')[0] ?? '';
  if (result.timedOut)
    return { liveness: 'unknown', reason: `tmux did not answer within ${timeoutMs} ms` };
  if (result.spawnError !== undefined)
    return { liveness: 'unknown', reason: `tmux could not be run (${result.spawnError})` };
  if (ABSENT_PATTERNS.some((p) => p.test(stderr))) return { liveness: 'absent', reason: stderr };
  const code = result.exitCode === null ? 'no exit code' : `exit code ${result.exitCode}`;
  return {
    liveness: 'unknown',
    reason: stderr === '' ? `tmux failed (${code})` : `tmux failed (${code}): ${stderr}`,
  };
}

/**
 * Makes the session part of a target match exactly (`fleet:0.1` → `=fleet:0.1`, `fleet` →
 * `=fleet:`). tmux
 * otherwise resolves a session name by prefix, so once `fleet` is gone `fleet:0.1` would
 * silently find the pane of `fleet2` instead of reporting it missing. Targets by id
 * (`%3`, `$1`, `@2`), relative ones (`:0.1`, `{last}`) and ones already exact are unchanged.
 */
export function exactTarget(target: string): string {
  if (target === '' || /^[=%$@:{!+-]/.test(target)) return target;
  // A bare `=name` does not resolve as a pane; `=name:` does (the session's current pane).
  return target.includes(':') ? `=${target}` : `=${target}:`;
}

/** Process facts about one pane, read with `display-message` in one call. */
export interface PaneInfo {
  /** `#{pane_id}`, e.g. `%3`: stable while the pane lives, unlike its index. */
  paneId: string;
  /** `#{session_name}`. */
  session: string;
  /** `#{pane_dead}`: the pane's process exited and `remain-on-exit` kept the pane. */
  dead: boolean;
  /** `#{pane_dead_status}` when dead and known: the exit code. */
  deadStatus?: number;
  /** `#{pane_dead_signal}` when dead and known: the signal that killed the process. */
  deadSignal?: number;
  /** `#{pane_pid}`: the process tmux started in the pane (often a shell). */
  pid: number;
  /** `#{pane_current_command}`: the name of the pane's foreground process. */
  currentCommand: string;
}

// Tab-separated, current command last: it is the only field that may hold a space.
// (`pane_dead_signal` needs tmux 3.3; an older one expands it to nothing.)
const PANE_INFO_FORMAT = [
  '#{pane_id}',
  '#{session_name}',
  '#{pane_dead}',
  '#{pane_dead_status}',
  '#{pane_dead_signal}',
  '#{pane_pid}',
  '#{pane_current_command}',
].join('\t');

/** Parses one line of {@link PANE_INFO_FORMAT}; undefined when it is not such a line. */
export function parsePaneInfo(line: string): PaneInfo | undefined {
  const parts = line.replace(/\r?\n$/, '').split('\t');
  if (parts.length < 7) return undefined;
  const [paneId, session, dead, deadStatus, deadSignal, pid] = parts as string[] as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const currentCommand = parts.slice(6).join('\t');
  const pidNumber = Number(pid);
  if (!paneId.startsWith('%') || pid === '' || !Number.isInteger(pidNumber)) return undefined;
  const info: PaneInfo = { paneId, session, dead: dead === '1', pid: pidNumber, currentCommand };
  const status = optionalInt(deadStatus);
  const signal = optionalInt(deadSignal);
  if (status !== undefined) info.deadStatus = status;
  if (signal !== undefined) info.deadSignal = signal;
  return info;
}

function optionalInt(text: string): number | undefined {
  return text !== '' && Number.isInteger(Number(text)) ? Number(text) : undefined;
}

/** What one poll of a pane reads: its process facts and its visible text. */
export interface PaneSnapshot {
  info: PaneInfo;
  /** `capture-pane -p`: the visible screen, one line per row, no escape sequences. */
  screen: string;
}

/** Options of {@link TmuxClient}. */
export interface TmuxClientOptions {
  runner: TmuxRunner;
  /**
   * Longest wait for one tmux call; a call past it is `unknown`, never `absent`.
   * @defaultValue 2000 ms
   */
  timeoutMs?: number;
}

/**
 * A thin typed wrapper over the tmux commands the supervisor uses. Every method resolves
 * (never rejects) with a {@link TmuxResult} that separates "the pane is not there" from
 * "tmux could not tell us", because only the first may ever count against an agent.
 */
export class TmuxClient {
  private readonly runner: TmuxRunner;
  /** The timeout every call gets. */
  readonly timeoutMs: number;

  constructor(options: TmuxClientOptions) {
    this.runner = options.runner;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** Runs raw tmux arguments with the client's timeout, classifying a failure. */
  async run(args: readonly string[]): Promise<TmuxResult<string>> {
    const result = await this.runner.run(args, this.timeoutMs);
    if (result.exitCode === 0 && !result.timedOut) return { ok: true, value: result.stdout };
    return { ok: false, ...classifyTmuxFailure(result, this.timeoutMs) };
  }

  /** `capture-pane -p -t TARGET`: the pane's visible text. */
  async capturePane(target: string): Promise<TmuxResult<string>> {
    return this.run(['capture-pane', '-p', '-t', target]);
  }

  /**
   * `display-message -p -t TARGET FORMAT`, trailing newline removed. Beware: tmux lets this
   * command fall back to the current pane when the target does not exist, so it cannot prove
   * a pane is there — {@link TmuxClient.snapshot} guards it with `capture-pane`.
   */
  async displayMessage(target: string, format: string): Promise<TmuxResult<string>> {
    const r = await this.run(['display-message', '-p', '-t', target, format]);
    return r.ok ? { ok: true, value: r.value.replace(/\r?\n$/, '') } : r;
  }

  /** `list-panes -a -F FORMAT`: one line per pane of the server. No server → `absent`. */
  async listPanes(format: string): Promise<TmuxResult<string[]>> {
    const r = await this.run(['list-panes', '-a', '-F', format]);
    return r.ok ? { ok: true, value: r.value.split('\n').filter((l) => l !== '') } : r;
  }

  /** Process facts of every pane of the server. */
  async listPaneInfo(): Promise<TmuxResult<PaneInfo[]>> {
    const r = await this.listPanes(PANE_INFO_FORMAT);
    if (!r.ok) return r;
    return { ok: true, value: r.value.map(parsePaneInfo).filter((p) => p !== undefined) };
  }

  /**
   * One poll's worth of a pane in ONE tmux call: `capture-pane -p -t T ; display-message -p
   * -t T FORMAT`. capture-pane goes first because, unlike display-message, it fails on a
   * target that does not exist (and then the rest of the sequence is not run); tmux runs the
   * sequence atomically, so both halves describe the same pane.
   */
  async snapshot(target: string): Promise<TmuxResult<PaneSnapshot>> {
    const r = await this.run([
      'capture-pane',
      '-p',
      '-t',
      target,
      ';',
      'display-message',
      '-p',
      '-t',
      target,
      PANE_INFO_FORMAT,
    ]);
    if (!r.ok) return r;
    const out = r.value.replace(/\n$/, '');
    const cut = out.lastIndexOf('\n');
    const info = parsePaneInfo(cut === -1 ? out : out.slice(cut + 1));
    if (!info)
      return { ok: false, liveness: 'unknown', reason: 'tmux answered with unreadable pane facts' };
    return { ok: true, value: { info, screen: cut === -1 ? '' : out.slice(0, cut + 1) } };
  }

  /**
   * Types `text` into the pane literally (`send-keys -l`, so `;`, `Enter` or `C-c` in the text
   * are characters, not keys), then presses Enter. Line breaks and control characters in the
   * text become spaces: a newline would submit a half-typed message early.
   */
  async sendText(target: string, text: string): Promise<TmuxResult<void>> {
    const typed = await this.typeText(target, text);
    if (!typed.ok) return typed;
    return this.pressEnter(target);
  }

  /** The first half of {@link TmuxClient.sendText}: the literal text, no Enter. */
  async typeText(target: string, text: string): Promise<TmuxResult<void>> {
    // `--` ends the options, so a text that begins with `-` is not read as a flag.
    const r = await this.run(['send-keys', '-t', target, '-l', '--', singleLine(text)]);
    return r.ok ? { ok: true, value: undefined } : r;
  }

  /** The second half of {@link TmuxClient.sendText}: the Enter key. */
  async pressEnter(target: string): Promise<TmuxResult<void>> {
    const r = await this.run(['send-keys', '-t', target, 'Enter']);
    return r.ok ? { ok: true, value: undefined } : r;
  }
}

/** Text safe to type as one line: control characters (newlines included) become spaces. */
export function singleLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}
