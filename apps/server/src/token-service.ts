import { randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { AGENT_ID_PATTERN } from '@warden/protocol';
import { WardenError } from './errors.js';
import { RoleSchema, type Principal, type Role } from './roles.js';

export const TOKEN_ISSUER = 'warden';

export interface MintOptions {
  role: Role;
  /** Required for the agent role: its agent id, or `*` for a supervisor. */
  agentId?: string;
  /** Lifetime in milliseconds. */
  ttlMs: number;
  /** Subject; defaults to the agent id or `role:<role>`. */
  sub?: string;
  /** The dashboard session this token belongs to (claim `sid`): refused once it is revoked. */
  sessionId?: string;
}

/** What a one-time login link's code says (see {@link TokenService.mintLoginCode}). */
export interface LoginCode {
  role: Role;
  sub: string;
  /** The code's id: a session opened with it stores it, so the code works once. */
  jti: string;
  /** Epoch ms. */
  expiresAt: number;
}

/**
 * Checks that a dashboard session is live; throws `unauthorized` naming why when it is not.
 * Set by the sessions feature (the token service itself knows no database).
 */
export type SessionCheck = (sessionId: string) => Promise<void>;

/** `use` claim of a login link's code: never accepted as a bearer token. */
const LOGIN_USE = 'login';

/** Mints and verifies Warden's HS256 JWTs (SPEC §6). */
export class TokenService {
  private readonly key: Uint8Array;
  private sessionCheck: SessionCheck | undefined;

  constructor(
    secret: string,
    private readonly clockToleranceMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  /** Makes tokens with a `sid` claim pass `check` on every verify (sign-out is real). */
  setSessionCheck(check: SessionCheck | undefined): void {
    this.sessionCheck = check;
  }

  async mint(opts: MintOptions): Promise<string> {
    if (opts.role === 'agent') {
      if (!opts.agentId || (opts.agentId !== '*' && !AGENT_ID_PATTERN.test(opts.agentId))) {
        throw new WardenError(
          'invalid_request',
          'an agent token needs --agent-id (an agent id or *)',
        );
      }
    } else if (opts.agentId !== undefined) {
      throw new WardenError('invalid_request', 'only agent tokens carry an agent id');
    }
    if (!(opts.ttlMs > 0)) throw new WardenError('invalid_request', 'ttl must be positive');
    const iat = Math.floor(this.now() / 1000);
    const claims: Record<string, unknown> = { role: opts.role };
    if (opts.agentId) claims.agent_id = opts.agentId;
    if (opts.sessionId) claims.sid = opts.sessionId;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setSubject(opts.sub ?? (opts.agentId ? `agent:${opts.agentId}` : `role:${opts.role}`))
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.ceil(opts.ttlMs / 1000))
      .setJti(randomUUID())
      .sign(this.key);
  }

  /**
   * The code of a one-time login link (`warden open`): a short-lived JWT with `use: "login"`
   * that only `POST /api/v1/auth/sessions` takes, once, in exchange for a session token.
   */
  async mintLoginCode(opts: { role: Role; ttlMs: number; sub?: string }): Promise<string> {
    if (opts.role === 'agent') {
      throw new WardenError('invalid_request', 'agents cannot sign in to the dashboard');
    }
    if (!(opts.ttlMs > 0)) throw new WardenError('invalid_request', 'ttl must be positive');
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ role: opts.role, use: LOGIN_USE })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setSubject(opts.sub ?? `role:${opts.role}`)
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.ceil(opts.ttlMs / 1000))
      .setJti(randomUUID())
      .sign(this.key);
  }

  /** Verifies a login link's code; throws `unauthorized` naming why. */
  async verifyLoginCode(code: string): Promise<LoginCode> {
    const payload = await this.verifyJwt(code, 'login code');
    if (payload.use !== LOGIN_USE) {
      throw new WardenError('unauthorized', 'this is an API token, not a login link code');
    }
    const role = RoleSchema.safeParse(payload.role);
    if (!role.success || role.data === 'agent' || typeof payload.jti !== 'string') {
      throw new WardenError('unauthorized', 'login code has no valid role or id');
    }
    return {
      role: role.data,
      sub: String(payload.sub),
      jti: payload.jti,
      expiresAt: (payload.exp as number) * 1000,
    };
  }

  private async verifyJwt(token: string, what: string) {
    if (token.length > 8192) throw new WardenError('unauthorized', `${what} is too long`);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: TOKEN_ISSUER,
        clockTolerance: Math.floor(this.clockToleranceMs / 1000),
        currentDate: new Date(this.now()),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired)
        throw new WardenError('unauthorized', `${what} expired`);
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
        throw new WardenError('unauthorized', `${what} signature is invalid`);
      }
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        throw new WardenError('unauthorized', `${what} claim ${err.claim} is invalid`);
      }
      throw new WardenError('unauthorized', `${what} is malformed or not signed by this server`);
    }
    return payload;
  }

  /** Verifies a token; throws `unauthorized` naming why (never echoing the token). */
  async verify(token: string): Promise<Principal> {
    const payload = await this.verifyJwt(token, 'token');
    if (payload.use === LOGIN_USE) {
      throw new WardenError(
        'unauthorized',
        'this is a one-time login link code: open the link in a browser, it is not an API token',
      );
    }
    const role = RoleSchema.safeParse(payload.role);
    if (!role.success) throw new WardenError('unauthorized', 'token has no valid role claim');
    const principal: Principal = {
      sub: String(payload.sub),
      role: role.data,
      expiresAt: (payload.exp as number) * 1000,
    };
    if (role.data === 'agent') {
      const agentId = payload.agent_id;
      if (typeof agentId !== 'string' || (agentId !== '*' && !AGENT_ID_PATTERN.test(agentId))) {
        throw new WardenError('unauthorized', 'agent token has no valid agent_id claim');
      }
      principal.agentId = agentId;
    }
    if (payload.sid !== undefined) {
      if (typeof payload.sid !== 'string' || payload.sid.length === 0 || payload.sid.length > 128) {
        throw new WardenError('unauthorized', 'token has an invalid sid claim');
      }
      principal.sessionId = payload.sid;
      if (!this.sessionCheck) throw new WardenError('unauthorized', 'sessions are not enabled');
      await this.sessionCheck(payload.sid);
    }
    return principal;
  }
}
