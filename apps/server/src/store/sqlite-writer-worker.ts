import { parentPort, workerData } from 'node:worker_threads';
import { SqliteWriter } from './sqlite-writer.js';
import { fromRows, type WriterReply, type WriterRequest } from './sqlite-writer-thread.js';

/**
 * Entry of the writer thread: SQLite inserts and fsyncs run here, so the event loop that
 * parses frames and sends acks never waits on the disk.
 */
const port = parentPort!;
let writer: SqliteWriter;
try {
  writer = new SqliteWriter((workerData as { file: string }).file);
  port.postMessage({ id: 0, ok: true, value: writer.lastSeq } satisfies WriterReply);
} catch (err) {
  port.postMessage({ id: 0, ok: false, error: (err as Error).message } satisfies WriterReply);
  process.exit(1);
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
        reply({ ok: true, value: { seqs, dup } });
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
      case 'close':
        writer.close();
        reply({ ok: true, value: null });
        break;
    }
  } catch (err) {
    reply({ ok: false, error: (err as Error).message });
  }
});
