import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WardenApp } from './app.js';

/** Where `npm run build` puts the dashboard (apps/dashboard/dist), from src/ or dist/. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(
  new URL('../../dashboard/dist', import.meta.url),
);

/** Paths the dashboard never owns: unknown ones there stay JSON 404 problems. */
const API_PREFIXES = ['/api/', '/ws', '/docs', '/metrics', '/healthz', '/readyz'];

/**
 * What the browser may do on the dashboard's pages: scripts and styles from this server only
 * (uPlot and React set inline styles through the CSSOM), requests and WebSockets back to it.
 */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

/**
 * Serves the dashboard SPA at `/` (issue 6): hashed assets under `/assets/` (cached for a
 * year: their names change with their content), and `index.html` for `/` and for any other
 * GET a browser makes for a page (`/agents/x`, `/login`), so deep links and reloads work. The
 * pages are public — the data behind them needs a token like any API call. When the
 * dashboard was not built, `/` says how to build it.
 *
 * Returns the fallback for the not-found handler: true when it answered with the page.
 */
export async function registerDashboard(
  app: WardenApp,
  dir: string,
): Promise<(req: FastifyRequest, reply: FastifyReply) => boolean> {
  const built = existsSync(join(dir, 'index.html'));
  if (built) {
    await app.register(fastifyStatic, { root: dir, serve: false, index: false });
  }
  const sendPage = (reply: FastifyReply) => {
    pageHeaders(reply);
    if (built) return reply.sendFile('index.html', dir, { cacheControl: false });
    return reply
      .code(503)
      .type('text/html; charset=utf-8')
      .send(
        '<!doctype html><meta charset="utf-8"><title>Warden</title><h1>Warden</h1><p>The dashboard is not built. Run <code>npm run build</code> and reload.</p><p>The API works: <a href="/docs">/docs</a>.</p>',
      );
  };
  app.get('/', { config: { auth: 'public' }, schema: { hide: true } }, (_req, reply) =>
    sendPage(reply),
  );
  app.get(
    '/assets/*',
    { config: { auth: 'public' }, schema: { hide: true } },
    (req: FastifyRequest<{ Params: { '*': string } }>, reply) => {
      if (!built) return reply.code(404).send();
      return reply
        .header('x-content-type-options', 'nosniff')
        .sendFile(join('assets', req.params['*']), dir, {
          immutable: true,
          maxAge: '365d',
        });
    },
  );
  return (req, reply) => {
    if (!isPageRequest(req)) return false;
    void sendPage(reply);
    return true;
  };
}

/** A browser's GET for a page (Accept: text/html) outside the API's paths. */
export function isPageRequest(req: FastifyRequest): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = req.url.split('?')[0]!;
  if (API_PREFIXES.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`)))
    return false;
  return /text\/html/.test(req.headers.accept ?? '');
}
