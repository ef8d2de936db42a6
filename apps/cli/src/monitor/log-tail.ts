import type { LogLine } from '../logs-command.js';

/** Lines the log view keeps: more than any terminal shows, few enough to stay small. */
export const LOG_TAIL_MAX = 500;

/** The log view of one agent: history from `GET /api/v1/logs`, then live lines. */
export interface LogTail {
  agentId: string;
  /** Oldest first, at most {@link LOG_TAIL_MAX}. */
  lines: readonly LogLine[];
  /** Set while the history is loading; live lines wait until it is in. */
  loading: boolean;
  /** Why the history could not be read. */
  error: string | undefined;
  /** Highest seq shown: a line at or below it is already there. */
  lastSeq: number;
}

/** A log view opening: nothing shown yet. */
export function openTail(agentId: string): LogTail {
  return { agentId, lines: [], loading: true, error: undefined, lastSeq: 0 };
}

function keep(lines: LogLine[]): LogLine[] {
  return lines.length > LOG_TAIL_MAX ? lines.slice(lines.length - LOG_TAIL_MAX) : lines;
}

/**
 * The history is in (`newestFirst`, as the route pages it) up to `head`. Live lines that came
 * while it loaded and lie past it are kept after it, in seq order, with no line twice.
 */
export function historyLoaded(
  tail: LogTail,
  newestFirst: readonly LogLine[],
  head: number,
): LogTail {
  const history = newestFirst.filter((l) => l.agentId === tail.agentId).reverse();
  const early = tail.lines.filter((l) => l.seq > head);
  const lines = keep([...history.filter((l) => l.seq <= head), ...early]);
  const lastSeq = Math.max(head, ...lines.map((l) => l.seq));
  return { ...tail, lines, loading: false, error: undefined, lastSeq };
}

/** The history could not be read: say why, keep following live. */
export function historyFailed(tail: LogTail, reason: string): LogTail {
  return { ...tail, loading: false, error: reason };
}

/**
 * Live lines (in seq order) for this view's agent; any other agent's, and any already shown,
 * are left out. While the history loads they are held in `lines` and sorted out by
 * {@link historyLoaded}.
 */
export function appendLines(tail: LogTail, incoming: readonly LogLine[]): LogTail {
  const fresh = incoming.filter((l) => l.agentId === tail.agentId && l.seq > tail.lastSeq);
  if (fresh.length === 0) return tail;
  const lines = keep([...tail.lines, ...fresh]);
  return { ...tail, lines, lastSeq: tail.loading ? tail.lastSeq : fresh.at(-1)!.seq };
}
