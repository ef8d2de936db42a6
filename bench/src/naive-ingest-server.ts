/**
 * The naive ingest design, as a competent user would write it: a Fastify handler doing one
 * autocommitted INSERT per event into Warden's schema (created by Warden's migrations) with
 * the same durability (the reply leaves after the commit is durable), a prepared statement,
 * Fastify's JSON schema validation, logging off. Prints `{"port":N}` when listening and exits
 * when stdin closes.
 *
 * - `naive-ingest-server DATA_DIR`: SQLite, WAL with `synchronous=FULL`.
 * - `naive-ingest-server DATA_DIR POSTGRES_URL SCHEMA`: PostgreSQL through a `pg` pool; the one
 *   statement takes its seq from the `log_head` row, as the schema requires for global
 *   commit-order seqs, so concurrent requests commit one after another.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import Fastify from 'fastify';
import pg from 'pg';
import { loadConfig, openStore, SqliteEventStore } from '@warden/server';
import { withSchema } from './bench-support.js';

const [dataDir, pgUrl, pgSchema] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: naive-ingest-server DATA_DIR [POSTGRES_URL SCHEMA]');

type Insert = (
  values: [string, string, string, number, number, string | null, string],
) => Promise<{ seq: number; duplicate: boolean }>;

async function sqliteInsert(): Promise<{ insert: Insert; close: () => void }> {
  const file = join(dataDir!, 'naive.db');
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
  return {
    insert: (v) => {
      const row = insert.get(...v);
      return Promise.resolve(
        row ? { seq: row.seq, duplicate: false } : { seq: findSeq.get(v[0])!.seq, duplicate: true },
      );
    },
    close: () => db.close(),
  };
}

async function postgresInsert(url: string, schema: string) {
  const store = openStore(
    loadConfig({ databaseUrl: withSchema(url, schema), dataDir: dataDir! }, {}, dataDir!),
  );
  await store.migrate();
  await store.close();
  const pool = new pg.Pool({
    connectionString: url,
    options: `-c search_path=${schema}`,
    max: 20,
  });
  pool.on('error', () => undefined);
  // A duplicate still advances log_head (a gap in seq); the bench sends no duplicates.
  const insert = {
    name: 'naive_insert',
    text: `WITH h AS (UPDATE log_head SET seq = seq + 1 WHERE id = 1 RETURNING seq)
      INSERT INTO events (seq, id, type, agent_id, ts, received_at, correlation_id, data)
      SELECT h.seq, $1, $2, $3, $4, $5, $6, $7 FROM h
      ON CONFLICT (id) DO NOTHING RETURNING seq`,
  };
  return {
    insert: (async (v) => {
      const r = await pool.query<{ seq: string }>({ ...insert, values: v });
      if (r.rows[0]) return { seq: Number(r.rows[0].seq), duplicate: false };
      const found = await pool.query<{ seq: string }>('SELECT seq FROM events WHERE id = $1', [
        v[0],
      ]);
      return { seq: Number(found.rows[0]!.seq), duplicate: true };
    }) as Insert,
    close: () => void pool.end(),
  };
}

const db = pgUrl && pgSchema ? await postgresInsert(pgUrl, pgSchema) : await sqliteInsert();

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
    const r = await db.insert([
      ev.id,
      ev.type,
      ev.agentId,
      ev.ts,
      Date.now(),
      ev.correlationId ?? null,
      JSON.stringify(ev.data),
    ]);
    const acks = r.duplicate
      ? [{ id: ev.id, seq: r.seq, duplicate: true }]
      : [{ id: ev.id, seq: r.seq }];
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
