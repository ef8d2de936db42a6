import { createHash } from 'node:crypto';

/**
 * An alert's identity: a hash of its label set (names sorted), as Alertmanager's fingerprint.
 * Made once when an alert starts, never per evaluation.
 */
export function alertFingerprint(labels: Readonly<Record<string, string>>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(labels).sort()) {
    // NUL and 0xff cannot be confused with text: `a=b,c` and `a=b` + `c=` hash apart.
    h.update(k);
    h.update('\u0000');
    h.update(labels[k]!);
    h.update('\u00ff');
  }
  return h.digest('hex').slice(0, 16);
}
