import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  TEST_PG_URL,
  describeWithServices,
  needPostgres,
} from '../../../apps/server/src/test-support/service-gate.js';
import { WardenProcess } from '../../../apps/server/src/test-support/warden-process.js';
import { TokenService } from '../../../apps/server/src/token-service.js';
import { connect } from './index.js';

const TOTAL = 50_000;
const SECRET = randomBytes(24).toString('hex');

/** Ids stored in the log: every one, repeats included. */
type ReadIds = () => Promise<string[]>;

/**
 * Publishes TOTAL events through the SDK while the server is killed with SIGKILL twice and
 * started again on the same port; then every id must be stored exactly once and the SDK must
 * hold nothing unacked.
 */
async function zeroLoss(serveArgs: string[], readIds: ReadIds): Promise<void> {
  const env = { WARDEN_JWT_SECRET: SECRET };
  let server = await WardenProcess.start([...serveArgs, '--port', '0'], env);
  const port = new URL(server.url).port;
  const token = await new TokenService(SECRET).mint({
    role: 'agent',
    agentId: 'zero-loss',
    ttlMs: 3_600_000,
  });
  const client = connect({
    url: server.url,
    token,
    agentId: 'zero-loss',
    outbox: { maxEvents: TOTAL, maxBytes: 256 * 1024 * 1024 },
    reconnect: { initialDelayMs: 20, maxDelayMs: 250 },
    maxBatchEvents: 1000,
    heartbeatMs: 0,
  });
  const acks: Array<Promise<unknown>> = [];
  const ids: string[] = [];
  let kills = 0;
  const pendingAtKill: number[] = [];
  try {
    for (let i = 0; i < TOTAL; i++) {
      const id = `zl-${i}`;
      ids.push(id);
      acks.push(client.publish({ id, type: 'metric_update', data: { metrics: { tokens: i } } }));
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
      // Kill mid-stream, twice, while frames are in flight; start again on the same port.
      if (i === 15_000 || i === 32_000) {
        await new Promise((r) => setTimeout(r, 30));
        pendingAtKill.push(client.pending());
        server.child.kill('SIGKILL');
        await new Promise((r) => server.child.once('exit', r));
        kills++;
        server = await WardenProcess.start([...serveArgs, '--port', port], env);
        // Go on once the SDK is back, so the next kill also hits a live connection with
        // frames in flight (not one still waiting out its backoff).
        while (client.stats().reconnects < kills || !client.stats().connected) {
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }
    await client.flush({ timeoutMs: 90_000 });
    const settled = await Promise.allSettled(acks);
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    expect(kills).toBe(2);
    // Each kill hit events that were published but not acked yet.
    expect(pendingAtKill.every((n) => n > 0)).toBe(true);
    expect(client.stats()).toMatchObject({ pending: 0, rejected: 0 });
    expect(client.stats().reconnects).toBeGreaterThanOrEqual(2);

    await client.close();
    await server.stop();
    const stored = await readIds();
    expect(stored.length).toBe(TOTAL);
    expect(new Set(stored).size).toBe(TOTAL);
    expect(new Set(stored)).toEqual(new Set(ids));
  } finally {
    await client.close();
    await server.stop();
  }
}

describe('zero loss through the SDK across SIGKILLs (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-zero-loss-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`stores each of ${TOTAL} events exactly once while the server is killed twice`, async () => {
    await zeroLoss(['--data-dir', dir], () => {
      const db = new BetterSqlite3(join(dir, 'warden.db'), { readonly: true });
      try {
        const rows = db.prepare('SELECT id FROM events').all() as Array<{ id: string }>;
        return Promise.resolve(rows.map((r) => r.id));
      } finally {
        db.close();
      }
    });
  }, 150_000);
});

const pgMissing = await needPostgres();
describeWithServices('zero loss through the SDK across SIGKILLs (PostgreSQL)', [pgMissing], () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-zero-loss-pg-'));
  const schema = `zl_${process.pid}_${Date.now().toString(36)}`;
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: TEST_PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  });

  it(`stores each of ${TOTAL} events exactly once while the server is killed twice`, async () => {
    const url = `${TEST_PG_URL}${TEST_PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
    await zeroLoss(['--data-dir', dir, '--database-url', url], async () => {
      const c = new pg.Client({ connectionString: TEST_PG_URL });
      await c.connect();
      try {
        const r = await c.query<{ id: string }>(`SELECT id FROM "${schema}".events`);
        return r.rows.map((row) => row.id);
      } finally {
        await c.end();
      }
    });
  }, 150_000);
});
