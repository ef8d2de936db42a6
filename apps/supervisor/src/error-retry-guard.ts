import type { FingerprintInput, RetryPolicy } from '@warden/protocol';

/** Where the guard reads policies: the SDK's RetryPolicyClient (cached list, local match). */
export interface RetryPolicySource {
  /** The policy from the list held now, without a request. */
  cachedPolicyFor(err: FingerprintInput): RetryPolicy;
  /** Refreshes the list when its TTL has passed. */
  policies(): Promise<unknown>;
}

/** What the process agent tells the guard about a run that ended and is to be restarted. */
export interface ErrorRunFacts {
  agentId: string;
  /** When the run began (the guard's clock), so an error of an earlier run is not blamed. */
  startedAt: number;
  /** Restarts since the backoff last reset, this one included (1 = the first of a streak). */
  attempt: number;
  /** The run's last stderr lines, oldest first. */
  stderrTail: readonly string[];
}

/** What the hub's retry policy says about the error that ended the run. */
export interface ErrorRetryVerdict {
  /** Do not restart (`retry: false`, or `max_attempts` reached for this pattern). */
  stop: boolean;
  /** Raise an escalation (`escalate: true`): once per streak, and when it stops the agent. */
  escalate: boolean;
  policyId: string;
  fingerprint: string;
  reason: string;
}

/**
 * Issue 5 point 4 in the supervisor's restart decisions: the error that ended a run — the last
 * fatal `error_occurred` the agent reported during it (seen on its `agent:<id>` topic), else an
 * uncaught exception or Python traceback in its last stderr lines — is matched against the
 * hub's retry policies. Only a rule that matches has a say; with the default policy the
 * supervisor's own `restart:` settings decide alone.
 */
export class ErrorRetryGuard {
  private readonly lastFatal = new Map<string, { at: number; error: FingerprintInput }>();
  /** Runs per agent and fingerprint in the current streak of restarts. */
  private readonly runs = new Map<string, Map<string, number>>();

  constructor(
    private readonly source: RetryPolicySource,
    private readonly now: () => number,
  ) {}

  /** An event of a supervised agent (from its `agent:<id>` topic). */
  observe(event: { agentId: string; type: string; data: Record<string, unknown> }): void {
    if (event.type !== 'error_occurred' || event.data.fatal !== true) return;
    const d = event.data;
    if (typeof d.errorType !== 'string' || typeof d.message !== 'string') return;
    this.lastFatal.set(event.agentId, {
      at: this.now(),
      error: {
        errorType: d.errorType,
        message: d.message,
        ...(typeof d.stack === 'string' ? { stack: d.stack } : {}),
        ...(typeof d.fingerprint === 'string' ? { fingerprint: d.fingerprint } : {}),
      },
    });
    void this.source.policies().catch(() => undefined);
  }

  /** Fetches the policy list ahead of the first exit. */
  warm(): void {
    void this.source.policies().catch(() => undefined);
  }

  /** The verdict on a run about to be restarted; undefined when no rule speaks of its error. */
  verdict(run: ErrorRunFacts): ErrorRetryVerdict | undefined {
    if (run.attempt <= 1) this.runs.delete(run.agentId);
    const fatal = this.lastFatal.get(run.agentId);
    const error =
      fatal && fatal.at >= run.startedAt ? fatal.error : errorFromStderr(run.stderrTail);
    void this.source.policies().catch(() => undefined);
    if (!error) return undefined;
    const p = this.source.cachedPolicyFor(error);
    if (p.policyId === 'default') return undefined;
    let counts = this.runs.get(run.agentId);
    if (!counts) this.runs.set(run.agentId, (counts = new Map()));
    const n = (counts.get(p.fingerprint) ?? 0) + 1;
    counts.set(p.fingerprint, n);
    const what = `${error.errorType}: ${error.message.slice(0, 200)}`;
    if (!p.retry) {
      return {
        stop: true,
        escalate: p.escalate,
        policyId: p.policyId,
        fingerprint: p.fingerprint,
        reason: `not restarted: retry policy ${p.policyId} says "${what}" is not retried`,
      };
    }
    if (p.maxAttempts !== null && n >= p.maxAttempts) {
      return {
        stop: true,
        escalate: p.escalate,
        policyId: p.policyId,
        fingerprint: p.fingerprint,
        reason: `not restarted: "${what}" ended ${n} runs, max_attempts ${p.maxAttempts} of retry policy ${p.policyId}`,
      };
    }
    return {
      stop: false,
      escalate: p.escalate && n === 1,
      policyId: p.policyId,
      fingerprint: p.fingerprint,
      reason: `"${what}" (retry policy ${p.policyId}, run ${n}${p.maxAttempts !== null ? ` of ${p.maxAttempts}` : ''})`,
    };
  }
}

const ERROR_LINE = /^([A-Za-z_$][\w$.]*)(?: \[[\w-]+\])?: (.*)$/;
const V8_AT = /^\s+at /;

/**
 * The uncaught error in a run's last stderr lines: a Python traceback (its last `Type: message`
 * line, the traceback as stack) or a V8 error line followed by `at` frames.
 */
export function errorFromStderr(lines: readonly string[]): FingerprintInput | undefined {
  const tb = lines.findLastIndex((l) => l.startsWith('Traceback (most recent call last)'));
  if (tb >= 0) {
    const rest = lines.slice(tb);
    for (let i = rest.length - 1; i > 0; i--) {
      const m = ERROR_LINE.exec(rest[i]!);
      if (m && !rest[i]!.startsWith(' ')) {
        return { errorType: m[1]!, message: m[2]!, stack: rest.slice(0, i + 1).join('\n') };
      }
    }
  }
  for (let i = lines.length - 2; i >= 0; i--) {
    const m = ERROR_LINE.exec(lines[i]!);
    if (!m || !V8_AT.test(lines[i + 1]!)) continue;
    let end = i + 1;
    while (end < lines.length && V8_AT.test(lines[end]!)) end++;
    return { errorType: m[1]!, message: m[2]!, stack: lines.slice(i, end).join('\n') };
  }
  return undefined;
}
