import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeliveryError,
  retryFromConfig,
  type DeliverableReceiver,
  type RetryPolicy,
} from './notification-delivery.js';
import type { AlertNotification } from './receiver.js';
import type { TmuxReceiverConfig } from './receiver-config.js';

/** What one tmux run produced. */
export interface TmuxRunResult {
  /** Exit code; null when it did not exit by itself (timed out, aborted, not started). */
  code: number | null;
  stderr: string;
  /** Why it did not run or finish (`ENOENT`, `aborted`), when so. */
  failure?: string;
}

/** The slice of process spawning the tmux receiver needs; injectable for a test's own tmux server. */
export interface TmuxCommandRunner {
  run(args: readonly string[], signal: AbortSignal): Promise<TmuxRunResult>;
}

/** Options of {@link execFileTmuxCommandRunner}: which binary, which server. */
export interface TmuxRunnerOptions {
  /** @defaultValue "tmux" (on PATH) */
  binary?: string;
  /** `tmux -S PATH`. @defaultValue none */
  socketPath?: string;
  /** `tmux -L NAME` (when no socketPath). @defaultValue none: tmux's default server */
  socketName?: string;
}

/**
 * The real runner: `execFile` (no shell, so the target and the text are never interpreted),
 * killed with SIGKILL when the attempt's signal aborts — a tmux client stuck on a wedged
 * server must not pile up. Never rejects: every failure is data.
 */
export function execFileTmuxCommandRunner(options: TmuxRunnerOptions = {}): TmuxCommandRunner {
  const socket =
    options.socketPath !== undefined
      ? ['-S', options.socketPath]
      : options.socketName !== undefined
        ? ['-L', options.socketName]
        : [];
  return {
    run: (args, signal) =>
      new Promise((resolve) => {
        execFile(
          options.binary ?? 'tmux',
          [...socket, ...args],
          { signal, killSignal: 'SIGKILL', encoding: 'utf8', windowsHide: true },
          (error, _stdout, stderr) => {
            if (!error) return resolve({ code: 0, stderr });
            const e = error as NodeJS.ErrnoException & { code?: unknown };
            if (signal.aborted)
              return resolve({ code: null, stderr: stderr ?? '', failure: 'aborted' });
            if (typeof e.code === 'string')
              return resolve({ code: null, stderr: stderr ?? '', failure: e.code });
            resolve({ code: typeof e.code === 'number' ? e.code : null, stderr: stderr ?? '' });
          },
        );
      }),
  };
}

/** Text safe to type as one line: control characters (newlines, escapes) and runs of space become one space. */
export function singleLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, ' ').trim();
}

/**
 * Makes the session part of a target match exactly (`fleet:0.1` → `=fleet:0.1`): tmux
 * otherwise resolves a session name by prefix, and once `fleet` is gone the line would land
 * in `fleet2`. Pane ids (`%3`) and relative targets are unchanged. (The supervisor's tmux
 * client does the same; it is not exported.)
 */
export function exactTarget(target: string): string {
  if (target === '' || /^[=%$@:{!+-]/.test(target)) return target;
  return target.includes(':') ? `=${target}` : `=${target}:`;
}

/** Longest line typed into a pane. */
export const TMUX_LINE_MAX = 500;

/** The one line a notification becomes in a pane. */
export function tmuxLine(n: AlertNotification): string {
  const line = singleLine(`[warden] ${n.text}`);
  return line.length <= TMUX_LINE_MAX ? line : `${line.slice(0, TMUX_LINE_MAX - 1)}…`;
}

// tmux's wording for "no such server, session, window or pane" across 2.x–3.x.
const ABSENT = [
  /no server running on/i,
  /error connecting to/i,
  /can't find (pane|window|session)/i,
  /(pane|window|session) not found/i,
];

/**
 * `type: tmux` — types one line into a pane, literally (`send-keys -l --`: `Enter`, `C-c` or
 * `;` in the text are characters, never keys), waits `enter_delay`, then presses Enter.
 * A pane that is not there fails the attempt with "pane … not found".
 */
export class TmuxReceiver implements DeliverableReceiver {
  readonly type = 'tmux';
  readonly name: string;
  readonly retry: Partial<RetryPolicy>;
  readonly sendResolved: boolean;
  private readonly target: string;
  private readonly shownTarget: string;
  private readonly enterDelayMs: number;
  private readonly runner: TmuxCommandRunner;

  constructor(config: TmuxReceiverConfig, runner: TmuxCommandRunner = execFileTmuxCommandRunner()) {
    this.name = config.name;
    this.shownTarget = config.target;
    this.target = exactTarget(config.target);
    this.enterDelayMs = config.enter_delay;
    this.sendResolved = config.send_resolved;
    this.runner = runner;
    this.retry = retryFromConfig(config);
  }

  async send(n: AlertNotification, signal: AbortSignal): Promise<void> {
    await this.tmux(['send-keys', '-t', this.target, '-l', '--', tmuxLine(n)], signal);
    if (this.enterDelayMs > 0) await sleep(this.enterDelayMs, undefined, { signal });
    await this.tmux(['send-keys', '-t', this.target, 'Enter'], signal);
  }

  private async tmux(args: string[], signal: AbortSignal): Promise<void> {
    const r = await this.runner.run(args, signal);
    if (r.code === 0) return;
    if (signal.aborted) throw signal.reason;
    const stderr = r.stderr.trim().split('\n')[0] ?? '';
    if (r.failure !== undefined) throw new DeliveryError(`tmux could not be run (${r.failure})`);
    if (ABSENT.some((p) => p.test(stderr)))
      throw new DeliveryError(`tmux pane ${this.shownTarget} not found: ${stderr}`);
    throw new DeliveryError(
      `tmux send-keys to ${this.shownTarget} failed (exit code ${r.code ?? 'none'})${stderr === '' ? '' : `: ${stderr}`}`,
    );
  }
}
