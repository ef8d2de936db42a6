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
}

/** Mints and verifies Warden's HS256 JWTs (SPEC §6). */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly clockToleranceMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {
    this.key = new TextEncoder().encode(secret);
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
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setSubject(opts.sub ?? (opts.agentId ? `agent:${opts.agentId}` : `role:${opts.role}`))
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.ceil(opts.ttlMs / 1000))
      .setJti(randomUUID())
      .sign(this.key);
  }

  /** Verifies a token; throws `unauthorized` naming why (never echoing the token). */
  async verify(token: string): Promise<Principal> {
    if (token.length > 8192) throw new WardenError('unauthorized', 'token is too long');
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
        throw new WardenError('unauthorized', 'token expired');
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
        throw new WardenError('unauthorized', 'token signature is invalid');
      }
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        throw new WardenError('unauthorized', `token claim ${err.claim} is invalid`);
      }
      throw new WardenError('unauthorized', 'token is malformed or not signed by this server');
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
    return principal;
  }
}
