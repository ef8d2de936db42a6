import {
  DEFAULT_BACKOFF,
  selectRetryPolicy,
  type FingerprintInput,
  type RetryPolicy,
  type RetryPolicyList,
} from '@warden/protocol';
import { TaskQueueHttp, type HttpOptions } from './task-queue-http.js';

/** An error as `retryPolicyFor` takes it: an `Error`, or the fields of `error_occurred`. */
export type RetryableError =
  Error | { errorType: string; message: string; stack?: string | undefined; fingerprint?: string };

/** Options of {@link RetryPolicyClient}. */
export interface RetryPolicyOptions {
  /** How long a fetched policy list is used before it is fetched again. @defaultValue 30000 */
  ttlMs?: number;
}

/** What is used while the hub has never answered: retry, with the hub's default backoff. */
const FALLBACK: RetryPolicyList = {
  policies: [],
  default: { retry: true, maxAttempts: null, backoff: DEFAULT_BACKOFF, escalate: false },
};

/** The fields a fingerprint is made of, taken from an error as `client.error()` reports it. */
export function fingerprintInput(err: RetryableError): FingerprintInput {
  if (err instanceof Error) {
    return {
      errorType: err.name || 'Error',
      message: err.message || String(err),
      ...(err.stack ? { stack: err.stack } : {}),
    };
  }
  return err;
}

/**
 * Retry strategies per error pattern (issue 5 point 4), as the hub's operators set them
 * (`errors.retry` in config, `/api/v1/retry-policies`): the list is fetched with this agent's
 * token, kept for `ttlMs`, and matched here with the hub's own fingerprint function, so an
 * error asks no round trip once the list is cached.
 *
 * When the hub cannot be reached the last list fetched stays in use; before any was fetched
 * the answer is the built-in default (retry, backoff 1 s ×2 up to 5 m): an agent is never
 * stopped by the hub being away.
 *
 * @example
 * ```ts
 * const p = await client.retryPolicyFor(err);
 * if (!p.retry) throw err; // operators said this pattern is not worth retrying
 * ```
 */
export class RetryPolicyClient {
  private readonly http: TaskQueueHttp;
  private readonly ttlMs: number;
  private list: RetryPolicyList | undefined;
  private fetchedAt = -Infinity;
  private inflight: Promise<RetryPolicyList> | undefined;

  constructor(http: HttpOptions | TaskQueueHttp = {}, options: RetryPolicyOptions = {}) {
    this.http = http instanceof TaskQueueHttp ? http : new TaskQueueHttp(http);
    this.ttlMs = options.ttlMs ?? 30_000;
  }

  /** The policy for `err`: the first rule that matches it, else the hub's default. */
  async retryPolicyFor(err: RetryableError): Promise<RetryPolicy> {
    return selectRetryPolicy(await this.policies(), fingerprintInput(err));
  }

  /** The policy from the list held now (no request); the fallback default before any fetch. */
  cachedPolicyFor(err: RetryableError): RetryPolicy {
    return selectRetryPolicy(this.list ?? FALLBACK, fingerprintInput(err));
  }

  /** The hub's policy list, from the cache while it is fresh. */
  async policies(): Promise<RetryPolicyList> {
    if (this.http.clock.now() - this.fetchedAt < this.ttlMs) return this.list ?? FALLBACK;
    this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** Drops the cached list: the next call fetches it. */
  invalidate(): void {
    this.fetchedAt = -Infinity;
  }

  private async fetch(): Promise<RetryPolicyList> {
    try {
      const r = await this.http.request<RetryPolicyList>('GET', '/api/v1/retry-policies');
      if (r.body && Array.isArray(r.body.policies) && r.body.default) {
        this.list = r.body;
        this.fetchedAt = this.http.clock.now();
      }
    } catch {
      // Away or refusing: keep what we had (or the fallback) and ask again in at most 5 s, so
      // errors in a burst do not each wait for a hub that is down.
      this.fetchedAt = this.http.clock.now() - this.ttlMs + Math.min(this.ttlMs, 5000);
    }
    return this.list ?? FALLBACK;
  }
}
