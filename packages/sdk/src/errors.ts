import type { ValidationIssue } from '@warden/protocol';

/** Stable codes of SDK errors; server codes (SPEC §12) pass through as they are. */
export type SdkErrorCode =
  | 'outbox_full'
  | 'invalid_event'
  | 'closed'
  | 'timeout'
  | 'spool_failed'
  | 'no_url'
  /** A connection attempt failed (reported through `error`; the client retries). */
  | 'connection_failed'
  /** The server refused the token with HTTP 401 (reported through `error`; retried). */
  | 'unauthorized'
  | (string & {});

/** Base of every error the SDK raises: a stable string `code`, facts in fields, `cause`. */
export class WardenSdkError extends Error {
  constructor(
    readonly code: SdkErrorCode,
    message: string,
    options?: { cause?: unknown; details?: ValidationIssue[] },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'WardenSdkError';
    if (options?.details) this.details = options.details;
  }
  /** For `invalid_event`: each bad field as a JSON Pointer and a message. */
  details?: ValidationIssue[];
}

/** The outbox holds as many events or bytes as it may: the event was not queued. */
export class OutboxFullError extends WardenSdkError {
  constructor(
    readonly limit: 'events' | 'bytes',
    readonly max: number,
  ) {
    super(
      'outbox_full',
      `outbox full (${limit} limit ${max}): the event was not queued; wait for acks (flush()) or raise outbox.${limit === 'events' ? 'maxEvents' : 'maxBytes'}`,
    );
    this.name = 'OutboxFullError';
  }
}
