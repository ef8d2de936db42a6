import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentIdSchema } from '@warden/protocol';
import { WardenError } from '../errors.js';
import type { HubContext } from '../hub-context.js';
import { parseRequest } from '../routes-queue.js';
import type { AlertEngine } from './alert-engine.js';
import { AlertRuleSchema, RuleNameSchema } from './alert-rule.js';
import type { AlertState } from './alert-state.js';
import { ruleView } from './rule-view.js';
import { SilenceInputSchema, silenceView } from './silence.js';

/** Bodies and params are checked here, naming each bad field (the docs keep the schemas). */
const ownValidation = { validatorCompiler: () => (value: unknown) => ({ value }) };

const RuleParams = z.strictObject({ id: RuleNameSchema });
const IdParams = z.strictObject({ id: z.string().min(1).max(256) });
const STATES = ['pending', 'firing', 'resolved', 'all'] as const;
const AlertsQuery = z.strictObject({
  /** One state, `all`, or a comma-separated list. @defaultValue "pending,firing" */
  state: z
    .string()
    .max(64)
    .default('pending,firing')
    .transform((v, ctx) => {
      const parts = v.split(',').map((s) => s.trim());
      for (const p of parts) {
        if (!(STATES as readonly string[]).includes(p)) {
          ctx.addIssue({
            code: 'custom',
            message: `must be pending, firing, resolved or all (got ${JSON.stringify(p)})`,
          });
          return z.NEVER;
        }
      }
      return parts.includes('all')
        ? (['pending', 'firing', 'resolved'] as AlertState[])
        : (parts as AlertState[]);
    }),
  rule: RuleNameSchema.optional(),
  agentId: AgentIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const AckBody = z.strictObject({ comment: z.string().max(4096).optional() });

/**
 * SPEC §10's routes. Reads: viewer and up. Changing rules, silences and acknowledging: operator
 * and up (`act`).
 */
export function registerAlertRoutes(
  app: FastifyInstance,
  ctx: HubContext,
  engine: AlertEngine,
): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const bodyLimit = ctx.limits.maxEventBytes;

  r.get(
    '/api/v1/alert-rules',
    {
      schema: {
        summary: 'Every alert rule: built-in and config ones (readOnly), then those added here',
        tags: ['alerts'],
      },
    },
    async () => ({ rules: engine.rules().map((x) => ruleView(x.rule, x.source, x.meta)) }),
  );

  r.get(
    '/api/v1/alert-rules/:id',
    {
      ...ownValidation,
      schema: {
        summary: 'One alert rule by name; 404 for an unknown one',
        tags: ['alerts'],
        params: RuleParams,
      },
    },
    async (req) => {
      const { id } = parseRequest(RuleParams, req.params, ['params']);
      const found = engine.ruleByName(id);
      if (!found) throw new WardenError('not_found', `no alert rule ${id}`);
      return ruleView(found.rule, found.source, found.meta);
    },
  );

  r.post(
    '/api/v1/alert-rules',
    {
      config: { auth: 'act' },
      bodyLimit,
      ...ownValidation,
      schema: {
        summary:
          'Add an alert rule (the YAML shape); 201 with the rule, 409 when its name is taken',
        tags: ['alerts'],
        body: AlertRuleSchema,
      },
    },
    async (req, reply) => {
      const rule = parseRequest(AlertRuleSchema, req.body);
      const saved = await engine.addRule(rule, req.principal!.sub);
      const { rule: _r, ...meta } = saved;
      return reply.code(201).send(ruleView(saved.rule, 'api', meta));
    },
  );

  r.put(
    '/api/v1/alert-rules/:id',
    {
      config: { auth: 'act' },
      bodyLimit,
      ...ownValidation,
      schema: {
        summary: 'Replace a rule added through the API; config and built-in rules answer 409',
        tags: ['alerts'],
        params: RuleParams,
        body: AlertRuleSchema,
      },
    },
    async (req) => {
      const { id } = parseRequest(RuleParams, req.params, ['params']);
      const body: unknown = req.body;
      // The name is the id: it may be left out of the body, but not contradict the path.
      const withName =
        body !== null && typeof body === 'object' && !Array.isArray(body) && !('name' in body)
          ? { ...(body as Record<string, unknown>), name: id }
          : body;
      const rule = parseRequest(AlertRuleSchema, withName);
      if (rule.name !== id) {
        throw new WardenError(
          'invalid_request',
          `/name: must be ${id} (renaming a rule is delete and add)`,
          {
            errors: [{ path: '/name', message: `must equal the rule id in the path (${id})` }],
          },
        );
      }
      const saved = await engine.replaceRule(rule);
      const { rule: _r, ...meta } = saved;
      return ruleView(saved.rule, 'api', meta);
    },
  );

  r.delete(
    '/api/v1/alert-rules/:id',
    {
      config: { auth: 'act' },
      ...ownValidation,
      schema: {
        summary: 'Delete a rule added through the API; its alerts resolve',
        tags: ['alerts'],
        params: RuleParams,
      },
    },
    async (req, reply) => {
      const { id } = parseRequest(RuleParams, req.params, ['params']);
      await engine.deleteRule(id);
      return reply.code(204).send();
    },
  );

  r.get(
    '/api/v1/alerts',
    {
      ...ownValidation,
      schema: {
        summary:
          'Alerts by state (default pending and firing; `all` includes the resolved history)',
        description:
          'Each with id, rule, labels, state, value, startsAt (condition began), firedAt, endsAt, acknowledged, silencedBy, inhibitedBy. Newest first, at most `limit` (100, up to 1000).',
        tags: ['alerts'],
        querystring: AlertsQuery,
      },
    },
    async (req) => {
      const q = parseRequest(AlertsQuery, req.query, ['query']);
      return {
        alerts: await engine.listAlerts({
          states: q.state,
          limit: q.limit,
          ...(q.rule !== undefined ? { rule: q.rule } : {}),
          ...(q.agentId !== undefined ? { agentId: q.agentId } : {}),
        }),
      };
    },
  );

  r.get(
    '/api/v1/alerts/:id',
    {
      ...ownValidation,
      schema: {
        summary: 'One alert (any state); 404 for an unknown id',
        tags: ['alerts'],
        params: IdParams,
      },
    },
    async (req) => {
      const { id } = parseRequest(IdParams, req.params, ['params']);
      return engine.getAlert(id);
    },
  );

  r.post(
    '/api/v1/alerts/:id/ack',
    {
      config: { auth: 'act' },
      bodyLimit,
      ...ownValidation,
      schema: {
        summary: 'Acknowledge a pending or firing alert: its escalation tiers stop',
        tags: ['alerts'],
        params: IdParams,
        body: AckBody.optional(),
      },
    },
    async (req) => {
      const { id } = parseRequest(IdParams, req.params, ['params']);
      const body = parseRequest(AckBody, req.body);
      return engine.ack(id, req.principal!.sub, body?.comment);
    },
  );

  r.get(
    '/api/v1/silences',
    {
      schema: {
        summary: 'Every silence with status.state (pending, active, expired)',
        tags: ['alerts'],
      },
    },
    async () => {
      const now = ctx.clock.now();
      return {
        silences: engine.silences
          .list()
          .sort((a, b) => b.updatedAt - a.updatedAt)
          .map((s) => silenceView(s, now)),
      };
    },
  );

  r.get(
    '/api/v1/silences/:id',
    { ...ownValidation, schema: { summary: 'One silence', tags: ['alerts'], params: IdParams } },
    async (req) => {
      const { id } = parseRequest(IdParams, req.params, ['params']);
      const s = engine.silences.get(id);
      if (!s) throw new WardenError('not_found', `no silence ${id}`);
      return silenceView(s, ctx.clock.now());
    },
  );

  r.post(
    '/api/v1/silences',
    {
      config: { auth: 'act' },
      bodyLimit,
      ...ownValidation,
      schema: {
        summary: "Create (or, with `id`, replace) a silence: Alertmanager's shape",
        description:
          '`{ matchers: [{ name, value, isRegex, isEqual }], startsAt?, endsAt, createdBy?, comment }`; times as epoch ms or ISO-8601. 201 with the silence and `silenceID`.',
        tags: ['alerts'],
        body: SilenceInputSchema,
      },
    },
    async (req, reply) => {
      const input = parseRequest(SilenceInputSchema, req.body);
      const s = await engine.putSilence(input, req.principal!.sub);
      return reply
        .code(input.id ? 200 : 201)
        .send({ silenceID: s.id, ...silenceView(s, ctx.clock.now()) });
    },
  );

  r.delete(
    '/api/v1/silences/:id',
    {
      config: { auth: 'act' },
      ...ownValidation,
      schema: {
        summary: 'Expire a silence now (it stays listed as expired)',
        tags: ['alerts'],
        params: IdParams,
      },
    },
    async (req) => {
      const { id } = parseRequest(IdParams, req.params, ['params']);
      return silenceView(await engine.expireSilence(id), ctx.clock.now());
    },
  );
}
