/** Stable problem codes (SPEC §12) and their HTTP statuses. */
export const PROBLEM_STATUS = {
  unauthorized: 401,
  forbidden: 403,
  forbidden_agent: 403,
  not_found: 404,
  conflict: 409,
  invalid_json: 400,
  invalid_event: 400,
  invalid_request: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ProblemCode = keyof typeof PROBLEM_STATUS;

/** One bad field: `path` is a JSON Pointer into the request (`/events/3/data/taskId`). */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** RFC 9457 problem details with Warden's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail: string;
  instance?: string;
  errors?: ValidationIssue[];
}

/** Escapes one JSON Pointer reference token (RFC 6901). */
export function pointerToken(token: string | number): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Builds a JSON Pointer from path segments: `['events', 3, 'data']` → `/events/3/data`. */
export function toPointer(path: ReadonlyArray<string | number | symbol>): string {
  if (path.length === 0) return '';
  return (
    '/' + path.map((p) => pointerToken(typeof p === 'symbol' ? String(p.description) : p)).join('/')
  );
}
