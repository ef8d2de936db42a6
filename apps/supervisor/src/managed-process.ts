import { spawn as nodeSpawn } from 'node:child_process';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { stopTree, systemProcessControl } from './kill-tree.js';
import type { ProcessControl, StopTreeResult } from './kill-tree.js';
import { DEFAULT_MAX_LINE_BYTES, LineSplitter } from './line-splitter.js';

/** The part of a spawned `ChildProcess` that {@link ManagedProcess} uses. */
export interface SpawnedChild {
  /** Undefined when the spawn failed (the reason follows as an `error` event). */
  readonly pid?: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  on(event: 'error', listener: (err: Error) => void): unknown;
  once(
    event: 'exit',
    listener: (code: number | null, signal: NodeJS.Signals | null) => void,
  ): unknown;
}

/** What {@link ManagedProcess} asks of a {@link Spawner}. */
export interface SpawnerOptions {
  cwd?: string;
  env: NodeJS.ProcessEnv;
  /** Always true: the agent leads its own session and process group, so the tree can be stopped as one. */
  detached: boolean;
  stdio: ['ignore', 'pipe', 'pipe'];
}

/** Starts a process: `child_process.spawn`'s shape, injected so tests can look inside. */
export type Spawner = (
  file: string,
  args: readonly string[],
  options: SpawnerOptions,
) => SpawnedChild;

/** The real {@link Spawner}: `node:child_process` spawn. */
export const nodeSpawner: Spawner = (file, args, options) => nodeSpawn(file, [...args], options);

/** One line an agent wrote. */
export interface OutputLine {
  stream: 'stdout' | 'stderr';
  /** The text, without its newline; invalid UTF-8 shows as U+FFFD. */
  line: string;
  /** Epoch ms the line arrived (when the chunk holding its end was read). */
  ts: number;
  /** A piece of a line longer than `maxLineBytes`; the rest follows (see {@link LineSplitter}). */
  partial: boolean;
}

/** Why an agent could not be started at all. */
export type SpawnErrorCode =
  'command_not_found' | 'permission_denied' | 'cwd_not_found' | 'invalid_command' | 'spawn_failed';

/** A start that failed before the process ran: facts plus a sentence for a person. */
export interface SpawnFailure {
  code: SpawnErrorCode;
  /** The system error behind it (`ENOENT`, `EACCES`, …), when there was one. */
  errno?: string;
  /** Names the command, e.g. `command not found: "nodex" is not on PATH`. */
  reason: string;
}

/** How one run of an agent ended. Reported once, through `onExit` and `exited`. */
export interface ProcessExit {
  /** Undefined when it never started. */
  pid: number | undefined;
  /** Exit code, or null when a signal ended it (or it never started). */
  code: number | null;
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | null;
  /** Epoch ms of the spawn. */
  startedAt: number;
  /** Epoch ms the main process was seen to exit (cleanup of its tree may follow). */
  exitedAt: number;
  /** It ended because {@link ManagedProcess.stop} was called. */
  requested: boolean;
  /** Stopping needed SIGKILL: something in the tree outlived `kill_timeout` after SIGTERM. */
  escalated: boolean;
  /** Processes of its group outlived the main process and were stopped (SIGTERM, then SIGKILL). */
  leftovers: boolean;
  /** Set when the process never ran. */
  spawnError?: SpawnFailure;
  /** One sentence for the log and `agent_lifecycle.reason`: "exited with code 1", … */
  reason: string;
}

