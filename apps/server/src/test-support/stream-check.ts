import type { Redis } from 'ioredis';
import type { StoredEvent } from '@warden/protocol';
import type WebSocket from 'ws';

/** One entry of the Redis stream, as a plain client sees it. */
export interface StreamEntry {
  /** The entry id, e.g. `42-0`. */
  id: string;
  /** Field names in entry order (Warden writes exactly one: `event`). */
  fields: string[];
  /** The `event` field as written. */
  json: string;
  event: StoredEvent;
}

/** The whole stream with a plain XRANGE, oldest first, read in pages. */
export async function readStream(redis: Redis, key: string): Promise<StreamEntry[]> {
  const out: StreamEntry[] = [];
  let from = '-';
  for (;;) {
    const page = await redis.xrange(key, from, '+', 'COUNT', 5000);
    for (const [id, kv] of page) {
      const fields: string[] = [];
      let json = '';
      for (let i = 0; i + 1 < kv.length; i += 2) {
        fields.push(kv[i]!);
        if (kv[i] === 'event') json = kv[i + 1]!;
      }
      out.push({ id, fields, json, event: JSON.parse(json) as StoredEvent });
    }
    if (page.length < 5000) return out;
    from = `(${page[page.length - 1]![0]}`;
  }
}

/** Deletes every key under `prefix` (test cleanup), by SCAN, never KEYS. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** Polls `cond` every 20 ms; rejects with `what` when it is still false after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Ack {
  id: string;
  seq: number;
  duplicate?: boolean;
}

/** Sends one WebSocket publish and resolves with its acks (rejects on an error frame). */
export function wsPublish(
  ws: WebSocket,
  ref: string,
  events: Array<Record<string, unknown>>,
  timeoutMs = 10_000,
): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.off('message', onMessage);
      reject(new Error(`no ack for ${ref}`));
    }, timeoutMs);
    const onMessage = (data: Buffer) => {
      const f = JSON.parse(data.toString()) as { op: string; ref?: string; acks?: Ack[] };
      if (f.ref !== ref) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      if (f.op === 'ack') resolve(f.acks!);
      else reject(new Error(`publish ${ref} failed: ${data.toString()}`));
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ op: 'publish', ref, events }));
  });
}

/** POSTs events and resolves with the acks (rejects on a non-200 reply). */
export async function httpPublish(
  baseUrl: string,
  token: string,
  events: Array<Record<string, unknown>>,
): Promise<Ack[]> {
  const res = await fetch(`${baseUrl}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(events.length === 1 ? events[0] : { events }),
  });
  const body = (await res.json()) as { acks?: Ack[] };
  if (res.status !== 200)
    throw new Error(`POST /api/v1/events: ${res.status} ${JSON.stringify(body)}`);
  return body.acks!;
}

/** Every stored event with `seq > since` through the HTTP API, paged. */
export async function readAllEvents(
  baseUrl: string,
  token: string,
  since = 0,
): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let cursor: number | null = since;
  while (cursor !== null) {
    const res = await fetch(`${baseUrl}/api/v1/events?since=${cursor}&limit=1000`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { events: StoredEvent[]; next: number | null };
    out.push(...body.events);
    cursor = body.next;
  }
  return out;
}

/** `[from, from + 1, …, to]`. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** A small seeded PRNG (mulberry32), so an interleaving that fails can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
