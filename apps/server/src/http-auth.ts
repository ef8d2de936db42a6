import type { FastifyReply, FastifyRequest } from 'fastify';
import { isPageRequest } from './dashboard-assets.js';
import { WardenError } from './errors.js';
import { can, type Permission, type Principal } from './roles.js';
import type { TokenService } from './token-service.js';

/** What a route needs: `public` (no token), a permission, or `any` valid token. */
export type RouteAuth = 'public' | 'any' | Permission;

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /** Accept `?token=` (browsers cannot set headers on a WebSocket). */
    queryToken?: boolean;
  }
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw new WardenError('unauthorized', 'Authorization header must be "Bearer <token>"');
    return m[1];
  }
  if (req.routeOptions.config.queryToken) {
    const q = (req.query as Record<string, unknown> | undefined)?.token;
    if (typeof q === 'string' && q.length > 0) return q;
  }
  return undefined;
}

/**
 * Checks the token on every route (deny by default: a route without `auth` needs `read`).
 * Runs in onRequest, so a WebSocket upgrade with a bad token is refused with 401 before it
 * happens.
 */
export function createAuthHook(tokens: TokenService, metricsPublic: boolean) {
  return async function authHook(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    let need: RouteAuth = req.routeOptions.config.auth ?? 'read';
    const url = req.routeOptions.url ?? '';
    if (url === '/metrics' && metricsPublic) need = 'public';
    // The API reference (swagger-ui and its assets) is public.
    if (url === '/docs' || url.startsWith('/docs/')) need = 'public';
    // A browser loading a dashboard page by its address (a deep link, a reload) gets the SPA
    // from the not-found handler; the data behind it still needs a token.
    if (req.is404 && isPageRequest(req)) need = 'public';
    if (need === 'public') return;
    const token = bearer(req);
    if (token === undefined) {
      throw new WardenError(
        'unauthorized',
        'missing token: send "Authorization: Bearer <token>" (mint one with `warden token`)',
      );
    }
    const principal = await tokens.verify(token);
    req.principal = principal;
    if (need !== 'any' && !can(principal, need)) {
      throw new WardenError('forbidden', `role ${principal.role} may not ${need} here`);
    }
  };
}
