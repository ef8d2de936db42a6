import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { AlertNotification, Receiver } from './receiver.js';

/** How one receiver's notifications are tried. Durations in milliseconds. */
export interface RetryPolicy {
  /** Longest wait for one attempt; then its signal aborts and it counts as failed. */
  timeoutMs: number;
  /** Attempts per notification, the first included. */
  maxAttempts: number;
  /** Wait before the second attempt. */
  initialMs: number;
  /** Longest wait between two attempts. */
  maxMs: number;
  /** Each wait is the previous one times this. */
  multiplier: number;
  /** Each wait is moved by up to this fraction either way, so retries of many notifications spread out. */
  jitter: number;
}

/** What the delivery side may know about a receiver beyond the {@link Receiver} contract. */
export interface DeliverableReceiver extends Receiver {
  /** This receiver's retry policy, over the delivery's defaults. */
  readonly retry?: Partial<RetryPolicy>;
  /** False: resolved alerts are left out, and an all-resolved notification is not sent. @defaultValue true */
  readonly sendResolved?: boolean;
  /** Texts (passwords, URL credentials) replaced by `***` in every error logged or returned. */
  readonly secrets?: readonly string[];
}

/** The hub's clock, with timers when a test needs to drive backoff and timeouts. */
export interface DeliveryClock extends Clock {
  setTimeout?(fn: () => void, ms: number): unknown;
  clearTimeout?(handle: unknown): void;
}

/** What became of one notification. */
export interface DeliveryResult {
  ok: boolean;
  /** Attempts made (0 when it was dropped or skipped). */
  attempts: number;
  /** `sent`, `failed` (every attempt failed, or one that must not be retried), `dropped` (queue full, closed, unknown receiver), `skipped` (resolved and `send_resolved: false`). */
  outcome: 'sent' | 'failed' | 'dropped' | 'skipped';
  /** The last failure's reason, secrets removed. */
  error?: string;
}

/** Options of {@link NotificationDelivery}. */
export interface NotificationDeliveryOptions {
  receivers: readonly DeliverableReceiver[];
  clock: DeliveryClock;
  log: Logger;
  /** Where `warden_notifications_total` and `warden_notification_attempts_total` go. */
  registry?: Registry;
  /** Defaults for receivers that bring no policy of their own. @defaultValue 5 s, 5 attempts, 1 s × 2 up to 1 m, jitter 0.2 */
  retry?: Partial<RetryPolicy>;
  /** Notifications waiting per receiver; when full the oldest is dropped. @defaultValue 1000 */
  maxQueuePerReceiver?: number;
  /** Randomness for jitter, in [0, 1). @defaultValue Math.random */
  random?: () => number;
}

/**
 * A failed attempt that says whether trying again can help (a 400 from a webhook cannot).
 * Receivers throw it; anything else thrown counts as retryable.
 */
