/** What one tmux run produced. */
export interface TmuxRunResult {
  /** Exit code; null when it did not exit by itself (timed out, aborted, not started). */
  code: number | null;
  stderr: string;
  /** Why it did not run or finish (`ENOENT`, `timed out`, `aborted`), when so. */
  failure?: string;
}

/** The slice of process spawning the tmux receiver needs; injectable for a test's own tmux server. */
export interface TmuxCommandRunner {
  run(args: readonly string[], signal: AbortSignal): Promise<TmuxRunResult>;
}
