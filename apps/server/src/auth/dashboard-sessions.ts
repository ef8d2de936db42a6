import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WardenApp } from '../app.js';
import { WardenError } from '../errors.js';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';
import type { Principal, Role } from '../roles.js';
import { registerAuthRoutes } from './routes-auth.js';
import { SessionStore, type SessionRecord } from './session-store.js';

/** A live session is re-read from the database at most this often per replica. */
export const SESSION_RECHECK_MS = 10_000;
/** Sessions whose liveness is cached (beyond, the oldest are forgotten and re-read). */
const CACHE_LIMIT = 10_000;
/** Ended sessions stay this long (so "signed out" can still be told from "unknown"). */
const KEEP_ENDED_MS = 86_400_000;

/** Roles by what they may do: a login link or session never grants more than its maker has. */
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3, agent: 0 };

/** Whether `have` may hand out a sign-in of role `want`. */
export function mayGrant(have: Role, want: Role): boolean {
  return want !== 'agent' && RANK[have] >= RANK[want];
}

/** What a sign-in answers: the session token and what it is. */
export interface SessionGrant {
  token: string;
  session: Pick<SessionRecord, 'id' | 'sub' | 'role' | 'method' | 'createdAt' | 'expiresAt'>;
}

/** How to sign in: a login link's code, or a token pasted by a person (later: a password). */
export type SignIn = { loginCode: string } | { token: string };

/**
 * Dashboard sign-in (issue 6 point 1), as Jupyter does it: `warden open` (or the line
 * `warden serve` prints) gives a one-time login link; the page exchanges its code for a
 * session token. A pasted token of role viewer and up opens a session too. A session token is
 * an ordinary JWT with a `sid` claim, so every route and the WebSocket take it as a bearer
 * token; the token service asks this feature on each verify whether the session is still
 * live, so sign-out (and expiry) end it everywhere — on another replica within
 * {@link SESSION_RECHECK_MS}.
 */
export class DashboardSessions implements HubFeature {
  readonly name = 'sessions';
  private storeInstance: SessionStore | undefined;
  /** Session id → when it was last seen live in the database. */
  private readonly live = new Map<string, { checkedAt: number; expiresAt: number }>();

  constructor(
    readonly ctx: HubContext,
    private readonly log: Logger,
  ) {
    ctx.tokens.setSessionCheck((sid) => this.check(sid));
  }

  /** Opened on first use: a hub that nobody signs in to holds no connection for it. */
  private get store(): SessionStore {
    this.storeInstance ??= SessionStore.open(this.ctx.config.databaseUrl);
    return this.storeInstance;
  }

  registerRoutes(app: WardenApp): void {
    registerAuthRoutes(app, this);
  }

  /** The code of a one-time login link for `role`, made by `by`, and when it expires. */
  async createLoginCode(
    by: Principal,
    role: Role,
    ttlMs = this.ctx.config.auth.login_link_ttl,
  ): Promise<{ code: string; expiresAt: number }> {
    if (!mayGrant(by.role, role)) {
      throw new WardenError('forbidden', `role ${by.role} may not make a login link for ${role}`);
    }
    const max = this.ctx.config.auth.login_link_ttl;
    if (ttlMs > max) {
      throw new WardenError(
        'invalid_request',
        `ttl must be at most auth.login_link_ttl (${max} ms)`,
      );
    }
    const code = await this.ctx.tokens.mintLoginCode({ role, ttlMs });
    return { code, expiresAt: this.ctx.clock.now() + ttlMs };
  }

  /** Opens a session from a login code (once) or a pasted token. */
  async signIn(how: SignIn, userAgent?: string): Promise<SessionGrant> {
    const now = this.ctx.clock.now();
    const ttl = this.ctx.config.auth.session_ttl;
    let record: SessionRecord;
    if ('loginCode' in how) {
      const c = await this.ctx.tokens.verifyLoginCode(how.loginCode);
      record = {
        id: randomUUID(),
        sub: c.sub,
        role: c.role,
        method: 'login_link',
        loginJti: c.jti,
        createdAt: now,
        expiresAt: now + ttl,
      };
    } else {
      const p = await this.ctx.tokens.verify(how.token);
      if (p.role === 'agent') {
        throw new WardenError(
          'forbidden',
          'an agent token cannot sign in to the dashboard: use a viewer, operator or admin token',
        );
      }
      // A session never outlives the token that opened it.
      record = {
        id: randomUUID(),
        sub: p.sub,
        role: p.role,
        method: 'token',
        createdAt: now,
        expiresAt: Math.min(now + ttl, p.expiresAt),
      };
    }
    if (userAgent) record.userAgent = userAgent.slice(0, 300);
    if (!(await this.store.insert(record))) {
      throw new WardenError(
        'unauthorized',
        'this login link was used already: run `warden open` for a new one',
      );
    }
    const token = await this.ctx.tokens.mint({
      role: record.role as Role,
      sub: record.sub,
      sessionId: record.id,
      ttlMs: record.expiresAt - now,
    });
    this.live.set(record.id, { checkedAt: now, expiresAt: record.expiresAt });
    this.log.info(
      { sessionId: record.id, role: record.role, method: record.method },
      'dashboard session opened',
    );
    const { id, sub, role, method, createdAt, expiresAt } = record;
    return { token, session: { id, sub, role, method, createdAt, expiresAt } };
  }

  /** Ends a session (sign-out); false when it had ended already. */
  async signOut(sessionId: string): Promise<boolean> {
    this.live.delete(sessionId);
    const ended = await this.store.revoke(sessionId, this.ctx.clock.now());
    if (ended) this.log.info({ sessionId }, 'dashboard session closed');
    return ended;
  }

  /** Throws `unauthorized` unless the session is live (cached per {@link SESSION_RECHECK_MS}). */
  private async check(sessionId: string): Promise<void> {
    const now = this.ctx.clock.now();
    const hit = this.live.get(sessionId);
    if (hit && now - hit.checkedAt < SESSION_RECHECK_MS && now < hit.expiresAt) return;
    const s = await this.store.get(sessionId);
    if (!s) throw new WardenError('unauthorized', 'session unknown: sign in again');
    if (s.revokedAt !== undefined)
      throw new WardenError('unauthorized', 'signed out: sign in again');
    if (s.expiresAt <= now) throw new WardenError('unauthorized', 'session expired: sign in again');
    if (this.live.size >= CACHE_LIMIT) {
      const oldest = this.live.keys().next().value;
      if (oldest !== undefined) this.live.delete(oldest);
    }
    this.live.delete(sessionId);
    this.live.set(sessionId, { checkedAt: now, expiresAt: s.expiresAt });
  }

  async retain(now: number): Promise<Record<string, number>> {
    if (!this.storeInstance) return {};
    return { sessions: await this.store.deleteEnded(now - KEEP_ENDED_MS) };
  }

  async close(): Promise<void> {
    this.ctx.tokens.setSessionCheck(undefined);
    await this.storeInstance?.close();
    this.storeInstance = undefined;
  }
}
