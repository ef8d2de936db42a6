import { parseDuration } from '@warden/protocol';

/** Latest instant a JavaScript Date holds. */
const MAX_TIME = 8.64e15;

/** What a time flag takes, for its error message. */
export const TIME_ARG_FORMS =
  'epoch milliseconds, ISO-8601 (2025-11-22T06:00:00Z) or a duration back from now (10m, 2h, 7d)';

const RELATIVE = /^\d+(\.\d+)?\s*(ms|s|m|h|d|w)$/;

/** True for a duration back from now (`10m`), as opposed to a date or epoch ms. */
export function isRelativeTime(text: string): boolean {
  return RELATIVE.test(text.trim());
}

/**
 * A point in time as the CLI's `--since` takes it, read exactly as the server reads `since`
 * of `GET /api/v1/logs`: epoch milliseconds (`1763791200000`), ISO-8601, or a duration back
 * from `now` (`10m`, `2h`, `7d`; a unit is required, so a bare number is always epoch ms).
 * With `relative: false` only absolute times are taken (`--until`: a duration there would be
 * ambiguous — `--duration` says how long). Returns epoch ms, or undefined.
 */
export function parseTimeArg(
  text: string,
  now: number,
  opts: { relative?: boolean } = {},
): number | undefined {
  const t = text.trim();
  if (/^\d{1,16}$/.test(t)) {
    const n = Number(t);
    return n <= MAX_TIME ? n : undefined;
  }
  if (opts.relative !== false && RELATIVE.test(t)) {
    const ms = parseDuration(t);
    return ms === undefined ? undefined : Math.max(0, now - ms);
  }
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  return undefined;
}
