import type BetterSqlite3 from 'better-sqlite3';
import type { ErrorOccurredData } from '@warden/protocol';
import { fingerprintError } from './fingerprint.js';

// The error groups are a projection of `error_occurred` written by the store's writers in the
// commit's own transaction: a group's count is exactly the events stored, after a crash too,
// and with several PostgreSQL replicas each commit is counted once, by the replica that made it.

const HOUR_MS = 3_600_000;

/** The hour an occurrence is counted in (epoch ms of its start), by the event's own time. */
export function hourOf(ts: number): number {
  return Math.floor(ts / HOUR_MS) * HOUR_MS;
}

/** One `error_occurred` as the projection needs it. */
export interface ErrorOccurrence {
  agentId: string;
  ts: number;
  data: ErrorOccurredData;
}

// A resolved group that recurs becomes regressed; ignored stays ignored (but counts).
const REGRESS_STATE = `CASE WHEN g.state = 'resolved' THEN 'regressed' ELSE g.state END`;

/** The SQLite side: three upserts per error, run inside the writer's transaction. */
export class SqliteErrorGroupProjection {
  private readonly upsertGroup: BetterSqlite3.Statement;
  private readonly upsertAgent: BetterSqlite3.Statement;
  private readonly upsertHour: BetterSqlite3.Statement;

  constructor(db: BetterSqlite3.Database) {
    this.upsertGroup = db.prepare(
      `INSERT INTO error_groups AS g (fingerprint, error_type, message, stack, state, count,
         first_seen, last_seen, last_seq, last_agent_id)
       VALUES (?, ?, ?, ?, 'unresolved', 1, ?, ?, ?, ?)
       ON CONFLICT(fingerprint) DO UPDATE SET count = g.count + 1,
         error_type = excluded.error_type, message = excluded.message, stack = excluded.stack,
         first_seen = min(g.first_seen, excluded.first_seen),
         last_seen = max(g.last_seen, excluded.last_seen),
         last_seq = excluded.last_seq, last_agent_id = excluded.last_agent_id,
         state_changed_at = CASE WHEN g.state = 'resolved' THEN ? ELSE g.state_changed_at END,
         state = ${REGRESS_STATE}`,
    );
    this.upsertAgent = db.prepare(
      `INSERT INTO error_group_agents AS a (fingerprint, agent_id, count, first_seen, last_seen)
       VALUES (?, ?, 1, ?, ?)
       ON CONFLICT(fingerprint, agent_id) DO UPDATE SET count = a.count + 1,
         first_seen = min(a.first_seen, excluded.first_seen),
         last_seen = max(a.last_seen, excluded.last_seen)`,
    );
    this.upsertHour = db.prepare(
      `INSERT INTO error_group_hours AS h (fingerprint, hour, count) VALUES (?, ?, 1)
       ON CONFLICT(fingerprint, hour) DO UPDATE SET count = h.count + 1`,
    );
  }

  /** Counts one stored error; returns its fingerprint (for the `errors` row). */
  apply(e: ErrorOccurrence, seq: number, receivedAt: number): string {
    const fp = fingerprintError(e.data);
    const d = e.data;
    this.upsertGroup.run(
      fp,
      d.errorType,
      d.message,
      d.stack ?? null,
      e.ts,
      e.ts,
      seq,
      e.agentId,
      receivedAt,
    );
    this.upsertAgent.run(fp, e.agentId, e.ts, e.ts);
    this.upsertHour.run(fp, hourOf(e.ts));
    return fp;
  }
}

/**
 * The PostgreSQL side: one INSERT … ON CONFLICT may not touch a row twice, so a call's errors
 * are summed per group, per group and agent, and per group and hour first, then written in one
 * statement (three data-modifying CTEs) before the writer's COMMIT.
 */
export class PgErrorGroupBatch {
  private readonly groups = new Map<
    string,
    {
      type: string;
      message: string;
      stack: string | null;
      count: number;
      first: number;
      last: number;
      seq: number;
      agent: string;
    }
  >();
  private readonly agents = new Map<
    string,
    { fp: string; agent: string; count: number; first: number; last: number }
  >();
  private readonly hours = new Map<string, { fp: string; hour: number; count: number }>();

