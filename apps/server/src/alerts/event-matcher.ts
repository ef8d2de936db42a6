import type { StoredEvent } from '@warden/protocol';
import { fingerprintError } from '../error-groups/fingerprint.js';
import type { EventMatch } from './alert-rule.js';

/** An `event` rule's match, made ready to run on every event of its type. */
export type CompiledEventMatch = (e: StoredEvent) => boolean;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The text `message` matches: the error's or log line's message, an escalation's reason, a task's error. */
function messageOf(d: Record<string, unknown>): string | undefined {
  return str(d.message) ?? str(d.reason) ?? str(d.error);
}

export function compileEventMatch(m: EventMatch): CompiledEventMatch {
  const re = m.message !== undefined ? new RegExp(m.message) : undefined;
  const statuses = m.status ? new Set<string>(m.status) : undefined;
  const actions = m.action ? new Set<string>(m.action) : undefined;
  const checks = m.check ? new Set<string>(m.check) : undefined;
  const healths = m.health ? new Set<string>(m.health) : undefined;
  return (e) => {
    if (e.type !== m.type) return false;
    const d = (e.data ?? {}) as Record<string, unknown>;
    if (statuses && !statuses.has(str(d.status) ?? '')) return false;
    if (actions && !actions.has(str(d.action) ?? '')) return false;
    if (checks && !checks.has(str(d.check) ?? '')) return false;
    if (healths && !healths.has(str(d.health) ?? '')) return false;
    if (m.severity !== undefined && d.severity !== m.severity) return false;
    if (m.error_type !== undefined && d.errorType !== m.error_type) return false;
    if (m.success !== undefined && d.success !== m.success) return false;
    if (re) {
      const text = messageOf(d);
      if (text === undefined || !re.test(text)) return false;
    }
    if (m.fingerprint !== undefined) {
      const errorType = str(d.errorType);
      const message = str(d.message);
      if (errorType === undefined || message === undefined) return false;
      const fp = fingerprintError({
        errorType,
        message,
        stack: str(d.stack),
        fingerprint: str(d.fingerprint),
      });
      if (fp !== m.fingerprint) return false;
    }
    return true;
  };
}

/** Any of the matches holds. */
export function compileEventMatches(ms: readonly EventMatch[]): CompiledEventMatch {
  const c = ms.map(compileEventMatch);
  return (e) => c.some((f) => f(e));
}
