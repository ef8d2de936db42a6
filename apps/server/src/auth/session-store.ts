import type { Kysely } from 'kysely';
import { openQueueConnection } from '../store/queue-connection.js';

/** A dashboard sign-in (table `sessions`, migration 0010). */
export interface SessionRecord {
  id: string;
  sub: string;
  role: string;
  /** How it was opened: `login_link` or `token` (later `password`). */
  method: string;
  loginJti?: string;
  userAgent?: string;
  createdAt: number;
  expiresAt: number;
  revokedAt?: number;
}

interface SessionsTable {
  id: string;
  sub: string;
  role: string;
  method: string;
  login_jti: string | null;
  user_agent: string | null;
  created_at: number | string;
  expires_at: number | string;
  revoked_at: number | string | null;
}

interface SessionsDatabase {
  sessions: SessionsTable;
}

function toRecord(r: SessionsTable): SessionRecord {
  return {
    id: r.id,
    sub: r.sub,
    role: r.role,
    method: r.method,
    ...(r.login_jti !== null ? { loginJti: r.login_jti } : {}),
    ...(r.user_agent !== null ? { userAgent: r.user_agent } : {}),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    ...(r.revoked_at !== null ? { revokedAt: Number(r.revoked_at) } : {}),
  };
}

/** Unique-constraint violations of SQLite and PostgreSQL: the login link was used already. */
function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/** Sessions on SQLite or PostgreSQL, on a connection of their own. */
export class SessionStore {
  private constructor(private readonly db: Kysely<SessionsDatabase>) {}

  /** Opens `sqlite:PATH` or `postgres://…` (the event store has run the migrations). */
  static open(databaseUrl: string): SessionStore {
    return new SessionStore(
      openQueueConnection<SessionsDatabase>(databaseUrl, {
        applicationName: 'warden:sessions',
        poolSize: 2,
      }).db,
    );
  }

  /** Stores a new session; false when its login link opened one already (single use). */
  async insert(s: SessionRecord): Promise<boolean> {
    try {
      await this.db
        .insertInto('sessions')
        .values({
          id: s.id,
          sub: s.sub,
          role: s.role,
          method: s.method,
          login_jti: s.loginJti ?? null,
          user_agent: s.userAgent ?? null,
          created_at: s.createdAt,
          expires_at: s.expiresAt,
          revoked_at: null,
        })
        .execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  /** Marks a session revoked; false when there is no such live session. */
  async revoke(id: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('sessions')
      .set({ revoked_at: now })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Deletes sessions that expired or were revoked before `before`; returns how many. */
  async deleteEnded(before: number): Promise<number> {
    const r = await this.db
      .deleteFrom('sessions')
      .where((eb) => eb.or([eb('expires_at', '<', before), eb('revoked_at', '<', before)]))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}
