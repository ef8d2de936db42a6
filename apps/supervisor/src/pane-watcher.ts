import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import type { Clock } from './clock.js';
import { PromptDetector } from './prompt-detector.js';
import {
  exactTarget,
  type Liveness,
  type PaneInfo,
  type PaneSnapshot,
  type TmuxResult,
} from './tmux-client.js';

/** What the screen says the agent is doing. */
export type PaneStatus = 'busy' | 'idle' | 'needs_input';

/**
 * The process fact that proved a crash: `pane_dead` (tmux kept the pane of an exited process),
 * `back_to_shell` (the pane's foreground command returned to a bare shell after an agent ran
 * there), `child_gone` (the pane's shell had an agent child process and now has none).
 */
export type CrashFact = 'pane_dead' | 'back_to_shell' | 'child_gone';

/** What a {@link PaneWatcher} tells its owner; each kind is emitted on change only. */
export type PaneObservation =
  | { kind: 'status'; status: PaneStatus; reason: string }
  | { kind: 'crashed'; fact: CrashFact; reason: string }
  | { kind: 'missing'; reason: string }
  | { kind: 'liveness'; state: Liveness; reason: string };

/** The slice of {@link TmuxClient} a watcher polls with. */
export interface PaneSource {
  snapshot(target: string): Promise<TmuxResult<PaneSnapshot>>;
}

/**
 * The slice of the process table the crash check reads. Each method resolves `undefined`
 * when it cannot tell (no such process, no permission) — never a guess.
 */
export interface ProcessTable {
  /** PIDs whose parent is `pid`. */
  childrenOf(pid: number): Promise<number[] | undefined>;
  /** The process's name (`comm`). */
  nameOf(pid: number): Promise<string | undefined>;
}

/**
 * {@link ProcessTable} over Linux `/proc`: `task/<tid>/children` of the pid, or, on a kernel
 * built without that file, a scan of every `/proc/<pid>/stat` for the parent pid.
 */
export const procfsProcessTable: ProcessTable = {
  async childrenOf(pid) {
    let tids: string[];
    try {
      tids = await readdir(`/proc/${pid}/task`);
    } catch {
      return undefined;
    }
    const kids: number[] = [];
    try {
      for (const tid of tids) {
        const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8');
        for (const p of text.split(' ')) if (p.trim() !== '') kids.push(Number(p));
      }
      return kids;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
      return scanChildren(pid);
    }
  },
  async nameOf(pid) {
    try {
      return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    } catch {
      return undefined;
    }
  },
};

async function scanChildren(pid: number): Promise<number[] | undefined> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return undefined;
  }
  const kids: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = await readFile(`/proc/${e}/stat`, 'utf8');
      // The name field may hold spaces and parentheses; the ppid is 2nd after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(e));
    } catch {
      // The process exited between readdir and read: not a child any more.
    }
  }
  return kids;
}

/** How long a dead pane may go without its exit status before the crash is reported anyway. */
const DEAD_STATUS_PATIENCE_MS = 1000;

/** Shells that count as "no agent running here" when they are the pane's current command. */
export const DEFAULT_SHELLS: readonly string[] = [
  'bash',
  'zsh',
  'sh',
  'fish',
  'dash',
  'ksh',
  'tcsh',
  'csh',
];