/** Options of {@link ManagedProcess.start}. */
export interface ManagedProcessOptions {
  /** An argv run directly (no shell), or a shell string run by `/bin/sh -c`. */
  command: readonly string[] | string;
  /** Working directory. @defaultValue the supervisor's */
  cwd?: string;
  /**
   * Variables set over `baseEnv` (`WARDEN_URL`, `WARDEN_TOKEN`, `WARDEN_AGENT_ID`, the agent's
   * `env:`); undefined removes one.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** @defaultValue `process.env` */
  baseEnv?: NodeJS.ProcessEnv;
  /** `kill_timeout` for {@link ManagedProcess.stop} and for leftovers. @defaultValue 10000 */
  killTimeoutMs?: number;
  /** Cap on one captured line, in bytes. @defaultValue 16384 */
  maxLineBytes?: number;
  /**
   * When the main process exits on its own, stop what it left running in its process group
   * (as systemd does), so a restart does not find its predecessor's children holding ports
   * and files. Exit is reported once they are gone. @defaultValue true
   */
  killLeftovers?: boolean;
  /**
   * After the main process (and its leftovers) exited, how long to wait for its output pipes
   * to close — a descendant outside the group may hold them — before the exit is reported and
   * capture ends. @defaultValue 200
   */
  stdioGraceMs?: number;
  /** Each output line, in order. Must not throw. */
  onLine?: (line: OutputLine) => void;
  /** The end of the run, once (also when it never started). Must not throw. */
  onExit?: (exit: ProcessExit) => void;
  /**
   * Told the pid right after the spawn, before anything else: the supervisor moves the
   * process into the fleet's cgroup (fleet-cgroup.ts) there, so that what it starts from
   * then on is born in it. Must not throw.
   */
  adopt?: (pid: number) => void;
  /** @defaultValue {@link nodeSpawner} */
  spawner?: Spawner;
  /** @defaultValue {@link systemClock} */
  clock?: Clock;
  /** @defaultValue {@link systemProcessControl} */
  control?: ProcessControl;
}

const SHELL = '/bin/sh';

/** How a command reads in messages: the shell string, or the argv as JSON. */
function showCommand(command: readonly string[] | string): string {
  return JSON.stringify(command);
}

function spawnFailure(
  err: NodeJS.ErrnoException,
  file: string,
  command: readonly string[] | string,
): SpawnFailure {
  const errno = err.code;
  const shown =
    typeof command === 'string' ? `${SHELL} (for ${showCommand(command)})` : JSON.stringify(file);
  const argv = typeof command === 'string' ? '' : ` (command ${showCommand(command)})`;
  if (errno === 'ENOENT') {
    if (file.includes('/') && fs.existsSync(file))
      return {
        code: 'command_not_found',
        errno,
        reason: `cannot run ${shown}: the interpreter on its #! line was not found${argv}`,
      };
    return {
      code: 'command_not_found',
      errno,
      reason: file.includes('/')
        ? `command not found: ${shown} does not exist${argv}`
        : `command not found: ${shown} is not on the agent's PATH${argv}`,
    };
  }
  if (errno === 'EACCES')
    return {
      code: 'permission_denied',
      errno,
      reason: `permission denied: ${shown} is not executable (no x permission, or a directory)${argv}`,
    };
  if (errno === 'ENOEXEC')
    return {
      code: 'spawn_failed',
      errno,
      reason: `cannot run ${shown}: not an executable format${argv}`,
    };
  if (err.code === 'ERR_INVALID_ARG_VALUE' || err.code === 'ERR_INVALID_ARG_TYPE')
    return {
      code: 'invalid_command',
      errno,
      reason: `invalid command ${showCommand(command)}: ${err.message}`,
    };
  return {
    code: 'spawn_failed',
    ...(errno ? { errno } : {}),
    reason: `could not start ${shown}: ${err.message}${argv}`,
  };
}

function describeExit(
  e: Omit<ProcessExit, 'reason'>,
  killTimeoutMs: number,
  shell: boolean,
): string {
  if (e.spawnError) return e.spawnError.reason;
  const how = e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
  let reason: string;
  if (e.requested)
    reason = e.escalated
      ? `stopped on request: still running ${killTimeoutMs} ms after SIGTERM, so killed with SIGKILL (${how})`
      : `stopped on request (${how})`;
  else {
    reason = how;
    if (shell && e.code === 127) reason += ': the shell could not find a command (see its stderr)';
    else if (shell && e.code === 126) reason += ': the shell found a command it could not execute';
  }
  if (e.leftovers)
    reason += e.escalated
      ? '; processes it left running were stopped, some with SIGKILL'
      : '; processes it left running were stopped';
  return reason;
}

