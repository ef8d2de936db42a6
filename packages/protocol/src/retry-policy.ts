// Retry strategies per error pattern (issue 5 point 4), shared by the hub (config, API) and the
// SDK and supervisor (which match locally with the same code and the same fingerprint).
import { z } from 'zod';
import { DurationSchema } from './duration.js';
import { fingerprintError, type FingerprintInput } from './error-fingerprint.js';

/** A regex that must compile; the issue names the key that holds it. */
const RegexSchema = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((src, ctx) => {
    try {
      new RegExp(src);
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `not a valid regular expression: ${(err as Error).message}`,
      });
    }
  });

/** What an error must have for a rule to apply; every key given must match. */
export const RetryMatchSchema = z
  .strictObject({
    /** The group's fingerprint (as `GET /api/v1/error-groups` lists it), exactly. */
    fingerprint: z.string().min(1).max(256).optional(),
    /** The error type (`errorType`, e.g. `TypeError`, `requests.exceptions.ConnectionError`), exactly. */
    type: z.string().min(1).max(256).optional(),
    /** A JavaScript regular expression searched for in the message (not anchored). */
    message: RegexSchema.optional(),
  })
  .refine((m) => m.fingerprint !== undefined || m.type !== undefined || m.message !== undefined, {
    message: 'match needs at least one of fingerprint, type, message',
  });

/** Exponential backoff between attempts. */
export const BackoffSchema = z
  .strictObject({
    /** @defaultValue 1s */
    initial: DurationSchema.prefault('1s'),
    /** @defaultValue 2 */
    multiplier: z.number().min(1).max(100).default(2),
    /** @defaultValue 5m */
    max: DurationSchema.prefault('5m'),
  })
  .refine((b) => b.max >= b.initial, { message: 'max must be at least initial', path: ['max'] });

/**
 * One retry rule, as written under `errors.retry` in YAML and sent to `POST/PUT
 * /api/v1/retry-policies`: durations are `1s`, `5m` or seconds.
 */
export const RetryRuleSchema = z.strictObject({
  /** A name for people; a config rule's id is `config:<name>` (else `config:<index>`). */
  name: z.string().min(1).max(128).optional(),
  match: RetryMatchSchema,
  /** Whether the failed work (or the agent, for the supervisor) is tried again. */
  retry: z.boolean(),
  /** Attempts in all, the first included; none = no cap of its own. */
  max_attempts: z.number().int().min(1).max(1_000_000).optional(),
  /** @defaultValue `{ initial: 1s, multiplier: 2, max: 5m }` */
  backoff: BackoffSchema.optional(),
  /** Raise an escalation (needs a person) when this pattern stops the work. @defaultValue false */
  escalate: z.boolean().default(false),
});
export type RetryRuleInput = z.input<typeof RetryRuleSchema>;
export type RetryRule = z.output<typeof RetryRuleSchema>;

/** The default policy's YAML (`errors.default_retry`). */
export const DefaultRetrySchema = z.strictObject({
  /** @defaultValue true */
  retry: z.boolean().default(true),
  /** @defaultValue none (the caller's own limit) */
  max_attempts: z.number().int().min(1).max(1_000_000).optional(),
  backoff: BackoffSchema.prefault({}),
  /** @defaultValue false */
  escalate: z.boolean().default(false),
});

/** The default policy from its parsed YAML. */
export function defaultRetryPolicy(
  d: z.output<typeof DefaultRetrySchema>,
): RetryPolicyList['default'] {
  return {
    retry: d.retry,
    maxAttempts: d.max_attempts ?? null,
    backoff: {
      initialMs: d.backoff.initial,
      multiplier: d.backoff.multiplier,
      maxMs: d.backoff.max,
    },
    escalate: d.escalate,
  };
}

/** A rule as the hub serves it (`GET /api/v1/retry-policies`), in the order it is tried. */
export interface RetryPolicyRecord {
  id: string;
  source: 'api' | 'config';
  name?: string | undefined;
  match: {
    fingerprint?: string | undefined;
    type?: string | undefined;
    message?: string | undefined;
  };
  retry: boolean;
  maxAttempts: number | null;
  backoff: Backoff;
  escalate: boolean;
  createdAt?: number | undefined;
  updatedAt?: number | undefined;
}

export interface Backoff {
  initialMs: number;
  multiplier: number;
  maxMs: number;
}

/** What `retryPolicyFor(error)` answers: the first rule that matches, else the default. */
export interface RetryPolicy {
  retry: boolean;
  /** Attempts in all, the first included; null = no cap of this policy's own. */
  maxAttempts: number | null;
  backoff: Backoff;
  escalate: boolean;
  /** The matching rule's id, or `default`. */
  policyId: string;
  /** The error's fingerprint, as the hub groups it. */
  fingerprint: string;
}

/** The list the hub serves: rules in evaluation order, then the default. */
export interface RetryPolicyList {
  policies: RetryPolicyRecord[];
  default: Omit<RetryPolicy, 'policyId' | 'fingerprint'>;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, multiplier: 2, maxMs: 300_000 };

/** A parsed rule as the hub serves it. */
export function retryPolicyRecord(
  rule: RetryRule,
  id: string,
  source: 'api' | 'config',
  times?: { createdAt: number; updatedAt: number },
): RetryPolicyRecord {
  const b = rule.backoff;
  return {
    id,
    source,
    ...(rule.name !== undefined ? { name: rule.name } : {}),
    match: rule.match,
    retry: rule.retry,
    maxAttempts: rule.max_attempts ?? null,
    backoff: b ? { initialMs: b.initial, multiplier: b.multiplier, maxMs: b.max } : DEFAULT_BACKOFF,
    escalate: rule.escalate,
    ...(times ?? {}),
  };
}

/** The delay before attempt `attempt` (2 = the first retry) under `b`. */
export function backoffDelay(b: Backoff, attempt: number): number {
  const n = Math.max(0, attempt - 2);
  return Math.min(b.maxMs, b.initialMs * b.multiplier ** n);
}

/** What a rule is matched against: the error and, when known, its fingerprint. */
export type RetryMatchInput = FingerprintInput & { computedFingerprint?: string };

const regexCache = new Map<string, RegExp>();

function regex(src: string): RegExp | undefined {
  let re = regexCache.get(src);
  if (!re) {
    try {
      re = new RegExp(src);
    } catch {
      return undefined;
    }
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(src, re);
  }
  return re;
}

/** Whether a rule's `match` applies to the error (every key given must). */
export function retryRuleMatches(
  match: RetryPolicyRecord['match'],
  e: FingerprintInput,
  fingerprint: string,
): boolean {
  if (match.fingerprint !== undefined && match.fingerprint !== fingerprint) return false;
  if (match.type !== undefined && match.type !== e.errorType) return false;
  if (match.message !== undefined) {
    const re = regex(match.message);
    if (!re || !re.test(e.message)) return false;
  }
  return true;
}

/** The first rule of `list` that matches `e`, else the default (SDK and supervisor use this). */
export function selectRetryPolicy(list: RetryPolicyList, e: FingerprintInput): RetryPolicy {
  const fingerprint = fingerprintError(e);
  for (const p of list.policies) {
    if (retryRuleMatches(p.match, e, fingerprint)) {
      return {
        retry: p.retry,
        maxAttempts: p.maxAttempts,
        backoff: p.backoff,
        escalate: p.escalate,
        policyId: p.id,
        fingerprint,
      };
    }
  }
  return { ...list.default, policyId: 'default', fingerprint };
}