/** Options of {@link PaneWatcher}. Durations in milliseconds. */
export interface PaneWatcherOptions {
  /**
   * The tmux target (`fleet:0.1`, `%3`). Its session name is matched exactly (see
   * {@link exactTarget}), never by prefix.
   */
  target: string;
  source: PaneSource;
  clock: Clock;
  /** Receives every observation; a throw here is passed to `onError` and watching goes on. */
  onObservation: (observation: PaneObservation) => void;
  /** Where a throwing `onObservation` is reported. */
  onError?: (error: unknown) => void;
  /**
   * Time between polls.
   * @defaultValue 1000
   */
  pollIntervalMs?: number;
  /**
   * Unchanged polls in a row before the pane is `idle`.
   * @defaultValue 5
   */
  idleAfter?: number;
  /**
   * After the watch starts, "pane not found" does not count towards `missing` for this long:
   * an agent set up together with the supervisor may open its pane a moment later.
   * @defaultValue 10000
   */
  graceMs?: number;
  /**
   * Consecutive "not found" answers (after the grace) before the pane is `missing`.
   * @defaultValue 2
   */
  missesToConfirm?: number;
  /**
   * Unchanged polls a prompt must stay on screen before `needs_input`: a prompt waits, so
   * a screen still scrolling past `(y/n)` in some output is busy, not asking.
   * @defaultValue 1
   */
  promptStablePolls?: number;
  /** @defaultValue a {@link PromptDetector} with the built-in patterns */
  promptDetector?: PromptDetector;
  /** @defaultValue {@link DEFAULT_SHELLS} */
  shells?: readonly string[];
  /**
   * Where child processes of the pane are looked up, for panes whose agent runs under a shell
   * that stays the foreground command (`bash -c 'agent; read'`). Omit to skip that check.
   * @defaultValue {@link procfsProcessTable}
   */
  processes?: ProcessTable | null;
}

/**
 * Watches one existing tmux pane without blocking: one tmux call per poll on the injected
 * clock, the next poll skipped while one is still in flight. From the screen it judges
 * `busy` / `idle` / `needs_input`; from process facts (never the screen alone) it judges a
 * crash; from tmux's answers it judges liveness, where only a definite "not found" — twice
 * in a row and after the grace period — makes the pane `missing`.
 *
 * The pane is identified by its `pane_id` at the target. If a different pane shows up there
 * (the watched one was closed and tmux renumbered the others), the watched pane is reported
 * `missing` and the newcomer is watched from scratch.
 */
export class PaneWatcher {
  /** The target being watched, as configured. */
  readonly target: string;
  private readonly tmuxTarget: string;
  private readonly source: PaneSource;
  private readonly clock: Clock;
  private readonly emit: (o: PaneObservation) => void;
  private readonly onError: ((error: unknown) => void) | undefined;
  private readonly pollIntervalMs: number;
  private readonly idleAfter: number;
  private readonly graceMs: number;
  private readonly missesToConfirm: number;
  private readonly promptStablePolls: number;
  private readonly detector: PromptDetector;
  private readonly shells: ReadonlySet<string>;
  private readonly processes: ProcessTable | null;

  private timer: unknown;
  private running = false;
  private inFlight = false;
  private startedAt = 0;
  private skipped = 0;
  /** Bumped by stop(), so a poll begun before it cannot report after a later start(). */
  private generation = 0;

  private liveness: Liveness | undefined;
  private misses = 0;
  private missingReported = false;
  private info: PaneInfo | undefined;

  private lastHash: string | undefined;
  private unchangedPolls = 0;
  private status: PaneStatus | undefined;
  /** The agent once seen in this pane process: as its foreground command, or as its child. */
  private agent: { name: string; via: 'command' | 'child' } | undefined;
  private crashed: CrashFact | undefined;
  /** Polls in a row that found the pane's shell without the agent child it had. */
  private childlessPolls = 0;
  /** When the pane was first seen dead without its exit status. */
  private deadSeenAt: number | undefined;

  constructor(options: PaneWatcherOptions) {
    this.target = options.target;
    this.tmuxTarget = exactTarget(options.target);
    this.source = options.source;
    this.clock = options.clock;
    this.emit = options.onObservation;
    this.onError = options.onError;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.idleAfter = options.idleAfter ?? 5;
    this.graceMs = options.graceMs ?? 10_000;
    this.missesToConfirm = options.missesToConfirm ?? 2;
    this.promptStablePolls = options.promptStablePolls ?? 1;
    this.detector = options.promptDetector ?? new PromptDetector();
    this.shells = new Set(options.shells ?? DEFAULT_SHELLS);
    this.processes = options.processes === undefined ? procfsProcessTable : options.processes;
  }

