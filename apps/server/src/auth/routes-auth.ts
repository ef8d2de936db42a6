import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DurationSchema } from '@warden/protocol';
import { WardenError } from '../errors.js';
import type { DashboardSessions } from './dashboard-sessions.js';

const SignInSchema = z.union([
  z.strictObject({ loginCode: z.string().min(1).max(8192) }),
  z.strictObject({ token: z.string().min(1).max(8192) }),
]);

const SessionSchema = z.object({
  id: z.string(),
  sub: z.string(),
  role: z.string(),
  method: z.string(),
  createdAt: z.number(),
  expiresAt: z.number(),
});

/**
 * Sign-in for the dashboard: login links, sessions, sign-out. `POST /api/v1/auth/sessions` is
 * the one public route: it checks the code or token it is given itself.
 */
export function registerAuthRoutes(app: FastifyInstance, sessions: DashboardSessions): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/api/v1/auth/login-links',
    {
      schema: {
        summary: 'Make a one-time login link for the dashboard (what `warden open` prints)',
        description:
          'The link is `<server>/login#code=<code>`: the code sits in the fragment, so it never reaches a server log. It opens one session, once, before `expiresAt`. A caller may not make a link for a role above its own.',
        tags: ['auth'],
        body: z
          .strictObject({
            role: z.enum(['admin', 'operator', 'viewer']).default('admin'),
            ttl: DurationSchema.optional(),
          })
          .default({ role: 'admin' }),
        response: {
          200: z.object({
            code: z.string(),
            path: z.string(),
            url: z.string(),
            expiresAt: z.number(),
          }),
        },
      },
    },
    async (req) => {
      const { code, expiresAt } = await sessions.createLoginCode(
        req.principal!,
        req.body.role,
        req.body.ttl,
      );
      const path = `/login#code=${code}`;
      return { code, path, url: `${req.protocol}://${req.host}${path}`, expiresAt };
    },
  );
  r.post(
    '/api/v1/auth/sessions',
    {
      config: { auth: 'public' },
      schema: {
        summary: 'Sign in: exchange a login link code, or a pasted token, for a session token',
        description:
          'Body `{ "loginCode": "…" }` (from a login link; works once) or `{ "token": "…" }` (a viewer, operator or admin JWT). Answers a session token to send as `Authorization: Bearer` and `?token=` on /ws; it stops working at sign-out or expiry.',
        tags: ['auth'],
        security: [],
        body: SignInSchema,
        response: { 200: z.object({ token: z.string(), session: SessionSchema }) },
      },
    },
    async (req) => sessions.signIn(req.body, req.headers['user-agent']),
  );
  r.get(
    '/api/v1/auth/session',
    {
      config: { auth: 'any' },
      schema: {
        summary: 'Who the token speaks for: role, subject, expiry and session',
        tags: ['auth'],
        response: {
          200: z.object({
            sub: z.string(),
            role: z.string(),
            expiresAt: z.number(),
            sessionId: z.string().nullable(),
          }),
        },
      },
    },
    async (req) => {
      const p = req.principal!;
      return { sub: p.sub, role: p.role, expiresAt: p.expiresAt, sessionId: p.sessionId ?? null };
    },
  );
  r.delete(
    '/api/v1/auth/session',
    {
      config: { auth: 'any' },
      schema: {
        summary: 'Sign out: end the session the token belongs to, everywhere',
        tags: ['auth'],
        response: { 200: z.object({ signedOut: z.boolean() }) },
      },
    },
    async (req) => {
      const sid = req.principal!.sessionId;
      if (!sid) {
        throw new WardenError(
          'invalid_request',
          'this token is not a dashboard session; an API token ends only at its expiry',
        );
      }
      return { signedOut: await sessions.signOut(sid) };
    },
  );
}
