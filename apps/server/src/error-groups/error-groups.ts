import type { Logger } from 'pino';
import {
  defaultRetryPolicy,
  retryPolicyRecord,
  RetryRuleSchema,
  type RetryPolicyList,
  type RetryPolicyRecord,
  type RetryRule,
  type RetryRuleInput,
} from '@warden/protocol';
import type { WardenApp } from '../app.js';
import { WardenError } from '../errors.js';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';
import { hourOf } from './error-group-projection.js';
import { ErrorGroupStore } from './error-group-store.js';
import { registerErrorGroupRoutes } from './routes-error-groups.js';

/**
 * Error patterns (issue 5 point 4): the groups are written by the store's writers with each
 * commit (error-group-projection.ts); this feature serves them, changes their state, keeps
 * their hourly counts within `errors.hourly_retention`, and holds the retry policies: the
 * API's (in the database, tried first, in creation order), then the config's (file order),
 * then `errors.default_retry`.
 */
export class ErrorGroups implements HubFeature {
  readonly name = 'error-groups';
  private opened: ErrorGroupStore | undefined;
  private readonly configPolicies: RetryPolicyRecord[];
  private readonly defaultPolicy: RetryPolicyList['default'];

  constructor(
    readonly ctx: HubContext,
    readonly log: Logger,
  ) {
    const cfg = ctx.config.errors;
    this.configPolicies = cfg.retry.map((rule, i) =>
      retryPolicyRecord(rule, `config:${rule.name ?? i}`, 'config'),
    );
    this.defaultPolicy = defaultRetryPolicy(cfg.default_retry);
  }

  /** The store, opened on first use (a connection of its own). */
  get store(): ErrorGroupStore {
    return (this.opened ??= ErrorGroupStore.open(this.ctx.config.databaseUrl));
  }

  registerRoutes(app: WardenApp): void {
    registerErrorGroupRoutes(app, this.ctx, this);
  }

  /** Every policy in the order they are tried, and the default. */
  async policyList(): Promise<RetryPolicyList> {
    const stored = await this.store.listRules();
    const api: RetryPolicyRecord[] = [];
    for (const s of stored) {
      const r = RetryRuleSchema.safeParse(s.rule);
      // Stored rules were validated on the way in; one that no longer parses (a later
      // version's) is skipped rather than failing the whole list.
      if (!r.success) {
        this.log.warn({ policyId: s.id }, 'stored retry policy no longer parses; skipped');
        continue;
      }
      api.push(retryPolicyRecord(r.data, s.id, 'api', s));
    }
    return { policies: [...api, ...this.configPolicies], default: this.defaultPolicy };
  }

  async createPolicy(rule: RetryRule): Promise<RetryPolicyRecord> {
    const s = await this.store.createRule(storable(rule), this.ctx.clock.now());
    return retryPolicyRecord(rule, s.id, 'api', s);
  }

  async updatePolicy(id: string, rule: RetryRule): Promise<RetryPolicyRecord | undefined> {
    const s = await this.store.updateRule(id, storable(rule), this.ctx.clock.now());
    return s ? retryPolicyRecord(rule, s.id, 'api', s) : undefined;
  }

  /** Config policies are changed in the config file, not through the API. */
  refuseConfig(id: string): void {
    if (this.configPolicies.some((p) => p.id === id)) {
      throw new WardenError(
        'conflict',
        `retry policy ${id} comes from the config file (errors.retry) and is read-only`,
      );
    }
  }

  async retain(now: number): Promise<Record<string, number>> {
    const cutoff = hourOf(now - this.ctx.config.errors.hourly_retention);
    return { error_group_hours: await this.store.deleteHoursBefore(cutoff) };
  }

  async close(): Promise<void> {
    await this.opened?.close();
    this.opened = undefined;
  }
}

/** A parsed rule back in its input form, durations in ms with their unit so they re-parse. */
function storable(rule: RetryRule): RetryRuleInput {
  const { backoff, ...rest } = rule;
  return {
    ...rest,
    ...(backoff
      ? {
          backoff: {
            initial: `${backoff.initial}ms`,
            multiplier: backoff.multiplier,
            max: `${backoff.max}ms`,
          },
        }
      : {}),
  };
}