  /** Process facts of the last successful poll (session name for team idle, pane id, pid). */
  get pane(): PaneInfo | undefined {
    return this.info;
  }

  /** The last liveness seen; undefined before the first poll answered. */
  get currentLiveness(): Liveness | undefined {
    return this.liveness;
  }

  /** The last status emitted; undefined before one was judged, and while crashed. */
  get currentStatus(): PaneStatus | undefined {
    return this.status;
  }

  /** Ticks skipped because the previous poll was still running (a slow tmux shows here). */
  get skippedPolls(): number {
    return this.skipped;
  }

  /**
   * Polls now and then every interval; the grace period starts now. Idempotent. After
   * stop(), starting again resumes with what was learned (a new grace period included).
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.startedAt = this.clock.now();
    this.tick();
  }

  /** Stops polling; a poll in flight finishes but reports nothing. Idempotent. */
  stop(): void {
    this.running = false;
    this.generation++;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (!this.running) return;
    // Fixed cadence from tick to tick, not from the end of a poll, so a slow poll does not
    // stretch the interval — it only costs the ticks that find it still running.
    this.timer = this.clock.setTimeout(() => this.tick(), this.pollIntervalMs);
    if (this.inFlight) {
      this.skipped++;
      return;
    }
    this.inFlight = true;
    void this.poll().finally(() => {
      this.inFlight = false;
    });
  }

  private async poll(): Promise<void> {
    const generation = this.generation;
    const current = () => this.running && this.generation === generation;
    let result: TmuxResult<PaneSnapshot>;
    try {
      result = await this.source.snapshot(this.tmuxTarget);
    } catch (error) {
      result = { ok: false, liveness: 'unknown', reason: `tmux call threw: ${String(error)}` };
    }
    if (!current()) return;
    if (!result.ok) {
      this.failed(result.liveness, result.reason);
      return;
    }
    await this.answered(result.value, current);
  }

  private failed(liveness: 'absent' | 'unknown', reason: string): void {
    this.setLiveness(liveness, reason);
    // Unknown says nothing about the pane: it neither counts as a miss nor clears one.
    if (liveness === 'unknown' || this.missingReported) return;
    if (this.clock.now() - this.startedAt < this.graceMs) return;
    this.misses++;
    if (this.misses < this.missesToConfirm) return;
    this.missingReported = true;
    this.status = undefined;
    this.send({
      kind: 'missing',
      reason: `pane ${this.target} not found in ${this.misses} polls in a row (${reason})`,
    });
  }

  private async answered(snapshot: PaneSnapshot, current: () => boolean): Promise<void> {
    const { info, screen } = snapshot;
    this.misses = 0;
    this.setLiveness('alive', `tmux answered for pane ${info.paneId}`);
    const previous = this.info;
    if (previous && previous.paneId !== info.paneId) {
      if (!this.missingReported)
        this.send({
          kind: 'missing',
          reason: `pane ${previous.paneId} is gone: ${this.target} is now pane ${info.paneId}`,
        });
      this.forgetPane();
    } else if (previous && previous.pid !== info.pid) {
      // respawn-pane: a new process in the same pane owes nothing to the old one's facts.
      this.agent = undefined;
      this.crashed = undefined;
      this.childlessPolls = 0;
    }
    this.missingReported = false;
    this.info = info;

    const crash = await this.crashFact(info);
    if (!current() || crash === 'wait') return;
    if (crash) {
      if (this.crashed === undefined) {
        this.crashed = crash.fact;
        this.status = undefined;
        this.send({ kind: 'crashed', ...crash });
      }
      return;
    }
    this.crashed = undefined;
    this.judgeScreen(screen);
  }

  private forgetPane(): void {
    this.lastHash = undefined;
    this.unchangedPolls = 0;
    this.status = undefined;
    this.agent = undefined;
    this.crashed = undefined;
    this.childlessPolls = 0;
  }