  constructor(
    /** PostgreSQL text cannot hold U+0000: the writer's replacement. */
    private readonly text: (s: string | undefined) => string | null,
  ) {}

  get size(): number {
    return this.groups.size;
  }

  /** Counts one error of this call; returns its fingerprint (for the `errors` row). */
  add(e: ErrorOccurrence, seq: number): string {
    const d = e.data;
    const fp = this.text(fingerprintError(d))!;
    const g = this.groups.get(fp);
    const sample = {
      type: this.text(d.errorType)!,
      message: this.text(d.message)!,
      stack: this.text(d.stack),
      seq,
      agent: e.agentId,
    };
    if (g)
      Object.assign(g, sample, {
        count: g.count + 1,
        first: Math.min(g.first, e.ts),
        last: Math.max(g.last, e.ts),
      });
    else this.groups.set(fp, { ...sample, count: 1, first: e.ts, last: e.ts });
    const ak = `${fp}\u0000${e.agentId}`;
    const a = this.agents.get(ak);
    if (a) {
      a.count++;
      a.first = Math.min(a.first, e.ts);
      a.last = Math.max(a.last, e.ts);
    } else this.agents.set(ak, { fp, agent: e.agentId, count: 1, first: e.ts, last: e.ts });
    const hour = hourOf(e.ts);
    const hk = `${fp}\u0000${hour}`;
    const h = this.hours.get(hk);
    if (h) h.count++;
    else this.hours.set(hk, { fp, hour, count: 1 });
    return fp;
  }

  /** The statement that writes the batch. */
  query(receivedAt: number): { name: string; text: string; values: unknown[] } {
    const g = [...this.groups.entries()];
    const a = [...this.agents.values()];
    const h = [...this.hours.values()];
    return {
      ...WRITE_GROUPS,
      values: [
        g.map(([fp]) => fp),
        g.map(([, v]) => v.type),
        g.map(([, v]) => v.message),
        g.map(([, v]) => v.stack),
        g.map(([, v]) => v.count),
        g.map(([, v]) => v.first),
        g.map(([, v]) => v.last),
        g.map(([, v]) => v.seq),
        g.map(([, v]) => v.agent),
        receivedAt,
        a.map((v) => v.fp),
        a.map((v) => v.agent),
        a.map((v) => v.count),
        a.map((v) => v.first),
        a.map((v) => v.last),
        h.map((v) => v.fp),
        h.map((v) => v.hour),
        h.map((v) => v.count),
      ],
    };
  }
}

const WRITE_GROUPS = {
  name: 'warden_error_groups',
  text: `WITH gr AS (
    INSERT INTO error_groups AS g (fingerprint, error_type, message, stack, state, count,
      first_seen, last_seen, last_seq, last_agent_id)
    SELECT u.fp, u.t, u.m, u.s, 'unresolved', u.c, u.f, u.l, u.q, u.a
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
      $7::bigint[], $8::bigint[], $9::text[]) AS u(fp, t, m, s, c, f, l, q, a)
    ON CONFLICT (fingerprint) DO UPDATE SET count = g.count + excluded.count,
      error_type = excluded.error_type, message = excluded.message, stack = excluded.stack,
      first_seen = least(g.first_seen, excluded.first_seen),
      last_seen = greatest(g.last_seen, excluded.last_seen),
      last_seq = excluded.last_seq, last_agent_id = excluded.last_agent_id,
      state_changed_at = CASE WHEN g.state = 'resolved' THEN $10::bigint
        ELSE g.state_changed_at END,
      state = ${REGRESS_STATE}
  ), ag AS (
    INSERT INTO error_group_agents AS a (fingerprint, agent_id, count, first_seen, last_seen)
    SELECT * FROM unnest($11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::bigint[])
    ON CONFLICT (fingerprint, agent_id) DO UPDATE SET count = a.count + excluded.count,
      first_seen = least(a.first_seen, excluded.first_seen),
      last_seen = greatest(a.last_seen, excluded.last_seen)
  ), hr AS (
    INSERT INTO error_group_hours AS h (fingerprint, hour, count)
    SELECT * FROM unnest($16::text[], $17::bigint[], $18::bigint[])
    ON CONFLICT (fingerprint, hour) DO UPDATE SET count = h.count + excluded.count
  )
  SELECT 1`,
};
