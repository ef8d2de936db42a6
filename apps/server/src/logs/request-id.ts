import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The header a caller names its request with, and that every answer carries back. */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * A caller's request id is taken as is when it is short and plain (what UUIDs, ULIDs, trace ids
 * and `req-42` look like); anything else — too long, control characters, spaces, quotes that
 * would forge log fields or headers — is replaced by a fresh one.
 */
const SAFE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$/;

/** The caller's id when it is safe to log and echo, else undefined. */
export function safeRequestId(raw: unknown): string | undefined {
  return typeof raw === 'string' && SAFE_REQUEST_ID.test(raw) ? raw : undefined;
}

/**
 * Fastify's `genReqId`: the caller's `x-request-id` when safe, else a random UUID. The id is the
 * request's `correlationId` on every log line of it (see `requestIdLogLabel`).
 */
export function requestIdOf(req: IncomingMessage): string {
  return safeRequestId(req.headers[REQUEST_ID_HEADER]) ?? randomUUID();
}

/**
 * The correlation ids of published events (at most 10 distinct, so a batch of 1,000 does not
 * make a huge line), for the log lines about them.
 */
export function eventCorrelationIds(
  events: ReadonlyArray<{ correlationId?: string | undefined }>,
): string[] {
  const ids = new Set<string>();
  for (const e of events) {
    if (e.correlationId !== undefined) ids.add(e.correlationId);
    if (ids.size >= 10) break;
  }
  return [...ids];
}

/**
 * Log fields naming the events a line is about: inside a request (whose own id is already the
 * line's `correlationId`) as `eventCorrelationIds`; elsewhere (a WebSocket frame) one id is
 * the line's `correlationId`.
 */
export function eventLogFields(
  events: ReadonlyArray<{ correlationId?: string | undefined }>,
  inRequest: boolean,
): Record<string, unknown> {
  const ids = eventCorrelationIds(events);
  if (ids.length === 0) return {};
  if (!inRequest && ids.length === 1) return { correlationId: ids[0] };
  return { eventCorrelationIds: ids };
}
