import type { WardenEvent } from '@warden/protocol';

/**
 * Where the outbox keeps unacked events so that they survive the agent's own restart. Methods
 * are synchronous: `publish()` returns only after the event is written. `FileSpool` (from
 * `@warden/sdk/file-spool`, Node only) is the implementation; a browser could keep one in
 * localStorage.
 */
export interface Spool {
  /** Unacked events left by an earlier run, oldest first. */
  load(): WardenEvent[];
  /** Records a queued event. */
  append(event: WardenEvent): void;
  /** Records that these ids were acked (or dropped for good). */
  ack(ids: readonly string[]): void;
  close(): void;
}
