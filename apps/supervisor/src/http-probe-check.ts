import type { Clock } from './clock.js';
import { formatDuration } from './health-check.js';
import type { CheckResult, HealthCheck } from './health-check.js';

/** The part of a fetch `Response` a probe reads. */
export interface ProbeResponse {
  /** HTTP status; 200–299 is a success. */
  status: number;
  /** Cancelled unread, so the connection is freed even if the endpoint streams forever. */
  body?: { cancel(): Promise<void> } | null;
}

/** The slice of `fetch` a probe needs; the global `fetch` fits. */
export type ProbeFetch = (
  url: string,
  init: { method: 'GET'; signal: AbortSignal },
) => Promise<ProbeResponse>;

/** Options of {@link HttpProbeCheck}. */
export interface HttpProbeCheckOptions {
  /** `health.http.url`. */
  url: string;
  /** `health.http.interval` in ms: pause between one probe settling and the next starting. */
  intervalMs: number;
  /** `health.http.timeout` in ms: a probe without response headers by then has failed. */
  timeoutMs: number;
  /** `health.http.failure_threshold`: consecutive failures before `critical`. */
  failureThreshold: number;
  /** Runs the interval and the timeout. */
  clock: Clock;
  /**
   * How requests are made.
   * @defaultValue the global `fetch`
   */
  fetch?: ProbeFetch;
  /**
   * Called after every probe settles with the new verdict, so the integrator can judge at
   * once instead of at its next tick. Errors it throws are ignored: a bad listener must not
   * stop the probing.
   */
  onSettled?: (result: CheckResult) => void;
}

const ERROR_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ETIMEDOUT: 'connect timed out',
};

/**
 * Connectivity (check `probe`): `GET url` every `interval` on the injected clock. A probe
 * fails on a non-2xx status, on no response within `timeout`, or on a network error
 * (connection refused, reset, unknown host). `failureThreshold` consecutive failures make the
 * check `critical`, with the last failure in the reason
 * (`3 consecutive failures: GET http://127.0.0.1:9000/health timed out after 2s`); one
 * success makes it `healthy` again. Until a probe settles it is `unknown`; failures below the
 * threshold stay `healthy`, with the count in the reason.
 *
 * Probes never overlap: the next starts `interval` after the previous one settled. The first
 * runs one `interval` after {@link HttpProbeCheck.start}, since a process just spawned needs
 * a moment to listen.
 */
export class HttpProbeCheck implements HealthCheck {
  readonly check = 'probe' as const;
  private readonly options: HttpProbeCheckOptions;
  private readonly fetch: ProbeFetch;
  private readonly target: string;
  private started = false;
  private timer: unknown;
  private readonly inFlight = new Set<AbortController>();
  /** Bumped by stop and reset, so a probe still in flight cannot write into the new state. */
  private generation = 0;
  private settled = 0;
  private failures = 0;
  private last: string | undefined;

  constructor(options: HttpProbeCheckOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError('probe intervalMs must be > 0');
    if (!(options.timeoutMs > 0)) throw new RangeError('probe timeoutMs must be > 0');
    if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1)
      throw new RangeError('probe failureThreshold must be an integer >= 1');
    this.options = options;
    this.fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.target = `GET ${options.url}`;
  }

  /** Starts probing on the clock; a second call does nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule();
  }

  /** Stops the timer and aborts a probe in flight, whose outcome is then ignored. */
  stop(): void {
    this.started = false;
    this.generation++;
    this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const abort of this.inFlight) abort.abort();
    this.inFlight.clear();
  }

  /** Forgets every outcome; if started, the next probe runs one interval from now. */
  reset(_now: number): void {
    const wasStarted = this.started;
    this.stop();
    this.settled = 0;
    this.failures = 0;
    this.last = undefined;
    if (wasStarted) this.start();
  }

  /**
   * Runs one probe now and records its outcome (the timer calls this too). Never rejects.
   * Called while another probe is in flight, both run and both are counted; the timer then
   * restarts from whichever settles last.
   */
  async probeOnce(): Promise<CheckResult> {
    const { clock, timeoutMs } = this.options;
    const generation = this.generation;
    const abort = new AbortController();
    this.inFlight.add(abort);
    let timedOut = false;
    const timeout = clock.setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
    let failure: string | undefined;
    let outcome: string;
    try {
      const res = await this.fetch(this.options.url, { method: 'GET', signal: abort.signal });
      try {
        res.body?.cancel().catch(() => undefined);
      } catch {
        // A body that cannot be cancelled is garbage-collected instead; the status is known.
      }
      outcome = `${this.target} answered ${res.status}`;
      if (res.status < 200 || res.status > 299) failure = outcome;
    } catch (err) {
      failure = timedOut
        ? `${this.target} timed out after ${formatDuration(timeoutMs)}`
        : `${this.target} failed: ${describeError(err)}`;
      outcome = failure;
    } finally {
      clock.clearTimeout(timeout);
      this.inFlight.delete(abort);
    }
    if (generation !== this.generation) return this.evaluate(clock.now());
    this.settled++;
    this.failures = failure === undefined ? 0 : this.failures + 1;
    this.last = outcome;
    const result = this.evaluate(clock.now());
    if (this.started) this.schedule();
    try {
      this.options.onSettled?.(result);
    } catch {
      // See HttpProbeCheckOptions.onSettled.
    }
    return result;
  }

  /**
   * See {@link HealthCheck.quietUntil}: the verdict moves only when a probe settles, and the
   * integrator is told of that (`onSettled`), so it stays until then.
   */
  quietUntil(_now: number): number {
    return Infinity;
  }

  evaluate(_now: number): CheckResult {
    const threshold = this.options.failureThreshold;
    if (this.settled === 0 || this.last === undefined)
      return { check: this.check, health: 'unknown', reason: 'no probe has answered yet' };
    if (this.failures >= threshold)
      return {
        check: this.check,
        health: 'critical',
        reason: `${this.failures} consecutive failure${this.failures === 1 ? '' : 's'}: ${this.last}`,
      };
    if (this.failures > 0)
      return {
        check: this.check,
        health: 'healthy',
        reason: `${this.failures} consecutive failure${this.failures === 1 ? '' : 's'} of ${threshold} allowed: ${this.last}`,
      };
    return { check: this.check, health: 'healthy', reason: this.last };
  }

  private schedule(): void {
    this.options.clock.clearTimeout(this.timer);
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      void this.probeOnce();
    }, this.options.intervalMs);
  }
}

/** undici's `fetch failed` hides the socket error in `cause`; that is the useful part. */
function describeError(err: unknown): string {
  const cause = (err as { cause?: unknown } | undefined)?.cause ?? err;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && ERROR_WORDS[code]) return `${ERROR_WORDS[code]} (${code})`;
  if (cause instanceof Error && cause.message) return cause.message;
  if (err instanceof Error && err.message) return err.message;
  return String(err);
}
