import pg from 'pg';
import type { WardenEvent } from '@warden/protocol';
import { PgErrorGroupBatch } from '../error-groups/error-group-projection.js';
import { WardenError } from '../errors.js';
import { projectAgent, type AgentDelta } from './agent-projection.js';

/** What the writer reports for one event: its seq, and whether the id was stored before. */
export interface PgWriteResult {
  seq: number;
  duplicate: boolean;
}

/**
 * PostgreSQL `text` cannot hold U+0000. Projection columns are copies of fields that stay
 * exact in the event's JSON (where JSON escapes them), so there they are replaced.
 */
function pgText(s: string | undefined | null): string | null {
  if (s === undefined || s === null) return null;
  return s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s;
}

/** The events of one call, serialised before any statement is sent. */
interface Prepared {
  events: readonly WardenEvent[];
  data: readonly string[];
  receivedAt: number;
}

// Each append is BEGIN + lock, the id lookup, one statement for the events, agents and errors,
// task statements when the call has task events, and COMMIT. Named statements are parsed and
// planned once per connection.

const LOCK_HEAD = 'BEGIN; SELECT seq FROM log_head WHERE id = 1 FOR UPDATE';

const FIND_IDS = {
  name: 'warden_find_ids',
  text: 'SELECT id, seq FROM events WHERE id = ANY($1::text[])',
};

/**
 * The log_head update, all new events in one multi-row INSERT, the agents upsert (one row per
 * agent) and the error rows, in one statement: data-modifying CTEs always run to completion.
 */
const WRITE_EVENTS = {
  name: 'warden_write_events',
  text: `WITH head AS (
    UPDATE log_head SET seq = $1 WHERE id = 1
  ), ev AS (
    INSERT INTO events (seq, id, type, agent_id, ts, received_at, correlation_id, data)
    SELECT $2::bigint + u.n - 1, u.id, u.type, u.agent_id, u.ts, $3::bigint, u.correlation_id,
      u.data
    FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[])
      WITH ORDINALITY AS u(id, type, agent_id, ts, correlation_id, data, n)
  ), ag AS (
    INSERT INTO agents AS a (agent_id, status, status_message, status_at, health, first_seen,
      last_seen, last_seq, metrics, metrics_at, checks)
    SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::bigint[], $14::text[],
      $15::bigint[], $16::bigint[], $17::bigint[], $18::text[], $19::bigint[], $20::text[])
    ON CONFLICT (agent_id) DO UPDATE SET
      status = coalesce(excluded.status, a.status),
      status_message = CASE WHEN excluded.status IS NULL THEN a.status_message
        ELSE excluded.status_message END,
      status_at = coalesce(excluded.status_at, a.status_at),
      health = CASE WHEN excluded.status IS NULL THEN a.health ELSE excluded.health END,
      last_seen = greatest(a.last_seen, excluded.last_seen),
      last_seq = excluded.last_seq,
      metrics = CASE WHEN excluded.metrics_at IS NULL THEN a.metrics
        ELSE (a.metrics::jsonb || excluded.metrics::jsonb)::text END,
      metrics_at = coalesce(excluded.metrics_at, a.metrics_at),
      checks = CASE WHEN excluded.checks = '{}' THEN a.checks
        ELSE (a.checks::jsonb || excluded.checks::jsonb)::text END
  ), er AS (
    INSERT INTO errors (id, event_id, agent_id, error_type, message, stack, task_id, fatal,
      fingerprint, ts)
    SELECT * FROM unnest($21::bigint[], $22::text[], $23::text[], $24::text[], $25::text[],
      $26::text[], $27::text[], $28::int[], $29::text[], $30::bigint[])
  )
  SELECT 1`,
};

const TASKS_ASSIGNED = {
  name: 'warden_tasks_assigned',
  text: `INSERT INTO tasks AS t (task_id, agent_id, name, queue, priority, state, assigned_at,
      updated_seq)
    SELECT u.task_id, u.agent_id, u.name, u.queue, u.priority, 'running', u.assigned_at, u.seq
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::bigint[],
      $7::bigint[]) AS u(task_id, agent_id, name, queue, priority, assigned_at, seq)
    ON CONFLICT (task_id) DO UPDATE SET agent_id = excluded.agent_id, name = excluded.name,
      queue = excluded.queue, priority = excluded.priority, state = 'running',
      assigned_at = excluded.assigned_at, completed_at = NULL, success = NULL,
      duration_ms = NULL, error = NULL, updated_seq = excluded.updated_seq`,
};