  /** A crash and its proof; `wait` to judge nothing this poll; undefined for no crash. */
  private async crashFact(
    info: PaneInfo,
  ): Promise<{ fact: CrashFact; reason: string } | 'wait' | undefined> {
    if (info.dead) {
      const how =
        info.deadSignal !== undefined
          ? `was killed by signal ${info.deadSignal}`
          : info.deadStatus !== undefined
            ? `exited with status ${info.deadStatus}`
            : '';
      // tmux marks the pane dead when its terminal closes and learns how the process ended a
      // moment later, when it reaps it (later still on a loaded machine): a little patience
      // puts that in the reason.
      if (how === '') {
        this.deadSeenAt ??= this.clock.now();
        if (this.clock.now() - this.deadSeenAt < DEAD_STATUS_PATIENCE_MS) return 'wait';
      }
      return {
        fact: 'pane_dead',
        reason: `pane_dead=1: the pane's process (pid ${info.pid}, ${info.currentCommand || 'unknown command'}) ${how || 'exited'}`,
      };
    }
    this.deadSeenAt = undefined;
    const command = commandName(info.currentCommand);
    if (!this.shells.has(command)) {
      this.agent = { name: command, via: 'command' };
      return undefined;
    }
    if (this.agent?.via === 'command')
      return {
        fact: 'back_to_shell',
        reason: `the pane's current command went back to the shell ${command} after ${this.agent.name} had been running`,
      };
    if (!this.processes) return undefined;
    const kids = await this.processes.childrenOf(info.pid);
    if (kids === undefined) return undefined;
    if (kids.length > 0) {
      this.childlessPolls = 0;
      const name = (await this.processes.nameOf(kids[0]!)) ?? `pid ${kids[0]}`;
      this.agent = { name, via: 'child' };
      return undefined;
    }
    // Twice in a row: a script that runs one short command after another is childless for
    // an instant between two of them, and that instant is not a crash.
    if (this.agent?.via === 'child' && ++this.childlessPolls >= 2)
      return {
        fact: 'child_gone',
        reason: `the agent process ${this.agent.name} is gone: the pane's shell (pid ${info.pid}, ${command}) has no child process`,
      };
    // A bare shell from the start: nothing has run here yet, so nothing has crashed.
    return undefined;
  }

  private judgeScreen(screen: string): void {
    const text = normalizeScreen(screen);
    const hash = createHash('sha1').update(text).digest('hex');
    const changed = this.lastHash !== undefined && hash !== this.lastHash;
    if (this.lastHash !== undefined) this.unchangedPolls = changed ? 0 : this.unchangedPolls + 1;
    this.lastHash = hash;

    const prompt = this.detector.detect(text);
    if (prompt && this.unchangedPolls >= this.promptStablePolls)
      this.setStatus('needs_input', `prompt on screen (${prompt.name}): ${prompt.line}`);
    else if (changed) this.setStatus('busy', 'the screen changed since the last poll');
    else if (this.unchangedPolls >= this.idleAfter)
      this.setStatus('idle', `the screen has not changed for ${this.unchangedPolls} polls`);
  }

  private setStatus(status: PaneStatus, reason: string): void {
    if (this.status === status) return;
    this.status = status;
    this.send({ kind: 'status', status, reason });
  }

  private setLiveness(state: Liveness, reason: string): void {
    if (this.liveness === state) return;
    this.liveness = state;
    this.send({ kind: 'liveness', state, reason });
  }

  private send(observation: PaneObservation): void {
    try {
      this.emit(observation);
    } catch (error) {
      this.onError?.(error);
    }
  }
}

/** The screen as compared between polls: trailing spaces and trailing blank rows dropped. */
export function normalizeScreen(screen: string): string {
  const lines = screen.split('\n').map((l) => l.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n');
}

/** `-bash` (a login shell) and `/usr/bin/zsh` both name the shell they are. */
function commandName(command: string): string {
  const base = command.trim().split('/').pop() ?? '';
  return base.startsWith('-') ? base.slice(1) : base;
}
