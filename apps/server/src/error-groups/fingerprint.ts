/** What an `error_occurred` event's data holds that a fingerprint is made from (SPEC §3). */
export interface FingerprintInput {
  errorType: string;
  message: string;
  stack?: string | undefined;
  /** The sender's own fingerprint wins when given. */
  fingerprint?: string | undefined;
}

/**
 * The group an error belongs to (issue 5 point 4): the sender's `fingerprint`, else the error
 * type plus the top in-app stack frames, else the type plus the parameterised message.
 * Placeholder until the error-groups part lands: type + message as given.
 */
export function fingerprintError(e: FingerprintInput): string {
  if (e.fingerprint) return e.fingerprint;
  return `${e.errorType}:${e.message}`;
}
