import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';
import { PgEventStore } from '../store/pg-event-store.js';
import { TEST_PG_URL, describeWithServices, needPostgres } from '../test-support/service-gate.js';
import { describeLogStoreConformance } from './log-store.conformance.js';
import { PgLogStore } from './pg-log-store.js';

const schemas: string[] = [];
let schemaCount = 0;

/** A fresh schema of this test file, migrated by the hub's event store; its URL. */
async function database(): Promise<string> {
  const schema = `wl_${process.pid}_${schemaCount++}_${randomBytes(3).toString('hex')}`;
  schemas.push(schema);
  const events = PgEventStore.fromUrl(TEST_PG_URL, { schema, poolSize: 2 });
  await events.migrate();
  await events.close();
  return `${TEST_PG_URL}?schema=${schema}`;
}

describeWithServices('PgLogStore', [await needPostgres()], () => {
  afterAll(async () => {
    const c = new pg.Client({ connectionString: TEST_PG_URL });
    await c.connect();
    try {
      for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    } finally {
      await c.end();
    }
  });

  describeLogStoreConformance('PgLogStore', async () => {
    const url = await database();
    const opened: PgLogStore[] = [PgLogStore.open(url)];
    return {
      store: opened[0]!,
      other: () => {
        const s = PgLogStore.open(url);
        opened.push(s);
        return Promise.resolve(s);
      },
      close: async () => {
        for (const s of opened) await s.close();
      },
    };
  });
});