const TASKS_COMPLETED = {
  name: 'warden_tasks_completed',
  text: `INSERT INTO tasks AS t (task_id, agent_id, state, completed_at, success, duration_ms,
      error, updated_seq)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[],
      $6::float8[], $7::text[], $8::bigint[])
    ON CONFLICT (task_id) DO UPDATE SET state = excluded.state,
      completed_at = excluded.completed_at, success = excluded.success,
      duration_ms = excluded.duration_ms, error = excluded.error,
      updated_seq = excluded.updated_seq
    -- Only the agent the task is assigned to completes it; a late or foreign completion
    -- stays in the event log but does not rewrite the task.
    WHERE t.agent_id = excluded.agent_id`,
};

/**
 * Whether the session is gone: SQLSTATE class 08 (connection exception) or 57 (operator
 * intervention: pg_terminate_backend, shutdown), or a socket error from Node (errno code).
 */
function isConnectionLoss(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (err instanceof pg.DatabaseError) {
    return typeof code === 'string' && (code.startsWith('08') || code.startsWith('57'));
  }
  if (typeof code === 'string' && code.startsWith('E')) return true; // ECONNRESET, EPIPE, …
  // pg's own words when the socket closed under a query or the client is unusable.
  return err instanceof Error && /connection terminated|not queryable/i.test(err.message);
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${err.message} (SQLSTATE ${code})` : err.message;
}

/**
 * The write side of the PostgreSQL store: one dedicated connection, calls served one at a time
 * in the order they were made. Each call is one transaction that first locks the single
 * `log_head` row; that lock is held until COMMIT, so across every replica sharing the database
 * one transaction at a time assigns seqs, and it commits before the next one can read the head.
 * A reader therefore never sees seq N+1 while N is still uncommitted (SPEC §3).
 */
export class PgWriter {
  private client: pg.Client | undefined;
  private clientLost = false;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Highest seq this writer knows to be committed (its own commits and heads it locked). */
  lastSeq = 0;

  constructor(
    private readonly config: pg.ClientConfig,
    /** `host:port/database`, for error messages. */
    private readonly where: string,
  ) {}

  /** Connects now, so that a wrong URL fails at start rather than at the first event. */
  connect(): Promise<void> {
    return this.serial(async () => {
      await this.connection();
    });
  }

  /**
   * Stores the events in one transaction; `dataJson[i]` is `JSON.stringify(events[i].data)`.
   * Rejects with an `unavailable` WardenError that says whether anything may have been
   * committed; the next call opens a new connection if this one was lost.
   */
  append(
    events: readonly WardenEvent[],
    dataJson: readonly string[],
    receivedAt: number,
  ): Promise<PgWriteResult[]> {
    for (const e of events) {
      if (e.id.includes('\u0000') || e.correlationId?.includes('\u0000')) {
        return Promise.reject(
          new WardenError(
            'invalid_event',
            `event ${JSON.stringify(e.id)}: id or correlationId contains U+0000, which PostgreSQL text cannot store`,
          ),
        );
      }
    }
    return this.serial(() => this.appendOnce({ events, data: dataJson, receivedAt }));
  }

  /** Runs `fn` after every earlier call has settled, so calls are answered in order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) {
      return Promise.reject(
        new WardenError(
          'unavailable',
          `the PostgreSQL store (${this.where}) is closed; nothing was stored`,
        ),
      );
    }
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async connection(): Promise<pg.Client> {
    if (this.client && !this.clientLost) return this.client;
    this.discard();
    const client = new pg.Client(this.config);
    // Without a listener an error on an idle connection (server restart, pg_terminate_backend)
    // would crash the process. It is remembered; the next call reconnects.
    client.on('error', () => {
      if (this.client === client) this.clientLost = true;
    });
    client.on('end', () => {
      if (this.client === client) this.clientLost = true;
    });
    try {
      await client.connect();
    } catch (err) {
      client.end().catch(() => undefined);
      throw new WardenError(
        'unavailable',
        `cannot connect to PostgreSQL at ${this.where}: ${describeError(err)}`,
        { cause: err },
      );
    }
    this.client = client;
    this.clientLost = false;
    return client;
  }

  private discard(): void {
    const old = this.client;
    this.client = undefined;
    this.clientLost = false;
    old?.end().catch(() => undefined);
  }

  private async appendOnce(p: Prepared): Promise<PgWriteResult[]> {
    const client = await this.connection();
    let phase: 'lock' | 'write' | 'commit' = 'lock';
    try {
      const locked = (await client.query(LOCK_HEAD)) as unknown as pg.QueryResult[];
      const headRow = locked[1]?.rows[0] as { seq: number } | undefined;
      if (!headRow) {
        throw new Error('log_head has no row: the schema was not migrated by this Warden');
      }
      phase = 'write';
      const head = headRow.seq;
      const { results, last } = await this.write(client, p, head);
      phase = 'commit';
      await client.query('COMMIT');
      this.lastSeq = Math.max(this.lastSeq, last);
      return results;
    } catch (err) {
      throw await this.failed(client, p, phase, err);
    }
  }

  /** Assigns seqs and writes events and projections; returns the new head. */
  private async write(
    client: pg.Client,
    p: Prepared,
    head: number,
  ): Promise<{ results: PgWriteResult[]; last: number }> {
    const { events, data, receivedAt } = p;
    const ids = new Set<string>();
    for (const e of events) ids.add(e.id);
    const found = await client.query<{ id: string; seq: number }>({
      ...FIND_IDS,
      values: [[...ids]],
    });
    const known = new Map<string, number>();
    for (const r of found.rows) known.set(r.id, r.seq);

    const results: PgWriteResult[] = new Array<PgWriteResult>(events.length);
    const fresh: number[] = [];
    let seq = head;
    for (let i = 0; i < events.length; i++) {
      const id = events[i]!.id;
      const first = known.get(id);
      if (first !== undefined) {
        // Stored before, or earlier in this call: the first one wins.
        results[i] = { seq: first, duplicate: true };
        continue;
      }
      seq++;
      known.set(id, seq);
      results[i] = { seq, duplicate: false };
      fresh.push(i);
    }
    if (fresh.length === 0) return { results, last: head };

    const n = fresh.length;
    const evId = new Array<string>(n);
    const evType = new Array<string>(n);
    const evAgent = new Array<string>(n);
    const evTs = new Array<number>(n);
    const evCorr = new Array<string | null>(n);
    const evData = new Array<string>(n);
    const agents = new Map<string, AgentDelta>();
    const errors: (string | number | null)[][] = [[], [], [], [], [], [], [], [], [], []];
    const tasks: { ev: WardenEvent; seq: number }[] = [];
    const groups = new PgErrorGroupBatch(pgText);
    for (let k = 0; k < n; k++) {
      const i = fresh[k]!;
      const e = events[i]!;
      const s = head + 1 + k;
      evId[k] = e.id;
      evType[k] = e.type;
      evAgent[k] = e.agentId;
      evTs[k] = e.ts;
      evCorr[k] = e.correlationId ?? null;
      evData[k] = data[i]!;
      projectAgent(e, s, receivedAt, agents);
      if (e.type === 'task_assigned' || e.type === 'task_completed') tasks.push({ ev: e, seq: s });
      else if (e.type === 'error_occurred') {
        const d = e.data;
        const row = [
          s,
          e.id,
          e.agentId,
          pgText(d.errorType),
          pgText(d.message),
          pgText(d.stack),
          pgText(d.taskId),
          d.fatal ? 1 : 0,
          groups.add(e, s),
          e.ts,
        ];
        for (let c = 0; c < row.length; c++) errors[c]!.push(row[c]!);
      }
    }
    const ag: (string | number | null)[][] = [[], [], [], [], [], [], [], [], [], [], []];
    for (const a of agents.values()) {
      const row = [
        a.agentId,
        a.status,
        pgText(a.message),
        a.statusAt,
        a.health,
        a.firstSeen,
        a.seen,
        a.seq,
        a.metrics ? JSON.stringify(a.metrics) : '{}',
        a.metricsAt,
        // jsonb refuses \u0000 too: a reason is replaced like the other projection copies.
        a.checks
          ? JSON.stringify(a.checks, (_k, v: unknown) => (typeof v === 'string' ? pgText(v) : v))
          : '{}',
      ];
      for (let c = 0; c < row.length; c++) ag[c]!.push(row[c]!);
    }
    const last = head + n;
    await client.query({
      ...WRITE_EVENTS,
      values: [
        last,
        head + 1,
        receivedAt,
        evId,
        evType,
        evAgent,
        evTs,
        evCorr,
        evData,
        ...ag,
        ...errors,
      ],
    });
    if (tasks.length > 0) await this.writeTasks(client, tasks);
    if (groups.size > 0) await client.query(groups.query(receivedAt));
    return { results, last };
  }

  /**
   * One INSERT … ON CONFLICT may not touch a row twice, so a call that names a task more than
   * once is written in rounds: round r holds each task's r-th event, rounds in event order.
   */
  private async writeTasks(
    client: pg.Client,
    tasks: { ev: WardenEvent; seq: number }[],
  ): Promise<void> {
    const rounds: { ev: WardenEvent; seq: number }[][] = [];
    const seen = new Map<string, number>();
    for (const t of tasks) {
      const taskId = (t.ev.data as { taskId: string }).taskId;
      const r = seen.get(taskId) ?? 0;
      seen.set(taskId, r + 1);
      (rounds[r] ??= []).push(t);
    }
    for (const round of rounds) {
      const assigned: (string | number | null)[][] = [[], [], [], [], [], [], []];
      const completed: (string | number | null)[][] = [[], [], [], [], [], [], [], []];
      for (const { ev, seq } of round) {
        let row: (string | number | null)[];
        let into: (string | number | null)[][];
        if (ev.type === 'task_assigned') {
          const d = ev.data;
          row = [
            pgText(d.taskId),
            ev.agentId,
            pgText(d.name),
            pgText(d.queue),
            d.priority ?? null,
            ev.ts,
            seq,
          ];
          into = assigned;
        } else if (ev.type === 'task_completed') {
          const d = ev.data;
          row = [
            pgText(d.taskId),
            ev.agentId,
            d.success ? 'completed' : 'failed',
            ev.ts,
            d.success ? 1 : 0,
            d.durationMs ?? null,
            pgText(d.error),
            seq,
          ];
          into = completed;
        } else continue;
        for (let c = 0; c < row.length; c++) into[c]!.push(row[c]!);
      }
      if (assigned[0]!.length > 0) await client.query({ ...TASKS_ASSIGNED, values: assigned });
      if (completed[0]!.length > 0) await client.query({ ...TASKS_COMPLETED, values: completed });
    }
  }

  /** Rolls back what can be rolled back and says plainly what happened to the call. */
  private async failed(
    client: pg.Client,
    p: Prepared,
    phase: 'lock' | 'write' | 'commit',
    err: unknown,
  ): Promise<Error> {
    const what = `append of ${p.events.length} event(s)`;
    if (this.clientLost || isConnectionLoss(err)) {
      // This connection is finished; the next call opens a new one.
      if (this.client === client) this.clientLost = true;
      this.discard();
      const outcome =
        phase === 'commit'
          ? 'COMMIT was sent but not confirmed, so it may or may not have been stored; ' +
            'resending the same ids is safe (stored ones ack as duplicates)'
          : 'nothing was stored';
      return new WardenError(
        'unavailable',
        `PostgreSQL connection to ${this.where} lost during ${what} (${phase}): ${describeError(err)}; ${outcome}`,
        { cause: err },
      );
    }
    try {
      await client.query('ROLLBACK');
    } catch {
      this.discard();
    }
    return new WardenError(
      'unavailable',
      `PostgreSQL refused the ${what} (${phase}): ${describeError(err)}; nothing was stored`,
      { cause: err },
    );
  }

  /** Waits for calls already made, then closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    const pending = this.tail;
    this.closed = true;
    await pending;
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined);
  }
}
