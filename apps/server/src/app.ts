import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import type { Logger } from 'pino';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { ProblemCode, ValidationIssue } from '@warden/protocol';
import { DEFAULT_DASHBOARD_DIR, registerDashboard } from './dashboard-assets.js';
import { WardenError, problemBody } from './errors.js';
import { featureList } from './features.js';
import { REQUEST_ID_HEADER, requestIdOf } from './logs/request-id.js';
import { createAuthHook } from './http-auth.js';
import type { HubContext } from './hub-context.js';
import { registerAgentStateRoutes } from './routes-agent-state.js';
import { registerAgentControlRoutes } from './routes-agents-control.js';
import { registerAgentTokenRoutes } from './routes-agent-token.js';
import { registerEventRoutes } from './routes-events.js';
import { registerQueueRoutes } from './routes-queue.js';
import { registerReadRoutes } from './routes-read.js';
import { registerSystemRoutes } from './routes-system.js';
import { VERSION } from './version.js';

export type WardenApp = FastifyInstance;

/** Maps anything thrown in a route to an RFC 9457 problem with a stable code. */
function toProblem(err: FastifyError | WardenError | Error): {
  code: ProblemCode;
  detail: string;
  errors?: ValidationIssue[];
} {
  if (err instanceof WardenError) {
    return { code: err.code, detail: err.message, ...(err.errors ? { errors: err.errors } : {}) };
  }
  const fe = err as FastifyError & { validationContext?: string };
  if (fe.validation) {
    const ctx = fe.validationContext ?? 'body';
    const errors = fe.validation.map((v) => ({
      path: ctx === 'body' ? v.instancePath : `/${ctx}${v.instancePath}`,
      message: v.message ?? 'is invalid',
    }));
    return {
      code: 'invalid_request',
      detail: errors.map((e) => `${e.path || '/'}: ${e.message}`).join('; '),
      errors,
    };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large', detail: 'request body is larger than the limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        code: 'unsupported_media_type',
        detail: 'send the body as application/json',
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'invalid_json', detail: 'body is empty; expected JSON' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'invalid_json', detail: `body is not valid JSON: ${fe.message}` };
  }
  if (err instanceof SyntaxError || fe.statusCode === 400) {
    return { code: 'invalid_json', detail: `body is not valid JSON: ${err.message}` };
  }
  if (fe.statusCode === 413) return { code: 'payload_too_large', detail: err.message };
  if (fe.statusCode === 415) return { code: 'unsupported_media_type', detail: err.message };
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { code: 'invalid_request', detail: err.message };
  }
  return { code: 'internal', detail: 'internal error; see the server log' };
}

/** Strips `?token=` from logged URLs: secrets never reach the log. */
function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&]*/gi, '$1[redacted]');
}

/** Builds the Fastify application: auth, docs, WebSocket and every route. */
export async function buildApp(ctx: HubContext, logger: Logger): Promise<WardenApp> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'correlationId',
    }),
    bodyLimit: ctx.limits.maxBatchBytes,
    trustProxy: false,
    return503OnClosing: true,
    // A caller's x-request-id (when safe) names the request; it is the `correlationId` of
    // every line the request logs, and comes back in the answer's x-request-id header.
    genReqId: requestIdOf,
    requestIdHeader: false,
  }).withTypeProvider<ZodTypeProvider>();

  // JSON only: a text/plain body is refused with 415 instead of failing validation.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const p = toProblem(err);
    if (p.code === 'internal') req.log.error({ err, url: redactUrl(req.url) }, 'request failed');
    const body = problemBody(p.code, p.detail, {
      instance: redactUrl(req.url).slice(0, 300),
      ...(p.errors ? { errors: p.errors } : {}),
    });
    return reply
      .code(body.status as number)
      .type('application/problem+json')
      .send(body);
  });
  // Set once the dashboard's routes are registered, below.
  const pages: { fallback?: (req: FastifyRequest, reply: FastifyReply) => boolean } = {};
  app.setNotFoundHandler((req, reply) => {
    // A browser asking for a dashboard page (a deep link, a reload) gets the SPA.
    if (pages.fallback?.(req, reply)) return reply;
    const body = problemBody(
      'not_found',
      `no route ${req.method} ${redactUrl(req.url).split('?')[0]}`,
    );
    return reply.code(404).type('application/problem+json').send(body);
  });
  // First hook, so refused requests (401, 404) carry their id too.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header(REQUEST_ID_HEADER, req.id);
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    if (reply.statusCode >= 500) {
      req.log.warn(
        { method: req.method, url: redactUrl(req.url), status: reply.statusCode },
        'request failed',
      );
    } else {
      req.log.debug(
        { method: req.method, url: redactUrl(req.url), status: reply.statusCode },
        'request',
      );
    }
    done();
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Warden API',
        version: VERSION,
        description:
          'Events in, projections and live subscriptions out. Errors are RFC 9457 problems with a stable `code`. WebSocket protocol: see /ws and the README.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true },
    logLevel: 'warn',
  });
  await app.register(fastifyWebsocket, {
    options: { maxPayload: ctx.limits.maxFrameBytes, perMessageDeflate: false },
  });

  app.addHook('onRequest', createAuthHook(ctx.tokens, ctx.config.server.metrics_public));

  registerSystemRoutes(app, ctx);
  registerEventRoutes(app, ctx);
  registerReadRoutes(app, ctx);
  registerAgentControlRoutes(app, ctx);
  registerQueueRoutes(app, ctx);
  registerAgentStateRoutes(app, ctx);
  registerAgentTokenRoutes(app, ctx);
  for (const f of featureList(ctx.features)) f.registerRoutes?.(app);
  pages.fallback = await registerDashboard(
    app,
    ctx.config.server.dashboard_dir ?? DEFAULT_DASHBOARD_DIR,
  );

  app.get(
    '/ws',
    {
      websocket: true,
      config: { auth: 'any', queryToken: true },
      schema: {
        hide: true,
      },
    },
    (socket, req) => {
      ctx.hub.accept(socket, req.principal!);
    },
  );

  return app;
}
