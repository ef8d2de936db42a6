import { LOG_LEVELS, type LogLevel } from '@warden/protocol';

/** One stored log line: a `log` event's facts, keyed by the event's seq. */
export interface LogRow {
  seq: number;
  agentId: string;
  ts: number;
  level: LogLevel;
  stream?: 'stdout' | 'stderr';
  message: string;
  correlationId?: string;
}

/** A search of the logs table; every filter is optional but `limit`. */
export interface LogQuery {
  agentId?: string;
  /** This level and above (0 debug … 3 error). */
  minLevel?: number;
  /** Case-insensitive substring of the message (ASCII case on SQLite). */
  q?: string;
  correlationId?: string;
  /** `ts >= since` (epoch ms). */
  since?: number;
  /** `ts < until` (epoch ms). */
  until?: number;
  /** Rows past this seq in the order asked: `seq < cursor` newest first, `seq > cursor` oldest first. */
  cursor?: number;
  /** Only rows with `seq <= maxSeq` (what the projection had applied when the search began). */
  maxSeq?: number;
  order: 'asc' | 'desc';
  limit: number;
}

/** Where the projection stands: last event seq applied, and the running byte total. */
export interface LogStoreState {
  seq: number;
  cumBytes: number;
}

/**
 * The logs table of migration 0009 on one engine. `insert` is one transaction that also moves
 * the projection's position (`projection_state` row `logs`), so a crash leaves both as they
 * were and the next start replays the rest from the event log; rows already there are kept
 * (`seq` is the event's, so a replay or a second replica writes nothing twice).
 */
export interface LogStore {
  readState(): Promise<LogStoreState>;
  insert(rows: readonly LogRow[], appliedSeq: number): Promise<void>;
  query(q: LogQuery): Promise<LogRow[]>;
  /** Deletes rows with `ts < cutoff`; returns how many. */
  deleteOlderThan(cutoff: number): Promise<number>;
  /** The table's estimated size in bytes (rows, not pages). */
  estimatedBytes(): Promise<number>;
  /** Deletes the oldest rows until the estimate is at most `maxBytes`; returns how many. */
  shrinkTo(maxBytes: number): Promise<number>;
  /** Gives freed pages back to the file system where the engine can (SQLite). */
  reclaim(): Promise<void>;
  close(): Promise<void>;
}

/** Rows deleted per statement by retention, between which other writers get the lock. */
export const DELETE_CHUNK = 5000;

export function levelRank(level: LogLevel): number {
  return LOG_LEVELS.indexOf(level);
}

export function levelOf(rank: number): LogLevel {
  return LOG_LEVELS[rank] ?? 'info';
}

/**
 * What a row costs on disk, roughly: its text, the agent id twice (row and index), the
 * correlation id, and a fixed share for the numbers, the record header and the two indexes.
 * An estimate is enough: the cap is a budget, not an exact figure.
 */
export function rowBytes(r: Pick<LogRow, 'agentId' | 'message' | 'correlationId'>): number {
  return Buffer.byteLength(r.message) + 2 * r.agentId.length + (r.correlationId?.length ?? 0) + 64;
}

/** `%q%` for LIKE with `\` escaping the wildcards in `q`. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The first seq whose running total reaches `threshold`: deleting every row up to it leaves at
 * most (newest total − threshold) bytes. Found by binary search on seq (`cum_bytes` grows with
 * seq; `rowAtOrAfter` reads one row through the primary key). Undefined when none reaches it.
 */
export async function boundaryFor(
  lo: number,
  hi: number,
  threshold: number,
  rowAtOrAfter: (seq: number) => Promise<{ seq: number; cumBytes: number } | undefined>,
): Promise<number | undefined> {
  let left = lo;
  let right = hi;
  let boundary: number | undefined;
  while (left <= right) {
    const mid = Math.floor((left + right) / 2);
    const row = await rowAtOrAfter(mid);
    if (!row || row.seq > right) {
      right = mid - 1; // no row in [mid, right]
    } else if (row.cumBytes >= threshold) {
      boundary = row.seq;
      right = mid - 1;
    } else {
      left = row.seq + 1;
    }
  }
  return boundary;
}