/**
 * One run of one agent process: spawned in its own process group, output captured line by
 * line, stopped as a whole tree, its end reported once with a reason a person can read.
 *
 * A restart is a new `ManagedProcess`. Nothing here throws once started: a command that
 * cannot run (missing binary, no permission, missing cwd) is reported as an exit with
 * `spawnError`, asynchronously like any other exit.
 */
export class ManagedProcess {
  /** Epoch ms of the spawn. */
  readonly startedAt: number;
  /** Resolves with the run's end; never rejects. */
  readonly exited: Promise<ProcessExit>;
  private pidValue: number | undefined;
  private isRunning = false;
  private requested = false;
  private stopping: Promise<StopTreeResult> | undefined;
  private finished = false;
  private resolveExited!: (exit: ProcessExit) => void;
  private readonly streams: Readable[] = [];
  private readonly splitters: LineSplitter[] = [];
  private openStreams = 0;
  private onStreamsClosed: (() => void) | undefined;
  private chunkTs = 0;
  private readonly clock: Clock;
  private readonly control: ProcessControl;
  private readonly killTimeoutMs: number;
  /** The `kill_timeout` of the stop in progress (a stop may override the default). */
  private stopTimeoutMs: number;

  /** Spawns the agent now. Never throws for a command that cannot run; see {@link ProcessExit.spawnError}. */
  static start(options: ManagedProcessOptions): ManagedProcess {
    return new ManagedProcess(options);
  }

  private constructor(private readonly options: ManagedProcessOptions) {
    this.clock = options.clock ?? systemClock;
    this.control = options.control ?? systemProcessControl;
    this.killTimeoutMs = options.killTimeoutMs ?? 10_000;
    this.stopTimeoutMs = this.killTimeoutMs;
    this.exited = new Promise((r) => (this.resolveExited = r));
    this.startedAt = this.clock.now();
    this.launch();
  }

  /** The main process's pid; undefined when it never started. */
  get pid(): number | undefined {
    return this.pidValue;
  }

  /** The main process has started and not yet exited. */
  get running(): boolean {
    return this.isRunning;
  }

  /**
   * Stops the whole tree: SIGTERM, then SIGKILL to whatever remains after `killTimeoutMs`.
   * Resolves with the exit (flagged `requested`). On a process that already exited, or is
   * exiting, it resolves with that exit instead.
   *
   * @param options.killTimeoutMs @defaultValue the one given at start
   */
  stop(options: { killTimeoutMs?: number } = {}): Promise<ProcessExit> {
    if (this.isRunning && this.pidValue !== undefined && !this.stopping) {
      this.requested = true;
      this.stopTimeoutMs = options.killTimeoutMs ?? this.killTimeoutMs;
      this.stopping = stopTree(this.pidValue, {
        killTimeoutMs: this.stopTimeoutMs,
        clock: this.clock,
        control: this.control,
      });
    }
    return this.exited;
  }

