import { PROBLEM_STATUS, type ProblemCode, type ValidationIssue } from '@warden/protocol';

/** Base error of the server: a stable `code`, the facts, and the HTTP status derived from it. */
export class WardenError extends Error {
  readonly code: ProblemCode;
  readonly errors: ValidationIssue[] | undefined;

  constructor(
    code: ProblemCode,
    message: string,
    options: { errors?: ValidationIssue[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WardenError';
    this.code = code;
    this.errors = options.errors;
  }

  get status(): number {
    return PROBLEM_STATUS[this.code];
  }
}

/** A configuration problem: names the key; `warden serve` exits 2 on it. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly key?: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

const TITLES: Record<ProblemCode, string> = {
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  forbidden_agent: 'Forbidden for this agent',
  not_found: 'Not found',
  conflict: 'Conflict',
  invalid_json: 'Invalid JSON',
  invalid_event: 'Invalid event',
  invalid_request: 'Invalid request',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  rate_limited: 'Too many requests',
  internal: 'Internal server error',
  unavailable: 'Service unavailable',
};

/** RFC 9457 body for an error code. */
export function problemBody(
  code: ProblemCode,
  detail: string,
  extra: { instance?: string; errors?: ValidationIssue[] } = {},
): Record<string, unknown> {
  return {
    type: `https://warden.dev/problems/${code.replace(/_/g, '-')}`,
    title: TITLES[code],
    status: PROBLEM_STATUS[code],
    code,
    detail,
    ...(extra.instance ? { instance: extra.instance } : {}),
    ...(extra.errors ? { errors: extra.errors } : {}),
  };
}