export class DeliveryError extends Error {
  readonly retryable: boolean;
  /** The receiver asked for this wait before the next attempt (HTTP `Retry-After`). */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    options: { retryable?: boolean; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeliveryError';
    this.retryable = options.retryable ?? true;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A receiver's `timeout`, `max_attempts` and `backoff` keys as its delivery policy. */
export function retryFromConfig(c: {
  timeout: number;
  max_attempts: number;
  backoff: { initial: number; max: number; multiplier: number };
}): Partial<RetryPolicy> {
  return {
    timeoutMs: c.timeout,
    maxAttempts: c.max_attempts,
    initialMs: c.backoff.initial,
    maxMs: c.backoff.max,
    multiplier: c.backoff.multiplier,
  };
}

/** The defaults of {@link NotificationDeliveryOptions.retry}. */
export const DEFAULT_RETRY: RetryPolicy = {
  timeoutMs: 5000,
  maxAttempts: 5,
  initialMs: 1000,
  maxMs: 60_000,
  multiplier: 2,
  jitter: 0.2,
};

/** The wait after failed attempt `attempt` (1-based): exponential, capped, jittered. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** (attempt - 1));
  const jittered = base * (1 + policy.jitter * (2 * random() - 1));
  return Math.max(0, Math.min(policy.maxMs, Math.round(jittered)));
}

/** Removes the given secrets, and any `user:pass@` of a URL, from a text that may be logged. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/(\/\/)[^/@\s]*:[^/@\s]*@/g, '$1***@');
  for (const s of secrets) {
    if (s === '') continue;
    out = out.split(s).join('***');
    const encoded = encodeURIComponent(s);
    if (encoded !== s) out = out.split(encoded).join('***');
  }
  return out;
}

interface Job {
  n: AlertNotification;
  resolve: (r: DeliveryResult) => void;
}

/** One receiver's queue: notifications go out one at a time, in order. */
interface Lane {
  receiver: DeliverableReceiver;
  policy: RetryPolicy;
  secrets: readonly string[];
  queue: Job[];
  /** Set while the lane works; resolves when its queue is empty. */
  running: Promise<void> | undefined;
  /** The attempt in flight, aborted by its timeout or by close(). */
  attempt: AbortController | undefined;
  /** Cuts a backoff wait short (close()). */
  wake: (() => void) | undefined;
}

/**
 * Delivers notifications to receivers by name: one queue per receiver (a receiver that hangs
 * or fails never delays another), each attempt with a timeout, retries with backoff, every
 * failure logged and counted.
 */
export class NotificationDelivery {
  private readonly lanes = new Map<string, Lane>();
  private readonly clock: DeliveryClock;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly maxQueue: number;
  private readonly notifications: Counter<'receiver' | 'outcome'>;
  private readonly attempts: Counter<'receiver' | 'outcome'>;
  private closing: Promise<void> | undefined;

  constructor(options: NotificationDeliveryOptions) {
    this.clock = options.clock;
    this.log = options.log;
    this.random = options.random ?? Math.random;
    this.maxQueue = Math.max(1, options.maxQueuePerReceiver ?? 1000);
    this.notifications = counter(
      options.registry,
      'warden_notifications_total',
      'Alert notifications by receiver and final outcome (sent, failed, dropped).',
    );
    this.attempts = counter(
      options.registry,
      'warden_notification_attempts_total',
      'Attempts to deliver an alert notification, by receiver and outcome (success, failure, timeout).',
    );
    const defaults = { ...DEFAULT_RETRY, ...definedOnly(options.retry) };
    for (const receiver of options.receivers) {
      if (this.lanes.has(receiver.name))
        throw new Error(`receiver "${receiver.name}" is given twice`);
      this.lanes.set(receiver.name, {
        receiver,
        policy: { ...defaults, ...definedOnly(receiver.retry) },
        secrets: receiver.secrets ?? [],
        queue: [],
        running: undefined,
        attempt: undefined,
        wake: undefined,
      });
      // Every series exists from the start, so a rate() over it has a zero to start from.
      for (const outcome of ['sent', 'failed', 'dropped'])
        this.notifications.inc({ receiver: receiver.name, outcome }, 0);
      for (const outcome of ['success', 'failure', 'timeout'])
        this.attempts.inc({ receiver: receiver.name, outcome }, 0);
    }
  }

  /** Queues `n` for `n.receiver`; resolves when it was sent, finally failed or dropped. Never rejects. */
  deliver(n: AlertNotification): Promise<DeliveryResult> {
    const lane = this.lanes.get(n.receiver);
    if (!lane) {
      this.log.warn(
        { receiver: n.receiver, groupKey: n.groupKey },
        'notification for an unknown receiver dropped',
      );
      return Promise.resolve({
        ok: false,
        attempts: 0,
        outcome: 'dropped',
        error: `unknown receiver "${n.receiver}"`,
      });
    }
    if (this.closing) return Promise.resolve(this.dropped(lane, 'delivery is closed'));
    let notification = n;
    if (lane.receiver.sendResolved === false) {
      const firing = n.alerts.filter((a) => a.status === 'firing');
      if (n.status === 'resolved' || firing.length === 0)
        return Promise.resolve({ ok: true, attempts: 0, outcome: 'skipped' });
      if (firing.length !== n.alerts.length) notification = { ...n, alerts: firing };
    }
    return new Promise((resolve) => {
      if (lane.queue.length >= this.maxQueue) {
        const oldest = lane.queue.shift()!;
        this.log.warn(
          { receiver: lane.receiver.name, groupKey: oldest.n.groupKey, queued: this.maxQueue },
          'notification queue full: the oldest waiting notification was dropped',
        );
        oldest.resolve(this.dropped(lane, 'queue full'));
      }
      lane.queue.push({ n: notification, resolve });
      lane.running ??= this.work(lane);
    });
  }

  /** Whether a receiver of this name exists. */
  has(name: string): boolean {
    return this.lanes.has(name);
  }

  /** Receiver names, in configuration order. */
  names(): string[] {
    return [...this.lanes.keys()];
  }

  /** Notifications waiting (not in flight) for a receiver. */
  queued(name: string): number {
    return this.lanes.get(name)?.queue.length ?? 0;
  }

  /** Aborts attempts in flight, drops what waits (resolved as `dropped`), closes the receivers. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const lane of this.lanes.values()) {
      for (const job of lane.queue.splice(0)) job.resolve(this.dropped(lane, 'delivery is closed'));
      lane.attempt?.abort(new DeliveryError('delivery is closed', { retryable: false }));
      lane.wake?.();
    }
    await Promise.all([...this.lanes.values()].map((l) => l.running));
    await Promise.all(
      [...this.lanes.values()].map(async ({ receiver }) => {
        try {
          await receiver.close?.();
        } catch (error) {
          this.log.warn(
            { receiver: receiver.name, err: this.reason(error, this.lanes.get(receiver.name)!) },
            'receiver did not close cleanly',
          );
        }
      }),
    );
  }

  private dropped(lane: Lane, why: string): DeliveryResult {
    this.notifications.inc({ receiver: lane.receiver.name, outcome: 'dropped' });
    return { ok: false, attempts: 0, outcome: 'dropped', error: why };
  }

  private async work(lane: Lane): Promise<void> {
    for (let job = lane.queue.shift(); job; job = lane.queue.shift()) {
      let result: DeliveryResult;
      try {
        result = await this.attemptAll(lane, job.n);
      } catch (error) {
        // attemptAll handles every failure of a receiver; this is a bug of ours, and one
        // notification's bug must not stall the lane.
        result = { ok: false, attempts: 0, outcome: 'failed', error: this.reason(error, lane) };
      }
      job.resolve(result);
    }
    lane.running = undefined;
  }

  private async attemptAll(lane: Lane, n: AlertNotification): Promise<DeliveryResult> {
    const { receiver, policy } = lane;
    const name = receiver.name;
    let reason = '';
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      const failure = await this.attemptOnce(lane, n);
      if (failure === undefined) {
        this.attempts.inc({ receiver: name, outcome: 'success' });
        this.notifications.inc({ receiver: name, outcome: 'sent' });
        this.log.debug({ receiver: name, groupKey: n.groupKey, attempt }, 'notification sent');
        return { ok: true, attempts: attempt, outcome: 'sent' };
      }
      reason = failure.reason;
      this.attempts.inc({ receiver: name, outcome: failure.timedOut ? 'timeout' : 'failure' });
      const last =
        attempt === policy.maxAttempts || !failure.retryable || this.closing !== undefined;
      const facts = {
        receiver: name,
        type: receiver.type,
        groupKey: n.groupKey,
        attempt,
        maxAttempts: policy.maxAttempts,
        reason,
      };
      if (last) {
        this.notifications.inc({ receiver: name, outcome: 'failed' });
        this.log.error(
          { ...facts, retryable: failure.retryable },
          `notification to ${name} failed: ${reason}`,
        );
        return { ok: false, attempts: attempt, outcome: 'failed', error: reason };
      }
      let delayMs = backoffDelay(policy, attempt, this.random);
      if (failure.retryAfterMs !== undefined)
        delayMs = Math.max(delayMs, Math.min(policy.maxMs, failure.retryAfterMs));
      this.log.warn(
        { ...facts, retryInMs: delayMs },
        `notification attempt to ${name} failed: ${reason}`,
      );
      await this.sleep(lane, delayMs);
      if (this.closing) {
        this.notifications.inc({ receiver: name, outcome: 'failed' });
        return {
          ok: false,
          attempts: attempt,
          outcome: 'failed',
          error: `${reason} (delivery closed before a retry)`,
        };
      }
    }
    return { ok: false, attempts: policy.maxAttempts, outcome: 'failed', error: reason };
  }

  /** One attempt; undefined when it succeeded, else why it failed. */
  private async attemptOnce(
    lane: Lane,
    n: AlertNotification,
  ): Promise<
    { reason: string; retryable: boolean; timedOut: boolean; retryAfterMs?: number } | undefined
  > {
    const controller = new AbortController();
    const { signal } = controller;
    lane.attempt = controller;
    let timedOut = false;
    const timer = this.setTimer(() => {
      timedOut = true;
      controller.abort(new DeliveryError(`timed out after ${lane.policy.timeoutMs} ms`));
    }, lane.policy.timeoutMs);
    let onAbort: (() => void) | undefined;
    // A receiver that ignores its signal is not waited for past the timeout: the race ends at
    // the abort, and whatever its promise does later is ignored.
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const sending = Promise.resolve().then(() => lane.receiver.send(n, signal));
      sending.catch(() => {});
      await Promise.race([sending, aborted]);
      return undefined;
    } catch (error) {
      const thrown = signal.aborted && !(error instanceof DeliveryError) ? signal.reason : error;
      const retryable = !(thrown instanceof DeliveryError) || thrown.retryable;
      return {
        reason: timedOut
          ? `timed out after ${lane.policy.timeoutMs} ms`
          : this.reason(thrown, lane),
        retryable: timedOut || retryable,
        timedOut,
        ...(thrown instanceof DeliveryError && thrown.retryAfterMs !== undefined
          ? { retryAfterMs: thrown.retryAfterMs }
          : {}),
      };
    } finally {
      this.clearTimer(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
      lane.attempt = undefined;
    }
  }

  private sleep(lane: Lane, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.setTimer(() => {
        lane.wake = undefined;
        resolve();
      }, ms);
      lane.wake = () => {
        this.clearTimer(timer);
        lane.wake = undefined;
        resolve();
      };
    });
  }