  private launch(): void {
    const { command } = this.options;
    let file: string;
    let args: readonly string[];
    if (typeof command === 'string') {
      if (command.trim() === '')
        return this.failSoon({
          code: 'invalid_command',
          reason: 'invalid command: the shell string is empty',
        });
      file = SHELL;
      args = ['-c', command];
    } else {
      if (command.length === 0 || !command[0])
        return this.failSoon({
          code: 'invalid_command',
          reason: `invalid command ${showCommand(command)}: argv is empty`,
        });
      file = command[0];
      args = command.slice(1);
    }
    const cwd = this.options.cwd;
    if (cwd !== undefined) {
      // spawn reports a missing cwd as ENOENT, indistinguishable from a missing binary.
      let isDir = false;
      try {
        isDir = fs.statSync(cwd).isDirectory();
      } catch {
        // reported below
      }
      if (!isDir)
        return this.failSoon({
          code: 'cwd_not_found',
          errno: 'ENOENT',
          reason: `cwd ${JSON.stringify(cwd)} is not a directory (for ${showCommand(command)})`,
        });
    }
    const env: NodeJS.ProcessEnv = { ...(this.options.baseEnv ?? process.env) };
    for (const [k, v] of Object.entries(this.options.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }

    let child: SpawnedChild;
    try {
      child = (this.options.spawner ?? nodeSpawner)(file, args, {
        ...(cwd !== undefined ? { cwd } : {}),
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      return this.failSoon(spawnFailure(err as NodeJS.ErrnoException, file, command));
    }
    this.pidValue = child.pid;
    this.isRunning = child.pid !== undefined;
    if (child.pid !== undefined) this.options.adopt?.(child.pid);
    child.on('error', (err: NodeJS.ErrnoException) => {
      // After a successful spawn an 'error' is about signalling or IPC, which this class
      // does not use; only a failed spawn (no pid) ends the run here.
      if (child.pid === undefined) this.finishSpawnFailure(spawnFailure(err, file, command));
    });
    child.once('exit', (code, signal) => void this.onMainExit(code, signal));
    this.capture(child.stdout, 'stdout');
    this.capture(child.stderr, 'stderr');
  }

  private capture(stream: Readable | null, name: 'stdout' | 'stderr'): void {
    if (!stream) return;
    const onLine = this.options.onLine;
    const splitter = new LineSplitter((line, partial) => {
      if (!this.finished) onLine?.({ stream: name, line, ts: this.chunkTs, partial });
    }, this.options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.streams.push(stream);
    this.splitters.push(splitter);
    this.openStreams++;
    stream.on('data', (chunk: Buffer) => {
      this.chunkTs = this.clock.now();
      splitter.push(chunk);
    });
    stream.on('error', () => {
      // A read error on a pipe ends capture of that stream; 'close' follows.
    });
    stream.once('close', () => {
      splitter.flush();
      if (--this.openStreams === 0) this.onStreamsClosed?.();
    });
  }

  private async onMainExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const exitedAt = this.clock.now();
    this.isRunning = false;
    const pid = this.pidValue!;
    let escalated = false;
    let leftovers = false;
    try {
      if (this.stopping) escalated = (await this.stopping).escalated;
      else if (this.options.killLeftovers !== false && this.groupAlive(pid)) {
        leftovers = true;
        this.stopping = stopTree(pid, {
          killTimeoutMs: this.killTimeoutMs,
          clock: this.clock,
          control: this.control,
        });
        escalated = (await this.stopping).escalated;
      }
    } catch {
      // Only an injected control can throw here; the exit is still reported.
    }
    await this.streamsClosed(this.options.stdioGraceMs ?? 200);
    this.finish({
      pid,
      code,
      signal,
      startedAt: this.startedAt,
      exitedAt,
      requested: this.requested,
      escalated,
      leftovers,
    });
  }

  private groupAlive(pgid: number): boolean {
    try {
      this.control.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }

  private streamsClosed(graceMs: number): Promise<void> {
    if (this.openStreams === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(resolve, graceMs);
      this.onStreamsClosed = () => {
        this.clock.clearTimeout(timer);
        resolve();
      };
    });
  }

  private failSoon(failure: SpawnFailure): void {
    queueMicrotask(() => this.finishSpawnFailure(failure));
  }

  private finishSpawnFailure(failure: SpawnFailure): void {
    this.isRunning = false;
    const now = this.clock.now();
    this.finish({
      pid: undefined,
      code: null,
      signal: null,
      startedAt: this.startedAt,
      exitedAt: now,
      requested: false,
      escalated: false,
      leftovers: false,
      spawnError: failure,
    });
  }

  private finish(e: Omit<ProcessExit, 'reason'>): void {
    if (this.finished) return;
    // A line still pending in a pipe that never closed (held by an escaped descendant).
    for (const s of this.splitters) s.flush();
    this.finished = true;
    // Capture ends with the run; whatever still holds the pipes gets EPIPE from now on.
    for (const s of this.streams) s.destroy();
    const exit: ProcessExit = {
      ...e,
      reason: describeExit(e, this.stopTimeoutMs, typeof this.options.command === 'string'),
    };
    this.options.onExit?.(exit);
    this.resolveExited(exit);
  }
}
