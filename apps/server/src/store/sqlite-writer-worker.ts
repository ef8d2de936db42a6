import { parentPort, workerData } from 'node:worker_threads';
import type { StoredEvent } from '@warden/protocol';
import type { LinkLog } from '../redis-link.js';
import { RedisLink } from '../redis-link.js';
import { JsonEntry, StreamAppender } from '../stream-appender.js';
import { serializeStoredEvent } from './serialize.js';
import { SqliteWriter } from './sqlite-writer.js';
import {
  fromRows,
  type WriterData,
  type WriterNotice,
  type WriterReply,
  type WriterRequest,
} from './sqlite-writer-thread.js';

/**
 * Entry of the writer thread: SQLite inserts and fsyncs run here, so the event loop that
 * parses frames and sends acks never waits on the disk. With Redis configured the thread also
 * appends every commit to the stream: it already holds each event's data JSON, and it idles
 * between commits, so the event loop does no stream work at all.
 */
const port = parentPort!;
const data = workerData as WriterData;
let writer: SqliteWriter;
try {
  writer = new SqliteWriter(data.file);
  port.postMessage({ id: 0, ok: true, value: writer.lastSeq } satisfies WriterReply);
} catch (err) {
  port.postMessage({ id: 0, ok: false, error: (err as Error).message } satisfies WriterReply);
  process.exit(1);
}

const notify = (n: WriterNotice) => port.postMessage(n);
/** Log lines go to the main thread's logger (one pino, one place for redaction). */
const relay: LinkLog = {
  debug: (obj, msg) => notify({ notice: 'log', level: 'debug', obj, msg }),
  info: (obj, msg) => notify({ notice: 'log', level: 'info', obj, msg }),
  warn: (obj, msg) => notify({ notice: 'log', level: 'warn', obj, msg }),
  error: (obj, msg) => notify({ notice: 'log', level: 'error', obj, msg }),
};

let appender: StreamAppender | undefined;
if (data.stream) {
  const stream = data.stream;
  const w = writer;
  appender = new StreamAppender({
    ...stream,
    head: w.lastSeq,
    readGap: (since, until) =>
      Promise.resolve(w.readStoredJson(since, until).map((r) => new JsonEntry(r.seq, r.json))),
    now: () => Date.now(),
    log: relay,
    link: (client) => {
      const link: RedisLink = new RedisLink([client], {
        now: () => Date.now(),
        log: relay,
        onDown: () => notify({ notice: 'stream', problem: link.problem() }),
        onUp: () => {
          notify({ notice: 'stream', problem: undefined });
          void appender?.reconnected();
        },
      });
      return link;
    },
  });
  // The first state is told once the first connect has been tried, whatever its outcome.
  const a = appender;
  void a.start().then(() => notify({ notice: 'stream', problem: a.link.problem() }));
}

/** The committed (not duplicate) events of one append, as stream entries. */
function streamEntries(
  events: ReturnType<typeof fromRows>['events'],
  dataJson: readonly string[],
  seqs: Float64Array,
  dup: Uint8Array,
  receivedAt: number,
): JsonEntry[] {
  const out: JsonEntry[] = [];
  for (let i = 0; i < seqs.length; i++) {
    if (dup[i] === 1) continue;
    const e = events[i]!;
    const seq = seqs[i]!;
    const stored = {
      seq,
      receivedAt,
      id: e.id,
      type: e.type,
      agentId: e.agentId,
      ts: e.ts,
      correlationId: e.correlationId,
    } as StoredEvent;
    out.push(new JsonEntry(seq, serializeStoredEvent(stored, dataJson[i]!)));
  }
  return out;
}

port.on('message', (req: WriterRequest) => {
  const reply = (r: { ok: true; value: unknown } | { ok: false; error: string }) =>
    port.postMessage({ id: req.id, ...r } as WriterReply);
  try {
    switch (req.op) {
      case 'append': {
        const { events, dataJson } = fromRows(req.rows);
        const results = writer.append(events, req.receivedAt, dataJson);
        const seqs = new Float64Array(results.length);
        const dup = new Uint8Array(results.length);
        results.forEach((r, i) => {
          seqs[i] = r.seq;
          dup[i] = r.duplicate ? 1 : 0;
        });
        // The ack goes first; the stream append runs while the thread waits for work.
        reply({ ok: true, value: { seqs, dup } });
        appender?.push(streamEntries(events, dataJson, seqs, dup, req.receivedAt));
        break;
      }
      case 'delete':
        writer.deleteBefore(req.cutoff).then(
          (n) => reply({ ok: true, value: n }),
          (err: unknown) => reply({ ok: false, error: (err as Error).message }),
        );
        break;
      case 'flush':
        writer.flushAgents();
        reply({ ok: true, value: null });
        break;
      case 'close': {
        const done = () => {
          writer.close();
          reply({ ok: true, value: null });
        };
        if (appender) void appender.close().finally(done);
        else done();
        break;
      }
    }
  } catch (err) {
    reply({ ok: false, error: (err as Error).message });
  }
});
