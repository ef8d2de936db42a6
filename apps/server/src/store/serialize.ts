import type { StoredEvent } from '@warden/protocol';

/**
 * JSON of a stored event, reusing the already serialised `data` so that an event is
 * stringified once on its way from ingest to every subscriber.
 */
export function serializeStoredEvent(ev: StoredEvent, dataJson: string): string {
  let s = `{"seq":${ev.seq},"receivedAt":${ev.receivedAt},"id":${JSON.stringify(ev.id)},"type":"${ev.type}","agentId":${JSON.stringify(ev.agentId)},"ts":${ev.ts}`;
  if (ev.correlationId !== undefined) s += `,"correlationId":${JSON.stringify(ev.correlationId)}`;
  return s + `,"data":${dataJson}}`;
}

/** The `event` frame sent to subscribers. */
export function eventFrame(seq: number, eventJson: string): string {
  return `{"op":"event","seq":${seq},"event":${eventJson}}`;
}
