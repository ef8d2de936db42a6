/**
 * The naive ingest design, as a competent user would write it: a Fastify handler doing one
 * autocommitted INSERT per event into Warden's schema (created by Warden's migrations), WAL
 * with `synchronous=FULL` (same durability: the reply leaves after the fsync), a prepared
 * statement, Fastify's JSON schema validation, logging off. Prints `{"port":N}` when listening
 * and exits when stdin closes.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import Fastify from 'fastify';
import { SqliteEventStore } from '@warden/server';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: naive-ingest-server DATA_DIR');
const file = join(dataDir, 'naive.db');
const store = new SqliteEventStore(file);
await store.migrate();
await store.close();

const db = new BetterSqlite3(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
const insert = db.prepare<unknown[], { seq: number }>(
  `INSERT INTO events (id, type, agent_id, ts, received_at, correlation_id, data)
   VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING RETURNING seq`,
);
const findSeq = db.prepare<[string], { seq: number }>('SELECT seq FROM events WHERE id = ?');

interface EventBody {
  id: string;
  type: string;
  agentId: string;
  ts: number;
  correlationId?: string;
  data: Record<string, unknown>;
}

const app = Fastify({ logger: false });
app.post<{ Body: EventBody }>(
  '/api/v1/events',
  {
    schema: {
      body: {
        type: 'object',
        required: ['id', 'type', 'agentId', 'ts', 'data'],
        properties: {
          id: { type: 'string', minLength: 1, maxLength: 128 },
          type: { type: 'string' },
          agentId: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' },
          ts: { type: 'number' },
          correlationId: { type: 'string' },
          data: { type: 'object' },
        },
      },
    },
  },
  async (req) => {
    const ev = req.body;
    const row = insert.get(
      ev.id,
      ev.type,
      ev.agentId,
      ev.ts,
      Date.now(),
      ev.correlationId ?? null,
      JSON.stringify(ev.data),
    );
    const acks = row
      ? [{ id: ev.id, seq: row.seq }]
      : [{ id: ev.id, seq: findSeq.get(ev.id)!.seq, duplicate: true }];
    return { acks };
  },
);

await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
process.stdout.write(
  JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 }) + '\n',
);
process.stdin.resume();
process.stdin.on('end', () => {
  void app.close().then(() => {
    db.close();
    process.exit(0);
  });
});
process.on('SIGTERM', () => {
  db.close();
  process.exit(0);
});