  private reason(error: unknown, lane: Lane): string {
    let text = error instanceof Error ? error.message : String(error);
    // undici's "fetch failed" hides the useful part (ECONNREFUSED, ENOTFOUND) in `cause`.
    // (A DeliveryError's message already says what its receiver wants said.)
    const cause =
      error instanceof Error && !(error instanceof DeliveryError)
        ? (error.cause as { message?: unknown } | undefined)
        : undefined;
    if (
      cause &&
      typeof cause.message === 'string' &&
      cause.message !== '' &&
      !text.includes(cause.message)
    )
      text = `${text}: ${cause.message}`;
    return redactSecrets(text || 'failed without a reason', lane.secrets);
  }

  private setTimer(fn: () => void, ms: number): unknown {
    if (this.clock.setTimeout) return this.clock.setTimeout(fn, ms);
    const t = setTimeout(fn, ms);
    // A retry waiting for its backoff must not keep a stopping process alive.
    t.unref();
    return t;
  }

  private clearTimer(handle: unknown): void {
    if (this.clock.clearTimeout) this.clock.clearTimeout(handle);
    else clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}

function definedOnly<T extends object>(o: Partial<T> | undefined): Partial<T> {
  if (!o) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The counter of this name on the registry (a second delivery on one registry shares it). */
function counter(
  registry: Registry | undefined,
  name: string,
  help: string,
): Counter<'receiver' | 'outcome'> {
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<'receiver' | 'outcome'>;
  return new Counter({
    name,
    help,
    labelNames: ['receiver', 'outcome'],
    registers: registry ? [registry] : [],
  });
}
